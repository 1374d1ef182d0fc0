// Sign-in: a temporary password expires; TOTP factors (secret sealed at rest) with the last accepted time
// step (a code is accepted once); recovery codes (hashed, usable once); the throttle's counters
// (rate-limiter-flexible's table, shared by every instance); live sessions found by the provider's session.
import type { Knex } from 'knex';
import { runScript } from './script.ts';

export async function up(knex: Knex): Promise<void> {
  await runScript(knex, schema);
}

const schema = `
    alter table accounts add column temporary_password_expires_at timestamptz;
    update accounts set temporary_password_expires_at = coalesce(password_changed_at, updated_at) + interval '7 days' where must_change_password;

    create table mfa_factors (
      id uuid primary key default gen_random_uuid(),
      account_id uuid not null references accounts (id) on delete cascade,
      kind text not null check (kind in ('totp')),
      secret_sealed text not null,
      confirmed_at timestamptz,
      last_used_step bigint,
      created_at timestamptz not null default now()
    );
    create unique index mfa_factors_one_confirmed on mfa_factors (account_id, kind) where confirmed_at is not null;
    create index mfa_factors_account on mfa_factors (account_id);

    create table recovery_codes (
      account_id uuid not null references accounts (id) on delete cascade,
      code_hash text not null,
      used_at timestamptz,
      created_at timestamptz not null default now(),
      primary key (account_id, code_hash)
    );

    create table sign_in_throttle (
      key varchar(255) primary key,
      points integer not null default 0,
      expire bigint
    );
    create index sign_in_throttle_expire on sign_in_throttle (expire);

    create index sessions_org_oidc_session on sessions (org_id, oidc_session_uid) where oidc_session_uid is not null;
    create index sessions_created on sessions (org_id, created_at desc, id desc);
    create index sessions_account_created on sessions (org_id, account_id, created_at desc, id desc);
    create index sessions_account_live on sessions (account_id) where revoked_at is null
`;
