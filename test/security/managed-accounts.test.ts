// Adversarial: an organisation that does not manage an account tries to change its sign-in e-mail, names, password.
import assert from 'node:assert/strict';
import { assertScimError, createUser, newOrg, type TestOrg, unique, userBody } from '../helpers.ts';
import { testDb } from '../setup.ts';
import { createPasswordHasher } from '../../src/directory/passwords.ts';

const verifyPassword = (hash: string, password: string) => createPasswordHasher().verify(hash, password);
import { accountRow, membershipRow } from './support.ts';

const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const BULK = 'urn:ietf:params:scim:api:messages:2.0:BulkRequest';

/** A person created (and so managed) by A, then linked into B by the same e-mail. */
async function sharedPerson() {
  const a = await newOrg();
  const b = await newOrg();
  const email = `${unique('managed')}@example.test`;
  const inA = await createUser(a.scim, email, { name: { givenName: 'Alice', familyName: 'Original' }, password: 'original-password-1' });
  const inB = await createUser(b.scim, email, { name: { givenName: 'Alice', familyName: 'Original' } });
  const account = await testDb()('accounts').whereRaw('lower(email) = lower(?)', [email]).first();
  assert.equal(account.managed_by_org_id, a.org.id);
  return { a, b, email, inA, inB, account };
}

const membership = (org: TestOrg, id: string) => membershipRow(org.org.id, id);

