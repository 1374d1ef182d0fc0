// The mail sender of one instance: every few seconds, and at once when a request queued mail (`wake`), it
// claims due messages from the outbox and delivers them, outside any transaction. Every instance runs one;
// the claim (src/directory/outbox.ts) keeps two from sending the same message. A failed send is tried again
// later with a growing delay, so a dead SMTP server only delays mail; nothing here ever reaches a request.
// Without SMTP_URL there is no transport: each message is logged once, with the command that shows it, and
// stays in the outbox.
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { type ClaimedMail, claimDueMail, deleteOldMail, markFailed, markLogged, markSent, type RetryPolicy } from '../directory/outbox.ts';
import { repeat } from '../repeat.ts';
import { createMailTransport, describeSendError, isPermanentFailure, type MailTransport, SEND_TIMEOUT_MS } from './transport.ts';

export type MailSender = {
  stop: () => Promise<void>;
  /** Delivers what is due now rather than at the next tick: call it after committing a change that queued mail. */
  wake: () => void;
};

export type MailSenderDeps = {
  db: Knex;
  logger: Logger;
  /** Unset: no transport; messages are logged and stay in the outbox. */
  smtpUrl: string | undefined;
  /** The From of every message. */
  from?: string;
  /** How often to look for due mail (default 2 s). */
  everyMs?: number;
  /** Messages claimed, and sent side by side, at a time (default 5). */
  batch?: number;
  /** How long a claim keeps other instances off a message (default 2 minutes, well over a send's timeout). */
  leaseSeconds?: number;
  retry?: RetryPolicy;
};

/** Finished messages are deleted after this many days: they carry codes, links and addresses. */
export const MAIL_RETENTION_DAYS = 30;

const outboxCommand = (id: string) => `npm run --silent cli -- outbox show ${id}`;

export function startMailSender(deps: MailSenderDeps): MailSender {
  const { db, logger } = deps;
  const batch = deps.batch ?? 5;
  const leaseSeconds = deps.leaseSeconds ?? 120;
  if (leaseSeconds * 1000 <= SEND_TIMEOUT_MS) throw new Error(`the mail lease (${leaseSeconds} s) must outlast a send (${SEND_TIMEOUT_MS / 1000} s)`);
  const transport = createMailTransport({ smtpUrl: deps.smtpUrl, from: deps.from ?? 'Roster <no-reply@localhost>' });
  const stopping = new AbortController();

  const deliverDue = async () => {
    while (!stopping.signal.aborted) {
      const claimed = await claimDueMail(db, { limit: batch, leaseSeconds });
      const outcomes = await Promise.allSettled(claimed.map((m) => (transport ? deliver(transport, m) : keep(m))));
      for (const o of outcomes) if (o.status === 'rejected') logger.warn({ err: o.reason }, 'could not record the outcome of a mail; it is sent again when its claim ends');
      if (claimed.length < batch) return;
    }
  };

  const keep = async (m: ClaimedMail) => {
    if (await markLogged(db, m)) logger.info({ mailId: m.id, to: m.to, subject: m.subject }, `mail to ${m.to} is in the outbox (no SMTP_URL is set); read it with: ${outboxCommand(m.id)}`);
  };

  const deliver = async (t: MailTransport, m: ClaimedMail) => {
    let messageId: string;
    try {
      ({ messageId } = await t.send({ ...m, signal: stopping.signal }));
    } catch (err) {
      const error = stopping.signal.aborted ? 'the sender stopped during the send' : describeSendError(err);
      const outcome = await markFailed(db, { id: m.id, claim: m.claim, error, permanent: isPermanentFailure(err), retry: deps.retry });
      if (outcome?.status === 'failed') logger.error({ mailId: m.id, attempts: outcome.attempts, error }, `gave up on mail ${m.id} after ${outcome.attempts} attempts (${error}); it stays readable with: ${outboxCommand(m.id)}`);
      else if (outcome) logger.warn({ mailId: m.id, attempts: outcome.attempts, error, nextAttemptAt: outcome.nextAttemptAt }, `could not send mail ${m.id} through ${t.target} (${error}); trying again at ${outcome.nextAttemptAt?.toISOString()}`);
      return;
    }
    if (await markSent(db, { id: m.id, smtpMessageId: messageId })) logger.info({ mailId: m.id, attempts: m.attempts, smtpMessageId: messageId }, `sent mail ${m.id} through ${t.target}`);
  };

  const sending = repeat(deliverDue, { everyMs: deps.everyMs ?? 2000, logger, failed: 'sending mail failed; trying again shortly' });
  const pruning = repeat(async () => {
    const removed = await deleteOldMail(db, { days: MAIL_RETENTION_DAYS });
    if (removed) logger.info({ removed }, `removed ${removed} messages older than ${MAIL_RETENTION_DAYS} days from the outbox`);
  }, { everyMs: 60 * 60_000, logger, failed: 'removing old mail from the outbox failed; trying again later' });
  logger.info(transport ? `sending mail through ${transport.target}` : 'no SMTP_URL: mail stays in the outbox (npm run --silent cli -- outbox list)');
  sending.wake(); // what was queued before this start (a restart) goes out now
  return {
    wake: sending.wake,
    stop: async () => {
      stopping.abort();
      await Promise.all([sending.stop(), pruning.stop()]);
      transport?.close();
    },
  };
}
