// What sign-in will rely on: which organisation's credential opens which organisation's applications, and
// the auth activity every revocation and attempt leaves.
import assert from 'node:assert/strict';
import { markEmailVerified, passwordOpensOrg } from '../../src/directory/accounts.ts';
import { listAuthEvents, recordAuthEvent } from '../../src/directory/auth-events.ts';
import { createUser, newOrg, unique } from '../helpers.ts';
import { testDb } from '../setup.ts';
import { insertSession, membershipRow, PATCH_OP, patchBody } from '../security/support.ts';

const account = (email: string) => testDb()('accounts').whereRaw('lower(email) = lower(?)', [email]).first();

describe('directory: one account, many organisations: whose credential opens what', () => {
  it("B gives A's CEO's address a password over SCIM, then A provisions its CEO: B's password does not open A's applications", async () => {
    const a = await newOrg();
    const b = await newOrg();
    const ceo = `ceo@${unique('a')}.test`;
    await createUser(b.scim, ceo, { password: 'chosen-by-organisation-b' }); // B first: B manages the account
    await createUser(a.scim, ceo); // A's IdP provisions its CEO: A's membership links to the same account
    const acct = await account(ceo);
    assert.equal(acct.managed_by_org_id, b.org.id);
    assert.equal(acct.password_set_by_org_id, b.org.id);
    assert.equal(acct.email_verified, false);
    assert.equal(passwordOpensOrg(acct, b.org.id), true, "B's password opens B's applications");
    assert.equal(passwordOpensOrg(acct, a.org.id), false, "and never A's");
    // Showing control of the address does not make B's password the person's: B could set another one
    // tomorrow. Only a password the person sets through an e-mailed link (set by nobody) opens A.
    await markEmailVerified(testDb(), acct.id);
    assert.equal(passwordOpensOrg(await account(ceo), a.org.id), false);
    await testDb()('accounts').where({ id: acct.id }).update({ password_set_by_org_id: null });
    assert.equal(passwordOpensOrg(await account(ceo), a.org.id), true);
  });

  it('a new login e-mail set by the managing organisation is unverified again', async () => {
    const a = await newOrg();
    const email = `${unique('p')}@example.test`;
    const u = await createUser(a.scim, email);
    const acct = await account(email);
    await markEmailVerified(testDb(), acct.id);
    const moved = `${unique('moved')}@example.test`;
    const res = await patchBody(a, `/Users/${u.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'emails[type eq "work"].value', value: moved }] });
    assert.equal(res.status, 200);
    const after = await testDb()('accounts').where({ id: acct.id }).first();
    assert.deepEqual([after.email, after.email_verified], [moved, false]);
  });
});

describe('directory: auth activity', () => {
  it('deactivation revokes sessions with the reason and who did it, as auth events; listed per member and page by page, never across organisations', async () => {
    const a = await newOrg();
    const other = await newOrg();
    const u = await createUser(a.scim);
    const accountId = (await membershipRow(a.org.id, u.id)).account_id;
    const s1 = await insertSession(a.org.id, accountId);
    await insertSession(a.org.id, accountId);
    for (const outcome of ['failure', 'success'] as const) {
      await recordAuthEvent(testDb(), { orgId: a.org.id, accountId, type: 'sign_in', outcome, ...(outcome === 'failure' ? { reason: 'wrong_password' as const } : {}), ip: '203.0.113.9', userAgent: 'test' });
    }
    await recordAuthEvent(testDb(), { orgId: a.org.id, type: 'sign_in', outcome: 'failure', reason: 'unknown_account', email: 'nobody@example.test' });
    assert.equal((await patchBody(a, `/Users/${u.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', value: { active: false } }] })).status, 200);

    const session = await testDb()('sessions').where({ org_id: a.org.id, id: s1 }).first();
    assert.equal(session.revoked_reason, 'member_deactivated');
    assert.match(session.revoked_by, /^scim_token:/);
    const mine = await listAuthEvents(testDb(), { orgId: a.org.id, accountId, limit: 10 });
    assert.deepEqual(mine.events.map((e) => [e.type, e.outcome, e.reason]), [
      ['session_revoked', 'success', 'member_deactivated'], ['session_revoked', 'success', 'member_deactivated'],
      ['sign_in', 'success', null], ['sign_in', 'failure', 'wrong_password'],
    ]);
    // Page by page: two, then the rest, nothing twice.
    const first = await listAuthEvents(testDb(), { orgId: a.org.id, limit: 2 });
    const rest = await listAuthEvents(testDb(), { orgId: a.org.id, limit: 10, before: first.nextBefore! });
    assert.equal(first.events.length + rest.events.length, 5);
    assert.equal(rest.nextBefore, null);
    assert.equal(new Set([...first.events, ...rest.events].map((e) => e.id)).size, 5);
    assert.deepEqual((await listAuthEvents(testDb(), { orgId: a.org.id, limit: 10, since: new Date(Date.now() + 60_000) })).events, []);
    assert.deepEqual((await listAuthEvents(testDb(), { orgId: other.org.id, limit: 10 })).events, [], 'another organisation sees none of it');
  });
});
