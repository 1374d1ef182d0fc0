// A member's own account through the admin API (the console's "My account"): who they are and their
// organisations; their authenticator app (set up with a code from it, recovery codes shown once, new codes and
// removal only with a current code); their sessions (only their own can be ended); their password (only with
// the current one; every session ends). An API key is not a person: 403 user_only.
import assert from 'node:assert/strict';
import { generate } from 'otplib';
import { createOrganization } from '../../src/directory/organizations.ts';
import { unique } from '../helpers.ts';
import { testDb } from '../setup.ts';
import { adminServer } from './support.ts';

const PASSWORD = 'a passphrase chosen at first sign-in';

describe('admin API: my account (/me)', function () {
  this.timeout(60_000);
  const { api, signIn } = adminServer();

  /** The owner of a new organisation, signed in to one of its apps (choosing PASSWORD): their access token and /me path. */
  async function ownerSignedIn() {
    const name = unique('me-');
    const org = await createOrganization(testDb(), { name, ownerEmail: `owner@${name}.test` });
    const token = await signIn(org.org.id, org.owner.email, org.owner.temporaryPassword!, { newPassword: PASSWORD });
    return { org, token, base: `/orgs/${org.org.id}/me` };
  }

  it('shows who I am and my organisations; refuses an API key (403 user_only)', async () => {
    const { org, token, base } = await ownerSignedIn();
    const me = await api('GET', base, token);
    assert.equal(me.status, 200);
    assert.deepEqual([me.body.email, me.body.hasTotp, me.body.managedHere], [org.owner.email, false, true]);
    assert.deepEqual(me.body.organizations.map((o: { id: string; role: string }) => [o.id, o.role]), [[org.org.id, 'owner']]);
    for (const [method, path] of [['GET', ''], ['POST', '/password'], ['POST', '/totp'], ['GET', '/sessions']]) {
      const res = await api(method, `${base}${path}`, org.apiKey, method === 'POST' ? {} : undefined);
      assert.equal(res.status, 403, `${method} ${path}`);
      assert.equal(res.body.code, 'user_only');
    }
  });

  it('sets up an authenticator app with a code from it; recovery codes once; new codes and removal need a current code', async () => {
    const { token, base } = await ownerSignedIn();
    const started = await api('POST', `${base}/totp`, token, {});
    assert.equal(started.status, 200);
    assert.match(started.body.qrSvg, /^<svg/);
    assert.match(started.body.uri, /^otpauth:\/\/totp\//);
    assert.equal((await api('POST', `${base}/totp/confirm`, token, { code: '000000' })).body.code, 'mfa_failed');
    // Three successive time steps, all within the 30 s tolerance: each code is accepted once, and only after an earlier step.
    const at = (offset: number) => generate({ secret: started.body.secret, epoch: Math.floor(Date.now() / 1000) + offset });
    const confirmed = await api('POST', `${base}/totp/confirm`, token, { code: await at(-30) });
    assert.equal(confirmed.status, 200, JSON.stringify(confirmed.body));
    assert.equal(confirmed.body.recoveryCodes.length, 10);
    assert.equal((await api('GET', base, token)).body.hasTotp, true);
    assert.equal((await api('POST', `${base}/totp`, token, {})).body.code, 'already_enrolled', 'a second app only after removing the first');

    // The code just used cannot be used again (replay); a wrong one changes nothing.
    assert.equal((await api('POST', `${base}/recovery-codes`, token, { code: '123456' })).body.code, 'mfa_failed');
    const later = await at(0);
    const renewed = await api('POST', `${base}/recovery-codes`, token, { code: later });
    assert.equal(renewed.status, 200, JSON.stringify(renewed.body));
    assert.notDeepEqual(renewed.body.recoveryCodes, confirmed.body.recoveryCodes);
    const muchLater = await at(30);
    assert.equal((await api('POST', `${base}/totp/remove`, token, { code: later })).body.code, 'mfa_failed', 'a code is accepted once');
    assert.equal((await api('POST', `${base}/totp/remove`, token, { code: muchLater })).status, 204);
    assert.equal((await api('GET', base, token)).body.hasTotp, false);
  });

  it('lists and ends only my own sessions; changing the password needs the current one and ends my sessions', async () => {
    const { org, token, base } = await ownerSignedIn();
    const mine = await api('GET', `${base}/sessions`, token);
    assert.equal(mine.status, 200);
    assert.equal(mine.body.items.length, 1);
    // Someone else's session in the same organisation is not mine to end.
    const other = await api('POST', `/orgs/${org.org.id}/members`, org.apiKey, { email: `someone@${unique('x')}.test`, role: 'member' });
    const [theirs] = await testDb()('sessions').insert({ org_id: org.org.id, account_id: other.body.member.accountId, expires_at: new Date(Date.now() + 3600_000), oidc_session_uid: unique('uid') }).returning('id');
    assert.equal((await api('DELETE', `${base}/sessions/${theirs.id}`, token)).status, 404);
    assert.equal((await testDb()('sessions').where({ id: theirs.id }).first('revoked_at')).revoked_at, null);

    const wrong = await api('POST', `${base}/password`, token, { currentPassword: 'not it', newPassword: 'another fine passphrase' });
    assert.deepEqual([wrong.status, wrong.body.code], [400, 'wrong_password']);
    const changed = await api('POST', `${base}/password`, token, { currentPassword: PASSWORD, newPassword: 'another fine passphrase' });
    assert.equal(changed.status, 204, JSON.stringify(changed.body));
    assert.equal((await api('GET', base, token)).status, 401, 'the password change ended my sessions and their tokens');
  });
});
