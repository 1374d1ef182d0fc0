// Adversarial: deactivation must revoke that organisation's sessions at once, and only those; the account is
// deactivated only when no active membership remains; reactivation restores it but never revives a session.
import assert from 'node:assert/strict';
import { assertScimError, createUser, newOrg, unique, userBody } from '../helpers.ts';
import { testDb } from '../setup.ts';
import { accountRow, findUsers, insertSession, membershipRow, patchBody, PATCH_OP, sessionRow } from './support.ts';

const BULK = 'urn:ietf:params:scim:api:messages:2.0:BulkRequest';
const LONG_AGO = new Date('2020-01-02T03:04:05.000Z');

/** One person in A (managing) and B, each with live sessions; a bystander in A with a live session. */
async function twoOrgPerson() {
  const a = await newOrg();
  const b = await newOrg();
  const email = `${unique('sess')}@example.test`;
  const inA = await createUser(a.scim, email);
  const inB = await createUser(b.scim, email);
  const accountId = (await membershipRow(a.org.id, inA.id)).account_id;
  const bystander = await createUser(a.scim);
  const bystanderAccount = (await membershipRow(a.org.id, bystander.id)).account_id;
  const sessions = {
    a1: await insertSession(a.org.id, accountId),
    a2: await insertSession(a.org.id, accountId),
    aOld: await insertSession(a.org.id, accountId, { revokedAt: LONG_AGO }),
    b1: await insertSession(b.org.id, accountId),
    bystander: await insertSession(a.org.id, bystanderAccount),
  };
  return { a, b, email, inA, inB, accountId, sessions };
}

const revokedAt = async (orgId: string, id: string): Promise<Date | null> => (await sessionRow(orgId, id)).revoked_at;

