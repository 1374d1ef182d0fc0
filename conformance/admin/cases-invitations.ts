// Invitations: made for one or more addresses with a role and a message, listed, read, resent, cancelled.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { qs } from './client.ts';
import { expectBadRequest, expectJson, expectList, expectNoContent, expectProblem, ids, isDate } from './admin.ts';
import { test } from './runner.ts';

const DAY = 24 * 60 * 60 * 1000;

test('invitations: POST invites several addresses at once (201, pending, sent once, expiring after the invitation lifetime); GET by id; listed; the roster shows them as invited; they hold seats; audited', async (ctx) => {
  const { api } = ctx;
  const org = expectJson(await api.get(api.org()));
  const emails = [ctx.email('inv-a'), ctx.email('inv-b')];
  const items = await ctx.invite([emails[0], ` ${emails[1]} `, emails[0].toUpperCase()], 'member', { message: 'Welcome to the conformance run.' });
  assert.deepEqual(items.map((i: any) => i.email).sort(), [...emails].sort(), 'one invitation per address, trimmed, duplicates folded');
  for (const inv of items) {
    assert.equal(inv.status, 'pending');
    assert.equal(inv.role, 'member');
    assert.equal(inv.message, 'Welcome to the conformance run.');
    assert.equal(inv.timesSent, 1);
    assert.equal(inv.invitedBy?.type, 'api_key');
    assert.ok(isDate(inv.createdAt) && isDate(inv.expiresAt) && isDate(inv.lastSentAt), JSON.stringify(inv));
    const lifetime = (Date.parse(inv.expiresAt) - Date.parse(inv.createdAt)) / DAY;
    assert.ok(Math.abs(lifetime - org.invitationLifetimeDays) < 0.5, `expires after ${lifetime} days, not the organisation's ${org.invitationLifetimeDays}`);
    assert.ok(!JSON.stringify(inv).includes('rst_inv_'), 'the link token is never in an answer');
    assert.deepEqual(expectJson(await api.get(api.org(`/invitations/${inv.id}`))), inv, 'GET answers the invitation POST answered');
    await ctx.expectAudit('invitation.created', inv.id, { type: 'api_key' });
  }
  const pending = expectList(await api.get(api.org(`/invitations${qs({ status: 'pending', limit: 200 })}`)));
  for (const inv of items) assert.ok(pending.some((p: any) => p.id === inv.id), `the pending list lacks ${inv.email}`);
  const roster = expectList(await api.get(api.org(`/members${qs({ search: ctx.scope, status: 'invited' })}`)));
  assert.deepEqual(ids(roster), ids(items), 'the roster lists pending invitations (by the invitation id)');
  for (const r of roster) {
    assert.equal(r.kind, 'invitation');
    assert.equal(r.status, 'invited');
    assert.ok(isDate(r.expiresAt));
  }
  assert.deepEqual(ids(expectList(await api.get(api.org(`/members${qs({ search: ctx.scope })}`)))), ids(items), 'and without a status filter');
  assert.equal(expectJson(await api.get(api.org())).licencesUsed, org.licencesUsed + 2, 'each pending invitation holds a seat');
});

test('invitations: resend makes a new link with a fresh expiry (timesSent 2); cancel (204) makes it cancelled; then resend and cancel are 409 invitation_not_pending; audited', async (ctx) => {
  const { api } = ctx;
  const [inv] = await ctx.invite([ctx.email('resend')]);
  const resent = expectJson(await api.post(api.org(`/invitations/${inv.id}/resend`)));
  assert.equal(resent.id, inv.id);
  assert.equal(resent.status, 'pending');
  assert.equal(resent.timesSent, 2);
  assert.ok(Date.parse(resent.expiresAt) >= Date.parse(inv.expiresAt), 'the expiry moves on');
  assert.ok(Date.parse(resent.lastSentAt) >= Date.parse(inv.lastSentAt));
  assert.deepEqual(expectJson(await api.get(api.org(`/invitations/${inv.id}`))), resent);
  await ctx.expectAudit('invitation.resent', inv.id, { type: 'api_key' });
  expectBadRequest(await api.post(api.org(`/invitations/${inv.id}/resend`), { to: 'someone' }), 'invalid_request');

  expectNoContent(await api.del(api.org(`/invitations/${inv.id}`)));
  const cancelled = expectJson(await api.get(api.org(`/invitations/${inv.id}`)));
  assert.equal(cancelled.status, 'cancelled');
  assert.ok(isDate(cancelled.respondedAt));
  await ctx.expectAudit('invitation.cancelled', inv.id, { type: 'api_key' });
  expectProblem(await api.post(api.org(`/invitations/${inv.id}/resend`)), 409, 'invitation_not_pending');
  expectProblem(await api.del(api.org(`/invitations/${inv.id}`)), 409, 'invitation_not_pending');
  const list = expectList(await api.get(api.org(`/invitations${qs({ status: 'cancelled', limit: 200 })}`)));
  assert.ok(list.some((i: any) => i.id === inv.id), 'the cancelled list has it');
  assert.ok(list.every((i: any) => i.status === 'cancelled'), 'the cancelled list has only cancelled ones');
  assert.deepEqual(expectList(await api.get(api.org(`/members${qs({ search: inv.email })}`))), [], 'the roster shows it no more');
  // A cancelled invitation leaves the address free to be invited again.
  const [again] = await ctx.invite([inv.email]);
  assert.notEqual(again.id, inv.id);
});

