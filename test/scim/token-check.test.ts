import assert from 'node:assert/strict';
import { assertScimError, createUser, newOrg } from '../helpers.ts';
import { testDb } from '../setup.ts';

// Revoking a token takes effect on the very next request, whatever the request is and whatever a list finds.
describe('SCIM token check on user lists', () => {
  it('refuses a revoked token at once on lists that find users, find nobody, or fail', async () => {
    const org = await newOrg();
    const u = await createUser(org.scim);
    const byName = `/Users?filter=${encodeURIComponent(`userName eq "${u.userName}"`)}`;
    assert.equal((await org.scim.get(byName)).body.totalResults, 1); // the token is now known to this process
    await testDb()('credentials').where({ org_id: org.org.id, kind: 'scim_token' }).update({ revoked_at: testDb().fn.now() });
    assertScimError(await org.scim.get(byName), 401);
    assertScimError(await org.scim.get(`/Users?filter=${encodeURIComponent('userName eq "nobody@nowhere.test"')}`), 401);
    assertScimError(await org.scim.get('/Users?filter=not%20a%20filter'), 401);
    assertScimError(await org.scim.get('/Users?startIndex=100000'), 401);
    assertScimError(await org.scim.get('/Users'), 401);
  });

  it('keeps answering a known, active token with data, and bad requests with their own errors', async () => {
    const org = await newOrg();
    const u = await createUser(org.scim);
    const byName = `/Users?filter=${encodeURIComponent(`userName eq "${u.userName}"`)}`;
    for (let i = 0; i < 3; i++) assert.deepEqual((await org.scim.get(byName)).body.Resources.map((r: { id: string }) => r.id), [u.id]);
    assert.equal((await org.scim.get(`/Users?filter=${encodeURIComponent('userName eq "nobody@nowhere.test"')}`)).body.totalResults, 0);
    assertScimError(await org.scim.get('/Users?filter=not%20a%20filter'), 400, 'invalidFilter');
  });

  it('never serves one organisation\'s users to another organisation\'s known token', async () => {
    const a = await newOrg();
    const b = await newOrg();
    const ua = await createUser(a.scim);
    await b.scim.get('/Users');
    const res = await b.scim.get(`/Users?filter=${encodeURIComponent(`userName eq "${ua.userName}"`)}`);
    assert.equal(res.status, 200);
    assert.equal(res.body.totalResults, 0);
  });
});
