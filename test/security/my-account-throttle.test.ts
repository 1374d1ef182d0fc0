// A person's own account page proves credentials outside a sign-in: the current password to change it, a
// code of the authenticator app to set it up, remove it or renew recovery codes. Whoever holds a stolen
// access token could otherwise guess them there without limit (a 6-digit code in a million tries). What this
// file proves: those attempts count with the account's sign-in attempts; over the limit the API answers 429
// too_many_attempts with Retry-After and checks nothing (even the right password changes nothing).
import assert from 'node:assert/strict';
import { createOrganization } from '../../src/directory/organizations.ts';
import { unique } from '../helpers.ts';
import { testDb } from '../setup.ts';
import { adminServer } from '../admin/support.ts';

const PASSWORD = 'a passphrase chosen at first sign-in';

describe('security: the own-account routes count credential guesses with the sign-in throttle', function () {
  this.timeout(60_000);
  const server = adminServer({ throttle: { perEmail: 3, perIp: 1000, windowSeconds: 60 } });

  async function ownerSignedIn() {
    const name = unique('me-throttle-');
    const org = await createOrganization(testDb(), { name, ownerEmail: `owner@${name}.test` });
    const token = await server.signIn(org.org.id, org.owner.email, org.owner.temporaryPassword!, { newPassword: PASSWORD });
    return { org, token, base: `/orgs/${org.org.id}/me` };
  }

  it('current-password guesses: three wrong ones, then even the right one is 429 with Retry-After and changes nothing', async () => {
    const { org, token, base } = await ownerSignedIn();
    for (let i = 0; i < 3; i++) {
      const wrong = await server.api('POST', `${base}/password`, token, { currentPassword: `guess ${i}`, newPassword: 'a brand new passphrase' });
      assert.deepEqual([wrong.status, wrong.body.code], [400, 'wrong_password']);
    }
    const before = await testDb()('accounts').where({ id: org.owner.accountId }).first('password_hash');
    const right = await server.api('POST', `${base}/password`, token, { currentPassword: PASSWORD, newPassword: 'a brand new passphrase' });
    assert.deepEqual([right.status, right.body.code], [429, 'too_many_attempts']);
    assert.match(right.type, /problem\+json/);
    const res = await fetch(`${server.issuer()}/api/v1${base}/password`, {
      method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ currentPassword: PASSWORD, newPassword: 'x'.repeat(20) }),
    });
    assert.equal(res.status, 429);
    assert.ok(Number(res.headers.get('retry-after')) > 0, 'Retry-After says how long');
    assert.deepEqual(await testDb()('accounts').where({ id: org.owner.accountId }).first('password_hash'), before, 'the password is unchanged');
  });

  it('authenticator-app codes (setting it up) count the same way, on the one count of the account that the password shares', async () => {
    const { token, base } = await ownerSignedIn();
    assert.equal((await server.api('POST', `${base}/totp`, token, {})).status, 200);
    for (let i = 0; i < 3; i++) assert.equal((await server.api('POST', `${base}/totp/confirm`, token, { code: `00000${i}` })).body.code, 'mfa_failed');
    const next = await server.api('POST', `${base}/totp/confirm`, token, { code: '000009' });
    assert.deepEqual([next.status, next.body.code], [429, 'too_many_attempts']);
    assert.equal((await server.api('GET', base, token)).body.hasTotp, false);
    // The password counts on the same account: it is over the limit too.
    assert.equal((await server.api('POST', `${base}/password`, token, { currentPassword: PASSWORD, newPassword: 'a brand new passphrase' })).status, 429);
  });
});
