// Activity: sessions (a member signs in through the deployment's pages to make one), auth events, the audit log.
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import * as oidc from 'openid-client';
import { Browser } from '../oidc/browser.ts';
import { qs } from './client.ts';
import { expectBadRequest, expectJson, expectList, expectNoContent, expectProblem, isDate } from './admin.ts';
import { test } from './runner.ts';

const REDIRECT = 'https://conformance.invalid/callback';
const atRedirect = (url: string) => url.startsWith(REDIRECT);

test("sessions: a member's sign-in is listed (by member too) with its auth events; the member's access token has the member's permissions; DELETE ends the session and its refresh token at once (204), again 404; audited", async (ctx) => {
  const { api } = ctx;
  const made = await ctx.createMember({ name: 'Session Holder' });
  const member = made.member;
  assert.ok(made.temporaryPassword, 'a new account gets a temporary password');
  const created = await api.post(api.org('/clients'), { name: ctx.name('Sessions'), redirectUris: [REDIRECT] });
  if (created.status === 201) ctx.defer('revoke the client', () => api.del(api.org(`/clients/${created.body.client_id}`)));
  const { client_id: clientId, client_secret: secret } = expectJson(created, 201);

  // Sign in through the pages: a wrong password first (a failure event), then the temporary one, replaced.
  const insecure = api.server.startsWith('http:') ? { execute: [oidc.allowInsecureRequests] } : undefined;
  const config = await oidc.discovery(new URL(api.server), clientId, undefined, oidc.ClientSecretBasic(secret), insecure);
  const verifier = oidc.randomPKCECodeVerifier();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT, scope: 'openid email offline_access', prompt: 'consent',
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state: 'conformance',
  });
  const browser = new Browser();
  let page = await browser.go(url.toString(), { stopAt: atRedirect });
  page = await browser.submit(page, '/email', { email: member.email });
  page = await browser.submit(page, '/password', { password: 'certainly not the password' });
  page = await browser.submit(page, '/password', { password: made.temporaryPassword! }, { stopAt: atRedirect });
  if (!page.location || !atRedirect(page.location)) {
    page = await browser.submit(page, '/change-password', { password: `Conf-${randomBytes(12).toString('base64url')}-pass` }, { stopAt: atRedirect });
  }
  assert.ok(page.location && atRedirect(page.location), `the sign-in did not come back to the client: ${page.status} ${page.url}`);
  const tokens = await oidc.authorizationCodeGrant(config, new URL(page.location), { pkceCodeVerifier: verifier, expectedState: 'conformance' });
  assert.ok(tokens.refresh_token, 'no refresh token (offline_access)');

  // The member's access token opens the admin API with the member's permissions (role member: read only).
  const asMember = api.withKey(tokens.access_token);
  assert.deepEqual(expectJson(await asMember.get(api.org())).permissions, ['roster.view']);
  expectProblem(await asMember.patch(api.org(), { name: ctx.name('By A Member') }), 403, 'forbidden');
  expectProblem(await asMember.get(api.org('/sessions')), 403, 'forbidden');

  const mine = expectList(await api.get(api.org(`/sessions${qs({ memberId: member.id })}`)));
  assert.equal(mine.length, 1, `one live session for the member: ${JSON.stringify(mine)}`);
  const session = mine[0];
  assert.equal(session.accountId, member.accountId);
  assert.equal(session.clientId, clientId);
  assert.equal(session.provider, 'password');
  assert.equal(session.revokedAt, null);
  assert.ok(isDate(session.createdAt) && isDate(session.expiresAt) && isDate(session.lastActiveAt), JSON.stringify(session));
  assert.ok(expectList(await api.get(api.org(`/sessions${qs({ limit: 200 })}`))).some((s: any) => s.id === session.id), 'the organisation\'s list lacks it');
  assert.deepEqual(expectList(await api.get(api.org(`/sessions${qs({ accountId: member.accountId })}`))).map((s: any) => s.id), [session.id]);
  assert.ok(isDate(expectJson(await api.get(api.org(`/members/${member.id}`))).lastSignInAt), 'the roster shows the sign-in');

  // The member's own account (/me), with the member's token.
  const me = expectJson(await asMember.get(api.org('/me')));
  assert.equal(me.accountId, member.accountId);
  assert.equal(me.email, member.email);
  assert.deepEqual(me.permissions, ['roster.view']);
  assert.deepEqual(expectList(await asMember.get(api.org('/me/sessions'))).map((s: any) => s.id), [session.id], 'my sessions');
  expectProblem(await asMember.post(api.org('/me/password'), { currentPassword: 'certainly not the password', newPassword: `Conf-${randomBytes(12).toString('base64url')}` }), 400, 'wrong_password');
  expectProblem(await asMember.del(api.org(`/me/sessions/${randomUUID()}`)), 404, 'not_found');

  const events = expectList(await api.get(api.org(`/auth-events${qs({ memberId: member.id, limit: 50 })}`)));
  const kinds = events.map((e: any) => `${e.type}:${e.outcome}:${e.reason ?? ''}`);
  assert.ok(kinds.includes('sign_in:failure:wrong_password'), `no failed sign-in event: ${kinds.join(' ')}`);
  assert.ok(kinds.includes('sign_in:success:'), `no successful sign-in event: ${kinds.join(' ')}`);
  assert.ok(events.every((e: any) => e.accountId === member.accountId), 'memberId filters by member');
  const failures = expectList(await api.get(api.org(`/auth-events${qs({ memberId: member.id, outcome: 'failure' })}`)));
  assert.ok(failures.length >= 1 && failures.every((e: any) => e.outcome === 'failure'));

  expectNoContent(await api.del(api.org(`/sessions/${session.id}`)));
  expectProblem(await api.del(api.org(`/sessions/${session.id}`)), 404, 'not_found');
  assert.deepEqual(expectList(await api.get(api.org(`/sessions${qs({ memberId: member.id })}`))), [], 'the ended session is still live');
  const ended = expectList(await api.get(api.org(`/sessions${qs({ memberId: member.id, all: 'true' })}`))).find((s: any) => s.id === session.id);
  assert.ok(ended && isDate(ended.revokedAt), `all=true lists the ended session with revokedAt: ${JSON.stringify(ended)}`);
  assert.equal(ended.revokedReason, 'revoked_by_admin');
  await assert.rejects(oidc.refreshTokenGrant(config, tokens.refresh_token!), (e: { error?: string }) => {
    assert.equal(e.error, 'invalid_grant', `the refresh token after the session ended: ${(e as Error).message}`);
    return true;
  });
  const after = expectList(await api.get(api.org(`/auth-events${qs({ memberId: member.id, limit: 50 })}`)));
  assert.ok(after.some((e: any) => e.type === 'session_revoked' && e.reason === 'revoked_by_admin'), 'no session_revoked auth event');
  // Ending someone's session is an administrator's change: the audit log names it.
  const audit = expectList(await api.get(api.org(`/audit-events${qs({ target: session.id })}`)));
  assert.ok(audit.some((e: any) => e.actor?.type === 'api_key'), `the audit log has no event about ending session ${session.id}: ${JSON.stringify(audit)}`);
});

