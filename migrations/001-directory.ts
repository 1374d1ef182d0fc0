// The directory: organisations, global accounts, per-org memberships (the SCIM User), groups, credentials.
// Every organisation-scoped table carries org_id and leads its keys and indexes with it (sharding by org).
// SCIM resources show created/lastModified in milliseconds, so memberships and groups store them at that
// precision: a filter on a value the server returned compares equal to what is stored.
import type { Knex } from 'knex';
import { runScript } from './script.ts';

export async function up(knex: Knex): Promise<void> {
  await runScript(knex, schema);
}

const schema = `
    create table organizations (
      id uuid primary key default gen_random_uuid(),
      name text not null check (length(name) between 1 and 200),
      slug text not null unique,
      require_mfa boolean not null default false,
      mfa_methods text[] not null default '{totp,email}' check (cardinality(mfa_methods) >= 1),
      login_providers text[] not null default '{password}' check (cardinality(login_providers) >= 1),
      allow_identity_linking boolean not null default true,
      sso_enforced boolean not null default false,
      license_limit integer check (license_limit is null or license_limit >= 0),
      invitation_lifetime_days integer not null default 7 check (invitation_lifetime_days between 1 and 90),
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now()
    );

    create table accounts (
      id uuid primary key default gen_random_uuid(),
      email text not null,
      password_hash text,
      must_change_password boolean not null default false,
      given_name text,
      family_name text,
      display_name text,
      phone text,
      status text not null default 'active' check (status in ('active', 'deactivated')),
      managed_by_org_id uuid references organizations (id) on delete set null,
      last_login_at timestamptz,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now()
    );
    create unique index accounts_email_key on accounts (lower(email));
    create index accounts_managed_by on accounts (managed_by_org_id);

    create table memberships (
      org_id uuid not null references organizations (id) on delete cascade,
      id uuid not null default gen_random_uuid(),
      account_id uuid not null references accounts (id) on delete cascade,
      role text not null default 'member',
      status text not null default 'active' check (status in ('active', 'deactivated')),
      joined_at timestamptz not null default now(),
      user_name text not null check (length(user_name) between 1 and 256),
      external_id text,
      display_name text,
      profile jsonb not null default '{}'::jsonb,
      version integer not null default 1,
      created_at timestamptz(3) not null default now(),
      updated_at timestamptz(3) not null default now(),
      primary key (org_id, id)
    );
    create unique index memberships_user_name_key on memberships (org_id, lower(user_name));
    create unique index memberships_account_key on memberships (org_id, account_id);
    create unique index memberships_one_owner on memberships (org_id) where role = 'owner';
    create index memberships_external_id on memberships (org_id, external_id);
    create index memberships_created on memberships (org_id, created_at, id);
    create index memberships_updated on memberships (org_id, updated_at);
    create index memberships_account on memberships (account_id);

    create table groups (
      org_id uuid not null references organizations (id) on delete cascade,
      id uuid not null default gen_random_uuid(),
      display_name text not null check (length(display_name) between 1 and 256),
      external_id text,
      version integer not null default 1,
      created_at timestamptz(3) not null default now(),
      updated_at timestamptz(3) not null default now(),
      primary key (org_id, id)
    );
    create unique index groups_display_name_key on groups (org_id, lower(display_name));
    create index groups_external_id on groups (org_id, external_id);
    create index groups_created on groups (org_id, created_at, id);
    create index groups_updated on groups (org_id, updated_at);

    create table group_members (
      org_id uuid not null,
      group_id uuid not null,
      membership_id uuid not null,
      created_at timestamptz not null default now(),
      primary key (org_id, group_id, membership_id),
      foreign key (org_id, group_id) references groups (org_id, id) on delete cascade,
      foreign key (org_id, membership_id) references memberships (org_id, id) on delete cascade
    );
    create index group_members_member on group_members (org_id, membership_id);

    create table scim_tokens (
      id uuid primary key default gen_random_uuid(),
      org_id uuid not null references organizations (id) on delete cascade,
      name text not null,
      token_hash text not null unique,
      created_at timestamptz not null default now(),
      last_used_at timestamptz,
      revoked_at timestamptz
    );
    create index scim_tokens_org on scim_tokens (org_id);

    create table api_keys (
      id uuid primary key default gen_random_uuid(),
      org_id uuid not null references organizations (id) on delete cascade,
      name text not null,
      key_hash text not null unique,
      created_at timestamptz not null default now(),
      last_used_at timestamptz,
      revoked_at timestamptz
    );
    create index api_keys_org on api_keys (org_id);

    create table sessions (
      org_id uuid not null references organizations (id) on delete cascade,
      id uuid not null default gen_random_uuid(),
      account_id uuid not null references accounts (id) on delete cascade,
      provider text not null default 'password',
      ip text,
      user_agent text,
      created_at timestamptz not null default now(),
      last_active_at timestamptz not null default now(),
      expires_at timestamptz not null,
      revoked_at timestamptz,
      primary key (org_id, id)
    );
    create index sessions_account on sessions (org_id, account_id);

    create table audit_events (
      org_id uuid not null references organizations (id) on delete cascade,
      id bigint generated always as identity,
      actor_type text not null,
      actor_id text,
      action text not null,
      target_type text,
      target_id text,
      details jsonb not null default '{}'::jsonb,
      created_at timestamptz not null default now(),
      primary key (org_id, id)
    );
    create index audit_events_created on audit_events (org_id, created_at desc);
`;
