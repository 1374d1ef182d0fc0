// The admin API's door: who may call it (an organisation API key, or an access token Roster issued to a
// member, with the member's role now), what each role may do, and that nothing crosses organisations:
// another organisation's id is 404 whatever the caller, bad input is a problem+json 400 and changes nothing.
import assert from 'node:assert/strict';
import * as client from 'openid-client';
import { createOrganization } from '../../src/directory/organizations.ts';
import { unique } from '../helpers.ts';
import { testDb } from '../setup.ts';
import { adminServer } from './support.ts';

describe('admin API: access', function () {
  this.timeout(60_000);
  const { api, signIn } = adminServer();

  const newOrg = async () => {
    const name = unique('admin-');
    return createOrganization(testDb(), { name, ownerEmail: `owner@${name}.test` });
  };

  /** The owner signs in to the organisation's own app (the console) and gets an access token. */
  const ownerToken = (org: Awaited<ReturnType<typeof newOrg>>): Promise<string> =>
    signIn(org.org.id, org.owner.email, org.owner.temporaryPassword!, { newPassword: 'the owner chose this one' });

  it('401 without a credential or with a bad one; 404 for another organisation (or none) whatever the caller; problem+json with a stable code', async () => {
    const a = await newOrg();
    const b = await newOrg();
    for (const token of [null, 'nonsense', 'rst_key_not-a-real-key', a.scimToken]) {
      const res = await api('GET', `/orgs/${a.org.id}`, token);
      assert.equal(res.status, 401, String(token));
      assert.match(res.type, /application\/problem\+json/);
      assert.equal(res.body.code, 'unauthenticated');
    }
    assert.equal((await api('GET', `/orgs/${a.org.id}`, a.apiKey)).status, 200);
    for (const other of [b.org.id, '00000000-0000-4000-8000-000000000000', 'not-a-uuid']) {
      const res = await api('GET', `/orgs/${other}`, a.apiKey);
      assert.equal(res.status, 404, other);
      assert.equal(res.body.code, 'not_found');
      assert.equal((await api('PATCH', `/orgs/${other}`, a.apiKey, { name: 'taken over' })).status, 404);
    }
    assert.equal((await testDb()('organizations').where({ id: b.org.id }).first('name')).name, b.org.name);
  });

  it("the owner's API key reads and changes the settings and login configuration; impossible settings are a 400 and change nothing", async () => {
    const a = await newOrg();
    const got = await api('GET', `/orgs/${a.org.id}`, a.apiKey);
    assert.deepEqual(got.body.loginConfiguration, { requireMfa: false, mfaMethods: ['totp', 'email'], loginProviders: ['password'], ssoEnforced: false, allowIdentityLinking: true });
    assert.equal(got.body.invitationLifetimeDays, 7);
    const changed = await api('PATCH', `/orgs/${a.org.id}`, a.apiKey, { name: 'Renamed', loginConfiguration: { requireMfa: true, mfaMethods: ['totp'] }, invitationLifetimeDays: 14, licenceLimit: 50 });
    assert.equal(changed.status, 200, JSON.stringify(changed.body));
    assert.deepEqual([changed.body.name, changed.body.loginConfiguration.requireMfa, changed.body.loginConfiguration.mfaMethods, changed.body.invitationLifetimeDays, changed.body.licenceLimit], ['Renamed', true, ['totp'], 14, 50]);
    for (const bad of [
      { loginConfiguration: { mfaMethods: [] } }, { loginConfiguration: { mfaMethods: ['sms'] } }, { loginConfiguration: { ssoEnforced: true } },
      { invitationLifetimeDays: 0 }, { name: '' }, { licenceLimit: -1 }, { unknownField: 1 }, 'not json', [1, 2],
    ]) {
      const res = await api('PATCH', `/orgs/${a.org.id}`, a.apiKey, bad);
      assert.equal(res.status, 400, JSON.stringify(bad));
      assert.match(res.type, /application\/problem\+json/);
      assert.ok(['invalid_request', 'invalid_value'].includes(res.body.code), res.body.code);
    }
    const after = await api('GET', `/orgs/${a.org.id}`, a.apiKey);
    assert.deepEqual(after.body, changed.body, 'nothing changed by the refused requests');
  });

  it("a member's access token carries the member's role, read on every request: a member may read but not change; promoted, the next request may", async () => {
    const a = await newOrg();
    const token = await ownerToken(a);
    assert.equal((await api('PATCH', `/orgs/${a.org.id}`, token, { name: 'By the owner' })).status, 200);
    const b = await newOrg();
    assert.equal((await api('GET', `/orgs/${b.org.id}`, token)).status, 404, 'the token is of organisation A');

    await testDb()('memberships').where({ org_id: a.org.id, account_id: a.owner.accountId }).update({ role: 'member' });
    assert.equal((await api('GET', `/orgs/${a.org.id}`, token)).status, 200);
    const refused = await api('PATCH', `/orgs/${a.org.id}`, token, { name: 'By a member' });
    assert.equal(refused.status, 403);
    assert.equal(refused.body.code, 'forbidden');
    await testDb()('memberships').where({ org_id: a.org.id, account_id: a.owner.accountId }).update({ role: 'admin' });
    assert.equal((await api('PATCH', `/orgs/${a.org.id}`, token, { name: 'By an admin' })).status, 200);
    assert.equal((await api('PATCH', `/orgs/${a.org.id}`, token, { licenceLimit: 5 })).status, 403, 'licences are the owner\'s and billing\'s');
    await testDb()('memberships').where({ org_id: a.org.id, account_id: a.owner.accountId }).update({ status: 'deactivated' });
    assert.equal((await api('GET', `/orgs/${a.org.id}`, token)).status, 401, 'a deactivated member\'s token opens nothing');
  });
});