test('sessions: the list answers {items, total, nextCursor}; bad parameters are 400; an unknown member is 404; an unknown session cannot be ended (404)', async ({ api }) => {
  const items = expectList(await api.get(api.org('/sessions')));
  assert.ok(items.every((s: any) => typeof s.id === 'string' && s.revokedAt === null), 'live sessions only, by default');
  const all = expectList(await api.get(api.org(`/sessions${qs({ all: 'true', limit: 5 })}`)));
  assert.ok(all.length <= 5);
  for (let i = 1; i < all.length; i++) assert.ok(Date.parse(all[i - 1].createdAt) >= Date.parse(all[i].createdAt), 'newest first');
  assert.deepEqual(expectList(await api.get(api.org(`/sessions${qs({ accountId: randomUUID() })}`))), []);
  assert.deepEqual(expectList(await api.get(api.org(`/sessions${qs({ since: '2999-01-01T00:00:00Z' })}`))), []);
  for (const bad of [{ limit: 0 }, { limit: 201 }, { memberId: 'nope' }, { accountId: 'nope' }, { all: 'yes' }, { since: 'yesterday' }, { until: '2020-13-01' }, { cursor: 'x' }]) {
    expectBadRequest(await api.get(api.org(`/sessions${qs(bad)}`)), 'invalid_request');
  }
  expectProblem(await api.get(api.org(`/sessions${qs({ memberId: randomUUID() })}`)), 404, 'not_found');
  for (const id of [randomUUID(), 'not-a-uuid']) expectProblem(await api.del(api.org(`/sessions/${id}`)), 404, 'not_found');
});

