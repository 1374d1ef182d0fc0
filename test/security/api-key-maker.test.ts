// An API key that a member makes answers to that member: it never does more than they can do now, and it
// stops working when they are no longer an active member. What this file proves, against a running server
// with a real member access token:
// - a key an admin makes carries their id; demoted to `member`, the admin's admin key can only read the
//   roster; deactivated (or removed), the key is a 401 that says why; reactivated, it works again;
// - a key made with such a key answers to the same person;
// - the operator's key (`cli org create`) answers to nobody: no member's change touches it;
// - the key list says who made each key (the SCIM token list too, though a SCIM token does not stop with its
//   maker); the migration finds the maker of older keys and tokens in the audit log.
import assert from 'node:assert/strict';
import { backfillKeyMakers } from '../../migrations/011-key-makers.ts';
import { unique } from '../helpers.ts';
import { testDb } from '../setup.ts';
import { adminServer } from '../admin/support.ts';

describe('security: an API key answers to the member who made it', function () {
  this.timeout(60_000);
  const server = adminServer();

  /** A team with an admin who has signed in: their access token. */
  async function teamWithAdmin() {
    const team = await server.newTeam();
    const email = `${unique('key-maker-')}@example.test`;
    const added = await team.call('POST', '/members', { email, role: 'admin' });
    assert.equal(added.status, 201, JSON.stringify(added.body));
    const token = await server.signIn(team.id, email, added.body.temporaryPassword);
    return { team, adminId: added.body.member.id as string, adminAccount: added.body.member.accountId as string, email, token };
  }
  const keyCall = (team: { id: string }, key: string, method: string, path: string, body?: unknown) => server.api(method, `/orgs/${team.id}${path}`, key, body);

  it("follows the maker: demoted, the admin key only reads; deactivated or removed, it is a 401 that says why; reactivated, it works", async () => {
    const { team, adminId, adminAccount, email, token } = await teamWithAdmin();
    const made = await server.api('POST', `/orgs/${team.id}/api-keys`, token, { name: 'deploy bot', role: 'admin' });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    const key = made.body.secret as string;
    const listed = await team.call('GET', '/api-keys');
    assert.deepEqual(listed.body.items.find((k: { id: string }) => k.id === made.body.id).madeBy, { accountId: adminAccount, email });
    assert.equal((await keyCall(team, key, 'POST', '/invitations', { emails: [`${unique('i-')}@example.test`], role: 'member' })).status, 201, 'an admin key of an admin invites');

    assert.equal((await team.call('PATCH', `/members/${adminId}`, { role: 'member' })).status, 200);
    assert.equal((await keyCall(team, key, 'GET', '/members')).status, 200, 'a member may read the roster: so may their key');
    const invite = await keyCall(team, key, 'POST', '/invitations', { emails: [`${unique('i-')}@example.test`], role: 'member' });
    assert.deepEqual([invite.status, invite.body.code], [403, 'forbidden'], 'the key can no longer do what its maker cannot');
    assert.equal((await keyCall(team, key, 'GET', '/api-keys')).status, 403);

    assert.equal((await team.call('PATCH', `/members/${adminId}`, { role: 'admin' })).status, 200);
    assert.equal((await team.call('POST', `/members/${adminId}/deactivate`, {})).status, 200);
    const gone = await keyCall(team, key, 'GET', '/members');
    assert.equal(gone.status, 401);
    assert.match(gone.body.detail, /no longer an active member/);
    assert.equal((await team.call('POST', `/members/${adminId}/reactivate`, {})).status, 200);
    assert.equal((await keyCall(team, key, 'GET', '/members')).status, 200, 'reactivated: the key works again');

    assert.equal((await team.call('DELETE', `/members/${adminId}`)).status, 204);
    assert.equal((await keyCall(team, key, 'GET', '/members')).status, 401, 'removed: the key is refused');
    const after = (await team.call('GET', '/api-keys')).body.items.find((k: { id: string }) => k.id === made.body.id);
    assert.deepEqual(after.madeBy, { accountId: adminAccount, email: null }, "who left: their id stays, their address is no longer this organisation's to see");
  });

  it("a key made with a member's key answers to the same member; the operator's key answers to nobody", async () => {
    const { team, adminId, adminAccount, token } = await teamWithAdmin();
    const first = await server.api('POST', `/orgs/${team.id}/api-keys`, token, { name: 'parent', role: 'admin' });
    const second = await keyCall(team, first.body.secret, 'POST', '/api-keys', { name: 'child', role: 'member' });
    assert.equal(second.status, 201);
    const operatorsChild = await team.call('POST', '/api-keys', { name: 'operator child', role: 'admin' });
    const listed = (await team.call('GET', '/api-keys')).body.items as { id: string; madeBy: { accountId: string } | null }[];
    assert.equal(listed.find((k) => k.id === second.body.id)?.madeBy?.accountId, adminAccount);
    assert.equal(listed.find((k) => k.id === operatorsChild.body.id)?.madeBy, null);
    assert.equal((await team.call('POST', `/members/${adminId}/deactivate`, {})).status, 200);
    assert.equal((await keyCall(team, second.body.secret, 'GET', '/members')).status, 401, "the child key stops with the person behind it");
    assert.equal((await keyCall(team, operatorsChild.body.secret, 'GET', '/api-keys')).status, 200, "the operator's keys are untouched");
    assert.equal((await team.call('GET', '/api-keys')).status, 200);
  });

  it("a SCIM token says who made it, but does not stop with them (an identity provider's provisioning must go on)", async () => {
    const { team, adminId, adminAccount, email, token } = await teamWithAdmin();
    const made = await server.api('POST', `/orgs/${team.id}/scim-tokens`, token, { name: 'okta' });
    assert.equal(made.status, 201);
    const listed = (await team.call('GET', '/scim-tokens')).body.items as { id: string; madeBy: unknown }[];
    assert.deepEqual(listed.find((t) => t.id === made.body.id)?.madeBy, { accountId: adminAccount, email });
    assert.equal((await team.call('POST', `/members/${adminId}/deactivate`, {})).status, 200);
    const users = await fetch(`${server.issuer()}/scim/v2/Users?count=1`, { headers: { authorization: `Bearer ${made.body.secret}` } });
    assert.equal(users.status, 200);
  });

  it('the migration sets the maker of keys and SCIM tokens made before it from the audit log (one made with a key: its maker)', async () => {
    const { team, adminAccount, token } = await teamWithAdmin();
    const first = await server.api('POST', `/orgs/${team.id}/api-keys`, token, { name: 'old parent', role: 'admin' });
    const second = await keyCall(team, first.body.secret, 'POST', '/api-keys', { name: 'old child', role: 'member' });
    const operators = await team.call('POST', '/api-keys', { name: 'old operator key', role: 'admin' });
    const scim = await keyCall(team, first.body.secret, 'POST', '/scim-tokens', { name: 'old okta' });
    const ids = [first.body.id, second.body.id, operators.body.id, scim.body.id];
    // As they were before migration 011.
    await testDb()('credentials').whereIn('id', ids).update({ made_by_account_id: null });
    assert.ok(await backfillKeyMakers(testDb()) >= 2);
    const rows = await testDb()('credentials').whereIn('id', ids).select('id', 'made_by_account_id');
    const makerOf = (id: string) => rows.find((r: { id: string }) => r.id === id)?.made_by_account_id;
    assert.deepEqual(ids.map(makerOf), [adminAccount, adminAccount, null, adminAccount]);
  });
});
