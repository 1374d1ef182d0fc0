// Sessions reach what the OIDC provider issued under them: revoking one deletes its grants' stored tokens.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { newOrg, createUser, unique } from '../helpers.ts';
import { testDb } from '../setup.ts';
import { insertSession, membershipRow, patchBody, PATCH_OP } from '../security/support.ts';
import { describeDevice, linkGrant, listSessions, revokeSession, startSession } from '../../src/directory/sessions.ts';
import { listAuthEvents } from '../../src/directory/auth-events.ts';

/** A grant issued under a session, with a refresh token and an access token stored as oidc-provider would. */
async function grantUnder(orgId: string, sessionId: string): Promise<string> {
  const grantId = unique('grant');
  await testDb()('session_grants').insert({ org_id: orgId, session_id: sessionId, grant_id: grantId });
  for (const model of ['RefreshToken', 'AccessToken']) {
    await testDb()('oidc_payloads').insert({ model, id: randomUUID(), grant_id: grantId, payload: JSON.stringify({ grantId, kind: model }), expires_at: new Date(Date.now() + 3600_000) });
  }
  return grantId;
}

const tokensOf = async (grantId: string) => Number((await testDb()('oidc_payloads').where({ grant_id: grantId }).count({ n: '*' }))[0].n);

describe('directory: sessions and the tokens issued under them', () => {
  it('deactivating a member deletes the refresh and access tokens of their sessions in that org, and no one else\'s', async () => {
    const a = await newOrg();
    const b = await newOrg();
    const email = `${unique('tok')}@example.test`;
    const inA = await createUser(a.scim, email);
    await createUser(b.scim, email);
    const accountId = (await membershipRow(a.org.id, inA.id)).account_id;
    const bystander = (await membershipRow(a.org.id, (await createUser(a.scim)).id)).account_id;
    const grantA = await grantUnder(a.org.id, await insertSession(a.org.id, accountId));
    const grantB = await grantUnder(b.org.id, await insertSession(b.org.id, accountId));
    const grantBystander = await grantUnder(a.org.id, await insertSession(a.org.id, bystander));
    const res = await patchBody(a, `/Users/${inA.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', value: { active: false } }] });
    assert.equal(res.status, 200);
    assert.equal(await tokensOf(grantA), 0, "the member's tokens in A are gone");
    assert.equal(await tokensOf(grantB), 2, "B's tokens are B's business");
    assert.equal(await tokensOf(grantBystander), 2, "a bystander's tokens stay");
  });

  it('removing a member deletes their tokens too', async () => {
    const a = await newOrg();
    const u = await createUser(a.scim);
    const accountId = (await membershipRow(a.org.id, u.id)).account_id;
    const grant = await grantUnder(a.org.id, await insertSession(a.org.id, accountId));
    assert.equal((await a.scim.delete(`/Users/${u.id}`)).status, 204);
    assert.equal(await tokensOf(grant), 0);
  });

  it('records a sign-in session with its client, device and factors; one revoked by an admin ends at once with its tokens, and stays listed', async () => {
    const a = await newOrg();
    const b = await newOrg();
    const u = await createUser(a.scim);
    const accountId = (await membershipRow(a.org.id, u.id)).account_id;
    const iphone = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1';
    const id = await startSession(testDb(), {
      orgId: a.org.id, accountId, clientId: 'rst_client_x', oidcSessionUid: unique('uid'), provider: 'password', factors: ['pwd', 'otp', 'mfa'],
      ip: '198.51.100.4', userAgent: iphone, expiresAt: new Date(Date.now() + 3600_000),
    });
    const grant = unique('grant');
    await linkGrant(testDb(), { orgId: a.org.id, sessionId: id, grantId: grant });
    await testDb()('oidc_payloads').insert({ model: 'RefreshToken', id: randomUUID(), grant_id: grant, payload: JSON.stringify({ grantId: grant }) });
    const [live] = await listSessions(testDb(), { orgId: a.org.id, accountId, limit: 10 });
    assert.deepEqual([live.id, live.device, live.factors, live.clientId], [id, 'Mobile Safari on iOS (Apple iPhone)', ['pwd', 'otp', 'mfa'], 'rst_client_x']);
    await assert.rejects(revokeSession(testDb(), { orgId: b.org.id, sessionId: id, by: { type: 'user', id: 'x' } }), (e: { code?: string }) => e.code === 'not_found', "another organisation cannot revoke it");
    await revokeSession(testDb(), { orgId: a.org.id, sessionId: id, by: { type: 'user', id: 'admin-1' } });
    assert.equal(Number((await testDb()('oidc_payloads').where({ grant_id: grant }).count({ n: '*' }))[0].n), 0, 'its refresh token is gone');
    assert.deepEqual(await listSessions(testDb(), { orgId: a.org.id, accountId, limit: 10 }), [], 'no longer live');
    const [kept] = await listSessions(testDb(), { orgId: a.org.id, accountId, all: true, limit: 10 });
    assert.deepEqual([kept.id, kept.revokedReason, kept.revokedBy], [id, 'revoked_by_admin', 'user:admin-1']);
    assert.equal((await listAuthEvents(testDb(), { orgId: a.org.id, accountId, limit: 5 })).events[0].reason, 'revoked_by_admin');
    await assert.rejects(revokeSession(testDb(), { orgId: a.org.id, sessionId: id, by: { type: 'user', id: 'admin-1' } }), (e: { code?: string }) => e.code === 'not_found', 'revoked once');
  });

  it('describes devices people recognise, and nothing from no user agent', () => {
    assert.equal(describeDevice('Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36'), 'Chrome on Windows');
    assert.equal(describeDevice(null), null);
    assert.equal(describeDevice('curl/8.5.0'), null);
  });
});
