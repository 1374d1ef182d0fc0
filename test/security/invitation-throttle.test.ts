// The invitation page asks a person who already has an account for its password: a second door to guess
// passwords at. What this file proves: guesses there count with the sign-in pages' throttle (per account,
// per network), so the link gives no more guesses than the sign-in page does; once over the limit even the
// right password is refused (429 with Retry-After) and joins nothing; and a right password here does not start
// the count again (only a whole sign-in does: the same count limits the second factor's guesses).
import assert from 'node:assert/strict';
import { Browser } from '../../conformance/oidc/browser.ts';
import { unique } from '../helpers.ts';
import { testDb } from '../setup.ts';
import { adminServer, invitationTokenSentTo } from '../admin/support.ts';

const address = () => `${unique('inv-throttle-')}@example.test`;

describe('security: the invitation page counts password guesses with the sign-in throttle', function () {
  this.timeout(60_000);
  const server = adminServer({ throttle: { perEmail: 3, perIp: 1000, windowSeconds: 60 } });


  /** A person with an account of their own (made by accepting an invitation of `a` as a new person). */
  async function personWithAccount(): Promise<{ email: string; password: string }> {
    const a = await server.newTeam();
    const email = address();
    const password = `the person's own passphrase ${unique()}`;
    assert.equal((await a.call('POST', '/invitations', { emails: [email], role: 'member' })).status, 201);
    const browser = new Browser();
    const p = await browser.go(server.invitationUrl(await invitationTokenSentTo(email)));
    assert.equal((await browser.submit(p, '/account/invitation', { password })).status, 200);
    return { email, password };
  }

  it('three wrong passwords, then even the right one is refused (429, Retry-After) and joins nothing', async () => {
    const person = await personWithAccount();
    const b = await server.newTeam();
    assert.equal((await b.call('POST', '/invitations', { emails: [person.email], role: 'member' })).status, 201);
    const browser = new Browser();
    const page = await browser.go(server.invitationUrl(await invitationTokenSentTo(person.email)));
    assert.match(page.html, /already have an account/);
    for (let i = 0; i < 3; i++) {
      const wrong = await browser.submit(page, '/account/invitation', { password: `guess number ${i} of an attacker` });
      assert.equal(wrong.status, 401, `guess ${i}`);
    }
    const right = await browser.submit(page, '/account/invitation', { password: person.password });
    assert.equal(right.status, 429, right.html.slice(0, 300));
    assert.match(right.html, /Too many attempts/);
    assert.ok(Number(right.headers.get('retry-after')) > 0, 'Retry-After says how long');
    const account = await testDb()('accounts').whereRaw('lower(email) = lower(?)', [person.email]).first('id');
    assert.equal(await testDb()('memberships').where({ org_id: b.id, account_id: account.id }).first(), undefined, 'joined nothing');
    assert.equal((await testDb()('invitations').where({ org_id: b.id }).first('status')).status, 'pending', 'the invitation is still pending');
  });

  it('the count is the sign-in count of the account: guesses on the sign-in page leave fewer here', async () => {
    const person = await personWithAccount();
    const b = await server.newTeam();
    // Two wrong passwords on the organisation's sign-in pages...
    await assert.rejects(server.signIn(b.id, person.email, 'a wrong password here', { passwordChange: 'if-asked' }));
    await assert.rejects(server.signIn(b.id, person.email, 'another wrong password', { passwordChange: 'if-asked' }));
    assert.equal((await b.call('POST', '/invitations', { emails: [person.email], role: 'member' })).status, 201);
    const browser = new Browser();
    const page = await browser.go(server.invitationUrl(await invitationTokenSentTo(person.email)));
    // ...leave one here: the third guess is refused as a guess, the fourth attempt is throttled.
    assert.equal((await browser.submit(page, '/account/invitation', { password: 'a third guess' })).status, 401);
    assert.equal((await browser.submit(page, '/account/invitation', { password: person.password })).status, 429);
  });

  it('within the limit the right password joins; it does not start the count again (it is no sign-in)', async () => {
    const person = await personWithAccount();
    const b = await server.newTeam();
    assert.equal((await b.call('POST', '/invitations', { emails: [person.email], role: 'member' })).status, 201);
    const browser = new Browser();
    const page = await browser.go(server.invitationUrl(await invitationTokenSentTo(person.email)));
    for (let i = 0; i < 2; i++) assert.equal((await browser.submit(page, '/account/invitation', { password: `wrong ${i}` })).status, 401);
    assert.equal((await browser.submit(page, '/account/invitation', { password: person.password })).status, 200, 'the third attempt, right: joined');
    // Three attempts counted: on another organisation's invitation, the next one is over the limit.
    const c = await server.newTeam();
    assert.equal((await c.call('POST', '/invitations', { emails: [person.email], role: 'member' })).status, 201);
    const next = await browser.go(server.invitationUrl(await invitationTokenSentTo(person.email)));
    assert.equal((await browser.submit(next, '/account/invitation', { password: person.password })).status, 429);
  });
});
