// The organisation: its settings, login configuration, licences; changed by PATCH, refused whole on bad input.
import assert from 'node:assert/strict';
import { expectBadRequest, expectJson, expectProblem, PERMISSIONS } from './admin.ts';
import { test } from './runner.ts';

const settingsOf = (org: any) => ({ name: org.name, loginConfiguration: org.loginConfiguration, invitationLifetimeDays: org.invitationLifetimeDays, licenceLimit: org.licenceLimit });

test('org: GET has id, name, slug, login configuration, invitation lifetime, licences, and what the owner key may do (every permission)', async ({ api, orgId }) => {
  const org = expectJson(await api.get(api.org()));
  assert.equal(org.id, orgId);
  assert.ok(typeof org.name === 'string' && org.name.length > 0, `name: ${JSON.stringify(org.name)}`);
  assert.ok(typeof org.slug === 'string' && /^[a-z0-9-]+$/.test(org.slug), `slug: ${JSON.stringify(org.slug)}`);
  const lc = org.loginConfiguration;
  assert.equal(typeof lc?.requireMfa, 'boolean', `loginConfiguration.requireMfa: ${JSON.stringify(lc)}`);
  assert.ok(Array.isArray(lc.mfaMethods) && lc.mfaMethods.length >= 1 && lc.mfaMethods.every((m: string) => ['totp', 'email'].includes(m)), `mfaMethods: ${JSON.stringify(lc.mfaMethods)}`);
  assert.ok(Array.isArray(lc.loginProviders) && lc.loginProviders.length >= 1 && lc.loginProviders.every((m: string) => ['password', 'sso'].includes(m)), `loginProviders: ${JSON.stringify(lc.loginProviders)}`);
  assert.equal(typeof lc.ssoEnforced, 'boolean');
  assert.equal(typeof lc.allowIdentityLinking, 'boolean');
  assert.ok(Number.isInteger(org.invitationLifetimeDays) && org.invitationLifetimeDays >= 1 && org.invitationLifetimeDays <= 90, `invitationLifetimeDays: ${org.invitationLifetimeDays}`);
  assert.ok(org.licenceLimit === null || Number.isInteger(org.licenceLimit), `licenceLimit: ${org.licenceLimit}`);
  assert.ok(Number.isInteger(org.licencesUsed) && org.licencesUsed >= 1, `licencesUsed counts at least the owner: ${org.licencesUsed}`);
  assert.deepEqual([...org.permissions].sort(), [...PERMISSIONS].sort(), 'an owner key may do everything');
});

test('org: PATCH changes the name, invitation lifetime, licence limit and login configuration (what is given; the rest stays); GET agrees; audited', async (ctx) => {
  const { api, orgId } = ctx;
  const before = expectJson(await api.get(api.org()));
  const original = settingsOf(before);
  ctx.defer('put the settings back', () => api.patch(api.org(), original), [200]);
  const lifetime = before.invitationLifetimeDays === 14 ? 15 : 14;
  const limit = (before.licenceLimit ?? 1000) + 7;
  const linking = !before.loginConfiguration.allowIdentityLinking;
  const res = await api.patch(api.org(), { name: ctx.name('Org'), invitationLifetimeDays: lifetime, licenceLimit: limit, loginConfiguration: { allowIdentityLinking: linking } });
  const changed = expectJson(res);
  assert.equal(changed.name, `${ctx.scope}-Org`);
  assert.equal(changed.invitationLifetimeDays, lifetime);
  assert.equal(changed.licenceLimit, limit);
  assert.deepEqual(changed.loginConfiguration, { ...before.loginConfiguration, allowIdentityLinking: linking }, 'only allowIdentityLinking changed in the login configuration');
  assert.equal(changed.id, before.id);
  assert.equal(changed.slug, before.slug, 'the slug stays');
  const got = expectJson(await api.get(api.org()));
  assert.deepEqual(settingsOf(got), settingsOf(changed), 'GET agrees with the PATCH answer');
  // A PATCH of one field keeps the others; an empty PATCH changes nothing.
  const nameOnly = expectJson(await api.patch(api.org(), { name: `  ${ctx.name('Trimmed')}  ` }));
  assert.equal(nameOnly.name, `${ctx.scope}-Trimmed`, 'the name is trimmed');
  assert.deepEqual({ ...settingsOf(nameOnly), name: null }, { ...settingsOf(changed), name: null });
  assert.deepEqual(settingsOf(expectJson(await api.patch(api.org(), {}))), settingsOf(nameOnly));
  await ctx.expectAudit('organization.updated', orgId, { type: 'api_key' });
  await ctx.expectAudit('organization.login_config_changed', orgId, { type: 'api_key' });
  // Put back, and seen so.
  assert.deepEqual(settingsOf(expectJson(await api.patch(api.org(), original))), original);
});

