// The outbox: mail is written in the transaction of the change that needs it, and delivered afterwards by a
// sender on every instance (src/mail/sender.ts). A rolled-back change leaves no message; a committed one is
// never lost: it stays queued until it is delivered, or until it has failed `maxAttempts` times.
//
// Claiming is one statement: the due messages are locked with SKIP LOCKED (a concurrent claimer takes
// others), stamped with a claim and given a lease, by pushing `next_attempt_at` ahead. Until the lease ends no
// other instance takes them; a sender that dies mid-send only delays its messages until then (they may then
// be sent twice, never lost). Each claim counts as an attempt, so a message that kills its sender every
// time still ends as failed.
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { Invalid, NotFound } from './errors.ts';
import { isUuid } from './predicate.ts';

/** What a template makes: the subject, the plain text and (optionally) the HTML of a message. */
export type MailContent = { subject: string; text: string; html?: string | null };
/** A message for the outbox: its content, its recipient, and the organisation it is sent for (null: none). */
export type NewMail = MailContent & { orgId: string | null; to: string };

export const outboxStatuses = ['queued', 'sent', 'logged', 'failed'] as const;
/** queued: waiting or being sent; sent: accepted by the SMTP server; logged: no SMTP_URL, kept here only; failed: given up. */
export type OutboxStatus = (typeof outboxStatuses)[number];

/** When to try again after a failure: `baseSeconds` doubled per attempt, at most `maxSeconds`; given up after `maxAttempts`. */
export type RetryPolicy = { baseSeconds: number; maxSeconds: number; maxAttempts: number };
/** 30 s, 1 min, 2 min ... then hourly: 25 attempts over about 18 hours. */
export const MAIL_RETRY = { baseSeconds: 30, maxSeconds: 3600, maxAttempts: 25 } satisfies RetryPolicy;

export type OutboxSummary = {
  id: string; orgId: string | null; to: string; subject: string; status: OutboxStatus; attempts: number;
  /** A sender holds it right now (claimed, lease not over). */
  inFlight: boolean;
  nextAttemptAt: Date | null; lastError: string | null; createdAt: Date; sentAt: Date | null;
};
export type OutboxMessage = OutboxSummary & { text: string; html: string | null; smtpMessageId: string | null };
/** A message a sender has claimed: it reports the outcome with its `claim`. */
export type ClaimedMail = { id: string; claim: string; orgId: string | null; to: string; subject: string; text: string; html: string | null; attempts: number };

const headerSafe = (s: string) => !/[\r\n]/.test(s);

/**
 * Queues a message; returns its id. Call it with the transaction of the change that needs the message, so
 * that the message exists exactly when the change does.
 */
/**
 * Whether mail can be sent to this address as it is: one plain addr-spec, nothing a mail header would read as
 * a second recipient or a display name. (The directory accepts some addresses mail cannot carry: a quoted
 * local part, a comma. Those people get no mail, and a page must not tell them apart.)
 */
export const mailable = (address: string) => /^[^\s@<>,;"]+@[^\s@<>,;"]+$/.test(address) && address.length <= 320;

export async function enqueueMail(trx: Knex, mail: NewMail): Promise<string> {
  if (!mailable(mail.to)) throw new Invalid(`"${mail.to}" is not an e-mail address`, { field: 'to', rule: 'not_an_email' });
  if (!headerSafe(mail.subject) || mail.subject.trim() === '' || mail.subject.length > 998) throw new Invalid('a subject is one line of at most 998 characters', { field: 'subject', rule: 'malformed' });
  if (mail.orgId !== null && !isUuid(mail.orgId)) throw new Invalid(`"${mail.orgId}" is not an organisation id (a UUID)`, { field: 'orgId', rule: 'malformed_id' });
  const [row] = await trx('outbox').insert({
    org_id: mail.orgId, to_address: mail.to, subject: mail.subject, text_body: mail.text, html_body: mail.html ?? null,
  }).returning('id');
  return row.id as string;
}

/** Claims up to `limit` due messages for `leaseSeconds`, oldest due first; none that another claimer holds. */
export async function claimDueMail(db: Knex, input: { limit: number; leaseSeconds: number }): Promise<ClaimedMail[]> {
  const claim = randomUUID();
  const due = db('outbox').select('id').where({ status: 'queued' }).where('next_attempt_at', '<=', db.fn.now())
    .orderBy('next_attempt_at').limit(input.limit).forUpdate().skipLocked();
  const rows = await db('outbox').whereIn('id', due).update({
    claim, claimed_at: db.fn.now(), attempts: db.raw('attempts + 1'),
    next_attempt_at: db.raw('now() + make_interval(secs => ?)', [input.leaseSeconds]),
  }).returning(['id', 'org_id', 'to_address', 'subject', 'text_body', 'html_body', 'attempts']);
  return rows.map((r) => ({ id: r.id, claim, orgId: r.org_id, to: r.to_address, subject: r.subject, text: r.text_body, html: r.html_body, attempts: r.attempts }));
}

