// The admin API's members routes on the real database: the roster (search with `%` and `_` taken literally,
// filters, cursor paging, bad parameters), adding people (new accounts with a temporary password, existing
// accounts linked as they are, licences counted under concurrency, SSO enforced), editing profiles and roles
// within what the caller may do, removal, deactivation (sessions of this organisation only), password and MFA
// resets, the ownership transfer, and the rules every door shares: only the managing organisation touches an
// account, the owner is protected, nobody acts on themselves, every write leaves exactly one audit event (and
// nothing can edit the audit log), and a role change applies to the very next request of a live token.
import assert from 'node:assert/strict';
import { createOrganization } from '../../src/directory/organizations.ts';
import { createPasswordHasher } from '../../src/directory/passwords.ts';
import { unique, userBody } from '../helpers.ts';
import { testDb } from '../setup.ts';
import { adminServer, type ApiResponse as Res } from './support.ts';

type Org = Awaited<ReturnType<typeof createOrganization>>;
type Entry = {
  id: string; kind: 'member' | 'invitation'; accountId: string | null; name: string | null; email: string; phone: string | null; role: string;
  status: 'active' | 'deactivated' | 'invited'; managed: boolean; groups: { id: string; name: string }[]; mfaMethods: string[];
  deactivatedAt: string | null; deactivatedBy: { type: string; id: string | null } | null;
};