test('org: PATCH with bad input is 400 (invalid_request or invalid_value, naming what is wrong) and changes nothing, not even the valid fields beside it', async (ctx) => {
  const { api } = ctx;
  const before = expectJson(await api.get(api.org()));
  ctx.defer('put the settings back', () => api.patch(api.org(), settingsOf(before)), [200]);
  const name = ctx.name('Never');
  const bad: unknown[] = [
    { name: '' },
    { name: '   ' },
    { name: 'x'.repeat(401) },
    { name: 42 },
    { invitationLifetimeDays: 0 },
    { invitationLifetimeDays: 91 },
    { invitationLifetimeDays: 1.5 },
    { invitationLifetimeDays: '7' },
    { licenceLimit: -1 },
    { licenceLimit: 'many' },
    { loginConfiguration: { mfaMethods: [] } },
    { loginConfiguration: { mfaMethods: ['sms'] } },
    { loginConfiguration: { loginProviders: [] } },
    { loginConfiguration: { requireMfa: 'yes' } },
    { loginConfiguration: { unknown: true } },
    { loginConfiguration: { ssoEnforced: true } }, // needs an SSO connection, which a fresh organisation has not
    { unknownField: 1 },
    { slug: 'new-slug' },
    { id: '00000000-0000-4000-8000-000000000000' },
    // A valid change beside an invalid one: refused as a whole.
    { name, invitationLifetimeDays: 0 },
    { name, licenceLimit: -5 },
    { name, loginConfiguration: { mfaMethods: [] } },
    { name, loginConfiguration: { requireMfa: !before.loginConfiguration.requireMfa }, invitationLifetimeDays: 500 },
    { loginConfiguration: { requireMfa: !before.loginConfiguration.requireMfa, loginProviders: ['sso'] } },
    { name, unknownField: 1 },
  ];
  for (const body of bad) {
    const res = await api.patch(api.org(), body);
    expectBadRequest(res);
  }
  const after = expectJson(await api.get(api.org()));
  assert.deepEqual(settingsOf(after), settingsOf(before), 'a refused PATCH changed the organisation');
  assert.equal(after.slug, before.slug);
});

test('org: licences: at the licence limit, adding or reactivating a member or inviting is 409 licence_limit_reached; a billing member takes no seat', async (ctx) => {
  const { api } = ctx;
  const sleeper = (await ctx.createMember()).member;
  expectJson(await api.post(api.org(`/members/${sleeper.id}/deactivate`)));
  const before = expectJson(await api.get(api.org()));
  ctx.defer('put the licence limit back', () => api.patch(api.org(), { licenceLimit: before.licenceLimit }), [200]);
  const used = before.licencesUsed;
  assert.equal(expectJson(await api.patch(api.org(), { licenceLimit: used })).licenceLimit, used);

  expectProblem(await api.post(api.org('/members'), { email: ctx.email('over'), role: 'member' }), 409, 'licence_limit_reached');
  expectProblem(await api.post(api.org(`/members/${sleeper.id}/reactivate`)), 409, 'licence_limit_reached');
  expectProblem(await api.post(api.org('/invitations'), { emails: [ctx.email('over-invite')], role: 'member' }), 409, 'licence_limit_reached');
  const billing = await ctx.createMember({ role: 'billing' });
  assert.equal(billing.member.role, 'billing');
  const org = expectJson(await api.get(api.org()));
  assert.equal(org.licencesUsed, used, 'a billing member takes no seat; refused requests took none');
  assert.equal(expectJson(await api.get(api.org(`/members/${sleeper.id}`))).status, 'deactivated', 'the refused reactivation changed nothing');

  // One more seat: the reactivation goes through.
  expectJson(await api.patch(api.org(), { licenceLimit: used + 1 }));
  assert.equal(expectJson(await api.post(api.org(`/members/${sleeper.id}/reactivate`))).status, 'active');
  assert.equal(expectJson(await api.get(api.org())).licencesUsed, used + 1);
});
