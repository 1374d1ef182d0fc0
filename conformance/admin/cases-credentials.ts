// Credentials: API keys (each with a built-in role, which is all it may do), SCIM tokens and OIDC clients;
// secrets shown once, never listed; revoked at once.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { qs } from './client.ts';
import { expectBadRequest, expectJson, expectList, expectNoContent, expectProblem, isDate } from './admin.ts';
import { test } from './runner.ts';

test('api-keys: the owner key makes an admin key (201, secret rst_key_ shown once); listed by id, name and role, never with a secret; it works at once with the admin permissions; audited', async (ctx) => {
  const { api } = ctx;
  const name = ctx.name('deploy bot');
  const key = await ctx.createKey('admin', `  ${name}  `);
  assert.equal(typeof key.id, 'string');
  const listed = await api.get(api.org('/api-keys'));
  const items = expectList(listed);
  assert.ok(!listed.text.includes(key.secret), 'a list never shows a secret');
  assert.ok(!listed.text.includes('rst_key_'), 'a list never shows any secret');
  const entry = items.find((k: any) => k.id === key.id);
  assert.ok(entry, 'the new key is not listed');
  assert.equal(entry.name, name, 'the name is trimmed');
  assert.equal(entry.role, 'admin');
  assert.equal(entry.revokedAt, null);
  assert.ok(isDate(entry.createdAt));
  const org = expectJson(await key.api.get(api.org()));
  assert.deepEqual([...org.permissions].sort(), ['activity.view', 'members.manage', 'org.manage', 'roles.manage', 'roster.view'], 'an admin key may do what an admin may');
  expectList(await key.api.get(api.org('/members')));
  expectProblem(await key.api.patch(api.org(), { licenceLimit: 5 }), 403, 'forbidden');
  expectProblem(await key.api.post(api.org('/transfer-ownership'), { memberId: randomUUID() }), 403, ['forbidden', 'owner_only']);
  const used = expectList(await api.get(api.org('/api-keys'))).find((k: any) => k.id === key.id);
  assert.ok(isDate(used.lastUsedAt), `lastUsedAt is set once the key is used: ${JSON.stringify(used)}`);
  await ctx.expectAudit('api_key.created', key.id, { type: 'api_key' });
});

test('api-keys: an admin key cannot mint an owner key (403 escalation), nor a billing key; it mints a member key; bad input is 400', async (ctx) => {
  const { api } = ctx;
  const admin = await ctx.createKey('admin');
  expectProblem(await admin.api.post(api.org('/api-keys'), { name: ctx.name('sneaky'), role: 'owner' }), 403, 'escalation');
  expectProblem(await admin.api.post(api.org('/api-keys'), { name: ctx.name('sneaky'), role: 'billing' }), 403, 'escalation');
  assert.ok(!expectList(await api.get(api.org('/api-keys'))).some((k: any) => k.name === `${ctx.scope}-sneaky`), 'a refused key was made');
  const member = await admin.api.post(api.org('/api-keys'), { name: ctx.name('reader'), role: 'member' });
  if (member.status === 201) ctx.defer('revoke the reader key', () => api.del(api.org(`/api-keys/${member.body.id}`)));
  assert.equal(expectJson(member, 201).role, 'member');
  await ctx.expectAudit('api_key.created', member.body.id, { type: 'api_key', id: admin.id });
  for (const body of [{}, { name: ctx.name('x') }, { role: 'member' }, { name: '', role: 'member' }, { name: '  ', role: 'member' }, { name: 'x'.repeat(201), role: 'member' },
    { name: ctx.name('x'), role: 'emperor' }, { name: ctx.name('x'), role: randomUUID() }, { name: ctx.name('x'), role: 'member', extra: 1 }]) {
    expectBadRequest(await api.post(api.org('/api-keys'), body));
  }
});