describe('admin API: members', function () {
  this.timeout(60_000);
  const server = adminServer();

  // ---- helpers ---------------------------------------------------------------------------------------------

  const { api } = server;

  const newOrg = (): Promise<Org> => {
    const name = unique('members-');
    return createOrganization(testDb(), { name, ownerEmail: `owner@${name}.test` });
  };
  const members = (org: Org) => `/orgs/${org.org.id}/members`;
  const memberPath = (org: Org, id: string) => `${members(org)}/${id}`;
  const address = (local = unique('p')) => `${local}@people.test`;

  const lastAuditId = async (org: Org) => Number((await testDb()('audit_events').where({ org_id: org.org.id }).max({ m: 'id' }))[0].m ?? 0);
  const auditSince = async (org: Org, id: number) => testDb()('audit_events').where({ org_id: org.org.id }).where('id', '>', id).orderBy('id').select('action', 'actor_type', 'actor_id', 'target_id');

  /** A write that succeeds: the status, and exactly one new audit event of the organisation, with this action. */
  async function write(org: Org, action: string, status: number, call: () => Promise<Res>): Promise<Res> {
    const mark = await lastAuditId(org);
    const res = await call();
    assert.equal(res.status, status, `${action}: ${res.status} ${JSON.stringify(res.body)}`);
    assert.deepEqual((await auditSince(org, mark)).map((e) => e.action), [action], `${action}: exactly one audit event`);
    return res;
  }

  /** A refused request: problem+json with this status and code (one of them), and no audit event. */
  async function refused(org: Org, status: number, code: string | string[], call: () => Promise<Res>): Promise<Res> {
    const mark = await lastAuditId(org);
    const res = await call();
    assert.equal(res.status, status, `expected ${status} ${code}, got ${res.status} ${JSON.stringify(res.body)}`);
    assert.match(res.type, /application\/problem\+json/);
    assert.ok([code].flat().includes(res.body.code), `code ${res.body.code}, expected ${code}: ${JSON.stringify(res.body)}`);
    assert.deepEqual(await auditSince(org, mark), [], 'a refused request leaves no audit event');
    return res;
  }

  /** Adds a member (as the owner's key unless told) and checks the audit event. */
  async function add(org: Org, body: { email?: string; role?: string; name?: string; groupIds?: string[] } = {}, key = org.apiKey) {
    const res = await write(org, 'member.created', 201, () => api('POST', members(org), key, { email: address(), role: 'member', ...body }));
    return res.body as { member: Entry; temporaryPassword: string | null };
  }

  const getMember = async (org: Org, id: string, key = org.apiKey) => {
    const res = await api('GET', memberPath(org, id), key);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body as Entry;
  };

  const list = async (org: Org, query = '', key = org.apiKey) => {
    const res = await api('GET', `${members(org)}${query}`, key);
    assert.equal(res.status, 200, `${query}: ${JSON.stringify(res.body)}`);
    return res.body as { items: Entry[]; total: number; nextCursor: string | null };
  };

  /** An API key of the organisation with this role (made by the owner's key). */
  async function keyWithRole(org: Org, role: 'admin' | 'member' | 'billing'): Promise<{ id: string; secret: string }> {
    const res = await write(org, 'api_key.created', 201, () => api('POST', `/orgs/${org.org.id}/api-keys`, org.apiKey, { name: `${role} key`, role }));
    return { id: res.body.id, secret: res.body.secret };
  }

  const ownerKeyId = async (org: Org) => (await testDb()('credentials').where({ org_id: org.org.id, kind: 'api_key', name: 'default' }).first('id')).id as string;

  const setLicenceLimit = (org: Org, licenceLimit: number | null) =>
    write(org, 'organization.updated', 200, () => api('PATCH', `/orgs/${org.org.id}`, org.apiKey, { licenceLimit }));

  const invite = async (org: Org, email: string, role = 'member') =>
    (await write(org, 'invitation.created', 201, () => api('POST', `/orgs/${org.org.id}/invitations`, org.apiKey, { emails: [email], role }))).body.items[0] as { id: string };

  /** Rows that a refused request must not have written. */
  const footprint = async (org: Org) => ({
    memberships: Number((await testDb()('memberships').where({ org_id: org.org.id }).count({ n: '*' }))[0].n),
    accounts: Number((await testDb()('accounts').count({ n: '*' }))[0].n),
    audit: await lastAuditId(org),
  });

  const accountRow = (accountId: string) => testDb()('accounts').where({ id: accountId }).first();
  const membershipRow = (org: Org, id: string) => testDb()('memberships').where({ org_id: org.org.id, id }).first();

  /** A live session row of the account in the organisation (what a sign-in leaves). */
  async function liveSession(orgId: string, accountId: string): Promise<string> {
    const [row] = await testDb()('sessions').insert({ org_id: orgId, account_id: accountId, expires_at: new Date(Date.now() + 24 * 3600_000) }).returning('id');
    return row.id as string;
  }
  const sessionRow = (orgId: string, id: string) => testDb()('sessions').where({ org_id: orgId, id }).first('revoked_at', 'revoked_reason');

  /** Signs a person in for the first time (temporary password, then the forced change) to the org's own app: an access token. */
  const signIn = (org: Org, email: string, temporaryPassword: string): Promise<string> =>
    server.signIn(org.org.id, email, temporaryPassword, { newPassword: 'a passphrase chosen at first sign-in' });

  const verifies = (hash: string, password: string) => createPasswordHasher().verify(hash, password);

  // ---- the roster ------------------------------------------------------------------------------------------

  describe('GET members', () => {
    it('lists members and pending invitations as {items, total, nextCursor}; searches names and e-mails case-insensitively, `%` and `_` literally; filters by status and role', async () => {
      const org = await newOrg();
      const percent = await add(org, { name: 'Promo 100% Off', email: address('promo-a') });
      const lookalike = await add(org, { name: 'Promo 1000 Off', email: address('promo-b') });
      const underscore = await add(org, { name: 'Under Score', email: address('under_score') });
      const noUnderscore = await add(org, { name: 'Under X', email: address('underxscore') });
      const admin = await add(org, { name: 'Ada Admin', role: 'admin' });
      const gone = await add(org, { name: 'Gone Person' });
      await write(org, 'member.deactivated', 200, () => api('POST', `${memberPath(org, gone.member.id)}/deactivate`, org.apiKey));
      const invitedEmail = address('Invitee_1');
      const invitation = await invite(org, invitedEmail);

      const all = await list(org);
      assert.deepEqual(Object.keys(all).sort(), ['items', 'nextCursor', 'total']);
      assert.equal(all.total, 8, 'the owner, six members and one invitation');
      assert.equal(all.items.length, 8);
      assert.equal(all.nextCursor, null);
      const byId = new Map(all.items.map((e) => [e.id, e]));
      const inv = byId.get(invitation.id)!;
      assert.deepEqual([inv.kind, inv.status, inv.email, inv.role, inv.accountId], ['invitation', 'invited', invitedEmail, 'member', null]);
      const p = byId.get(percent.member.id)!;
      assert.deepEqual([p.kind, p.status, p.name, p.role, p.managed], ['member', 'active', 'Promo 100% Off', 'member', true]);
      assert.equal(byId.get(org.owner.id)!.role, 'owner');

      const ids = async (query: string) => (await list(org, query)).items.map((e) => e.id).sort();
      const search = (term: string) => ids(`?search=${encodeURIComponent(term)}`);
      assert.deepEqual(await search('PROMO 100% o'), [percent.member.id], '% is a character, not a wildcard');
      assert.deepEqual(await search('promo 100'), [percent.member.id, lookalike.member.id].sort());
      assert.deepEqual(await search('DER_SC'), [underscore.member.id], '_ is a character, not a wildcard (e-mail fragment)');
      assert.deepEqual(await search('ada adm'), [admin.member.id], 'by name, case-insensitively');
      assert.deepEqual(await search('invitee_1@'), [invitation.id], 'invitations are found by their e-mail');
      assert.deepEqual(await search('nobody-has-this'), []);
      assert.equal((await list(org, `?search=${encodeURIComponent('PROMO 100')}`)).total, 2, 'the total is of what the search selects');
      assert.ok(!(await search('der_sc')).includes(noUnderscore.member.id));

      assert.deepEqual(await ids('?status=invited'), [invitation.id]);
      assert.deepEqual(await ids('?status=deactivated'), [gone.member.id]);
      const active = await list(org, '?status=active');
      assert.equal(active.total, 6);
      assert.ok(active.items.every((e) => e.kind === 'member' && e.status === 'active'));
      assert.deepEqual(await ids('?role=admin'), [admin.member.id]);
      assert.deepEqual(await ids('?role=owner'), [org.owner.id]);
      const memberRole = await ids('?role=member');
      assert.equal(memberRole.length, 6, 'five members with the role member and the invitation');
      assert.ok(memberRole.includes(invitation.id) && memberRole.includes(gone.member.id));
      assert.deepEqual(await ids('?role=member&status=active&search=promo'), [percent.member.id, lookalike.member.id].sort());
      assert.equal((await list(org, '?role=member&status=invited')).total, 1);
    });

    it('pages by cursor: limit=2 over three pages gives every row exactly once, with the right total on each page', async () => {
      const org = await newOrg();
      const added = [];
      for (let i = 0; i < 4; i++) added.push((await add(org, { name: `Paged ${i}` })).member.id);
      const invitation = await invite(org, address('paged-invitee'));
      const expected = [org.owner.id, ...added, invitation.id].sort();

      const walk = async (query: string, total: number) => {
        const pages: Entry[][] = [];
        let cursor: string | null = null;
        do {
          const page = await list(org, `?limit=2${query}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
          pages.push(page.items);
          cursor = page.nextCursor;
          assert.ok(pages.length <= 10, 'paging ends');
          assert.equal(page.total, total, `total on page ${pages.length}`);
        } while (cursor);
        return pages;
      };
      const pages = await walk('', 6);
      assert.deepEqual(pages.map((p) => p.length), [2, 2, 2]);
      const seen = pages.flat().map((e) => e.id);
      assert.equal(new Set(seen).size, seen.length, 'no row twice');
      assert.deepEqual([...seen].sort(), expected, 'every row');

      const activePages = await walk('&status=active', 5);
      assert.deepEqual(activePages.map((p) => p.length), [2, 2, 1]);
      assert.deepEqual(activePages.flat().map((e) => e.id).sort(), [org.owner.id, ...added].sort());
    });

    it('a bad limit, cursor or status is a 400 problem that names the field', async () => {
      const org = await newOrg();
      for (const [query, field] of [
        ['limit=0', 'limit'], ['limit=201', 'limit'], ['limit=abc', 'limit'], ['limit=1.5', 'limit'], ['status=gone', 'status'], ['status=', 'status'],
        ['cursor=not-a-cursor', 'cursor'], [`cursor=${Buffer.from(`2024-01-01T00:00:00.000Z|not-a-uuid`).toString('base64url')}`, 'cursor'],
        [`cursor=${Buffer.from(`yesterday|${org.owner.id}`).toString('base64url')}`, 'cursor'], ['unknown=1', ''],
      ]) {
        const res = await api('GET', `${members(org)}?${query}`, org.apiKey);
        assert.equal(res.status, 400, `${query}: ${res.status} ${JSON.stringify(res.body)}`);
        assert.match(res.type, /application\/problem\+json/);
        assert.ok(['invalid_request', 'invalid_value'].includes(res.body.code), query);
        assert.ok(Array.isArray(res.body.errors) && res.body.errors.length > 0, `${query}: errors per field`);
        if (field) assert.ok(res.body.errors.some((e: { field: string }) => e.field === field), `${query}: ${JSON.stringify(res.body.errors)}`);
      }
    });
  });

  // ---- adding people ---------------------------------------------------------------------------------------

  describe('POST members', () => {
    it('a new address gets an account managed here with a temporary password, returned once, that must be changed', async () => {
      const org = await newOrg();
      const group = await write(org, 'group.created', 201, () => api('POST', `/orgs/${org.org.id}/groups`, org.apiKey, { name: 'Engineering' }));
      const email = address('New.Person');
      const created = await add(org, { email, name: '  New Person ', role: 'admin', groupIds: [group.body.id] });
      assert.deepEqual(Object.keys(created).sort(), ['member', 'temporaryPassword']);
      assert.equal(typeof created.temporaryPassword, 'string');
      assert.ok(created.temporaryPassword!.length >= 8);
      const m = created.member;
      assert.deepEqual([m.kind, m.email, m.name, m.role, m.status, m.managed], ['member', email, 'New Person', 'admin', 'active', true]);
      assert.deepEqual(m.groups.map((g) => g.id), [group.body.id]);
      const account = await accountRow(m.accountId!);
      assert.equal(account.must_change_password, true, 'the temporary password must be changed at first sign-in');
      assert.equal(account.managed_by_org_id, org.org.id);
      assert.equal(await verifies(account.password_hash, created.temporaryPassword!), true);
      assert.equal(JSON.stringify(await getMember(org, m.id)).includes(created.temporaryPassword!), false, 'shown once: never read back');
    });

    it('an existing account of another organisation is linked as it is (no password, nothing changed); an existing member is 409 already_member', async () => {
      const a = await newOrg();
      const b = await newOrg();
      const email = address('shared');
      const inA = await add(a, { email, name: 'Shared Person' });
      const before = await accountRow(inA.member.accountId!);
      const inB = await add(b, { email: email.toUpperCase(), name: 'Someone Else' });
      assert.equal(inB.temporaryPassword, null);
      assert.equal(inB.member.accountId, inA.member.accountId, 'one account');
      assert.equal(inB.member.managed, false);
      const after = await accountRow(inA.member.accountId!);
      assert.deepEqual(
        [after.password_hash, after.must_change_password, after.managed_by_org_id, after.email, after.display_name],
        [before.password_hash, before.must_change_password, a.org.id, email, 'Shared Person'],
      );
      assert.equal(await verifies(after.password_hash, inA.temporaryPassword!), true, 'the password A gave still works');

      // A member whose user name is not their e-mail (provisioned over SCIM): adding the e-mail again is already_member.
      const provisioned = address('provisioned');
      const scim = await fetch(`${server.issuer()}/scim/v2/Users`, {
        method: 'POST', headers: { authorization: `Bearer ${b.scimToken}`, 'content-type': 'application/scim+json' },
        body: JSON.stringify(userBody(unique('jdoe-'), { emails: [{ value: provisioned, type: 'work', primary: true }] })),
      });
      assert.equal(scim.status, 201);
      const counts = await footprint(b);
      await refused(b, 409, 'already_member', () => api('POST', members(b), b.apiKey, { email: provisioned, role: 'member' }));
      // The same, for members added here (user name = e-mail).
      for (const again of [email, email.toUpperCase(), ` ${email} `]) {
        await refused(b, 409, 'already_member', () => api('POST', members(b), b.apiKey, { email: again, role: 'member' }));
      }
      assert.deepEqual(await footprint(b), counts);
    });

    it('refuses the owner role (owner_by_transfer_only), an unknown role, a malformed e-mail, an unknown field or a wrong type with a 400, writing nothing', async () => {
      const org = await newOrg();
      const counts = await footprint(org);
      const email = address('never-written');
      const owner = await refused(org, 400, ['invalid_value', 'invalid_request'], () => api('POST', members(org), org.apiKey, { email, role: 'owner' }));
      assert.equal(owner.body.rule, 'owner_by_transfer_only');
      for (const body of [
        { email, role: 'emperor' }, { email, role: '00000000-0000-4000-8000-000000000000' }, { email, role: '' },
        { email: 'not-an-email', role: 'member' }, { email: 'two words@example.test', role: 'member' }, { email: '', role: 'member' },
        { email, role: 'member', nickname: 'x' }, { email: 42, role: 'member' }, { email, role: 7 }, { email, role: 'member', name: ['x'] },
        { email, role: 'member', groupIds: 'engineering' }, { email, role: 'member', groupIds: ['00000000-0000-4000-8000-000000000000'] },
        { role: 'member' }, { email }, 'not json', [email],
      ]) {
        const res = await refused(org, 400, ['invalid_request', 'invalid_value'], () => api('POST', members(org), org.apiKey, body));
        if (typeof body === 'object') assert.ok(Array.isArray(res.body.errors) && res.body.errors.length > 0, `${JSON.stringify(body)}: errors per field`);
      }
      assert.deepEqual(await footprint(org), counts, 'no membership, account or audit event written');
      assert.equal(await testDb()('accounts').whereRaw('lower(email) = lower(?)', [email]).first('id'), undefined);
    });

    it('the licence limit counts active members and pending invitations, never billing; reached, adding is 409 licence_limit_reached', async () => {
      const org = await newOrg();
      await setLicenceLimit(org, 3);
      await add(org); // owner + 1
      const invitedEmail = address('holds-a-seat');
      await invite(org, invitedEmail); // + 1 pending invitation = 3
      const counts = await footprint(org);
      await refused(org, 409, 'licence_limit_reached', () => api('POST', members(org), org.apiKey, { email: address(), role: 'member' }));
      await refused(org, 409, 'licence_limit_reached', () => api('POST', members(org), org.apiKey, { email: address(), role: 'admin' }));
      await refused(org, 409, 'licence_limit_reached', () => api('POST', `/orgs/${org.org.id}/invitations`, org.apiKey, { emails: [address()], role: 'member' }));
      assert.deepEqual(await footprint(org), counts);

      const billing = await add(org, { role: 'billing' });
      assert.equal(billing.member.role, 'billing', 'billing takes no seat');
      const settled = await add(org, { email: invitedEmail });
      assert.equal(settled.member.status, 'active', "the invited person's own seat is theirs");
      assert.equal((await testDb()('invitations').where({ org_id: org.org.id }).whereRaw('lower(email) = lower(?)', [invitedEmail]).first('status')).status, 'cancelled');
      assert.equal((await api('GET', `/orgs/${org.org.id}`, org.apiKey)).body.licencesUsed, 3);
      await refused(org, 409, 'licence_limit_reached', () => api('PATCH', memberPath(org, billing.member.id), org.apiKey, { role: 'member' }));

      await write(org, 'member.deactivated', 200, () => api('POST', `${memberPath(org, settled.member.id)}/deactivate`, org.apiKey));
      await add(org); // the freed seat
      await refused(org, 409, 'licence_limit_reached', () => api('POST', members(org), org.apiKey, { email: address(), role: 'member' }));
    });

    // Runs on both databases: on the embedded one the single connection serialises the transactions, which must
    // still give exactly the free seats and no more.
    it('concurrent additions never overshoot the licence limit', async () => {
      const org = await newOrg();
      await setLicenceLimit(org, 3); // the owner holds one: two seats are free
      const mark = await lastAuditId(org);
      const results = await Promise.all(Array.from({ length: 6 }, (_, i) => api('POST', members(org), org.apiKey, { email: address(`race-${i}`), role: 'member' })));
      const statuses = results.map((r) => r.status).sort();
      assert.deepEqual(statuses, [201, 201, 409, 409, 409, 409], JSON.stringify(results.map((r) => r.body)));
      assert.ok(results.filter((r) => r.status === 409).every((r) => r.body.code === 'licence_limit_reached'));
      const [{ n }] = await testDb()('memberships').where({ org_id: org.org.id, status: 'active' }).whereNot({ role: 'billing' }).count({ n: '*' });
      assert.equal(Number(n), 3);
      assert.deepEqual((await auditSince(org, mark)).map((e) => e.action), ['member.created', 'member.created']);
    });

    it('is refused while SSO is enforced (409 sso_enforced), writing nothing', async () => {
      const org = await newOrg();
      await testDb()('organizations').where({ id: org.org.id }).update({ sso_enforced: true });
      const counts = await footprint(org);
      await refused(org, 409, 'sso_enforced', () => api('POST', members(org), org.apiKey, { email: address(), role: 'member' }));
      assert.deepEqual(await footprint(org), counts);
    });
  });

  // ---- one member: profile, role, removal ------------------------------------------------------------------

  describe('GET/PATCH/DELETE members/{id}', () => {
    it("edits the profile of an account managed here; not of one another organisation manages (not_managed), nor the owner's with an admin's key (owner_protected)", async () => {
      const a = await newOrg();
      const b = await newOrg();
      const managed = await add(a, { name: 'Old Name' });
      const newEmail = address('renamed');
      const edited = await write(a, 'member.updated', 200, () => api('PATCH', memberPath(a, managed.member.id), a.apiKey, { name: 'New Name', email: newEmail, phone: '+44 20 7946 0000' }));
      assert.deepEqual([edited.body.name, edited.body.email, edited.body.phone], ['New Name', newEmail, '+44 20 7946 0000']);
      assert.deepEqual(await getMember(a, managed.member.id).then((m) => [m.name, m.email, m.phone]), ['New Name', newEmail, '+44 20 7946 0000']);
      const account = await accountRow(managed.member.accountId!);
      assert.deepEqual([account.email, account.display_name, account.phone], [newEmail, 'New Name', '+44 20 7946 0000']);
      await write(a, 'member.updated', 200, () => api('PATCH', memberPath(a, managed.member.id), a.apiKey, { phone: null }));
      assert.equal((await getMember(a, managed.member.id)).phone, null);

      const linked = await add(b, { email: newEmail });
      const row = await membershipRow(b, linked.member.id);
      await refused(b, 403, 'not_managed', () => api('PATCH', memberPath(b, linked.member.id), b.apiKey, { name: 'Taken Over' }));
      await refused(b, 403, 'not_managed', () => api('PATCH', memberPath(b, linked.member.id), b.apiKey, { email: address('hijack') }));
      assert.deepEqual(await membershipRow(b, linked.member.id), row);
      assert.equal((await accountRow(managed.member.accountId!)).email, newEmail);

      const adminKey = await keyWithRole(a, 'admin');
      const ownerRow = await membershipRow(a, a.owner.id);
      await refused(a, 403, 'owner_protected', () => api('PATCH', memberPath(a, a.owner.id), adminKey.secret, { name: 'Not The Owner' }));
      assert.deepEqual(await membershipRow(a, a.owner.id), ownerRow);

      for (const bad of [{ email: 'nope' }, { unknown: 1 }, { phone: 5 }, { name: 'x'.repeat(300) }]) {
        await refused(a, 400, ['invalid_request', 'invalid_value'], () => api('PATCH', memberPath(a, managed.member.id), a.apiKey, bad));
      }
      await refused(a, 404, 'not_found', () => api('PATCH', memberPath(a, '00000000-0000-4000-8000-000000000000'), a.apiKey, { name: 'Nobody' }));
      await refused(a, 404, 'not_found', () => api('PATCH', memberPath(b, linked.member.id), a.apiKey, { name: 'Across' }));
      assert.equal((await api('GET', memberPath(a, linked.member.id), a.apiKey)).status, 404, "another organisation's member is not found");
    });

    it('changes roles within what the caller may do: never to owner, never past the caller (escalation), never the owner (owner_protected)', async () => {
      const org = await newOrg();
      const adminKey = await keyWithRole(org, 'admin');
      const m = await add(org, { name: 'Role Holder' });
      const role = async () => (await membershipRow(org, m.member.id)).role;

      const toOwner = await refused(org, 400, ['invalid_value', 'invalid_request'], () => api('PATCH', memberPath(org, m.member.id), adminKey.secret, { role: 'owner' }));
      assert.equal(toOwner.body.rule, 'owner_by_transfer_only');
      await refused(org, 400, ['invalid_value', 'invalid_request'], () => api('PATCH', memberPath(org, m.member.id), org.apiKey, { role: 'owner' }));
      await refused(org, 403, 'escalation', () => api('PATCH', memberPath(org, m.member.id), adminKey.secret, { role: 'billing' }));
      await refused(org, 400, ['invalid_value', 'invalid_request'], () => api('PATCH', memberPath(org, m.member.id), org.apiKey, { role: 'emperor' }));
      assert.equal(await role(), 'member');

      const promoted = await write(org, 'member.role_changed', 200, () => api('PATCH', memberPath(org, m.member.id), adminKey.secret, { role: 'admin' }));
      assert.equal(promoted.body.role, 'admin');
      const billing = await write(org, 'member.role_changed', 200, () => api('PATCH', memberPath(org, m.member.id), org.apiKey, { role: 'billing' }));
      assert.equal(billing.body.role, 'billing');
      await refused(org, 403, 'escalation', () => api('PATCH', memberPath(org, m.member.id), adminKey.secret, { role: 'member' }));
      assert.equal(await role(), 'billing', 'an admin cannot take away a role that can do more than they can');

      await refused(org, 403, 'owner_protected', () => api('PATCH', memberPath(org, org.owner.id), org.apiKey, { role: 'admin' }));
      await refused(org, 403, 'owner_protected', () => api('PATCH', memberPath(org, org.owner.id), adminKey.secret, { role: 'member' }));
      assert.equal((await membershipRow(org, org.owner.id)).role, 'owner');

      const memberKey = await keyWithRole(org, 'member');
      await refused(org, 403, 'forbidden', () => api('PATCH', memberPath(org, m.member.id), memberKey.secret, { name: 'By A Member' }));
    });

    it('a PATCH of profile and role is all or nothing: a refused role leaves the profile as it was', async () => {
      const org = await newOrg();
      const adminKey = await keyWithRole(org, 'admin');
      const m = await add(org, { name: 'Before Both' });
      const row = await membershipRow(org, m.member.id);
      const mark = await lastAuditId(org);
      const res = await api('PATCH', memberPath(org, m.member.id), adminKey.secret, { name: 'After Both', role: 'billing' });
      assert.deepEqual([res.status, res.body.code], [403, 'escalation']);
      assert.equal((await getMember(org, m.member.id)).name, 'Before Both', 'the name must not change when the role in the same request is refused');
      assert.deepEqual(await membershipRow(org, m.member.id), row);
      assert.deepEqual(await auditSince(org, mark), [], 'nothing changed, nothing audited');

      // Accepted: one write, one audit event, which names the role change and the profile fields changed with it.
      const both = await write(org, 'member.role_changed', 200, () => api('PATCH', memberPath(org, m.member.id), adminKey.secret, { name: 'After Both', phone: null, role: 'admin' }));
      assert.deepEqual([both.body.name, both.body.role], ['After Both', 'admin']);
      const event = await testDb()('audit_events').where({ org_id: org.org.id, target_id: m.member.id }).orderBy('id', 'desc').first('details');
      const details = typeof event.details === 'string' ? JSON.parse(event.details) : event.details;
      assert.deepEqual([details.from, details.to, details.fields], ['member', 'admin', ['name']], 'the fields that changed (the phone was none already)');
      // Nothing to change (the same name and role): no event at all.
      const mark2 = await lastAuditId(org);
      assert.equal((await api('PATCH', memberPath(org, m.member.id), adminKey.secret, { name: 'After Both', role: 'admin' })).status, 200);
      assert.deepEqual(await auditSince(org, mark2), []);
    });

    it('DELETE removes the membership and its group memberships, keeps the audit history; the owner cannot be removed', async () => {
      const org = await newOrg();
      const group = await write(org, 'group.created', 201, () => api('POST', `/orgs/${org.org.id}/groups`, org.apiKey, { name: 'Leavers' }));
      const m = await add(org, { groupIds: [group.body.id] });
      await write(org, 'member.updated', 200, () => api('PATCH', memberPath(org, m.member.id), org.apiKey, { name: 'Leaving Soon' }));
      assert.equal(Number((await testDb()('group_members').where({ org_id: org.org.id, membership_id: m.member.id }).count({ n: '*' }))[0].n), 1);

      await write(org, 'member.removed', 204, () => api('DELETE', memberPath(org, m.member.id), org.apiKey));
      assert.equal(await membershipRow(org, m.member.id), undefined);
      assert.deepEqual(await testDb()('group_members').where({ org_id: org.org.id, membership_id: m.member.id }).select('group_id'), []);
      assert.equal((await api('GET', `/orgs/${org.org.id}/groups/${group.body.id}`, org.apiKey)).body.members.length, 0);
      assert.equal(await accountRow(m.member.accountId!), undefined, 'the last membership of a managed account takes the account');
      const history = await testDb()('audit_events').where({ org_id: org.org.id, target_id: m.member.id }).orderBy('id').select('action');
      assert.deepEqual(history.map((e) => e.action), ['member.created', 'member.updated', 'member.removed'], 'the audit history stays');
      await refused(org, 404, 'not_found', () => api('GET', memberPath(org, m.member.id), org.apiKey));
      await refused(org, 404, 'not_found', () => api('DELETE', memberPath(org, m.member.id), org.apiKey));

      await refused(org, 403, 'owner_protected', () => api('DELETE', memberPath(org, org.owner.id), org.apiKey));
      const adminKey = await keyWithRole(org, 'admin');
      await refused(org, 403, 'owner_protected', () => api('DELETE', memberPath(org, org.owner.id), adminKey.secret));
      assert.ok(await membershipRow(org, org.owner.id));
    });
  });

  // ---- deactivation, resets, ownership --------------------------------------------------------------------

  describe('deactivate and reactivate', () => {
    it("deactivation records when and by whom, ends the person's sessions in this organisation only; twice is 409; the owner cannot be deactivated", async () => {
      const a = await newOrg();
      const b = await newOrg();
      const inA = await add(a);
      const inB = await add(b, { email: inA.member.email });
      const accountId = inA.member.accountId!;
      const sessionA = await liveSession(a.org.id, accountId);
      const sessionB = await liveSession(b.org.id, accountId);

      const res = await write(a, 'member.deactivated', 200, () => api('POST', `${memberPath(a, inA.member.id)}/deactivate`, a.apiKey));
      const keyId = await ownerKeyId(a);
      assert.equal(res.body.status, 'deactivated');
      assert.ok(res.body.deactivatedAt);
      assert.deepEqual(res.body.deactivatedBy, { type: 'api_key', id: keyId });
      const row = await membershipRow(a, inA.member.id);
      assert.equal(row.status, 'deactivated');
      assert.ok(row.deactivated_at instanceof Date);
      assert.deepEqual([row.deactivated_by_type, row.deactivated_by_id], ['api_key', keyId]);

      const revoked = await sessionRow(a.org.id, sessionA);
      assert.ok(revoked.revoked_at, 'the session in this organisation ended');
      assert.equal(revoked.revoked_reason, 'member_deactivated');
      assert.equal((await sessionRow(b.org.id, sessionB)).revoked_at, null, "the other organisation's session is untouched");
      assert.equal((await membershipRow(b, inB.member.id)).status, 'active');
      assert.equal((await accountRow(accountId)).status, 'active', 'still an active member elsewhere');

      await refused(a, 409, 'already_deactivated', () => api('POST', `${memberPath(a, inA.member.id)}/deactivate`, a.apiKey));
      await refused(a, 403, 'owner_protected', () => api('POST', `${memberPath(a, a.owner.id)}/deactivate`, a.apiKey));
      assert.equal((await membershipRow(a, a.owner.id)).status, 'active');
      await refused(a, 400, ['invalid_request', 'invalid_value'], () => api('POST', `${memberPath(a, inA.member.id)}/reactivate`, a.apiKey, { now: true }));
    });

    it('reactivation takes a licence seat: refused at the limit (409 licence_limit_reached), then allowed; twice is 409 already_active', async () => {
      const org = await newOrg();
      const m = await add(org);
      await write(org, 'member.deactivated', 200, () => api('POST', `${memberPath(org, m.member.id)}/deactivate`, org.apiKey));
      await setLicenceLimit(org, 2);
      await add(org); // the owner and this one fill the limit
      await refused(org, 409, 'licence_limit_reached', () => api('POST', `${memberPath(org, m.member.id)}/reactivate`, org.apiKey));
      assert.equal((await membershipRow(org, m.member.id)).status, 'deactivated');

      await setLicenceLimit(org, 3);
      const back = await write(org, 'member.reactivated', 200, () => api('POST', `${memberPath(org, m.member.id)}/reactivate`, org.apiKey));
      assert.deepEqual([back.body.status, back.body.deactivatedAt, back.body.deactivatedBy], ['active', null, null]);
      const row = await membershipRow(org, m.member.id);
      assert.deepEqual([row.status, row.deactivated_at, row.deactivated_by_type, row.deactivated_by_id], ['active', null, null, null]);
      await refused(org, 409, 'already_active', () => api('POST', `${memberPath(org, m.member.id)}/reactivate`, org.apiKey));
    });
  });

  describe('reset-password and reset-mfa', () => {
    it("reset-password returns a temporary password once, forces a change, ends the person's sessions; refused for an account another organisation manages", async () => {
      const a = await newOrg();
      const b = await newOrg();
      const m = await add(a);
      const accountId = m.member.accountId!;
      await testDb()('accounts').where({ id: accountId }).update({ must_change_password: false });
      const session = await liveSession(a.org.id, accountId);
      const old = (await accountRow(accountId)).password_hash;

      const reset = await write(a, 'member.password_reset', 200, () => api('POST', `${memberPath(a, m.member.id)}/reset-password`, a.apiKey));
      assert.deepEqual(Object.keys(reset.body), ['temporaryPassword']);
      assert.notEqual(reset.body.temporaryPassword, m.temporaryPassword);
      const account = await accountRow(accountId);
      assert.notEqual(account.password_hash, old);
      assert.equal(account.must_change_password, true);
      assert.equal(await verifies(account.password_hash, reset.body.temporaryPassword), true);
      assert.equal(await verifies(account.password_hash, m.temporaryPassword!), false, 'the old password no longer works');
      assert.ok((await sessionRow(a.org.id, session)).revoked_at, 'sessions end');
      assert.equal(JSON.stringify(await getMember(a, m.member.id)).includes(reset.body.temporaryPassword), false);

      const linked = await add(b, { email: m.member.email });
      await refused(b, 403, 'not_managed', () => api('POST', `${memberPath(b, linked.member.id)}/reset-password`, b.apiKey));
      assert.equal((await accountRow(accountId)).password_hash, account.password_hash, 'unchanged');
      const adminKey = await keyWithRole(a, 'admin');
      await refused(a, 403, 'owner_protected', () => api('POST', `${memberPath(a, a.owner.id)}/reset-password`, adminKey.secret));
    });

    it('reset-mfa is 400 no_mfa without a factor; with a TOTP factor it deletes the factors and recovery codes and ends sessions here', async () => {
      const a = await newOrg();
      const b = await newOrg();
      const m = await add(a);
      const accountId = m.member.accountId!;
      await refused(a, 400, 'no_mfa', () => api('POST', `${memberPath(a, m.member.id)}/reset-mfa`, a.apiKey));

      await testDb()('mfa_factors').insert({ account_id: accountId, kind: 'totp', secret_sealed: 'sealed-for-the-test', confirmed_at: new Date() });
      await testDb()('recovery_codes').insert([{ account_id: accountId, code_hash: 'hash-one' }, { account_id: accountId, code_hash: 'hash-two' }]);
      assert.deepEqual((await getMember(a, m.member.id)).mfaMethods, ['totp']);
      const session = await liveSession(a.org.id, accountId);

      const linked = await add(b, { email: m.member.email });
      await refused(b, 403, 'not_managed', () => api('POST', `${memberPath(b, linked.member.id)}/reset-mfa`, b.apiKey));
      assert.equal((await testDb()('mfa_factors').where({ account_id: accountId })).length, 1, 'not reset by another organisation');

      const reset = await write(a, 'member.mfa_reset', 200, () => api('POST', `${memberPath(a, m.member.id)}/reset-mfa`, a.apiKey));
      assert.deepEqual(reset.body.mfaMethods, []);
      assert.deepEqual(await testDb()('mfa_factors').where({ account_id: accountId }), []);
      assert.deepEqual(await testDb()('recovery_codes').where({ account_id: accountId }), []);
      assert.ok((await sessionRow(a.org.id, session)).revoked_at);
      await refused(a, 400, 'no_mfa', () => api('POST', `${memberPath(a, m.member.id)}/reset-mfa`, a.apiKey));
    });
  });

  describe('transfer-ownership', () => {
    it('needs org.own; goes to an active admin only; leaves exactly one owner, the old one an admin', async () => {
      const org = await newOrg();
      const adminKey = await keyWithRole(org, 'admin');
      const admin = await add(org, { role: 'admin' });
      const plain = await add(org);
      const sleepingAdmin = await add(org, { role: 'admin' });
      await write(org, 'member.deactivated', 200, () => api('POST', `${memberPath(org, sleepingAdmin.member.id)}/deactivate`, org.apiKey));
      const transfer = `/orgs/${org.org.id}/transfer-ownership`;

      await refused(org, 403, 'forbidden', () => api('POST', transfer, adminKey.secret, { memberId: admin.member.id }));
      await refused(org, 400, ['invalid_value', 'invalid_request'], () => api('POST', transfer, org.apiKey, { memberId: plain.member.id }));
      await refused(org, 400, ['invalid_value', 'invalid_request'], () => api('POST', transfer, org.apiKey, { memberId: sleepingAdmin.member.id }));
      await refused(org, 400, 'invalid_request', () => api('POST', transfer, org.apiKey, { memberId: 'someone' }));
      await refused(org, 409, 'already_owner', () => api('POST', transfer, org.apiKey, { memberId: org.owner.id }));
      assert.deepEqual(await owners(), [org.owner.id]);

      const done = await write(org, 'organization.ownership_transferred', 200, () => api('POST', transfer, org.apiKey, { memberId: admin.member.id }));
      assert.deepEqual([done.body.id, done.body.role], [admin.member.id, 'owner']);
      assert.deepEqual(await owners(), [admin.member.id], 'exactly one owner');
      assert.equal((await membershipRow(org, org.owner.id)).role, 'admin');

      async function owners() {
        return (await testDb()('memberships').where({ org_id: org.org.id, role: 'owner' }).select('id')).map((r) => r.id);
      }
    });
  });

  // ---- the audit log ---------------------------------------------------------------------------------------

  describe('audit_events', () => {
    it('refuses UPDATE, DELETE and TRUNCATE, whoever asks', async () => {
      const org = await newOrg();
      await add(org);
      const rows = await testDb()('audit_events').where({ org_id: org.org.id }).count({ n: '*' });
      // Each statement runs in a transaction that is always rolled back: were it allowed, nothing would be lost.
      const attempt = async (sql: string, bindings: string[]) => {
        let error: unknown;
        await testDb().transaction(async (trx) => {
          try {
            await trx.raw(sql, bindings);
          } catch (err) {
            error = err;
          }
          throw new Error('rollback');
        }).catch((err: Error) => { if (err.message !== 'rollback' && !error) error = err; });
        assert.ok(error instanceof Error, `${sql.split(' ')[0]} was not refused`);
        assert.match(error.message, /append-only/, `${sql}: ${error.message}`);
      };
      await attempt("update audit_events set action = 'member.nothing' where org_id = ?", [org.org.id]);
      await attempt('delete from audit_events where org_id = ?', [org.org.id]);
      await attempt('truncate audit_events', []);
      assert.deepEqual(await testDb()('audit_events').where({ org_id: org.org.id }).count({ n: '*' }), rows);
    });
  });

  // ---- a live member token ---------------------------------------------------------------------------------

  describe("a member's own access token", () => {
    it('a role change applies to the very next request of the same token', async () => {
      const org = await newOrg();
      const m = await add(org, { name: 'Token Holder' });
      const token = await signIn(org, m.member.email, m.temporaryPassword!);

      assert.equal((await list(org, '', token)).total, 2, 'a member reads the roster');
      await refused(org, 403, 'forbidden', () => api('POST', members(org), token, { email: address(), role: 'member' }));
      await refused(org, 403, 'forbidden', () => api('PATCH', memberPath(org, org.owner.id), token, { role: 'member' }));

      await write(org, 'member.role_changed', 200, () => api('PATCH', memberPath(org, m.member.id), org.apiKey, { role: 'admin' }));
      const made = await add(org, {}, token);
      const [event] = await testDb()('audit_events').where({ org_id: org.org.id, target_id: made.member.id }).select('actor_type', 'actor_id');
      assert.deepEqual([event.actor_type, event.actor_id], ['user', m.member.accountId], 'the audit log names the member');

      await write(org, 'member.role_changed', 200, () => api('PATCH', memberPath(org, m.member.id), org.apiKey, { role: 'member' }));
      await refused(org, 403, 'forbidden', () => api('POST', members(org), token, { email: address(), role: 'member' }));
    });

    it('nobody deactivates, removes, resets the MFA of or changes the role of themselves (403 self_action): an admin, or the owner', async () => {
      const org = await newOrg();
      const m = await add(org, { role: 'admin' });
      const adminToken = await signIn(org, m.member.email, m.temporaryPassword!);
      const ownerToken = await signIn(org, org.owner.email, org.owner.temporaryPassword!);
      // A factor (after signing in: its secret is not a real one), so that only the self rule refuses the MFA reset.
      await testDb()('mfa_factors').insert({ account_id: m.member.accountId, kind: 'totp', secret_sealed: 'sealed-for-the-test', confirmed_at: new Date() });

      for (const [token, id] of [[adminToken, m.member.id], [ownerToken, org.owner.id]]) {
        const before = await membershipRow(org, id);
        await refused(org, 403, 'self_action', () => api('POST', `${memberPath(org, id)}/deactivate`, token));
        await refused(org, 403, 'self_action', () => api('DELETE', memberPath(org, id), token));
        await refused(org, 403, 'self_action', () => api('POST', `${memberPath(org, id)}/reset-mfa`, token));
        assert.deepEqual(await membershipRow(org, id), before, 'nothing changed');
      }
      assert.equal((await testDb()('mfa_factors').where({ account_id: m.member.accountId })).length, 1);
      // Nor their own role, with their token or a key they made (it answers to them): an admin only through a group
      // would otherwise make the role their own and keep it after leaving the group.
      const adminsKey = await api('POST', `/orgs/${org.org.id}/api-keys`, adminToken, { name: 'mine', role: 'admin' });
      assert.equal(adminsKey.status, 201);
      for (const credential of [adminToken, adminsKey.body.secret]) {
        await refused(org, 403, 'self_action', () => api('PATCH', memberPath(org, m.member.id), credential, { role: 'member' }));
        await refused(org, 403, 'self_action', () => api('POST', `${memberPath(org, m.member.id)}/deactivate`, credential));
      }
      assert.equal((await membershipRow(org, m.member.id)).role, 'admin');
      assert.equal((await list(org, '', adminToken)).total, 2, 'both tokens still work');
      // The admin may act on others: the same token deactivates a plain member.
      const other = await add(org);
      await write(org, 'member.deactivated', 200, () => api('POST', `${memberPath(org, other.member.id)}/deactivate`, adminToken));
    });
  });
});