describe('admin API: sessions and auth activity', function () {
  this.timeout(60_000);
  const { api, signInFlow } = adminServer();

  it("lists the organisation's sessions and auth events (never another's), pages events by cursor, revokes a session at once; bad parameters are 400", async () => {
    const name = unique('activity-');
    const org = await createOrganization(testDb(), { name, ownerEmail: `owner@${name}.test` });
    const other = await createOrganization(testDb(), { name: unique('other-'), ownerEmail: `owner@${unique('o')}.test` });
    // The owner signs in, with a wrong password first (a failed attempt in the auth events); offline_access for a refresh token.
    const { tokens, config } = await signInFlow(org.org.id, org.owner.email, org.owner.temporaryPassword!, {
      scope: 'openid offline_access', wrongPasswordFirst: 'not the password at all', newPassword: 'activity passphrase here',
    });

    const get = (path: string, key = org.apiKey) => api('GET', path, key);
    const sessions = await get(`/orgs/${org.org.id}/sessions`);
    assert.equal(sessions.status, 200);
    assert.equal(sessions.body.items.length, 1);
    assert.equal(sessions.body.items[0].accountId, org.owner.accountId);
    assert.equal((await get(`/orgs/${org.org.id}/sessions`, other.apiKey)).status, 404);
    assert.deepEqual((await get(`/orgs/${other.org.id}/sessions`, other.apiKey)).body.items, [], 'another organisation sees none of them');

    const events = await get(`/orgs/${org.org.id}/auth-events?limit=2`);
    assert.equal(events.status, 200);
    assert.equal(events.body.items.length, 2);
    assert.ok(events.body.nextCursor);
    const rest = await get(`/orgs/${org.org.id}/auth-events?limit=200&cursor=${events.body.nextCursor}`);
    const all = [...events.body.items, ...rest.body.items].map((e: { type: string; outcome: string; reason: string | null }) => `${e.type}:${e.outcome}:${e.reason ?? ''}`);
    assert.ok(all.includes('sign_in:failure:wrong_password'), all.join(' '));
    assert.ok(all.includes('sign_in:success:'), all.join(' '));
    for (const bad of ['?limit=0', '?limit=500', '?limit=abc', '?cursor=x', '?accountId=nope', '?since=yesterday']) {
      const res = await get(`/orgs/${org.org.id}/auth-events${bad}`);
      assert.equal(res.status, 400, bad);
      assert.equal(res.body.code, 'invalid_request');
    }

    const revoke = await api('DELETE', `/orgs/${org.org.id}/sessions/${sessions.body.items[0].id}`, org.apiKey);
    assert.equal(revoke.status, 204);
    await assert.rejects(client.refreshTokenGrant(config, tokens.refresh_token!), (e: { error?: string }) => e.error === 'invalid_grant');
    const again = await api('DELETE', `/orgs/${org.org.id}/sessions/${sessions.body.items[0].id}`, org.apiKey);
    assert.equal(again.status, 404);
  });
});