test('auth-events: newest first, paged by nextCursor with no repeats; outcome filter; bad parameters are 400; an unknown member is 404', async ({ api }) => {
  const seen: any[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < 3; page++) {
    const res = await api.get(api.org(`/auth-events${qs({ limit: 2, cursor })}`));
    const items = expectList(res);
    assert.ok(items.length <= 2);
    seen.push(...items);
    if (!res.body.nextCursor) break;
    cursor = res.body.nextCursor;
  }
  assert.equal(new Set(seen.map((e) => e.id)).size, seen.length, 'no repeats across pages');
  for (let i = 1; i < seen.length; i++) assert.ok(Date.parse(seen[i - 1].createdAt) >= Date.parse(seen[i].createdAt), 'newest first');
  for (const e of seen) {
    assert.ok(typeof e.type === 'string' && ['success', 'failure'].includes(e.outcome) && isDate(e.createdAt), JSON.stringify(e));
  }
  for (const outcome of ['success', 'failure']) {
    assert.ok(expectList(await api.get(api.org(`/auth-events${qs({ outcome, limit: 20 })}`))).every((e: any) => e.outcome === outcome), `outcome=${outcome}`);
  }
  assert.deepEqual(expectList(await api.get(api.org(`/auth-events${qs({ since: '2999-01-01T00:00:00Z' })}`))), []);
  for (const bad of [{ limit: 0 }, { limit: 500 }, { limit: 'abc' }, { cursor: 'x' }, { accountId: 'nope' }, { memberId: 'nope' }, { since: 'yesterday' }, { outcome: 'maybe' }, { type: 'sign_in' }]) {
    expectBadRequest(await api.get(api.org(`/auth-events${qs(bad)}`)), 'invalid_request');
  }
  expectProblem(await api.get(api.org(`/auth-events${qs({ memberId: randomUUID() })}`)), 404, 'not_found');
});

test('audit-events: newest first, paged by nextCursor with no repeats; filters by action, target and actor; bad parameters are 400', async (ctx) => {
  const { api } = ctx;
  const key = await ctx.createKey('admin');
  const made: any[] = [];
  for (const n of ['one', 'two', 'three']) {
    const res = await key.api.post(api.org('/groups'), { name: ctx.name(n) });
    if (res.status === 201) ctx.defer(`delete group ${res.body.id}`, () => api.del(api.org(`/groups/${res.body.id}`)));
    made.push(expectJson(res, 201));
  }
  // The newest events are ours: group.created three, newest first, one page at a time.
  const seen: any[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < 3; page++) {
    const res = await api.get(api.org(`/audit-events${qs({ actor: key.id, limit: 1, cursor })}`));
    const items = expectList(res);
    assert.equal(items.length, 1);
    seen.push(...items);
    if (page < 2) assert.ok(res.body.nextCursor, `page ${page + 1} of 3 has a nextCursor`);
    else assert.equal(res.body.nextCursor, null, 'the last page has no nextCursor: the key did nothing else');
    cursor = res.body.nextCursor ?? undefined;
  }
  assert.deepEqual(seen.map((e) => e.targetId), made.map((g) => g.id).reverse(), 'newest first, one per page, no repeats');
  for (const e of seen) {
    assert.equal(e.action, 'group.created');
    assert.deepEqual([e.actor?.type, e.actor?.id], ['api_key', key.id], `actor: ${JSON.stringify(e.actor)}`);
    assert.ok(Number.isInteger(e.id) || typeof e.id === 'string', JSON.stringify(e));
    assert.ok(isDate(e.createdAt) && typeof e.details === 'object', JSON.stringify(e));
  }
  assert.deepEqual(expectList(await api.get(api.org(`/audit-events${qs({ actor: key.id, limit: 10 })}`))).map((e: any) => e.id), seen.map((e) => e.id), 'one page holds the same');
  const byTarget = expectList(await api.get(api.org(`/audit-events${qs({ target: made[1].id })}`)));
  assert.deepEqual(byTarget.map((e: any) => [e.action, e.targetId]), [['group.created', made[1].id]]);
  assert.ok(expectList(await api.get(api.org(`/audit-events${qs({ action: 'group.created', limit: 10 })}`))).every((e: any) => e.action === 'group.created'));
  assert.deepEqual(expectList(await api.get(api.org(`/audit-events${qs({ since: '2999-01-01T00:00:00Z' })}`))), []);
  for (const bad of [{ limit: 0 }, { limit: 201 }, { cursor: 'x' }, { since: 'yesterday' }, { outcome: 'success' }]) {
    expectBadRequest(await api.get(api.org(`/audit-events${qs(bad)}`)), 'invalid_request');
  }
  // The log is append-only: nothing in the API changes it.
  const del = await api.probe('DELETE', api.org('/audit-events'));
  assert.ok([404, 405].includes(del.status), `DELETE /audit-events: ${del.status}`);
});
