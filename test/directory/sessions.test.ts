// Sessions reach what the OIDC provider issued under them: revoking one deletes its grants' stored tokens.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { newOrg, createUser, unique } from '../helpers.ts';
import { testDb } from '../setup.ts';
import { insertSession, membershipRow, patchBody, PATCH_OP } from '../security/support.ts';

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
});