test('invitations: bad input is 400; a member is 409 already_member; a pending address 409 already_invited; an unknown invitation 404; nothing is created', async (ctx) => {
  const { api } = ctx;
  const email = ctx.email('bad-inv');
  for (const body of [
    {},
    { emails: [], role: 'member' },
    { emails: [email] },
    { emails: email, role: 'member' },
    { emails: ['not-an-email'], role: 'member' },
    { emails: [email, 'not-an-email'], role: 'member' },
    { emails: Array.from({ length: 101 }, (_, i) => ctx.email(`many${i}`)), role: 'member' },
    { emails: [email], role: 'owner' },
    { emails: [email], role: 'emperor' },
    { emails: [email], role: 'member', message: 'x'.repeat(2501) },
    { emails: [email], role: 'member', groupIds: [randomUUID()] },
    { emails: [email], role: 'member', unknownField: 1 },
  ]) {
    expectBadRequest(await api.post(api.org('/invitations'), body));
  }
  assert.deepEqual(expectList(await api.get(api.org(`/members${qs({ search: ctx.scope })}`))), [], 'a refused invitation was made');

  const { member } = await ctx.createMember();
  expectProblem(await api.post(api.org('/invitations'), { emails: [member.email.toUpperCase()], role: 'member' }), 409, 'already_member');
  const [inv] = await ctx.invite([email], 'member', { message: 'x'.repeat(2500) });
  expectProblem(await api.post(api.org('/invitations'), { emails: [email.toUpperCase()], role: 'admin' }), 409, 'already_invited');
  // All or none: a batch with one address already invited makes no invitation for the other.
  const other = ctx.email('batch-other');
  expectProblem(await api.post(api.org('/invitations'), { emails: [other, email], role: 'member' }), 409, 'already_invited');
  assert.deepEqual(expectList(await api.get(api.org(`/members${qs({ search: other })}`))), [], 'a refused batch invited someone');
  assert.equal(expectJson(await api.get(api.org(`/invitations/${inv.id}`))).role, 'member');

  for (const id of [randomUUID(), 'not-a-uuid']) {
    expectProblem(await api.get(api.org(`/invitations/${id}`)), 404, 'not_found');
    expectProblem(await api.post(api.org(`/invitations/${id}/resend`)), 404, 'not_found');
    expectProblem(await api.del(api.org(`/invitations/${id}`)), 404, 'not_found');
  }
});

test('invitations: the list is newest first and pages by nextCursor with no repeats; status filter; bad parameters are 400', async (ctx) => {
  const { api } = ctx;
  await ctx.invite([ctx.email('p1')]);
  await ctx.invite([ctx.email('p2')]);
  await ctx.invite([ctx.email('p3')]);
  const seen: any[] = [];
  let cursor: string | undefined;
  let total: number | null = null;
  for (let page = 0; page < 3; page++) {
    const res = await api.get(api.org(`/invitations${qs({ limit: 1, cursor })}`));
    const items = expectList(res);
    assert.equal(items.length, 1);
    total ??= res.body.total;
    assert.equal(res.body.total, total, 'the same total on every page');
    seen.push(...items);
    assert.ok(res.body.nextCursor, 'more pages to come');
    cursor = res.body.nextCursor;
  }
  assert.equal(new Set(seen.map((i) => i.id)).size, 3, 'no repeats');
  assert.deepEqual(seen.map((i) => i.email), [ctx.email('p3'), ctx.email('p2'), ctx.email('p1')], 'newest first');
  for (let i = 1; i < seen.length; i++) assert.ok(Date.parse(seen[i - 1].createdAt) >= Date.parse(seen[i].createdAt));
  for (const status of ['pending', 'cancelled', 'accepted', 'declined', 'expired']) {
    const items = expectList(await api.get(api.org(`/invitations${qs({ status, limit: 20 })}`)));
    assert.ok(items.every((i: any) => i.status === status), `status=${status} lists only ${status} ones`);
  }
  for (const bad of [{ limit: 0 }, { limit: 201 }, { status: 'lost' }, { cursor: 'not-a-cursor' }, { search: 'x' }]) {
    expectBadRequest(await api.get(api.org(`/invitations${qs(bad)}`)));
  }
});
