// Security review of the admin API (/api/v1) and the invitation page, as another tenant and as a
// lower-privileged member would attack them: real HTTP requests against an in-process server with Roster's
// own OIDC provider (members call the API with the access tokens they get by signing in), on the test
// database. Every test asserts the SAFE behaviour: a test that fails is an attack that worked.
//
// What it covers:
// - privilege escalation: roles granted through group membership (joining a group that grants a role, or
//   putting a new member into one), acting on the credentials of members who can do more than the caller
//   (reset-password, login e-mail, deactivation), SCIM tokens minted by an admin and used on the owner, and
//   the checks that held (owner keys, custom roles, group roles, PATCH role, transfer, org.own);
// - tenant isolation: every route of organisation A with B's key, and A's ids inside B's own requests;
// - one organisation affecting a person's other organisations, and what it learns about them;
// - invitation tokens: entropy, storage, single use (accept, decline, cancel, resend), the dead-link page;
// - hostile input: never a 500, always a problem+json 4xx, nothing written;
// - audit: one event per write; the table refuses UPDATE, DELETE and TRUNCATE.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Browser, headingOf, type PageResult } from '../../conformance/oidc/browser.ts';
import { routes } from '../../src/admin/routes.ts';
import { createUser, scimClient, unique } from '../helpers.ts';
import { testDb } from '../setup.ts';
import { adminServer, type ApiResponse as Res, type Team } from '../admin/support.ts';
import { insertSession } from './support.ts';

type Person = { email: string; memberId: string; accountId: string; temporaryPassword: string; token: string };

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const address = (label = 'p-') => `${unique(label)}@example.test`;
const b64 = (s: string) => Buffer.from(s).toString('base64url');

