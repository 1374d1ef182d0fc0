// What sign-in needs of the directory, ahead of the sign-in pages:
// - accounts know whether the person has shown control of the e-mail address, and which organisation set
//   the password (a credential an organisation set opens only that organisation's applications until then);
// - sessions know their client, device and factors, and why and by whom they were revoked;
// - auth_events records every attempt (success or failure, with a reason), per organisation.
import type { Knex } from 'knex';
import { runScript } from './script.ts';

export async function up(knex: Knex): Promise<void> {
  await runScript(knex, schema);
}

const schema = `
    alter table accounts
      add column email_verified boolean not null default false,
      add column password_set_by_org_id uuid references organizations (id) on delete set null,
      add column password_changed_at timestamptz;

    update accounts set password_set_by_org_id = managed_by_org_id, password_changed_at = updated_at where password_hash is not null;

    alter table sessions
      add column client_id text,
      add column device text,
      add column factors text[] not null default '{}',
      add column revoked_reason text,
      add column revoked_by text;

    create table auth_events (
      org_id uuid not null references organizations (id) on delete cascade,
      id bigint generated always as identity,
      account_id uuid references accounts (id) on delete set null,
      email text check (email is null or length(email) <= 320),
      type text not null,
      outcome text not null check (outcome in ('success', 'failure')),
      reason text,
      client_id text,
      ip text,
      user_agent text check (user_agent is null or length(user_agent) <= 1024),
      device text,
      created_at timestamptz not null default now(),
      primary key (org_id, id)
    );
    create index auth_events_created on auth_events (org_id, created_at desc, id desc);
    create index auth_events_account on auth_events (org_id, account_id, created_at desc, id desc)
`;