test('api-keys: a member-role key reads (org, roster, roles, groups) but every write, and the lists it may not see, are 403 forbidden; nothing changes', async (ctx) => {
  const { api } = ctx;
  const reader = await ctx.createKey('member');
  const r = reader.api;
  const org = expectJson(await r.get(api.org()));
  assert.deepEqual(org.permissions, ['roster.view']);
  expectList(await r.get(api.org('/members')));
  expectList(await r.get(api.org('/roles')));
  expectList(await r.get(api.org('/groups')));
  const { member } = await ctx.createMember();
  const group = await ctx.createGroup();
  const [inv] = await ctx.invite([ctx.email('pending')]);
  expectJson(await r.get(api.org(`/members/${member.id}`)));
  expectJson(await r.get(api.org(`/groups/${group.id}`)));
  expectList(await r.get(api.org(`/groups/${group.id}/members`)));
  const writes = [
    await r.patch(api.org(), { name: ctx.name('Taken') }),
    await r.patch(api.org(), { licenceLimit: 1 }),
    await r.post(api.org('/transfer-ownership'), { memberId: member.id }),
    await r.post(api.org('/members'), { email: ctx.email('sneaky'), role: 'member' }),
    await r.patch(api.org(`/members/${member.id}`), { name: 'Renamed By A Reader' }),
    await r.del(api.org(`/members/${member.id}`)),
    await r.post(api.org(`/members/${member.id}/deactivate`)),
    await r.post(api.org(`/members/${member.id}/reactivate`)),
    await r.post(api.org(`/members/${member.id}/reset-password`)),
    await r.post(api.org(`/members/${member.id}/reset-mfa`)),
    await r.post(api.org('/invitations'), { emails: [ctx.email('sneaky-inv')], role: 'member' }),
    await r.post(api.org(`/invitations/${inv.id}/resend`)),
    await r.del(api.org(`/invitations/${inv.id}`)),
    await r.post(api.org('/roles'), { name: ctx.name('Sneaky'), permissions: [] }),
    await r.patch(api.org(`/roles/${randomUUID()}`), { name: ctx.name('Sneaky') }),
    await r.del(api.org(`/roles/${randomUUID()}`)),
    await r.post(api.org('/groups'), { name: ctx.name('Sneaky') }),
    await r.patch(api.org(`/groups/${group.id}`), { name: ctx.name('Sneaky') }),
    await r.del(api.org(`/groups/${group.id}`)),
    await r.post(api.org(`/groups/${group.id}/members`), { memberIds: [member.id] }),
    await r.del(api.org(`/groups/${group.id}/members/${member.id}`)),
    await r.put(api.org(`/groups/${group.id}/role`), { role: 'member' }),
    await r.del(api.org(`/sessions/${randomUUID()}`)),
    await r.post(api.org('/api-keys'), { name: ctx.name('sneaky'), role: 'member' }),
    await r.del(api.org(`/api-keys/${reader.id}`)),
    await r.post(api.org('/scim-tokens'), { name: ctx.name('sneaky') }),
    await r.del(api.org(`/scim-tokens/${randomUUID()}`)),
    await r.post(api.org('/clients'), { redirectUris: ['https://conformance.invalid/callback'] }),
    await r.del(api.org(`/clients/rst_client_${randomUUID()}`)),
  ];
  const reads = [
    await r.get(api.org('/invitations')),
    await r.get(api.org(`/invitations/${inv.id}`)),
    await r.get(api.org('/sessions')),
    await r.get(api.org('/auth-events')),
    await r.get(api.org('/audit-events')),
    await r.get(api.org('/api-keys')),
    await r.get(api.org('/scim-tokens')),
    await r.get(api.org('/clients')),
  ];
  for (const res of [...writes, ...reads]) expectProblem(res, 403, 'forbidden');
  assert.deepEqual(expectJson(await api.get(api.org(`/members/${member.id}`))), member, 'a refused write changed the member');
  assert.equal(expectJson(await api.get(api.org(`/invitations/${inv.id}`))).status, 'pending');
  assert.equal(expectJson(await api.get(api.org(`/groups/${group.id}`))).name, group.name);
  assert.notEqual(expectJson(await api.get(api.org())).name, `${ctx.scope}-Taken`);
  assert.deepEqual(expectList(await api.get(api.org(`/members${qs({ search: `${ctx.scope}-sneaky` })}`))), []);
  assert.equal(expectList(await api.get(api.org('/api-keys'))).find((k: any) => k.id === reader.id)?.revokedAt, null, 'the reader revoked itself');
});

test('api-keys: a revoked key is 401 at once, on reads and writes; it stays listed as revoked; revoking it again, or an unknown key, is 404; audited', async (ctx) => {
  const { api } = ctx;
  const key = await ctx.createKey('admin');
  expectJson(await key.api.get(api.org()));
  expectNoContent(await api.del(api.org(`/api-keys/${key.id}`)));
  expectProblem(await key.api.get(api.org()), 401, 'unauthenticated');
  expectProblem(await key.api.get(api.org('/members')), 401, 'unauthenticated');
  expectProblem(await key.api.post(api.org('/api-keys'), { name: ctx.name('revenge'), role: 'admin' }), 401, 'unauthenticated');
  const entry = expectList(await api.get(api.org('/api-keys'))).find((k: any) => k.id === key.id);
  assert.ok(entry && isDate(entry.revokedAt), `the revoked key is listed with revokedAt: ${JSON.stringify(entry)}`);
  expectProblem(await api.del(api.org(`/api-keys/${key.id}`)), 404, 'not_found');
  for (const id of [randomUUID(), 'not-a-uuid']) expectProblem(await api.del(api.org(`/api-keys/${id}`)), 404, 'not_found');
  await ctx.expectAudit('api_key.revoked', key.id, { type: 'api_key' });
  // A SCIM token is not an API key.
  const token = await api.post(api.org('/scim-tokens'), { name: ctx.name('not-a-key') });
  if (token.status === 201) ctx.defer('revoke the SCIM token', () => api.del(api.org(`/scim-tokens/${token.body.id}`)));
  expectJson(token, 201);
  expectProblem(await api.withKey(token.body.secret).get(api.org()), 401, 'unauthenticated');
  expectProblem(await api.del(api.org(`/api-keys/${token.body.id}`)), 404, 'not_found');
});

