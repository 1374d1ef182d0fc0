// An invitation answers to the person who sent it, as their API keys do: it can be accepted only while they
// are an active member who may still add members with its role and groups. Otherwise an admin about to be
// removed could invite a second address of their own and come back through it after leaving. What this file
// proves: the sender deactivated, demoted below the invited role, or removed (also when a key they made sent
// it): the invitation page says the invitation no longer works (410) and accepting changes nothing; the
// sender reactivated: it works again; the operator's invitations answer to nobody.
import assert from 'node:assert/strict';
import { Browser, headingOf } from '../../conformance/oidc/browser.ts';
import { unique } from '../helpers.ts';
import { testDb } from '../setup.ts';
import { adminServer, invitationTokenSentTo } from '../admin/support.ts';

describe('security: an invitation answers to the member who sent it', function () {
  this.timeout(60_000);
  const server = adminServer();

  const address = () => `${unique('inv-sender-')}@example.test`;

  async function teamWithAdmin() {
    const team = await server.newTeam();
    const email = address();
    const added = await team.call('POST', '/members', { email, role: 'admin' });
    assert.equal(added.status, 201, JSON.stringify(added.body));
    const token = await server.signIn(team.id, email, added.body.temporaryPassword);
    return { team, adminId: added.body.member.id as string, token };
  }

  /** Opens the link and tries to join as a new person: the two answers. */
  async function tryToJoin(link: string) {
    const browser = new Browser();
    const page = await browser.go(server.invitationUrl(link));
    if (page.status !== 200) return { page: page.status, heading: headingOf(page.html), html: page.html };
    const joined = await browser.submit(page, '/account/invitation', { name: 'Someone', password: `a fine passphrase ${unique()}` });
    return { page: page.status, joined: joined.status, heading: headingOf(joined.html), html: joined.html };
  }
  const memberships = async (orgId: string, email: string) =>
    Number((await testDb()('memberships as m').join('accounts as a', 'a.id', 'm.account_id').where('m.org_id', orgId).whereRaw('lower(a.email) = lower(?)', [email]).count({ n: '*' }))[0].n);

  it('the sender deactivated: the page says it no longer works and nothing joins; reactivated, it works again', async () => {
    const { team, adminId, token } = await teamWithAdmin();
    const invitee = address();
    assert.equal((await server.api('POST', `/orgs/${team.id}/invitations`, token, { emails: [invitee], role: 'admin' })).status, 201);
    const link = await invitationTokenSentTo(invitee);
    // The page opened while the sender was active, posted after: refused too.
    const browser = new Browser();
    const opened = await browser.go(server.invitationUrl(link));
    assert.equal(opened.status, 200);
    assert.equal((await team.call('POST', `/members/${adminId}/deactivate`, {})).status, 200);
    const late = await browser.submit(opened, '/account/invitation', { name: 'Someone', password: `a fine passphrase ${unique()}` });
    assert.equal(late.status, 410, late.html.slice(0, 300));
    assert.match(late.html, /Whoever sent it can no longer give this access/);
    const fresh = await tryToJoin(link);
    assert.equal(fresh.page, 410);
    assert.equal(await memberships(team.id, invitee), 0, 'nobody joined');
    assert.equal((await testDb()('accounts').whereRaw('lower(email) = lower(?)', [invitee]).first()), undefined, 'no account made');

    assert.equal((await team.call('POST', `/members/${adminId}/reactivate`, {})).status, 200);
    const again = await tryToJoin(link);
    assert.deepEqual([again.page, again.joined], [200, 200], again.html.slice(0, 300));
    assert.equal(await memberships(team.id, invitee), 1);
  });

  it('the sender demoted below what the invitation gives, or removed (also when a key they made sent it): refused', async () => {
    const { team, adminId, token } = await teamWithAdmin();
    const key = await server.api('POST', `/orgs/${team.id}/api-keys`, token, { name: 'mine', role: 'admin' });
    assert.equal(key.status, 201);
    const [byToken, byKey] = [address(), address()];
    assert.equal((await server.api('POST', `/orgs/${team.id}/invitations`, token, { emails: [byToken], role: 'member' })).status, 201);
    assert.equal((await server.api('POST', `/orgs/${team.id}/invitations`, key.body.secret, { emails: [byKey], role: 'admin' })).status, 201);
    const [linkToken, linkKey] = [await invitationTokenSentTo(byToken), await invitationTokenSentTo(byKey)];

    assert.equal((await team.call('PATCH', `/members/${adminId}`, { role: 'member' })).status, 200);
    for (const link of [linkToken, linkKey]) assert.equal((await tryToJoin(link)).page, 410, 'a member may not add members');
    assert.equal((await team.call('PATCH', `/members/${adminId}`, { role: 'admin' })).status, 200);
    assert.equal((await team.call('DELETE', `/members/${adminId}`)).status, 204);
    for (const link of [linkToken, linkKey]) assert.equal((await tryToJoin(link)).page, 410, 'removed');
    assert.equal(await memberships(team.id, byToken) + await memberships(team.id, byKey), 0);
  });

  it("the operator's invitations answer to nobody", async () => {
    const team = await server.newTeam();
    const invitee = address();
    assert.equal((await team.call('POST', '/invitations', { emails: [invitee], role: 'admin' })).status, 201);
    const joined = await tryToJoin(await invitationTokenSentTo(invitee));
    assert.deepEqual([joined.page, joined.joined], [200, 200]);
  });
});
