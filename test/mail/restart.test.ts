// Killing the server while messages are queued loses none of them: the real server process, its SMTP server
// hung (so the messages are mid-send when it dies), killed with SIGKILL, then started again with a working
// SMTP server: every message arrives, once.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { createOrganization } from '../../src/directory/organizations.ts';
import { enqueueMail } from '../../src/directory/outbox.ts';
import { emailCodeMessage } from '../../src/mail/templates.ts';
import { unique } from '../helpers.ts';
import { killAll, runCli, startServer } from '../operator/processes.ts';
import { eventually, serverDatabase, startBlackHole, startSmtpReceiver } from './support.ts';

type Listed = { id: string; to: string; status: string; attempts: number; inFlight: boolean };

describe('mail across a crash', function () {
  // Real processes on a busy machine: generous, never tight.
  this.timeout(5 * 60_000);
  const cleanups: (() => Promise<void> | void)[] = [];
  after(async () => {
    await killAll();
    for (const c of cleanups.splice(0)) await c();
  });

  it('a server killed (SIGKILL) while sending loses no message: the next start delivers each, once', async () => {
    const receiver = await startSmtpReceiver();
    const hole = await startBlackHole();
    cleanups.push(receiver.close, hole.close);
    const target = await serverDatabase();
    if (target.dataDir) cleanups.push(() => rmSync(target.dataDir!, { recursive: true, force: true }));
    const recipients = Array.from({ length: 3 }, () => `${unique('person')}@example.test`);
    const { orgId, ids } = await target.use(async (db) => {
      const org = (await createOrganization(db, { name: unique('Crash '), ownerEmail: `${unique('owner')}@example.test` })).org.id;
      const queued = await db.transaction(async (trx) => {
        const out: string[] = [];
        for (const to of recipients) out.push(await enqueueMail(trx, { orgId: org, to, ...emailCodeMessage({ orgName: 'Crash', code: '161803' }) }));
        return out;
      });
      return { orgId: org, ids: queued };
    });
    const list = async (): Promise<Listed[]> => {
      const r = await runCli(['outbox', 'list', '--org', orgId, '--json'], target.env);
      assert.equal(r.code, 0, r.stderr);
      return (JSON.parse(r.stdout) as { messages: Listed[] }).messages;
    };

    // The first server's SMTP server accepts connections and never answers: the messages are mid-send.
    const first = await startServer({ ...target.env, SMTP_URL: hole.url });
    await eventually('every message claimed by the first server', async () => (await list()).every((m) => m.attempts >= 1));
    assert.ok(hole.connections() > 0, 'the first server was sending');
    assert.notEqual(await first.stop('SIGKILL'), 0);
    assert.equal(receiver.received.length, 0);

    // Still there, all of them. Time passes: the dead server's claims run out (their lease is two minutes).
    await target.use(async (db) => {
      assert.deepEqual((await db('outbox').whereIn('id', ids).pluck('status')).sort(), ['queued', 'queued', 'queued']);
      await db('outbox').whereIn('id', ids).update({ next_attempt_at: db.fn.now() });
    });

    const second = await startServer({ ...target.env, SMTP_URL: receiver.url });
    await eventually('every message delivered', () => recipients.every((to) => receiver.to(to).length > 0));
    const after = await eventually('every message marked sent', async () => {
      const listed = await list();
      return listed.every((m) => m.status === 'sent') ? listed : undefined;
    });
    assert.deepEqual(after.map((m) => m.id).sort(), [...ids].sort());
    assert.equal(await second.stop(), 0, second.output().stderr);
    assert.deepEqual(recipients.map((to) => receiver.to(to).length), [1, 1, 1], 'each delivered once');
    for (const to of recipients) assert.match(receiver.to(to)[0].text, /161803/);
  });
});