test('api-keys: a billing key changes the licence limit but not the name, and cannot read the roster', async (ctx) => {
  const { api } = ctx;
  const before = expectJson(await api.get(api.org()));
  ctx.defer('put the licence limit back', () => api.patch(api.org(), { licenceLimit: before.licenceLimit }), [200]);
  const billing = await ctx.createKey('billing');
  const limit = (before.licenceLimit ?? 1000) + 3;
  assert.equal(expectJson(await billing.api.patch(api.org(), { licenceLimit: limit })).licenceLimit, limit);
  expectProblem(await billing.api.patch(api.org(), { name: ctx.name('Billing Rename') }), 403, 'forbidden');
  expectProblem(await billing.api.patch(api.org(), { name: ctx.name('Billing Rename'), licenceLimit: limit + 1 }), 403, 'forbidden');
  expectProblem(await billing.api.get(api.org('/members')), 403, 'forbidden');
  const after = expectJson(await api.get(api.org()));
  assert.equal(after.name, before.name);
  assert.equal(after.licenceLimit, limit, 'a refused PATCH changed the licence limit');
  await ctx.expectAudit('organization.updated', ctx.orgId, { type: 'api_key', id: billing.id });
});

test('scim-tokens: made (201, secret rst_scim_ shown once), listed without secrets, it opens /scim/v2 at once; revoked (204) it is refused at once; again 404; audited', async (ctx) => {
  const { api } = ctx;
  const scim = `${api.server}/scim/v2/Users?count=1`;
  const scimGet = (token: string) => fetch(scim, { headers: { authorization: `Bearer ${token}`, accept: 'application/scim+json' }, signal: AbortSignal.timeout(api.timeoutMs) });
  const made = await api.post(api.org('/scim-tokens'), { name: `  ${ctx.name('okta')}  ` });
  if (made.status === 201) ctx.defer('revoke the SCIM token', () => api.del(api.org(`/scim-tokens/${made.body.id}`)));
  const token = expectJson(made, 201);
  assert.match(token.secret, /^rst_scim_/);
  assert.equal(token.name, `${ctx.scope}-okta`);
  const listed = await api.get(api.org('/scim-tokens'));
  const entry = expectList(listed).find((t: any) => t.id === token.id);
  assert.ok(entry, 'the token is not listed');
  assert.equal(entry.name, `${ctx.scope}-okta`);
  assert.equal(entry.revokedAt, null);
  assert.ok(!listed.text.includes(token.secret) && !listed.text.includes('rst_scim_'), 'a list never shows a secret');
  assert.ok(!expectList(await api.get(api.org('/api-keys'))).some((k: any) => k.id === token.id), 'a SCIM token is not an API key');
  assert.equal((await scimGet(token.secret)).status, 200, 'the new token opens /scim/v2');
  await ctx.expectAudit('scim_token.created', token.id, { type: 'api_key' });
  for (const body of [{}, { name: '' }, { name: ctx.name('x'), role: 'admin' }]) expectBadRequest(await api.post(api.org('/scim-tokens'), body));

  expectNoContent(await api.del(api.org(`/scim-tokens/${token.id}`)));
  assert.equal((await scimGet(token.secret)).status, 401, 'the revoked token still opens /scim/v2');
  assert.ok(isDate(expectList(await api.get(api.org('/scim-tokens'))).find((t: any) => t.id === token.id)?.revokedAt), 'listed as revoked');
  expectProblem(await api.del(api.org(`/scim-tokens/${token.id}`)), 404, 'not_found');
  expectProblem(await api.del(api.org(`/scim-tokens/${randomUUID()}`)), 404, 'not_found');
  await ctx.expectAudit('scim_token.revoked', token.id, { type: 'api_key' });
});