describe('security: deactivation', () => {
  it("Okta's {\"active\": false} revokes the member's sessions in that org at once, and no others", async () => {
    const { a, b, inA, email, accountId, sessions } = await twoOrgPerson();
    const res = await a.scim.patch(`/Users/${inA.id}`, [{ op: 'replace', value: { active: false } }]);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.active, false);

    assert.ok(await revokedAt(a.org.id, sessions.a1), 'A session 1 revoked');
    assert.ok(await revokedAt(a.org.id, sessions.a2), 'A session 2 revoked');
    assert.deepEqual(await revokedAt(a.org.id, sessions.aOld), LONG_AGO, 'an earlier revocation keeps its time');
    assert.equal(await revokedAt(b.org.id, sessions.b1), null, "B's session is B's business");
    assert.equal(await revokedAt(a.org.id, sessions.bystander), null, "a bystander's session stays");

    assert.equal((await membershipRow(a.org.id, inA.id)).status, 'deactivated');
    assert.equal((await accountRow(accountId)).status, 'active', 'still an active member of B');

    // Still readable by id and by filter, as inactive.
    const got = await a.scim.get(`/Users/${inA.id}`);
    assert.equal(got.status, 200);
    assert.equal(got.body.active, false);
    assert.deepEqual(await findUsers(a, `userName eq "${email}"`), [inA.id]);
    assert.ok((await findUsers(a, 'active eq false')).includes(inA.id));
    assert.equal((await findUsers(a, 'active eq true')).includes(inA.id), false);
  });

  it("Entra's {\"op\":\"Replace\",\"path\":\"active\",\"value\":\"False\"} in the last active org deactivates the account; \"True\" restores it", async () => {
    const { a, b, inA, inB, email, accountId, sessions } = await twoOrgPerson();
    assert.equal((await a.scim.patch(`/Users/${inA.id}`, [{ op: 'replace', value: { active: false } }])).status, 200);
    assert.equal((await accountRow(accountId)).status, 'active');

    const res = await b.scim.patch(`/Users/${inB.id}`, [{ op: 'Replace', path: 'active', value: 'False' }]);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.active, false);
    assert.ok(await revokedAt(b.org.id, sessions.b1), "B's session revoked");
    assert.equal((await membershipRow(b.org.id, inB.id)).status, 'deactivated');
    assert.equal((await accountRow(accountId)).status, 'deactivated', 'no active membership left');
    assert.deepEqual(await findUsers(b, `userName eq "${email}"`), [inB.id]);
    assert.equal((await b.scim.get(`/Users/${inB.id}`)).body.active, false);

    const revokedBefore = { a1: await revokedAt(a.org.id, sessions.a1), b1: await revokedAt(b.org.id, sessions.b1) };
    const back = await a.scim.patch(`/Users/${inA.id}`, [{ op: 'Replace', path: 'active', value: 'True' }]);
    assert.equal(back.status, 200, JSON.stringify(back.body));
    assert.equal(back.body.active, true);
    assert.equal((await membershipRow(a.org.id, inA.id)).status, 'active');
    assert.equal((await accountRow(accountId)).status, 'active');
    assert.deepEqual(await revokedAt(a.org.id, sessions.a1), revokedBefore.a1, 'reactivation never revives a session');
    assert.deepEqual(await revokedAt(b.org.id, sessions.b1), revokedBefore.b1);
    assert.equal((await membershipRow(b.org.id, inB.id)).status, 'deactivated', "B's membership is B's business");
  });

  it('a person with one membership: active:false deactivates the account at once, active:true restores it', async () => {
    const org = await newOrg();
    const u = await createUser(org.scim);
    const accountId = (await membershipRow(org.org.id, u.id)).account_id;
    const s = await insertSession(org.org.id, accountId);
    const off = await patchBody(org, `/Users/${u.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', value: { active: false } }] });
    assert.equal(off.status, 200);
    assert.equal((await accountRow(accountId)).status, 'deactivated');
    assert.ok(await revokedAt(org.org.id, s));
    assert.equal((await org.scim.get(`/Users/${u.id}`)).status, 200);
    const on = await org.scim.patch(`/Users/${u.id}`, [{ op: 'replace', path: 'active', value: true }]);
    assert.equal(on.status, 200);
    assert.equal((await accountRow(accountId)).status, 'active');
    assert.ok(await revokedAt(org.org.id, s), 'the session stays revoked');
  });

  it('deactivation through PUT and through Bulk revokes sessions too', async () => {
    const org = await newOrg();
    const viaPut = await createUser(org.scim);
    const viaBulk = await createUser(org.scim);
    const putAccount = (await membershipRow(org.org.id, viaPut.id)).account_id;
    const bulkAccount = (await membershipRow(org.org.id, viaBulk.id)).account_id;
    const s1 = await insertSession(org.org.id, putAccount);
    const s2 = await insertSession(org.org.id, bulkAccount);
    const put = await org.scim.put(`/Users/${viaPut.id}`, userBody(viaPut.userName, { active: false }));
    assert.equal(put.status, 200);
    assert.ok(await revokedAt(org.org.id, s1));
    assert.equal((await accountRow(putAccount)).status, 'deactivated');
    const bulk = await org.scim.post('/Bulk', {
      schemas: [BULK],
      Operations: [{ method: 'PATCH', path: `/Users/${viaBulk.id}`, data: { schemas: [PATCH_OP], Operations: [{ op: 'Replace', path: 'active', value: 'False' }] } }],
    });
    assert.equal(bulk.status, 200);
    assert.equal(bulk.body.Operations[0].status, '200');
    assert.ok(await revokedAt(org.org.id, s2));
    assert.equal((await accountRow(bulkAccount)).status, 'deactivated');
  });

  it('a deactivating PATCH that fails as a whole revokes nothing and deactivates nothing', async () => {
    const { a, inA, accountId, sessions } = await twoOrgPerson();
    const before = await membershipRow(a.org.id, inA.id);
    const res = await a.scim.patch(`/Users/${inA.id}`, [
      { op: 'replace', path: 'active', value: false },
      { op: 'replace', path: 'name.givenName', value: 42 },
    ]);
    assertScimError(res, 400, 'invalidValue');
    assert.equal(await revokedAt(a.org.id, sessions.a1), null);
    assert.equal(await revokedAt(a.org.id, sessions.a2), null);
    assert.deepEqual(await membershipRow(a.org.id, inA.id), before);
    assert.equal((await accountRow(accountId)).status, 'active');
  });

  it("another organisation cannot deactivate A's member, and its attempt revokes nothing", async () => {
    const { a, inA, accountId, sessions } = await twoOrgPerson();
    const c = await newOrg();
    assertScimError(await c.scim.patch(`/Users/${inA.id}`, [{ op: 'replace', value: { active: false } }]), 404);
    assertScimError(await c.scim.delete(`/Users/${inA.id}`), 404);
    assert.equal(await revokedAt(a.org.id, sessions.a1), null);
    assert.equal((await membershipRow(a.org.id, inA.id)).status, 'active');
    assert.equal((await accountRow(accountId)).status, 'active');
    assert.deepEqual(await testDb()('sessions').where({ account_id: accountId }).whereNotNull('revoked_at').pluck('id'), [sessions.aOld]);
  });
});
