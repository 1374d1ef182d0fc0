// The mail sender against a real SMTP server (smtp-server, started here): what a committed change queued is
// delivered once, with its headers and both bodies; what a rolled-back change queued never; two senders on
// one database deliver each message once; a dead, hung or refusing SMTP server delays or fails mail, never
// loses it. The test database is shared with other files: every check looks at this test's own recipients.
import assert from 'node:assert/strict';
import type { Knex } from 'knex';
import { pino } from 'pino';
import { openDb } from '../../src/db.ts';
import { enqueueMail, getOutboxMessage, type NewMail } from '../../src/directory/outbox.ts';
import { type MailSender, startMailSender } from '../../src/mail/sender.ts';
import { emailCodeMessage } from '../../src/mail/templates.ts';
import { unique } from '../helpers.ts';
import { testDatabaseUrl, testDb } from '../setup.ts';
import { eventually, freePort, type SmtpReceiver, startBlackHole, startSmtpReceiver } from './support.ts';

const FROM = 'Acme Roster <mail@roster.test>';
const mail = (over: Partial<NewMail> = {}): NewMail => ({ orgId: null, to: `${unique('to-')}@example.test`, ...emailCodeMessage({ orgName: 'Acme', code: '314159' }), ...over });

type LogLine = { level: number; msg: string; mailId?: string };