test('clients: a confidential client (201, secret rst_secret_ shown once) gets tokens; a public one has no secret; listed without secrets; bad redirect URIs are 400; revoked (204) it is refused at once; again 404; audited', async (ctx) => {
  const { api } = ctx;
  const made = await api.post(api.org('/clients'), { name: ctx.name('Console'), redirectUris: ['https://conformance.invalid/callback', 'http://localhost:8080/cb'] });
  if (made.status === 201) ctx.defer('revoke the client', () => api.del(api.org(`/clients/${made.body.client_id}`)));
  const client = expectJson(made, 201);
  assert.match(client.client_id, /^rst_client_/);
  assert.match(client.client_secret, /^rst_secret_/);
  const pub = await api.post(api.org('/clients'), { redirectUris: ['com.example.app:/callback'], public: true });
  if (pub.status === 201) ctx.defer('revoke the public client', () => api.del(api.org(`/clients/${pub.body.client_id}`)));
  expectJson(pub, 201);
  assert.equal(pub.body.client_secret, undefined, 'a public client has no secret');

  const listed = await api.get(api.org('/clients'));
  const items = expectList(listed);
  assert.ok(!listed.text.includes(client.client_secret) && !listed.text.includes('rst_secret_'), 'a list never shows a secret');
  const entry = items.find((c: any) => c.clientId === client.client_id);
  assert.ok(entry, 'the client is not listed');
  assert.equal(entry.name, `${ctx.scope}-Console`);
  assert.equal(entry.public, false);
  assert.deepEqual(entry.redirectUris, ['https://conformance.invalid/callback', 'http://localhost:8080/cb']);
  assert.equal(entry.revokedAt, null);
  assert.equal(items.find((c: any) => c.clientId === pub.body.client_id)?.public, true);
  await ctx.expectAudit('client.created', client.client_id, { type: 'api_key' });

  for (const body of [{}, { redirectUris: [] }, { redirectUris: ['http://evil.example/cb'] }, { redirectUris: ['/relative'] }, { redirectUris: ['https://x.example/cb#frag'] },
    { redirectUris: 'https://x.example/cb' }, { redirectUris: ['https://x.example/cb'], public: 'yes' }, { redirectUris: ['https://x.example/cb'], secret: 'mine' }]) {
    expectBadRequest(await api.post(api.org('/clients'), body));
  }

  // The secret works at the token endpoint (client credentials) until the client is revoked; such a token,
  // which is no member's, opens nothing in the admin API.
  const discovery = await fetch(`${api.server}/.well-known/openid-configuration`, { signal: AbortSignal.timeout(api.timeoutMs) });
  assert.equal(discovery.status, 200, 'no OpenID configuration');
  const tokenEndpoint = (await discovery.json()).token_endpoint as string;
  const grant = () => fetch(tokenEndpoint, {
    method: 'POST', signal: AbortSignal.timeout(api.timeoutMs),
    headers: { authorization: `Basic ${Buffer.from(`${encodeURIComponent(client.client_id)}:${encodeURIComponent(client.client_secret)}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials',
  });
  const granted = await grant();
  const tokens = await granted.json();
  assert.equal(granted.status, 200, `client credentials grant: ${granted.status} ${JSON.stringify(tokens)}`);
  expectProblem(await api.withKey(tokens.access_token).get(api.org()), 401, 'unauthenticated');

  expectNoContent(await api.del(api.org(`/clients/${client.client_id}`)));
  const refused = await grant();
  assert.equal(refused.status, 401, `the revoked client still gets tokens: ${refused.status}`);
  assert.equal((await refused.json()).error, 'invalid_client');
  assert.ok(isDate(expectList(await api.get(api.org('/clients'))).find((c: any) => c.clientId === client.client_id)?.revokedAt), 'listed as revoked');
  expectProblem(await api.del(api.org(`/clients/${client.client_id}`)), 404, 'not_found');
  expectProblem(await api.del(api.org('/clients/rst_client_nope')), 404, 'not_found');
  await ctx.expectAudit('client.revoked', client.client_id, { type: 'api_key' });
});

test("me: the /me routes are a person's own: an API key gets 403 user_only on each", async ({ api }) => {
  for (const res of [
    await api.get(api.org('/me')),
    await api.post(api.org('/me/password'), { currentPassword: 'x', newPassword: 'y' }),
    await api.post(api.org('/me/totp'), {}),
    await api.post(api.org('/me/totp/confirm'), { code: '123456' }),
    await api.post(api.org('/me/totp/remove'), { code: '123456' }),
    await api.post(api.org('/me/recovery-codes'), { code: '123456' }),
    await api.get(api.org('/me/sessions')),
    await api.del(api.org(`/me/sessions/${randomUUID()}`)),
  ]) {
    expectProblem(res, 403, 'user_only');
  }
});
