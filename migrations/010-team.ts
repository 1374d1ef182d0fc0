// Team management (the admin API): custom roles, roles granted by groups, groups made in the admin API
// (editable there) beside those SCIM provisioned (read-only there), invitations (token stored as a hash,
// one pending per address and organisation), who deactivated a member and when, the roster search (one
// trigram index over what a person is searched by), and an audit log nothing can edit or delete.
import type { Knex } from 'knex';
import { runScript } from './script.ts';

export async function up(knex: Knex): Promise<void> {
  await runScript(knex, schema);
  for (const statement of appendOnly) await knex.raw(statement);
}

const schema = `
    create extension if not exists pg_trgm;
    create extension if not exists btree_gin;

    create table roles (
      org_id uuid not null references organizations (id) on delete cascade,
      id uuid not null default gen_random_uuid(),
      name text not null check (length(name) between 1 and 100),
      description text check (description is null or length(description) <= 500),
      color text check (color is null or color ~ '^#[0-9a-f]{6}$'),
      permissions text[] not null default '{}',
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      primary key (org_id, id)
    );
    create unique index roles_name_key on roles (org_id, lower(name));

    alter table groups
      add column managed_by text not null default 'scim' check (managed_by in ('scim', 'admin')),
      add column role text check (role is null or role <> 'owner');
    create index groups_role on groups (org_id, id) where role is not null;

    alter table memberships
      add column deactivated_at timestamptz,
      add column deactivated_by_type text,
      add column deactivated_by_id text,
      add column search_text text generated always as (lower(
        user_name || ' ' || coalesce(display_name, '') || ' ' || coalesce(name_formatted, '') || ' ' ||
        coalesce(given_name, '') || ' ' || coalesce(family_name, '') || ' ' || jsonb_path_query_array(emails, '$[*].value')::text
      )) stored;
    create index memberships_search on memberships using gin (org_id, search_text gin_trgm_ops);
    create index memberships_role on memberships (org_id, role, created_at, id);
    create index memberships_status on memberships (org_id, status, created_at, id);

    create table invitations (
      org_id uuid not null references organizations (id) on delete cascade,
      id uuid not null default gen_random_uuid(),
      email text not null check (length(email) between 3 and 320),
      role text not null check (role <> 'owner'),
      group_ids uuid[] not null default '{}',
      message text check (message is null or length(message) <= 2500),
      token_hash text not null,
      status text not null default 'pending' check (status in ('pending', 'accepted', 'declined', 'cancelled')),
      expires_at timestamptz not null,
      invited_by_type text not null,
      invited_by_id text,
      invited_by_name text,
      times_sent integer not null default 1,
      last_sent_at timestamptz not null default now(),
      responded_at timestamptz,
      membership_id uuid,
      created_at timestamptz(3) not null default now(),
      primary key (org_id, id)
    );
    create unique index invitations_token on invitations (token_hash);
    create unique index invitations_one_pending on invitations (org_id, lower(email)) where status = 'pending';
    create index invitations_created on invitations (org_id, created_at, id);
    create index invitations_search on invitations using gin (org_id, lower(email) gin_trgm_ops) where status = 'pending';

    alter table audit_events add column ip text check (ip is null or length(ip) <= 64);
    create index audit_events_actor on audit_events (org_id, actor_id, created_at desc, id desc);
    create index audit_events_target on audit_events (org_id, target_id, created_at desc, id desc);
    create index audit_events_action on audit_events (org_id, action, created_at desc, id desc)
`;

// Each its own statement (their bodies hold semicolons).
const appendOnly = [
  `create function audit_events_append_only() returns trigger language plpgsql as $$
    begin
      -- Deleting the organisation itself takes its log with it (the cascade runs once its row is gone).
      if tg_op = 'DELETE' and not exists (select 1 from organizations where id = old.org_id) then
        return old;
      end if;
      raise exception 'audit_events is append-only: % refused', tg_op using errcode = 'insufficient_privilege';
    end $$`,
  `create trigger audit_events_append_only before update or delete on audit_events
      for each row execute function audit_events_append_only()`,
  `create function audit_events_no_truncate() returns trigger language plpgsql as $$
    begin
      raise exception 'audit_events is append-only: TRUNCATE refused' using errcode = 'insufficient_privilege';
    end $$`,
  `create trigger audit_events_no_truncate before truncate on audit_events
      for each statement execute function audit_events_no_truncate()`,
];
