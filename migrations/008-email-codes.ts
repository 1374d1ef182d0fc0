// E-mail codes and links: one-time codes sent by e-mail (a second factor, and proof that the person controls
// the address) and password-reset links. Only a keyed hash of each is stored; each is single use, short-lived,
// and a code allows a few tries.
import type { Knex } from 'knex';
import { runScript } from './script.ts';

export async function up(knex: Knex): Promise<void> {
  await runScript(knex, schema);
}

const schema = `
    create table email_challenges (
      id uuid primary key default gen_random_uuid(),
      account_id uuid not null references accounts (id) on delete cascade,
      purpose text not null check (purpose in ('sign_in', 'password_reset')),
      secret_hash text not null,
      attempts integer not null default 0,
      expires_at timestamptz not null,
      consumed_at timestamptz,
      created_at timestamptz not null default now()
    );
    create index email_challenges_account on email_challenges (account_id, purpose, created_at desc);
    create unique index email_challenges_secret on email_challenges (secret_hash)
`;
