// The outbox: written in the transaction that needs the message, claimed by one sender at a time, retried
// with a growing delay, given up after its attempts. The test database is shared with other files, so every
// claim here looks only at this test's own messages among what it claimed.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { Invalid, NotFound } from '../../src/directory/errors.ts';
import { createOrganization } from '../../src/directory/organizations.ts';
import {
  claimDueMail, deleteOldMail, enqueueMail, getOutboxMessage, listOutbox, markFailed, markLogged, markSent, type NewMail,
} from '../../src/directory/outbox.ts';
import { unique } from '../helpers.ts';
import { testDb } from '../setup.ts';

async function newOrgId(): Promise<string> {
  const name = unique('mail-');
  return (await createOrganization(testDb(), { name, ownerEmail: `owner@${name}.test` })).org.id;
}

const mail = (over: Partial<NewMail> = {}): NewMail => ({ orgId: null, to: `${unique('to-')}@example.test`, subject: 'Hello', text: 'Hello there', html: '<p>Hello there</p>', ...over });
const row = (id: string) => testDb()('outbox').where({ id }).first();
/** Claims whatever is due (other files' leftovers too) and keeps this test's messages. */
async function claimMine(db: Knex, ids: string[], opts = { limit: 500, leaseSeconds: 120 }) {
  return (await claimDueMail(db, opts)).filter((m) => ids.includes(m.id));
}