describe('security review: the admin API', function () {
  this.timeout(300_000);
  const server = adminServer();

  // -------------------------------------------------------------------------------------------------------
  // Helpers

  const { newTeam } = server;
  /** Any path under /api/v1 (for another organisation's paths). */
  const rawCall = server.api;

  const show = (res: Res) => `${res.status} ${JSON.stringify(res.body).slice(0, 400)}`;
  const ok = (res: Res, status: number, what = '') => assert.equal(res.status, status, `${what}: ${show(res)}`);

  /** A refusal: a 4xx problem+json (with `status` when given). */
  function refusedWith(res: Res, status: number | null, what: string): void {
    if (status === null) assert.ok(res.status >= 400 && res.status < 500, `${what}: expected a 4xx refusal, got ${show(res)}`);
    else assert.equal(res.status, status, `${what}: expected ${status}, got ${show(res)}`);
    assert.match(res.type, /application\/problem\+json/, `${what}: content-type ${res.type}`);
    assert.equal(typeof res.body?.code, 'string', `${what}: a problem with a code`);
  }

  const auditCount = async (orgId: string) => Number((await testDb()('audit_events').where({ org_id: orgId }).count({ n: '*' }))[0].n);
  const auditMark = async (orgId: string) => Number((await testDb()('audit_events').where({ org_id: orgId }).max({ m: 'id' }).first())?.m ?? 0);
  const auditSince = (orgId: string, mark: number) => testDb()('audit_events').where({ org_id: orgId }).where('id', '>', mark).orderBy('id').select('action');

  async function customRole(team: Team, permissions: string[]): Promise<string> {
    const res = await team.call('POST', '/roles', { name: unique('role-'), permissions });
    ok(res, 201, 'custom role');
    return res.body.id;
  }

  async function group(team: Team, role: string | null = null, memberIds: string[] = []): Promise<string> {
    const res = await team.call('POST', '/groups', { name: unique('group-'), memberIds });
    ok(res, 201, 'group');
    if (role !== null) ok(await team.call('PUT', `/groups/${res.body.id}/role`, { role }), 200, `group role ${role}`);
    return res.body.id;
  }

  /** A member added by the owner's key (an account this organisation manages). */
  async function addMember(team: Team, role = 'member', email = address()) {
    const res = await team.call('POST', '/members', { email, role });
    ok(res, 201, `add ${role}`);
    return { email, memberId: res.body.member.id as string, accountId: res.body.member.accountId as string, temporaryPassword: res.body.temporaryPassword as string };
  }

  /** Signs in to one of the organisation's applications through the OIDC pages (changing the password if asked); the access token. */
  const signIn = (orgId: string, email: string, password: string): Promise<string> =>
    server.signIn(orgId, email, password, { passwordChange: 'if-asked' });

  async function signedIn(team: Team, role = 'member'): Promise<Person> {
    const m = await addMember(team, role);
    return { ...m, token: await signIn(team.id, m.email, m.temporaryPassword) };
  }

  const permissionsOf = async (team: Team, token: string): Promise<string[]> => {
    const res = await team.call('GET', '', undefined, token);
    ok(res, 200, 'GET org');
    return res.body.permissions;
  };

  // -------------------------------------------------------------------------------------------------------
  // Privilege escalation

  describe('privilege escalation', () => {
    it('an admin cannot give themselves billing.manage by joining a group the owner mapped to the billing role', async () => {
      const team = await newTeam();
      const admin = await signedIn(team, 'admin');
      const finance = await group(team, 'billing');
      const before = await auditCount(team.id);
      const failures: string[] = [];

      const res = await team.call('POST', `/groups/${finance}/members`, { memberIds: [admin.memberId] }, admin.token);
      if (res.status !== 403) failures.push(`POST groups/{billing group}/members [self] by an admin: ${show(res)}`);
      if ((await testDb()('group_members').where({ org_id: team.id, group_id: finance }).select('membership_id')).length) failures.push('the admin is in the billing group');
      const perms = await permissionsOf(team, admin.token);
      if (perms.includes('billing.manage')) failures.push(`the admin now holds ${JSON.stringify(perms)}`);
      const licence = await team.call('PATCH', '', { licenceLimit: 1 }, admin.token);
      if (licence.status !== 403) failures.push(`PATCH org {licenceLimit: 1} by the admin: ${licence.status}`);
      const limit = (await testDb()('organizations').where({ id: team.id }).first('license_limit')).license_limit;
      if (limit !== null) failures.push(`the licence limit is now ${limit}`);
      if ((await auditCount(team.id)) !== before) failures.push('audited changes');
      assert.deepEqual(failures, []);
    });

    it('a custom role with roles.manage (and not members.manage) cannot become an admin by joining a group that grants admin', async () => {
      const team = await newTeam();
      const groupManager = await customRole(team, ['roster.view', 'roles.manage']);
      const gm = await signedIn(team, groupManager);
      const admins = await group(team, 'admin');
      const failures: string[] = [];

      const res = await team.call('POST', `/groups/${admins}/members`, { memberIds: [gm.memberId] }, gm.token);
      if (res.status !== 403) failures.push(`POST groups/{admin group}/members [self] by roles.manage only: ${show(res)}`);
      const perms = await permissionsOf(team, gm.token);
      if (perms.includes('members.manage') || perms.includes('org.manage')) failures.push(`the caller now holds ${JSON.stringify(perms)}`);
      const key = await team.call('POST', '/api-keys', { name: 'mine', role: 'admin' }, gm.token);
      if (key.status === 201) failures.push('the caller minted an admin API key');
      assert.deepEqual(failures, []);
    });

    it('a custom role with members.manage (no roles.manage) cannot create a member, or invite one, into a group that grants admin', async () => {
      const team = await newTeam();
      const helpdesk = await customRole(team, ['roster.view', 'members.manage']);
      const hd = await signedIn(team, helpdesk);
      const admins = await group(team, 'admin');
      const failures: string[] = [];

      const email = address('sock-');
      const created = await team.call('POST', '/members', { email, role: 'member', groupIds: [admins] }, hd.token);
      if (created.status !== 403) failures.push(`POST members {role: member, groupIds: [admin group]} by members.manage only: ${show(created)}`);
      if (created.status === 201 && typeof created.body.temporaryPassword === 'string') {
        const token = await signIn(team.id, email, created.body.temporaryPassword).catch(() => null);
        if (token) failures.push(`the helpdesk signed in as the new member, who holds ${JSON.stringify(await permissionsOf(team, token))}`);
      }
      const invited = await team.call('POST', '/invitations', { emails: [address('sock-')], role: 'member', groupIds: [admins] }, hd.token);
      if (invited.status !== 403) failures.push(`POST invitations {role: member, groupIds: [admin group]} by members.manage only: ${show(invited)}`);
      assert.deepEqual(failures, []);
    });

    it("a member manager cannot take over the account of someone who can do more (reset-password, login e-mail): not a helpdesk role on an admin, not an admin on billing", async () => {
      const team = await newTeam();
      const helpdesk = await customRole(team, ['roster.view', 'members.manage']);
      const hd = await signedIn(team, helpdesk);
      const admin = await signedIn(team, 'admin');
      const billing = await addMember(team, 'billing');
      const adminAccount = await testDb()('accounts').where({ id: admin.accountId }).first();
      const billingAccount = await testDb()('accounts').where({ id: billing.accountId }).first();

      const failures: string[] = [];
      const attempt = async (what: string, res: Res) => { if (res.status !== 403) failures.push(`${what}: ${show(res)}`); return res; };
      // The admin first (the helpdesk's reset below would end the admin's sessions).
      const billingReset = await attempt('admin POST members/{billing}/reset-password', await team.call('POST', `/members/${billing.memberId}/reset-password`, {}, admin.token));
      await attempt('admin PATCH members/{billing} {email: attacker}', await team.call('PATCH', `/members/${billing.memberId}`, { email: address('attacker-') }, admin.token));
      const adminReset = await attempt('helpdesk POST members/{admin}/reset-password', await team.call('POST', `/members/${admin.memberId}/reset-password`, {}, hd.token));
      await attempt('helpdesk PATCH members/{admin} {email: attacker}', await team.call('PATCH', `/members/${admin.memberId}`, { email: address('attacker-') }, hd.token));

      // Where a temporary password came back, the caller signs in with it: what does that account let them do?
      for (const [who, res, person, caller] of [['the admin', adminReset, admin, 'helpdesk'], ['the billing member', billingReset, billing, 'admin']] as const) {
        if (res.status !== 200 || typeof res.body?.temporaryPassword !== 'string') continue;
        const account = await testDb()('accounts').where({ id: person.accountId }).first('email');
        const token = await signIn(team.id, account.email, res.body.temporaryPassword).catch(() => null);
        if (token) failures.push(`the ${caller} signed in as ${who} with the temporary password and holds ${JSON.stringify(await permissionsOf(team, token))}`);
      }
      const adminAfter = await testDb()('accounts').where({ id: admin.accountId }).first();
      const billingAfter = await testDb()('accounts').where({ id: billing.accountId }).first();
      if (adminAfter.password_hash !== adminAccount.password_hash) failures.push("the admin's password was replaced by the helpdesk");
      if (adminAfter.email !== adminAccount.email) failures.push(`the admin's login e-mail was moved to ${adminAfter.email}`);
      if (billingAfter.password_hash !== billingAccount.password_hash) failures.push("the billing member's password was replaced by an admin");
      if (billingAfter.email !== billingAccount.email) failures.push(`the billing member's login e-mail was moved to ${billingAfter.email}`);
      assert.deepEqual(failures, []);
    });

    it('a member manager cannot deactivate, remove or reset the MFA of someone who can do more than they can', async () => {
      const team = await newTeam();
      const helpdesk = await customRole(team, ['roster.view', 'members.manage']);
      const hd = await signedIn(team, helpdesk);
      const admin = await addMember(team, 'admin');
      await testDb()('mfa_factors').insert({ account_id: admin.accountId, kind: 'totp', secret_sealed: 'sealed', confirmed_at: new Date() });
      const failures: string[] = [];
      for (const [what, res] of [
        ['reset the MFA of', await team.call('POST', `/members/${admin.memberId}/reset-mfa`, {}, hd.token)],
        ['deactivate', await team.call('POST', `/members/${admin.memberId}/deactivate`, {}, hd.token)],
        ['remove', await team.call('DELETE', `/members/${admin.memberId}`, undefined, hd.token)],
      ] as const) if (res.status !== 403) failures.push(`helpdesk ${what} an admin: ${show(res)}`);
      const row = await testDb()('memberships').where({ org_id: team.id, id: admin.memberId }).first('status');
      if (!row) failures.push('the admin was removed by the helpdesk');
      else if (row.status !== 'active') failures.push('the admin was deactivated by the helpdesk');
      assert.deepEqual(failures, []);
    });

    it("an admin cannot reach the owner's account through a SCIM token they minted (password, login e-mail)", async () => {
      const team = await newTeam();
      const adminKey = await team.call('POST', '/api-keys', { name: 'admin key', role: 'admin' });
      ok(adminKey, 201, 'an admin key');
      const scim = await team.call('POST', '/scim-tokens', { name: 'minted by an admin' }, adminKey.body.secret);
      ok(scim, 201, 'an admin may issue SCIM tokens (org.manage)');
      const owner = await testDb()('accounts').where({ id: team.owner.accountId }).first();

      const asScim = scimClient(scim.body.secret);
      const chosen = 'the admin now knows this one';
      const pw = await asScim.patch(`/Users/${team.owner.id}`, [{ op: 'replace', path: 'password', value: chosen }]);
      const ownerToken = pw.status === 200 ? await signIn(team.id, owner.email, chosen).catch(() => null) : null;
      const mail = await asScim.patch(`/Users/${team.owner.id}`, [{ op: 'replace', path: 'emails', value: [{ value: address('attacker-'), type: 'work', primary: true }] }]);
      const after = await testDb()('accounts').where({ id: team.owner.accountId }).first();
      const failures: string[] = [];
      if (after.password_hash !== owner.password_hash) failures.push(`SCIM PATCH password of the owner answered ${pw.status}: the owner's password was replaced`);
      if (after.email !== owner.email) failures.push(`SCIM PATCH emails of the owner answered ${mail.status}: the owner's login e-mail moved to ${after.email}`);
      if (ownerToken) failures.push(`the admin signed in as the owner with the password set over SCIM: ${JSON.stringify(await permissionsOf(team, ownerToken))}`);
      assert.deepEqual(failures, []);
    });

    it('what held: owner keys, owner/billing roles, org.own, transfer and group roles stay out of an admin\'s reach; a custom role never carries org.own', async () => {
      const team = await newTeam();
      const admin = await signedIn(team, 'admin');
      const admin2 = await addMember(team, 'admin');
      const plain = await addMember(team, 'member');
      const finance = await customRole(team, ['billing.manage']); // the owner's
      const g = await group(team);
      const before = await auditCount(team.id);
      const orgA = await newTeam();
      const foreignRole = await customRole(orgA, ['roster.view']);

      const cases: [string, Res, number][] = [
        ['owner API key', await team.call('POST', '/api-keys', { name: 'k', role: 'owner' }, admin.token), 403],
        ['billing API key', await team.call('POST', '/api-keys', { name: 'k', role: 'billing' }, admin.token), 403],
        ['custom role with billing.manage', await team.call('POST', '/roles', { name: unique('r'), permissions: ['billing.manage'] }, admin.token), 403],
        ['custom role with org.own', await team.call('POST', '/roles', { name: unique('r'), permissions: ['org.own'] }, admin.token), 400],
        ['custom role named Owner', await team.call('POST', '/roles', { name: ' owner ', permissions: [] }, admin.token), 409],
        ["PATCH the owner's custom billing role", await team.call('PATCH', `/roles/${finance}`, { permissions: ['roster.view'] }, admin.token), 403],
        ["DELETE the owner's custom billing role", await team.call('DELETE', `/roles/${finance}`, undefined, admin.token), 403],
        ['PATCH built-in role', await team.call('PATCH', '/roles/admin', { permissions: ['billing.manage'] }, admin.token), 403],
        ['group role owner', await team.call('PUT', `/groups/${g}/role`, { role: 'owner' }, admin.token), 400],
        ['group role billing', await team.call('PUT', `/groups/${g}/role`, { role: 'billing' }, admin.token), 403],
        ['group role custom billing', await team.call('PUT', `/groups/${g}/role`, { role: finance }, admin.token), 403],
        ["group role: another org's custom role", await team.call('PUT', `/groups/${g}/role`, { role: foreignRole }, admin.token), 400],
        ['PATCH member role owner', await team.call('PATCH', `/members/${plain.memberId}`, { role: 'owner' }, admin.token), 400],
        ['PATCH self role billing', await team.call('PATCH', `/members/${admin.memberId}`, { role: 'billing' }, admin.token), 403],
        ['PATCH member role custom billing', await team.call('PATCH', `/members/${plain.memberId}`, { role: finance }, admin.token), 403],
        ["PATCH the owner's role", await team.call('PATCH', `/members/${team.owner.id}`, { role: 'member' }, admin.token), 403],
        ['transfer ownership to another admin', await team.call('POST', '/transfer-ownership', { memberId: admin2.memberId }, admin.token), 403],
        ['transfer ownership to self', await team.call('POST', '/transfer-ownership', { memberId: admin.memberId }, admin.token), 403],
        ['invite as owner', await team.call('POST', '/invitations', { emails: [address()], role: 'owner' }, admin.token), 400],
        ['invite as billing', await team.call('POST', '/invitations', { emails: [address()], role: 'billing' }, admin.token), 403],
        ['add member as billing', await team.call('POST', '/members', { email: address(), role: 'billing' }, admin.token), 403],
        ['add member as owner', await team.call('POST', '/members', { email: address(), role: 'owner' }, admin.token), 400],
        ["reset the owner's password", await team.call('POST', `/members/${team.owner.id}/reset-password`, {}, admin.token), 403],
        ["change the owner's e-mail", await team.call('PATCH', `/members/${team.owner.id}`, { email: address('attacker-') }, admin.token), 403],
        ['deactivate the owner', await team.call('POST', `/members/${team.owner.id}/deactivate`, {}, admin.token), 403],
        ['remove the owner', await team.call('DELETE', `/members/${team.owner.id}`, undefined, admin.token), 403],
        ['licence limit', await team.call('PATCH', '', { licenceLimit: 1 }, admin.token), 403],
      ];
      const wrong = cases.filter(([, res, status]) => res.status !== status || !/problem\+json/.test(res.type)).map(([what, res, status]) => `${what}: expected ${status}, got ${show(res)}`);
      assert.deepEqual(wrong, []);
      // Even the owner cannot make a custom role carry org.own.
      refusedWith(await team.call('POST', '/roles', { name: unique('r'), permissions: ['roster.view', 'org.own'] }), 400, 'owner: custom role with org.own');
      refusedWith(await team.call('PATCH', `/roles/${finance}`, { permissions: ['org.own'] }), 400, 'owner: PATCH a custom role to org.own');
      assert.equal(await auditCount(team.id), before, 'no refused request was audited');
      assert.deepEqual((await testDb()('roles').where({ org_id: team.id }).select('permissions')).filter((r) => r.permissions.includes('org.own')), []);
      assert.deepEqual(await testDb()('memberships').where({ org_id: team.id, role: 'owner' }).pluck('id'), [team.owner.id], 'one owner, the same');
      assert.ok(!(await permissionsOf(team, admin.token)).some((p) => p === 'org.own' || p === 'billing.manage'));
    });
  });

  // -------------------------------------------------------------------------------------------------------
  // Tenant isolation

  describe('tenant isolation', () => {
    it("B's key gets 404 on every route under A's organisation, and A's ids inside B's own requests are refused; A is unchanged", async () => {
      const a = await newTeam();
      const b = await newTeam();
      const aRole = await customRole(a, ['roster.view']);
      const aMember = await addMember(a, 'member');
      const aGroup = await group(a, null, [aMember.memberId]);
      const inv = await a.call('POST', '/invitations', { emails: [address()], role: 'member' });
      ok(inv, 201, 'A invites');
      const aInvitation = inv.body.items[0].id;
      const aSession = await insertSession(a.id, aMember.accountId);
      const aKey = (await a.call('POST', '/api-keys', { name: 'a key', role: 'member' })).body.id;
      const bGroup = await group(b);

      const db = testDb();
      const snapshotA = async () => ({
        org: await db('organizations').where({ id: a.id }).first(),
        members: await db('memberships').where({ org_id: a.id }).orderBy('id'),
        accounts: await db('accounts').whereIn('id', [aMember.accountId, a.owner.accountId]).orderBy('id'),
        groups: await db('groups').where({ org_id: a.id }).orderBy('id'),
        groupMembers: await db('group_members').where({ org_id: a.id }).orderBy(['group_id', 'membership_id']),
        roles: await db('roles').where({ org_id: a.id }).orderBy('id'),
        invitations: await db('invitations').where({ org_id: a.id }).orderBy('id'),
        sessions: await db('sessions').where({ org_id: a.id }).orderBy('id'),
        credentials: await db('credentials').where({ org_id: a.id }).orderBy('id').select('id', 'revoked_at'),
        audit: await auditCount(a.id),
      });
      const before = await snapshotA();
      const bAuditBefore = await auditCount(b.id);

      // Every route of the API, on A's organisation, with A's ids, by B's owner key: 404, whatever the method.
      const ids: Record<string, string> = {
        orgId: a.id, memberId: aMember.memberId, groupId: aGroup, roleId: aRole, invitationId: aInvitation, sessionId: aSession, id: aKey, clientId: 'x',
      };
      const bodies: Record<string, unknown> = { post: {}, patch: { name: 'pwned' }, put: { role: 'member' } };
      const leaks: string[] = [];
      for (const route of routes) {
        const path = route.path.replace(/\{(\w+)\}/g, (_m, k: string) => ids[k] ?? 'x');
        const res = await rawCall(route.method.toUpperCase(), path, b.apiKey, bodies[route.method]);
        if (res.status !== 404 || res.body?.code !== 'not_found') leaks.push(`${route.method.toUpperCase()} ${route.path}: ${show(res)}`);
      }
      assert.deepEqual(leaks, []);

      // A's ids inside B's requests.
      const cross: [string, Res][] = [
        ["B: member with A's custom role", await b.call('POST', '/members', { email: address(), role: aRole })],
        ["B: member into A's group", await b.call('POST', '/members', { email: address(), role: 'member', groupIds: [aGroup] })],
        ["B: invitation with A's custom role", await b.call('POST', '/invitations', { emails: [address()], role: aRole })],
        ["B: invitation into A's group", await b.call('POST', '/invitations', { emails: [address()], role: 'member', groupIds: [aGroup] })],
        ["B: new group with A's member", await b.call('POST', '/groups', { name: unique('g'), memberIds: [aMember.memberId] })],
        ["B: A's member into B's group", await b.call('POST', `/groups/${bGroup}/members`, { memberIds: [aMember.memberId] })],
        ["B: B's group grants A's role", await b.call('PUT', `/groups/${bGroup}/role`, { role: aRole })],
        ["B: B's member gets A's role", await b.call('PATCH', `/members/${b.owner.id}`, { role: aRole })],
        ["B: transfer to A's member", await b.call('POST', '/transfer-ownership', { memberId: aMember.memberId })],
        ["B: sessions of A's member", await b.call('GET', `/sessions?memberId=${aMember.memberId}`)],
        ["B: auth events of A's member", await b.call('GET', `/auth-events?memberId=${aMember.memberId}`)],
        ["B: revoke A's session", await b.call('DELETE', `/sessions/${aSession}`)],
        ["B: take A's member out of B's group", await b.call('DELETE', `/groups/${bGroup}/members/${aMember.memberId}`)],
      ];
      const wrong = cross.filter(([what, res]) => !(res.status >= 400 && res.status < 500 && /problem\+json/.test(res.type)) && !what.includes('take A')).map(([what, res]) => `${what}: ${show(res)}`);
      assert.deepEqual(wrong, []);

      // Reads by A's account id or A's ids as filters show B nothing of A.
      const sessions = await b.call('GET', `/sessions?all=true&accountId=${aMember.accountId}`);
      ok(sessions, 200, 'sessions by account id');
      assert.deepEqual(sessions.body.items, []);
      const authEvents = await b.call('GET', `/auth-events?accountId=${aMember.accountId}`);
      ok(authEvents, 200, 'auth events by account id');
      assert.deepEqual(authEvents.body.items, []);
      const audit = await b.call('GET', `/audit-events?target=${aMember.memberId}`);
      ok(audit, 200);
      assert.deepEqual(audit.body.items, []);
      const roster = await b.call('GET', `/members?search=${encodeURIComponent(aMember.email)}`);
      ok(roster, 200);
      assert.equal(roster.body.total, 0);
      const groups = await b.call('GET', '/groups');
      assert.ok(!groups.body.items.some((x: any) => x.id === aGroup));
      const roles = await b.call('GET', '/roles');
      assert.ok(!roles.body.items.some((x: any) => x.id === aRole));

      assert.deepEqual(await snapshotA(), before, "A's rows are exactly as they were");
      // B's "take out" of A's member changed nothing anywhere, and B's group never holds A's member.
      assert.deepEqual(await db('group_members').where({ org_id: b.id }).select('membership_id'), []);
      assert.ok((await auditCount(b.id)) - bAuditBefore <= 1, "at most B's own no-op group.updated");
    });

    it("a person in two organisations: a token from A's application never acts on B, even where the person is B's admin", async () => {
      const a = await newTeam();
      const b = await newTeam();
      const email = address('both-');
      const inA = await addMember(a, 'member', email);
      const inB = await b.call('POST', '/members', { email, role: 'admin' });
      ok(inB, 201, 'B links the existing account as an admin');
      const aToken = await signIn(a.id, email, inA.temporaryPassword);
      ok(await a.call('GET', '/members', undefined, aToken), 200, "A's token on A");
      refusedWith(await a.call('POST', '/invitations', { emails: [address()], role: 'member' }, aToken), 403, "A's member cannot invite in A");
      for (const [method, path, body] of [
        ['GET', `/orgs/${b.id}/members`, undefined], ['POST', `/orgs/${b.id}/invitations`, { emails: [address()], role: 'member' }],
        ['PATCH', `/orgs/${b.id}`, { name: 'pwned' }], ['POST', `/orgs/${b.id}/api-keys`, { name: 'k', role: 'admin' }],
      ] as const) {
        const res = await rawCall(method, path, aToken, body);
        assert.equal(res.status, 404, `${method} ${path} with A's token: ${show(res)}`);
      }
      assert.equal((await testDb()('organizations').where({ id: b.id }).first('name')).name, b.org.name);
    });
  });

  // -------------------------------------------------------------------------------------------------------
  // A person's other organisations

  describe("a person's other organisations", () => {
    it('B, which does not manage the account, cannot reset its password or MFA or change its profile; deactivating or removing in B leaves A as it was', async () => {
      const a = await newTeam();
      const b = await newTeam();
      const person = await addMember(a, 'member'); // managed by A
      await testDb()('mfa_factors').insert({ account_id: person.accountId, kind: 'totp', secret_sealed: 'sealed-by-a', confirmed_at: new Date() });
      const linked = await b.call('POST', '/members', { email: person.email, role: 'member' });
      ok(linked, 201, 'B links the existing account');
      const bMember = linked.body.member.id as string;
      assert.equal(linked.body.temporaryPassword, null, 'no password for an existing account');
      const aSession = await insertSession(a.id, person.accountId);
      const account = await testDb()('accounts').where({ id: person.accountId }).first();
      const factors = await testDb()('mfa_factors').where({ account_id: person.accountId }).orderBy('id');

      refusedWith(await b.call('POST', `/members/${bMember}/reset-password`, {}), 403, 'B resets the password');
      refusedWith(await b.call('POST', `/members/${bMember}/reset-mfa`, {}), 403, 'B resets the MFA');
      refusedWith(await b.call('PATCH', `/members/${bMember}`, { email: address('attacker-') }), 403, 'B changes the login e-mail');
      refusedWith(await b.call('PATCH', `/members/${bMember}`, { name: 'Renamed by B', phone: '+1 555 0199' }), 403, 'B changes the profile');
      ok(await b.call('POST', `/members/${bMember}/deactivate`, {}), 200, 'B deactivates its membership');
      assert.equal((await testDb()('sessions').where({ org_id: a.id, id: aSession }).first()).revoked_at, null, "A's session lives");
      assert.equal((await testDb()('accounts').where({ id: person.accountId }).first()).status, 'active', 'the account stays active (A)');
      assert.equal((await testDb()('memberships').where({ org_id: a.id, id: person.memberId }).first()).status, 'active');
      ok(await b.call('DELETE', `/members/${bMember}`), 204, 'B removes its membership');
      const after = await testDb()('accounts').where({ id: person.accountId }).first();
      assert.ok(after, 'the account still exists');
      for (const k of ['email', 'password_hash', 'managed_by_org_id', 'password_set_by_org_id', 'display_name', 'phone', 'status']) assert.deepEqual(after[k], account[k], k);
      assert.deepEqual(await testDb()('mfa_factors').where({ account_id: person.accountId }).orderBy('id'), factors);
    });

    it("B, adding an existing address directly, does not read what A (the managing organisation) set: the account's phone, A's SSO identities", async () => {
      const a = await newTeam();
      const b = await newTeam();
      const email = address('shared-');
      const scimUser = await createUser(a.scim, email, { phoneNumbers: [{ value: '+1 555 0100 (A only)', type: 'work', primary: true }] });
      const row = await testDb()('memberships').where({ org_id: a.id, id: scimUser.id }).first('account_id');
      await testDb()('identities').insert({ account_id: row.account_id, provider: 'https://idp.a-corp.example/oauth2', subject: unique('sub'), org_id: a.id });

      const added = await b.call('POST', '/members', { email, role: 'member' });
      ok(added, 201, 'B adds the address directly');
      const seen = await b.call('GET', `/members/${added.body.member.id}`);
      const leaked: string[] = [];
      for (const view of [added.body.member, seen.body]) {
        if (view.phone === '+1 555 0100 (A only)') leaked.push("A's phone number");
        if (JSON.stringify(view.identities).includes('a-corp')) leaked.push(`A's identity provider ${JSON.stringify(view.identities)}`);
      }
      assert.deepEqual(leaked, []);
    });
    // Adding an address that already has an account elsewhere does tell the adding organisation so (no
    // temporary password, not managed here): the issue asks for exactly that ("an existing account elsewhere is
    // added as it is, with no password returned"). What must not cross is the other organisation's data: above.
  });

  // -------------------------------------------------------------------------------------------------------
  // Invitation tokens and the invitation page

  describe('invitation tokens', () => {
    const mailsTo = (to: string) => testDb()('outbox').whereRaw('lower(to_address) = lower(?)', [to]).orderBy('seq').select('text_body', 'org_id');
    async function tokenSentTo(to: string): Promise<string> {
      const mails = await mailsTo(to);
      assert.ok(mails.length > 0, `no mail to ${to}`);
      const m = /account\/invitation\?token=(rst_inv_[A-Za-z0-9_-]{43})/.exec(mails[mails.length - 1].text_body);
      assert.ok(m, 'a link in the mail');
      return m[1];
    }
    const pageUrl = (token: string) => `${server.issuer()}/account/invitation?token=${encodeURIComponent(token)}`;
    const deadText = (p: PageResult) => headingOf(p.html);

    it('256 random bits, stored only as a hash; each invitation its own; never in an API answer', async () => {
      const team = await newTeam();
      const emails = [address(), address(), address()];
      const res = await team.call('POST', '/invitations', { emails, role: 'member' });
      ok(res, 201);
      assert.doesNotMatch(JSON.stringify(res.body), /rst_inv_|token/i);
      const list = await team.call('GET', '/invitations');
      assert.doesNotMatch(JSON.stringify(list.body), /rst_inv_|token/i);
      const tokens = await Promise.all(emails.map(tokenSentTo));
      assert.equal(new Set(tokens).size, 3);
      for (const t of tokens) {
        assert.equal(Buffer.from(t.slice('rst_inv_'.length), 'base64url').length, 32, '256 bits');
        const rows = await testDb()('invitations').where({ token_hash: sha256(t) }).select('id');
        assert.equal(rows.length, 1, 'stored as its SHA-256');
      }
      const dump = JSON.stringify(await testDb()('invitations').where({ org_id: team.id }));
      for (const t of tokens) assert.ok(!dump.includes(t), 'the token itself is stored nowhere');
    });

    it('without the token the page tells nothing: no token, a malformed one, a random one, a used, declined or cancelled one all get the same dead page', async () => {
      const team = await newTeam();
      const [used, declined, cancelled] = [address(), address(), address()];
      const inv = await team.call('POST', '/invitations', { emails: [used, declined, cancelled], role: 'member' });
      ok(inv, 201);
      const [tUsed, tDeclined, tCancelled] = await Promise.all([used, declined, cancelled].map(tokenSentTo));
      // used: accepted by a new person
      const browser = new Browser();
      const page = await browser.go(pageUrl(tUsed));
      assert.equal(page.status, 200);
      const joined = await browser.submit(page, '/account/invitation', { name: 'New Person', password: `a fine passphrase ${unique()}` });
      assert.equal(joined.status, 200, joined.html.slice(0, 300));
      const decliner = new Browser();
      const dp = await decliner.go(pageUrl(tDeclined));
      assert.equal((await decliner.submit(dp, '/account/invitation/decline')).status, 200);
      ok(await team.call('DELETE', `/invitations/${inv.body.items[2].id}`), 204);

      const random = `rst_inv_${randomBytes(32).toString('base64url')}`;
      const answers: [string, PageResult][] = [];
      for (const [what, url] of [
        ['no token', `${server.issuer()}/account/invitation`], ['malformed', pageUrl("rst_inv_'or 1=1--")], ['random', pageUrl(random)],
        ['used', pageUrl(tUsed)], ['declined', pageUrl(tDeclined)], ['cancelled', pageUrl(tCancelled)],
      ] as const) answers.push([what, await new Browser().go(url)]);
      for (const [what, p] of answers) {
        assert.equal(p.status, 410, what);
        assert.equal(deadText(p), deadText(answers[0][1]), `${what}: the same page`);
        assert.doesNotMatch(p.html, new RegExp(`${team.org.name}|already have an account|example\\.test`), `${what}: names nothing`);
      }
    });

    it('single use: a token accepted, declined, cancelled or replaced by a resend changes nothing when posted again (even with the page it came with)', async () => {
      const team = await newTeam();
      const e = [address(), address(), address(), address()];
      const inv = await team.call('POST', '/invitations', { emails: e, role: 'member' });
      ok(inv, 201);
      const tokens = await Promise.all(e.map(tokenSentTo));
      // Open every page first (a form with a valid CSRF token), then make each token dead, then post the old form.
      const pages: { browser: Browser; page: PageResult }[] = [];
      for (const t of tokens) {
        const browser = new Browser();
        const page = await browser.go(pageUrl(t));
        assert.equal(page.status, 200);
        pages.push({ browser, page });
      }
      const password = `a fine passphrase ${unique()}`;
      assert.equal((await pages[0].browser.submit(pages[0].page, '/account/invitation', { password })).status, 200, 'accepted once');
      assert.equal((await pages[1].browser.submit(pages[1].page, '/account/invitation/decline')).status, 200, 'declined once');
      ok(await team.call('DELETE', `/invitations/${inv.body.items[2].id}`), 204, 'cancelled');
      ok(await team.call('POST', `/invitations/${inv.body.items[3].id}/resend`, {}), 200, 'resent');
      const fresh = await tokenSentTo(e[3]);
      assert.notEqual(fresh, tokens[3]);

      const members = async () => Number((await testDb()('memberships').where({ org_id: team.id }).count({ n: '*' }))[0].n);
      const count = await members();
      const statuses = await testDb()('invitations').where({ org_id: team.id }).orderBy('id').select('id', 'status', 'membership_id');
      for (const [i, { browser, page }] of pages.entries()) {
        const again = await browser.submit(page, '/account/invitation', { password, name: 'again' });
        assert.equal(again.status, 410, `token ${i} accepted again: ${again.status}`);
        const decline = await browser.submit(page, '/account/invitation/decline');
        assert.equal(decline.status, 410, `token ${i} declined again`);
      }
      assert.equal(await members(), count, 'no member added');
      assert.deepEqual(await testDb()('invitations').where({ org_id: team.id }).orderBy('id').select('id', 'status', 'membership_id'), statuses, 'no invitation changed');
      // The resent link works, once.
      const browser = new Browser();
      const page = await browser.go(pageUrl(fresh));
      assert.equal(page.status, 200);
      assert.equal((await browser.submit(page, '/account/invitation', { password })).status, 200);
    });

    it("accepting with an existing account needs the account's password and changes neither the password nor who manages it; the token works only for its own organisation", async () => {
      const a = await newTeam();
      const b = await newTeam();
      const email = address('existing-');
      ok(await a.call('POST', '/invitations', { emails: [email], role: 'member' }), 201);
      const own = `the person's own passphrase ${unique()}`;
      const first = new Browser();
      const p1 = await first.go(pageUrl(await tokenSentTo(email)));
      assert.equal((await first.submit(p1, '/account/invitation', { password: own })).status, 200, 'joined A by signing up');
      const before = await testDb()('accounts').whereRaw('lower(email) = lower(?)', [email]).first();
      assert.equal(before.managed_by_org_id, a.id);

      ok(await b.call('POST', '/invitations', { emails: [email], role: 'member' }), 201);
      const bToken = await tokenSentTo(email);
      const browser = new Browser();
      const page = await browser.go(pageUrl(bToken));
      assert.equal(page.status, 200);
      assert.match(page.html, /already have an account/);
      const wrong = await browser.submit(page, '/account/invitation', { password: 'an attacker guess of a password', name: 'Attacker' });
      assert.equal(wrong.status, 401, 'a wrong password does not join');
      assert.equal(await testDb()('memberships').where({ org_id: b.id, account_id: before.id }).first(), undefined);
      const right = await browser.submit(page, '/account/invitation', { password: own, name: 'Renamed' });
      assert.equal(right.status, 200, right.html.slice(0, 300));
      const after = await testDb()('accounts').where({ id: before.id }).first();
      for (const k of ['password_hash', 'managed_by_org_id', 'password_set_by_org_id', 'email', 'display_name', 'must_change_password']) assert.deepEqual(after[k], before[k], k);
      const inB = await testDb()('memberships').where({ org_id: b.id, account_id: before.id }).first('id');
      assert.ok(inB, 'joined B');
      assert.equal(Number((await testDb()('memberships').where({ account_id: before.id }).count({ n: '*' }))[0].n), 2);
    });
  });

  // -------------------------------------------------------------------------------------------------------
  // Hostile input

  describe('hostile input', () => {
    it('NUL characters, bad cursors and dates, wrong types, unknown fields, huge arrays: a problem+json 4xx, never a 500, and nothing written', async () => {
      const team = await newTeam();
      const m = await addMember(team, 'member');
      const g = await group(team);
      const role = await customRole(team, ['roster.view']);
      const uuid = '0b0e0f10-1111-4222-8333-444455556666';
      const db = testDb();
      const counts = async () => ({
        audit: await auditCount(team.id),
        members: (await db('memberships').where({ org_id: team.id }).count({ n: '*' }))[0].n,
        accounts: (await db('accounts').count({ n: '*' }))[0].n,
        groups: await db('groups').where({ org_id: team.id }).orderBy('id'),
        roles: await db('roles').where({ org_id: team.id }).orderBy('id'),
        invitations: (await db('invitations').where({ org_id: team.id }).count({ n: '*' }))[0].n,
        credentials: (await db('credentials').where({ org_id: team.id }).count({ n: '*' }))[0].n,
        org: await db('organizations').where({ id: team.id }).first(),
        member: await db('memberships').where({ org_id: team.id, id: m.memberId }).first(),
      });
      const before = await counts();
      const many = (n: number, f: (i: number) => string) => Array.from({ length: n }, (_, i) => f(i));
      const requests: [string, string, unknown?][] = [
        // NUL in every kind of text the API stores or searches
        ['POST', '/roles', { name: 'a\u0000b', permissions: [] }],
        ['POST', '/roles', { name: unique('r'), description: 'x\u0000y', permissions: [] }],
        ['PATCH', `/roles/${role}`, { name: 'n\u0000' }],
        ['POST', '/groups', { name: 'g\u0000' }],
        ['PATCH', `/groups/${g}`, { name: '\u0000' }],
        ['POST', '/members', { email: address(), role: 'member', name: 'n\u0000m' }],
        ['POST', '/members', { email: `a\u0000${address()}`, role: 'member' }],
        ['PATCH', `/members/${m.memberId}`, { name: 'x\u0000' }],
        ['PATCH', `/members/${m.memberId}`, { phone: '+1\u0000' }],
        ['PATCH', `/members/${m.memberId}`, { email: `x\u0000${address()}` }],
        ['POST', '/invitations', { emails: [address()], role: 'member', message: 'hi\u0000' }],
        ['POST', '/invitations', { emails: [`a\u0000${address()}`], role: 'member' }],
        ['PATCH', '', { name: 'org\u0000' }],
        ['POST', '/api-keys', { name: 'k\u0000', role: 'member' }],
        ['POST', '/scim-tokens', { name: '\u0000' }],
        ['POST', '/clients', { name: 'c\u0000', redirectUris: ['https://app.example/cb'] }],
        ['GET', '/members?search=%00'],
        ['GET', '/members?role=%00'],
        ['GET', '/audit-events?actor=%00'],
        ['GET', '/audit-events?action=%00'],
        ['GET', '/audit-events?target=%00'],
        ['GET', `/groups?cursor=${b64(`a\u0001\u0000${uuid}`)}`],
        // cursors that only look like ours
        ['GET', `/members?cursor=${b64(`1|${uuid}`)}`],
        ['GET', `/members?cursor=${b64(`Feb 30 2020|${uuid}`)}`],
        ['GET', `/members?cursor=${b64(`+275760-09-13T00:00:00.000Z|${uuid}`)}`],
        ['GET', `/members?cursor=${b64(`2020-01-01|not-a-uuid`)}`],
        ['GET', '/members?cursor=%F0%9F%98%80'],
        ['GET', `/invitations?cursor=${b64(`1|${uuid}`)}`],
        ['GET', `/invitations?cursor=${b64(`Feb 30 2020|${uuid}`)}`],
        ['GET', `/groups?cursor=${b64(`x\u0000not-a-uuid`)}`],
        ['GET', '/audit-events?cursor=-1'],
        ['GET', '/audit-events?cursor=1e9'],
        ['GET', '/auth-events?cursor=abc'],
        // dates
        ['GET', '/auth-events?since=2020-02-31T00:00:00Z'],
        ['GET', '/sessions?until=2020-13-01T00:00:00Z'],
        ['GET', '/audit-events?since=yesterday'],
        // limits and repeated parameters
        ['GET', '/members?limit=0'], ['GET', '/members?limit=201'], ['GET', '/members?limit=abc'], ['GET', '/members?limit=1&limit=2'],
        ['GET', '/members?search=a&search=b'], ['GET', '/members?status=owner'], ['GET', '/members?unknown=1'],
        ['GET', '/sessions?memberId=not-a-uuid'], ['GET', `/sessions?memberId=${uuid}`],
        // wrong types, unknown fields
        ['POST', '/members', { email: address(), role: 5 }],
        ['POST', '/members', { email: [address()], role: 'member' }],
        ['POST', '/members', { email: address(), role: 'member', isOwner: true }],
        ['POST', '/members', { email: address(), role: 'member', groupIds: 'all' }],
        ['POST', '/members', { email: address(), role: 'member', groupIds: ['not-a-uuid'] }],
        ['POST', '/members', { email: address(), role: 'member', groupIds: [uuid] }],
        ['POST', '/members', `{"email":"${address()}","role":"member","__proto__":{"role":"owner"}}`],
        ['POST', '/members', { email: `${address()}\r\nBcc: x@evil.test`, role: 'member' }],
        ['POST', '/members', { email: address(), role: 'ADMIN' }],
        ['POST', '/members', { email: address(), role: role.toUpperCase().replace(/-/g, '') }],
        ['POST', '/roles', { name: unique('r'), permissions: 'roster.view' }],
        ['POST', '/roles', { name: unique('r'), permissions: ['roster.view', 'sudo'] }],
        ['POST', '/roles', { name: unique('r'), permissions: [], orgId: uuid }],
        ['POST', '/roles', { name: unique('r'), permissions: [], color: '#FFFFFF' }],
        ['PATCH', `/roles/${role}`, { permissions: null }],
        ['PATCH', '', { licenceLimit: 1e12 }], ['PATCH', '', { invitationLifetimeDays: 1e9 }], ['PATCH', '', { licenceLimit: 1.5 }],
        ['PATCH', '', { name: 'x'.repeat(401) }], ['PATCH', '', { loginConfiguration: { requireMfa: 'yes' } }],
        ['PUT', `/groups/${g}/role`, { role: 'Owner' }], ['PUT', `/groups/${g}/role`, { role: ' owner' }], ['PUT', `/groups/${g}/role`, {}],
        ['POST', '/transfer-ownership', { memberId: 'owner' }],
        ['POST', `/members/${m.memberId}/deactivate`, { force: true }],
        ['POST', '/invitations', { emails: 'a@b.test', role: 'member' }],
        ['POST', '/invitations', { emails: [], role: 'member' }],
        ['POST', '/invitations', { emails: [address()], role: 'member', message: 'x'.repeat(2501) }],
        ['POST', '/invitations', { emails: [address()], role: 'member', message: '\u{1F600}'.repeat(2501) }],
        // huge arrays
        ['POST', '/invitations', { emails: many(101, () => address()), role: 'member' }],
        ['POST', '/members', { email: address(), role: 'member', groupIds: many(101, () => uuid) }],
        ['POST', `/groups/${g}/members`, { memberIds: many(1001, () => uuid) }],
        ['POST', '/groups', { name: unique('g'), memberIds: many(1001, () => uuid) }],
        ['POST', '/roles', { name: unique('r'), permissions: many(8, () => 'roster.view') }],
        // not JSON, not an object
        ['POST', '/roles', 'not json'], ['POST', '/roles', '[1,2]'], ['POST', '/roles', 'null'], ['POST', '/roles', '{"name":'],
        // path parameters
        ['GET', '/members/%00'], ['GET', `/members/${uuid.toUpperCase()}`], ['DELETE', '/roles/%27%20or%201=1--'], ['PATCH', '/roles/owner', { name: 'x' }],
        ['GET', '/groups/..%2f..%2f'], ['DELETE', `/sessions/${uuid}`], ['POST', `/invitations/${uuid}/resend`, {}],
      ];
      const bad: string[] = [];
      for (const [method, path, body] of requests) {
        const res = await team.call(method, path, body);
        const isRead = method === 'GET';
        // A read may succeed (200) when the input is harmless; a write must be refused here; never a 5xx.
        const fine = (isRead && res.status === 200) || (res.status >= 400 && res.status < 500 && /application\/problem\+json/.test(res.type) && typeof res.body?.code === 'string');
        if (!fine) bad.push(`${method} ${path.slice(0, 80)} ${JSON.stringify(body ?? '').slice(0, 80)}: ${show(res)}`);
      }
      const after = await counts();
      for (const k of Object.keys(before) as (keyof typeof before)[]) {
        if (JSON.stringify(after[k]) !== JSON.stringify(before[k])) bad.push(`written: ${k}`);
      }
      assert.deepEqual(bad, []);
    });

    it('search takes LIKE wildcards literally, and unicode and quotes are only text', async () => {
      const team = await newTeam();
      await addMember(team, 'member');
      for (const term of ['%', '_', '\\', '%%', '_%_', "' or '1'='1", '\u{1F600}', 'Ω', '\\%']) {
        const res = await team.call('GET', `/members?search=${encodeURIComponent(term)}`);
        ok(res, 200, `search ${term}`);
        assert.equal(res.body.total, 0, `search ${JSON.stringify(term)} matched ${res.body.total}`);
      }
      const all = await team.call('GET', '/members');
      assert.equal(all.body.total, 2);
    });

    it('a custom role id written in upper case is not a second name for the role (it is refused, or stored as the role it names)', async () => {
      const team = await newTeam();
      const role = await customRole(team, ['roster.view', 'activity.view']);
      const m = await addMember(team, 'member');
      const res = await team.call('PATCH', `/members/${m.memberId}`, { role: role.toUpperCase() });
      if (res.status === 200) {
        const stored = (await testDb()('memberships').where({ org_id: team.id, id: m.memberId }).first('role')).role;
        assert.equal(stored, role, 'stored as the canonical id');
        refusedWith(await team.call('DELETE', `/roles/${role}`), 409, 'the role is in use and cannot be deleted');
      } else {
        refusedWith(res, 400, 'upper-case role id');
      }
    });
  });

  // -------------------------------------------------------------------------------------------------------
  // Audit

  describe('audit', () => {
    it('every write through the API adds exactly one audit event, by the caller', async () => {
      const team = await newTeam();
      const steps: [string, string, unknown?][] = [];
      const m = await addMember(team, 'member');
      const role = await customRole(team, ['roster.view']);
      const g = await group(team);
      const email = address();
      steps.push(
        ['PATCH', '', { name: 'Renamed' }],
        ['PATCH', '', { loginConfiguration: { requireMfa: true } }],
        ['PATCH', `/roles/${role}`, { description: 'changed' }],
        ['PUT', `/groups/${g}/role`, { role }],
        ['POST', `/groups/${g}/members`, { memberIds: [m.memberId] }],
        ['PATCH', `/groups/${g}`, { name: unique('renamed-') }],
        ['DELETE', `/groups/${g}/members/${m.memberId}`],
        ['PATCH', `/members/${m.memberId}`, { role }],
        ['PATCH', `/members/${m.memberId}`, { name: 'New Name' }],
        ['POST', `/members/${m.memberId}/deactivate`, {}],
        ['POST', `/members/${m.memberId}/reactivate`, {}],
        ['POST', `/members/${m.memberId}/reset-password`, {}],
        ['POST', '/invitations', { emails: [email], role: 'member' }],
        ['POST', '/api-keys', { name: 'k', role: 'member' }],
        ['POST', '/scim-tokens', { name: 's' }],
        ['POST', '/clients', { name: 'c', redirectUris: ['https://app.example/cb'] }],
        ['DELETE', `/groups/${g}`],
        ['DELETE', `/members/${m.memberId}`],
      );
      const wrong: string[] = [];
      for (const [method, path, body] of steps) {
        const mark = await auditMark(team.id);
        const res = await team.call(method, path, body);
        const events = await auditSince(team.id, mark);
        if (res.status >= 300) wrong.push(`${method} ${path}: ${show(res)}`);
        else if (events.length !== 1) wrong.push(`${method} ${path}: ${events.length} audit events ${JSON.stringify(events)}`);
      }
      // the member now holds no role: the custom role can go
      const mark = await auditMark(team.id);
      ok(await team.call('DELETE', `/roles/${role}`), 204, 'delete role');
      assert.equal((await auditSince(team.id, mark)).length, 1);
      const keyId = (await testDb()('credentials').where({ org_id: team.id, kind: 'api_key', name: 'default' }).first('id')).id;
      const events = await testDb()('audit_events').where({ org_id: team.id }).where('id', '>', 0).whereNot({ action: 'organization.created' }).select('actor_type', 'actor_id');
      assert.ok(events.every((e) => e.actor_type === 'api_key' && e.actor_id === keyId), 'every event names the key');
      assert.deepEqual(wrong, []);
    });

    it('the audit log refuses UPDATE, DELETE and TRUNCATE', async () => {
      const team = await newTeam();
      const db = testDb();
      const before = await db('audit_events').where({ org_id: team.id }).orderBy('id');
      assert.ok(before.length > 0);
      const rollback = new Error('rollback');
      for (const [what, change] of [
        ['UPDATE', (trx: any) => trx('audit_events').where({ org_id: team.id }).update({ action: 'forged' })],
        ['DELETE', (trx: any) => trx('audit_events').where({ org_id: team.id }).delete()],
        ['TRUNCATE', (trx: any) => trx.raw('truncate audit_events')],
        ['DELETE by id', (trx: any) => trx.raw('delete from audit_events where org_id = ? and id = ?', [team.id, before[0].id])],
      ] as const) {
        let error: unknown;
        try {
          await db.transaction(async (trx) => { await change(trx); throw rollback; });
        } catch (err) {
          error = err;
        }
        assert.notEqual(error, rollback, `${what} was accepted by the database`);
        assert.match(String((error as Error).message), /append-only/, what);
      }
      assert.deepEqual(await db('audit_events').where({ org_id: team.id }).orderBy('id'), before);
    });
  });
});
