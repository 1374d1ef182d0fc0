// Mail: the outbox. A write that needs a message inserts it here in its own transaction (a rolled-back write
// sends nothing); a sender on every instance delivers it afterwards. A sender claims a due message by
// stamping `claim` and pushing `next_attempt_at` one lease ahead: another instance skips it until the lease
// ends, so a sender that dies mid-send only delays the message. A message belongs to an organisation when it
// has one (a password reset may have none).
import type { Knex } from 'knex';
import { runScript } from './script.ts';

export async function up(knex: Knex): Promise<void> {
  await runScript(knex, schema);
}

const schema = `
    create table outbox (
      id uuid primary key default gen_random_uuid(),
      seq bigint generated always as identity,
      org_id uuid references organizations (id) on delete cascade,
      to_address text not null check (length(to_address) <= 320),
      subject text not null check (length(subject) <= 998),
      text_body text not null,
      html_body text,
      status text not null default 'queued' check (status in ('queued', 'sent', 'logged', 'failed')),
      attempts integer not null default 0,
      next_attempt_at timestamptz not null default now(),
      claim uuid,
      claimed_at timestamptz,
      last_error text,
      smtp_message_id text,
      created_at timestamptz not null default now(),
      sent_at timestamptz
    );
    create index outbox_due on outbox (next_attempt_at) where status = 'queued';
    create index outbox_org_seq on outbox (org_id, seq desc);
    create index outbox_seq on outbox (seq desc);
    create index outbox_created on outbox (created_at)
`;