describe('directory: outbox', () => {
  it('keeps a message only when the transaction that queued it commits', async () => {
    const kept = mail();
    const dropped = mail();
    let droppedId: string | undefined;
    await assert.rejects(testDb().transaction(async (trx) => {
      droppedId = await enqueueMail(trx, dropped);
      throw new Error('the change failed');
    }), /the change failed/);
    const keptId = await testDb().transaction((trx) => enqueueMail(trx, kept));
    assert.ok(droppedId);
    assert.equal(await row(droppedId), undefined);
    const r = await row(keptId);
    assert.deepEqual([r.status, r.attempts, r.to_address, r.subject, r.text_body, r.html_body, r.claim], ['queued', 0, kept.to, 'Hello', 'Hello there', '<p>Hello there</p>', null]);
  });

  it('refuses what is not an address, a subject that is not one line, an organisation id that is not a UUID', async () => {
    for (const bad of [mail({ to: 'nobody' }), mail({ to: 'a@b.test, c@d.test' }), mail({ to: 'a@b.test\r\nBcc: c@d.test' }), mail({ subject: 'Hi\r\nBcc: c@d.test' }), mail({ subject: ' ' }), mail({ orgId: 'acme' })]) {
      await assert.rejects(testDb().transaction((trx) => enqueueMail(trx, bad)), Invalid);
    }
  });

  it('a claimed message is not claimed again while its lease holds; after the lease it is, as a new attempt, and the old claim is void', async () => {
    const id = await enqueueMail(testDb(), mail());
    const [first] = await claimMine(testDb(), [id]);
    assert.equal(first.attempts, 1);
    assert.deepEqual(await claimMine(testDb(), [id]), [], 'held by the first claim');
    assert.equal((await getOutboxMessage(testDb(), id)).inFlight, true);
    // The lease ends (the first sender died mid-send): time passes.
    await testDb()('outbox').where({ id }).update({ next_attempt_at: testDb().fn.now() });
    const [second] = await claimMine(testDb(), [id]);
    assert.equal(second.attempts, 2);
    assert.notEqual(second.claim, first.claim);
    assert.equal(await markFailed(testDb(), { id, claim: first.claim, error: 'late' }), null, 'the first claim no longer holds it');
    assert.equal(await markLogged(testDb(), { id, claim: first.claim }), false);
    assert.ok(await markSent(testDb(), { id, smtpMessageId: '<m1@example.test>' }));
    assert.equal(await markSent(testDb(), { id }), false, 'sent once');
    const r = await row(id);
    assert.deepEqual([r.status, r.attempts, r.smtp_message_id, r.claim], ['sent', 2, '<m1@example.test>', null]);
    assert.ok(r.sent_at);
  });

  it('claimers running at once never take the same message', async () => {
    const ids = await testDb().transaction(async (trx) => {
      const out: string[] = [];
      for (let i = 0; i < 30; i += 1) out.push(await enqueueMail(trx, mail()));
      return out;
    });
    const batches = await Promise.all(Array.from({ length: 6 }, () => claimMine(testDb(), ids, { limit: 10, leaseSeconds: 120 })));
    const taken = batches.flat().map((m) => m.id);
    assert.equal(new Set(taken).size, taken.length, 'no message claimed twice');
    const rest = (await claimMine(testDb(), ids)).map((m) => m.id);
    assert.deepEqual([...taken, ...rest].sort(), [...ids].sort(), 'every message claimed exactly once');
    const attempts = await testDb()('outbox').whereIn('id', ids).pluck('attempts');
    assert.deepEqual([...new Set(attempts)], [1]);
  });

  it('a failure schedules the next attempt with a doubling delay and keeps the error; out of attempts, or refused for good, it is failed', async () => {
    const retry = { baseSeconds: 100, maxSeconds: 300, maxAttempts: 4 };
    const id = await enqueueMail(testDb(), mail());
    const delays: number[] = [];
    for (let attempt = 1; attempt <= 4; attempt += 1) {
      // In one transaction now() stands still: the stored delay is exactly the policy's.
      await testDb().transaction(async (trx) => {
        await trx('outbox').where({ id }).update({ next_attempt_at: trx.fn.now() });
        const [claimed] = await claimMine(trx, [id]);
        const outcome = await markFailed(trx, { id, claim: claimed.claim, error: `ECONNREFUSED: attempt ${attempt}`, retry });
        assert.equal(outcome?.attempts, attempt);
        assert.equal(outcome?.status, attempt < 4 ? 'queued' : 'failed');
        const [{ delay }] = (await trx.raw('select extract(epoch from next_attempt_at - now())::float8 as delay from outbox where id = ?', [id])).rows;
        delays.push(delay);
      });
    }
    assert.deepEqual(delays.slice(0, 3), [100, 200, 300], 'doubling, at most maxSeconds');
    const m = await getOutboxMessage(testDb(), id);
    assert.deepEqual([m.status, m.attempts, m.lastError, m.nextAttemptAt, m.inFlight], ['failed', 4, 'ECONNREFUSED: attempt 4', null, false]);
    assert.deepEqual(await claimMine(testDb(), [id]), [], 'a failed message is never claimed again');

    const refused = await enqueueMail(testDb(), mail());
    const [c] = await claimMine(testDb(), [refused]);
    assert.equal((await markFailed(testDb(), { id: refused, claim: c.claim, error: 'EENVELOPE: 550: no such mailbox', permanent: true }))?.status, 'failed');
  });

  it('lists the newest messages of one organisation without their bodies, and shows one with them', async () => {
    const [a, b] = [await newOrgId(), await newOrgId()];
    const first = await enqueueMail(testDb(), mail({ orgId: a, subject: 'first' }));
    const second = await enqueueMail(testDb(), mail({ orgId: a, subject: 'second' }));
    await enqueueMail(testDb(), mail({ orgId: b }));
    const listed = await listOutbox(testDb(), { limit: 10, orgId: a });
    assert.deepEqual(listed.map((m) => m.id), [second, first]);
    assert.deepEqual(Object.keys(listed[0]).sort(), ['attempts', 'createdAt', 'id', 'inFlight', 'lastError', 'nextAttemptAt', 'orgId', 'sentAt', 'status', 'subject', 'to']);
    assert.equal(listed[0].orgId, a);
    const shown = await getOutboxMessage(testDb(), first);
    assert.deepEqual([shown.subject, shown.text, shown.html, shown.status, shown.inFlight], ['first', 'Hello there', '<p>Hello there</p>', 'queued', false]);
    assert.ok((await listOutbox(testDb(), { limit: 500 })).some((m) => m.id === second), 'all organisations without orgId');
    await assert.rejects(getOutboxMessage(testDb(), randomUUID()), NotFound);
    await assert.rejects(getOutboxMessage(testDb(), 'nope'), Invalid);
    await assert.rejects(listOutbox(testDb(), { limit: 0 }), Invalid);
  });

  it('removes finished messages after the retention days, never a queued one', async () => {
    const sent = await enqueueMail(testDb(), mail());
    const queued = await enqueueMail(testDb(), mail());
    const recent = await enqueueMail(testDb(), mail());
    await testDb()('outbox').whereIn('id', [sent, recent]).update({ status: 'sent', sent_at: testDb().fn.now() });
    await testDb()('outbox').whereIn('id', [sent, queued]).update({ created_at: testDb().raw(`now() - interval '31 days'`) });
    assert.ok(await deleteOldMail(testDb(), { days: 30 }) >= 1);
    assert.equal(await row(sent), undefined);
    assert.ok(await row(queued));
    assert.ok(await row(recent));
  });
});
