// The directory owns the person: a member's names, e-mails, phone numbers, addresses, title and enterprise
// fields become typed columns any door can read and write (they were one SCIM document, `profile`). What
// one door alone understands stays as that door's opaque data (`protocol_data`).
// One credential path: SCIM tokens and API keys (and, next, OIDC client secrets) become rows of
// `credentials`, one kind of hashed secret with a kind, an org, an optional role and its times.
// Sessions link to what oidc-provider issues under them: `oidc_session_uid` (the provider's Session uid) and
// `session_grants` (every grant issued under the session); `oidc_payloads` is the provider's storage, keyed
// so that revoking a session deletes its grants' tokens.
import type { Knex } from 'knex';
import { runScript } from './script.ts';

export async function up(knex: Knex): Promise<void> {
  await runScript(knex, schema);
}

// The enterprise extension's key in the old SCIM document (only here, to move its data once).
const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';

const schema = `
    alter table memberships
      add column name_formatted text,
      add column given_name text,
      add column family_name text,
      add column middle_name text,
      add column honorific_prefix text,
      add column honorific_suffix text,
      add column nick_name text,
      add column title text,
      add column user_type text,
      add column preferred_language text,
      add column locale text,
      add column timezone text,
      add column profile_url text,
      add column emails jsonb not null default '[]'::jsonb check (jsonb_typeof(emails) = 'array'),
      add column phone_numbers jsonb not null default '[]'::jsonb check (jsonb_typeof(phone_numbers) = 'array'),
      add column addresses jsonb not null default '[]'::jsonb check (jsonb_typeof(addresses) = 'array'),
      add column employee_number text,
      add column cost_center text,
      add column organization text,
      add column division text,
      add column department text,
      add column manager_id text,
      add column protocol_data jsonb not null default '{}'::jsonb check (jsonb_typeof(protocol_data) = 'object');

    update memberships set
      name_formatted = profile #>> '{name,formatted}',
      given_name = profile #>> '{name,givenName}',
      family_name = profile #>> '{name,familyName}',
      middle_name = profile #>> '{name,middleName}',
      honorific_prefix = profile #>> '{name,honorificPrefix}',
      honorific_suffix = profile #>> '{name,honorificSuffix}',
      nick_name = profile ->> 'nickName',
      title = profile ->> 'title',
      user_type = profile ->> 'userType',
      preferred_language = profile ->> 'preferredLanguage',
      locale = profile ->> 'locale',
      timezone = profile ->> 'timezone',
      profile_url = profile ->> 'profileUrl',
      emails = case when jsonb_typeof(profile -> 'emails') = 'array' then profile -> 'emails' else '[]'::jsonb end,
      phone_numbers = case when jsonb_typeof(profile -> 'phoneNumbers') = 'array' then profile -> 'phoneNumbers' else '[]'::jsonb end,
      addresses = case when jsonb_typeof(profile -> 'addresses') = 'array' then profile -> 'addresses' else '[]'::jsonb end,
      employee_number = profile -> '${ENTERPRISE}' ->> 'employeeNumber',
      cost_center = profile -> '${ENTERPRISE}' ->> 'costCenter',
      organization = profile -> '${ENTERPRISE}' ->> 'organization',
      division = profile -> '${ENTERPRISE}' ->> 'division',
      department = profile -> '${ENTERPRISE}' ->> 'department',
      manager_id = profile -> '${ENTERPRISE}' #>> '{manager,value}',
      protocol_data = profile - array['name', 'nickName', 'title', 'userType', 'preferredLanguage', 'locale', 'timezone',
        'profileUrl', 'emails', 'phoneNumbers', 'addresses', '${ENTERPRISE}'];

    alter table memberships drop column profile;

    create table credentials (
      id uuid primary key default gen_random_uuid(),
      org_id uuid not null references organizations (id) on delete cascade,
      kind text not null check (kind in ('scim_token', 'api_key', 'client_secret')),
      name text not null check (length(name) between 1 and 200),
      secret_hash text not null unique,
      role text,
      created_at timestamptz not null default now(),
      last_used_at timestamptz,
      revoked_at timestamptz
    );
    create index credentials_org on credentials (org_id, kind, created_at desc);

    insert into credentials (id, org_id, kind, name, secret_hash, created_at, last_used_at, revoked_at)
      select id, org_id, 'scim_token', name, token_hash, created_at, last_used_at, revoked_at from scim_tokens;
    insert into credentials (id, org_id, kind, name, secret_hash, role, created_at, last_used_at, revoked_at)
      select id, org_id, 'api_key', name, key_hash, 'owner', created_at, last_used_at, revoked_at from api_keys;
    drop table scim_tokens;
    drop table api_keys;

    alter table sessions add column oidc_session_uid text;
    create index sessions_oidc_session on sessions (oidc_session_uid) where oidc_session_uid is not null;

    create table session_grants (
      org_id uuid not null,
      session_id uuid not null,
      grant_id text not null,
      created_at timestamptz not null default now(),
      primary key (org_id, session_id, grant_id),
      foreign key (org_id, session_id) references sessions (org_id, id) on delete cascade
    );
    create index session_grants_grant on session_grants (grant_id);

    create table oidc_payloads (
      model text not null,
      id text not null,
      payload jsonb not null,
      grant_id text,
      session_uid text,
      uid text,
      user_code text,
      expires_at timestamptz,
      consumed_at timestamptz,
      primary key (model, id)
    );
    create index oidc_payloads_grant on oidc_payloads (grant_id) where grant_id is not null;
    create index oidc_payloads_session_uid on oidc_payloads (session_uid) where session_uid is not null;
    create index oidc_payloads_uid on oidc_payloads (uid) where uid is not null;
    create index oidc_payloads_user_code on oidc_payloads (user_code) where user_code is not null;
    create index oidc_payloads_expires on oidc_payloads (expires_at) where expires_at is not null
`;