/** The SMTP server accepted the message. False when it was no longer queued (another sender finished it). */
export async function markSent(db: Knex, input: { id: string; smtpMessageId?: string | null }): Promise<boolean> {
  const rows = await db('outbox').where({ id: input.id, status: 'queued' })
    .update({ status: 'sent', sent_at: db.fn.now(), claim: null, smtp_message_id: input.smtpMessageId?.slice(0, 998) ?? null }).returning('id');
  return rows.length === 1;
}

/** No SMTP server is configured: the message was logged and stays readable here. */
export async function markLogged(db: Knex, input: { id: string; claim: string }): Promise<boolean> {
  const rows = await db('outbox').where({ id: input.id, claim: input.claim, status: 'queued' })
    .update({ status: 'logged', sent_at: db.fn.now(), claim: null }).returning('id');
  return rows.length === 1;
}

/**
 * A send failed: the message is due again after the backoff of its attempt count, or is failed for good when
 * `permanent` (the server refused the recipient) or out of attempts. Null when this claim no longer holds it.
 */
export async function markFailed(db: Knex, input: { id: string; claim: string; error: string; permanent?: boolean; retry?: RetryPolicy }): Promise<{ status: OutboxStatus; attempts: number; nextAttemptAt: Date | null } | null> {
  const retry = input.retry ?? MAIL_RETRY;
  const [row] = await db('outbox').where({ id: input.id, claim: input.claim, status: 'queued' }).update({
    status: db.raw(`case when ? or attempts >= ? then 'failed' else 'queued' end`, [input.permanent === true, retry.maxAttempts]),
    next_attempt_at: db.raw('now() + make_interval(secs => least(? * power(2, greatest(attempts - 1, 0)), ?))', [retry.baseSeconds, retry.maxSeconds]),
    last_error: input.error.slice(0, 2000), claim: null,
  }).returning(['status', 'attempts', 'next_attempt_at']);
  if (!row) return null;
  return { status: row.status, attempts: row.attempts, nextAttemptAt: row.status === 'queued' ? new Date(row.next_attempt_at) : null };
}

const summaryColumns = (db: Knex) => [
  'id', 'org_id', 'to_address', 'subject', 'status', 'attempts', 'next_attempt_at', 'last_error', 'created_at', 'sent_at',
  db.raw(`(status = 'queued' and claim is not null and next_attempt_at > now()) as in_flight`),
];

type SummaryRow = {
  id: string; org_id: string | null; to_address: string; subject: string; status: OutboxStatus; attempts: number;
  next_attempt_at: Date; last_error: string | null; created_at: Date; sent_at: Date | null; in_flight: boolean;
};

const toSummary = (r: SummaryRow): OutboxSummary => ({
  id: r.id, orgId: r.org_id, to: r.to_address, subject: r.subject, status: r.status, attempts: r.attempts, inFlight: r.in_flight,
  nextAttemptAt: r.status === 'queued' ? new Date(r.next_attempt_at) : null, lastError: r.last_error,
  createdAt: new Date(r.created_at), sentAt: r.sent_at ? new Date(r.sent_at) : null,
});

/** The newest messages, of one organisation or of all; without their bodies. */
export async function listOutbox(db: Knex, input: { limit: number; orgId?: string }): Promise<OutboxSummary[]> {
  if (!(input.limit >= 1 && input.limit <= 500)) throw new Invalid('limit is 1 to 500', { field: 'limit', rule: 'range' });
  // Newest first in the order they were queued (two messages may share a timestamp; `seq` never does).
  const query = db('outbox').select(summaryColumns(db)).orderBy('seq', 'desc').limit(input.limit);
  if (input.orgId !== undefined) query.where({ org_id: input.orgId });
  return (await query as SummaryRow[]).map(toSummary);
}

/** One message with its bodies, or NotFound. */
export async function getOutboxMessage(db: Knex, id: string): Promise<OutboxMessage> {
  if (!isUuid(id)) throw new Invalid(`"${id}" is not a message id (a UUID)`, { field: 'id', rule: 'malformed_id' });
  const row = await db('outbox').where({ id }).first([...summaryColumns(db), 'text_body', 'html_body', 'smtp_message_id']);
  if (!row) throw new NotFound(`no message ${id} in the outbox`, { field: 'id', rule: 'message_not_found' });
  return { ...toSummary(row as SummaryRow), text: row.text_body, html: row.html_body, smtpMessageId: row.smtp_message_id };
}

/** Removes finished messages (sent, logged, failed) older than `days`: they carry codes, links and addresses. */
export async function deleteOldMail(db: Knex, input: { days: number }): Promise<number> {
  return db('outbox').whereIn('status', ['sent', 'logged', 'failed'])
    .where('created_at', '<', db.raw('now() - make_interval(days => ?)', [input.days])).delete();
}