describe('mail sender', function () {
  this.timeout(3 * 60_000);
  const running: MailSender[] = [];
  const closing: (() => Promise<void>)[] = [];
  let logs: LogLine[] = [];

  const start = (opts: { smtpUrl: string | undefined; db?: Knex; batch?: number; retry?: { baseSeconds: number; maxSeconds: number; maxAttempts: number } }) => {
    const logger = pino({ level: 'info' }, { write: (line: string) => { logs.push(JSON.parse(line) as LogLine); } });
    const sender = startMailSender({ db: opts.db ?? testDb(), logger, smtpUrl: opts.smtpUrl, from: FROM, everyMs: 100, batch: opts.batch, retry: opts.retry });
    running.push(sender);
    return sender;
  };
  const receiver = async (opts: { port?: number; refuse?: string[] } = {}): Promise<SmtpReceiver> => {
    const r = await startSmtpReceiver(opts);
    closing.push(r.close);
    return r;
  };
  /** Queues a marker and waits for it: every message queued before it was looked at by then. */
  const roundTrip = async (sender: MailSender, r: SmtpReceiver) => {
    const marker = mail();
    await enqueueMail(testDb(), marker);
    sender.wake();
    await eventually('the marker', () => r.to(marker.to).length === 1);
  };

  beforeEach(() => { logs = []; });
  afterEach(async () => {
    await Promise.all(running.splice(0).map((s) => s.stop()));
    await Promise.all(closing.splice(0).map((close) => close()));
  });

  it('delivers a committed message once, with its From, To, Subject, Message-ID, text and HTML; a rolled-back one never', async () => {
    const r = await receiver();
    const sender = start({ smtpUrl: r.url });
    const kept = mail();
    const dropped = mail();
    await assert.rejects(testDb().transaction(async (trx) => {
      await enqueueMail(trx, dropped);
      throw new Error('the change failed');
    }));
    const id = await testDb().transaction((trx) => enqueueMail(trx, kept));
    sender.wake();
    const [got] = await eventually('the message', () => (r.to(kept.to).length ? r.to(kept.to) : undefined));
    const row = await eventually('the message marked sent', async () => {
      const m = await getOutboxMessage(testDb(), id);
      return m.status === 'sent' ? m : undefined;
    });
    assert.deepEqual(got.envelope, { from: 'mail@roster.test', to: [kept.to] });
    assert.equal(got.headers.get('from'), 'Acme Roster <mail@roster.test>');
    assert.equal(got.headers.get('to'), kept.to);
    assert.equal(got.headers.get('subject'), 'Your sign-in code for Acme');
    assert.equal(got.headers.get('message-id'), row.smtpMessageId);
    assert.match(got.headers.get('content-type') ?? '', /^multipart\/alternative/);
    assert.equal(got.text.trim(), kept.text.trim());
    assert.equal(got.html.trim(), kept.html!.trim());
    assert.equal(row.attempts, 1);
    assert.ok(row.sentAt);
    await roundTrip(sender, r);
    assert.equal(r.to(kept.to).length, 1, 'delivered once');
    assert.equal(r.to(dropped.to).length, 0, 'the rolled-back message never');
  });

  it('two senders on one database deliver each message exactly once', async () => {
    const r = await receiver();
    // On PostgreSQL the second sender has a connection pool of its own, as a second instance would.
    const url = testDatabaseUrl();
    const otherDb = url ? await openDb({ databaseUrl: url }) : testDb();
    if (url) closing.push(() => otherDb.destroy());
    const senders = [start({ smtpUrl: r.url, batch: 3 }), start({ smtpUrl: r.url, batch: 3, db: otherDb })];
    const messages = Array.from({ length: 24 }, () => mail());
    const ids = await testDb().transaction(async (trx) => {
      const out: string[] = [];
      for (const m of messages) out.push(await enqueueMail(trx, m)); // one connection: one statement at a time
      return out;
    });
    senders.forEach((s) => s.wake());
    await eventually('every message', () => messages.every((m) => r.to(m.to).length > 0));
    for (const s of senders) await roundTrip(s, r);
    assert.deepEqual(messages.map((m) => r.to(m.to).length), messages.map(() => 1));
    const rows = await testDb()('outbox').whereIn('id', ids).select('status', 'attempts');
    assert.deepEqual([...new Set(rows.map((x) => `${x.status}/${x.attempts}`))], ['sent/1']);
  });

  it('with the SMTP server down, a message stays queued with its attempts and last error, and goes out once the server is up', async () => {
    const port = await freePort();
    const sender = start({ smtpUrl: `smtp://127.0.0.1:${port}`, retry: { baseSeconds: 0.2, maxSeconds: 0.5, maxAttempts: 1000 } });
    const m = mail();
    const id = await enqueueMail(testDb(), m);
    sender.wake();
    const waiting = await eventually('a failed attempt', async () => {
      const x = await getOutboxMessage(testDb(), id);
      return x.attempts >= 1 && x.lastError ? x : undefined;
    });
    assert.equal(waiting.status, 'queued');
    assert.match(waiting.lastError!, /ECONNREFUSED|ECONNECTION|connect/i);
    assert.ok(logs.some((l) => l.level === 40 && l.mailId === id && /could not send mail/.test(l.msg)), 'a warning says it will be tried again');
    const r = await receiver({ port });
    await eventually('the delivery', async () => (await getOutboxMessage(testDb(), id)).status === 'sent');
    const sent = await getOutboxMessage(testDb(), id);
    assert.ok(sent.attempts >= 2);
    assert.equal(sent.lastError, waiting.lastError, 'the last error stays, for the record');
    await roundTrip(sender, r);
    assert.equal(r.to(m.to).length, 1);
  });

  it('a recipient the server refuses for good (550) is failed at once, not retried', async () => {
    const refused = mail();
    const r = await receiver({ refuse: [refused.to] });
    const sender = start({ smtpUrl: r.url });
    const id = await enqueueMail(testDb(), refused);
    sender.wake();
    const failed = await eventually('the refusal', async () => {
      const x = await getOutboxMessage(testDb(), id);
      return x.status === 'failed' ? x : undefined;
    });
    assert.equal(failed.attempts, 1);
    assert.match(failed.lastError!, /550/);
    assert.ok(logs.some((l) => l.level === 50 && l.mailId === id && /gave up on mail/.test(l.msg)));
  });

  it('without SMTP_URL, logs each message once with the command that shows it, and keeps it in the outbox', async () => {
    const sender = start({ smtpUrl: undefined });
    const id = await enqueueMail(testDb(), mail());
    sender.wake();
    await eventually('the message logged', async () => (await getOutboxMessage(testDb(), id)).status === 'logged');
    const marker = await enqueueMail(testDb(), mail());
    sender.wake();
    await eventually('the marker logged', async () => (await getOutboxMessage(testDb(), marker)).status === 'logged');
    const lines = logs.filter((l) => l.mailId === id);
    assert.equal(lines.length, 1);
    assert.ok(lines[0].msg.includes(`npm run --silent cli -- outbox show ${id}`), lines[0].msg);
  });

  it('stopping during a hung send gives the message back, queued, for the next sender', async () => {
    const hole = await startBlackHole();
    closing.push(hole.close);
    const sender = start({ smtpUrl: hole.url });
    const id = await enqueueMail(testDb(), mail());
    sender.wake();
    await eventually('the send in flight', async () => (await getOutboxMessage(testDb(), id)).inFlight && hole.connections() > 0);
    running.splice(running.indexOf(sender), 1);
    await sender.stop();
    const back = await getOutboxMessage(testDb(), id);
    assert.deepEqual([back.status, back.inFlight, back.attempts, back.lastError], ['queued', false, 1, 'the sender stopped during the send']);
  });
});