describe('security: managed accounts', () => {
  it("B's PUT changes only B's own view: the account's login e-mail, names and password hash stay", async () => {
    const { b, inB, account } = await sharedPerson();
    const res = await b.scim.put(`/Users/${inB.id}`, userBody(`${unique('hijack')}@evil.test`, {
      name: { givenName: 'Mallory', familyName: 'Evil', formatted: 'Mallory Evil' },
      displayName: 'Mallory',
      phoneNumbers: [{ value: '+1 555 0666', type: 'mobile', primary: true }],
    }));
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.name.givenName, 'Mallory'); // B's own view changed
    assert.deepEqual(await accountRow(account.id), account);
  });

  it("B's PATCH of userName, e-mails and names changes nothing of the account", async () => {
    const { b, inB, account } = await sharedPerson();
    const res = await b.scim.patch(`/Users/${inB.id}`, [
      { op: 'replace', path: 'userName', value: `${unique('hijack')}@evil.test` },
      { op: 'replace', path: 'emails', value: [{ value: 'attacker@evil.test', type: 'work', primary: true }] },
      { op: 'replace', path: 'name', value: { givenName: 'Mallory', familyName: 'Evil' } },
      { op: 'replace', path: 'displayName', value: 'Mallory' },
      { op: 'add', path: 'phoneNumbers', value: [{ value: '+1 555 0666', primary: true }] },
    ]);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(await accountRow(account.id), account);
    const okta = await b.scim.patch(`/Users/${inB.id}`, [{ op: 'replace', value: { 'emails[type eq "work"].value': 'attacker2@evil.test', 'name.familyName': 'Evil2' } }]);
    assert.equal(okta.status, 200, JSON.stringify(okta.body));
    assert.deepEqual(await accountRow(account.id), account);
  });

  it("B's password writes are never applied, in any form, and the answer is the same as for any update", async () => {
    // Not a 403: that would tell B that another organisation manages this person. Create behaves the same way.
    const { b, inB, account } = await sharedPerson();
    for (const ops of [
      [{ op: 'replace', path: 'password', value: 'attacker-password-1' }],
      [{ op: 'add', path: 'password', value: 'attacker-password-2' }],
      [{ op: 'replace', value: { password: 'attacker-password-3' } }],
      [{ op: 'replace', path: 'displayName', value: 'B sees this' }, { op: 'replace', path: 'password', value: 'attacker-password-4' }],
    ]) {
      const res = await b.scim.patch(`/Users/${inB.id}`, ops);
      assert.equal(res.status, 200, JSON.stringify(res.body));
    }
    const put = await b.scim.put(`/Users/${inB.id}`, userBody(inB.userName, { displayName: 'B sees this too', password: 'attacker-password-5' }));
    assert.equal(put.status, 200);
    assert.equal(put.body.displayName, 'B sees this too'); // B's own view changes
    assert.deepEqual(await accountRow(account.id), account);
    assert.equal(await verifyPassword(account.password_hash, 'original-password-1'), true);
    for (let i = 1; i <= 5; i++) assert.equal(await verifyPassword(account.password_hash, `attacker-password-${i}`), false);
  });

  it('B cannot set the password through Bulk either', async () => {
    const { b, inB, account } = await sharedPerson();
    const res = await b.scim.post('/Bulk', {
      schemas: [BULK],
      Operations: [
        { method: 'PATCH', path: `/Users/${inB.id}`, data: { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'password', value: 'attacker-password-6' }] } },
        { method: 'PUT', path: `/Users/${inB.id}`, data: userBody(inB.userName, { password: 'attacker-password-7' }) },
      ],
    });
    assert.equal(res.status, 200);
    assert.deepEqual(res.body.Operations.map((o: { status: string }) => o.status), ['200', '200']);
    assert.deepEqual(await accountRow(account.id), account);
  });

  it('A, the managing organisation, changes names and password; the login e-mail stays while B shares the account (codes and links go there)', async () => {
    const { a, inA, inB, b, account } = await sharedPerson();
    const bView = (await b.scim.get(`/Users/${inB.id}`)).body;
    const newEmail = `${unique('moved')}@example.test`;
    const res = await a.scim.patch(`/Users/${inA.id}`, [
      { op: 'replace', path: 'emails', value: [{ value: newEmail, type: 'work', primary: true }] },
      { op: 'replace', path: 'name.givenName', value: 'Alicia' },
      { op: 'replace', path: 'password', value: 'brand-new-password-1' },
    ]);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const after = await accountRow(account.id);
    assert.equal(after.email, account.email, 'A cannot move the address where B\'s codes and reset links go');
    assert.equal((await a.scim.get(`/Users/${inA.id}`)).body.emails[0].value, newEmail, "A's own view has the new address");
    assert.equal(after.given_name, 'Alicia');
    assert.match(after.password_hash, /^\$argon2id\$/);
    assert.notEqual(after.password_hash, account.password_hash);
    assert.equal(await verifyPassword(after.password_hash, 'brand-new-password-1'), true);
    assert.equal(after.managed_by_org_id, a.org.id);
    assert.deepEqual((await b.scim.get(`/Users/${inB.id}`)).body, bView); // B's view is B's

    const put = await a.scim.put(`/Users/${inA.id}`, userBody(newEmail, { name: { givenName: 'Al', familyName: 'Put' } }));
    assert.equal(put.status, 200);
    assert.equal((await accountRow(account.id)).family_name, 'Put');
  });

  it('an account whose managing org left is managed by nobody: B still cannot change its credentials or e-mail', async () => {
    const { a, b, inA, inB, account } = await sharedPerson();
    assert.equal((await a.scim.delete(`/Users/${inA.id}`)).status, 204);
    const orphan = await accountRow(account.id);
    assert.equal(orphan.managed_by_org_id, null);
    assert.equal((await b.scim.patch(`/Users/${inB.id}`, [{ op: 'replace', path: 'password', value: 'attacker-password-8' }])).status, 200);
    const res = await b.scim.patch(`/Users/${inB.id}`, [{ op: 'replace', path: 'emails', value: [{ value: `${unique('grab')}@evil.test`, primary: true }] }]);
    assert.equal(res.status, 200);
    assert.deepEqual(await accountRow(account.id), orphan);
  });

  it("the managing org cannot move its account onto another person's e-mail: the login e-mail stays, and the answer does not tell", async () => {
    const a = await newOrg();
    const c = await newOrg();
    const mine = await createUser(a.scim);
    const otherEmail = `${unique('someone-else')}@example.test`;
    await createUser(c.scim, otherEmail, { password: 'someone-elses-pw' });
    const other = await testDb()('accounts').whereRaw('lower(email) = lower(?)', [otherEmail]).first();
    const myMember = await membership(a, mine.id);
    const myAccount = await accountRow(myMember.account_id);
    const res = await a.scim.patch(`/Users/${mine.id}`, [{ op: 'replace', path: 'emails', value: [{ value: otherEmail.toUpperCase(), type: 'work', primary: true }] }]);
    // A 409 here would tell A that the address has an account somewhere: the change answers like any other.
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(await accountRow(other.id), other);
    const mineAfter = await accountRow(myAccount.id);
    assert.equal(mineAfter.email, myAccount.email);
    assert.equal(mineAfter.password_hash, myAccount.password_hash);
    assert.equal((await membership(a, mine.id)).version, myMember.version + 1); // A's own view did change
  });

  it("creating a user in B with A's account e-mail and a password links without touching the password", async () => {
    const a = await newOrg();
    const b = await newOrg();
    const email = `${unique('link')}@example.test`;
    await createUser(a.scim, email, { password: 'original-password-2' });
    const account = await testDb()('accounts').whereRaw('lower(email) = lower(?)', [email]).first();
    const res = await b.scim.post('/Users', userBody(email.toUpperCase(), { password: 'attacker-password-9', name: { givenName: 'M', familyName: 'E' } }));
    assert.equal(res.status, 201, JSON.stringify(res.body));
    assert.deepEqual(await accountRow(account.id), account);
  });
});
