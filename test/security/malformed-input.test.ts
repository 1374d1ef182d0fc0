// Adversarial: malformed paging and sorting, malformed PATCH requests, values of the wrong type or size. Every one
// is a 4xx SCIM error (never 500), and a refused request leaves the database exactly as it was.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { assertScimError, createGroup, createUser, ENTERPRISE, GROUP, newOrg, type TestOrg, unique, USER, userBody } from '../helpers.ts';
import { testDb } from '../setup.ts';
import { groupMemberRows, groupRow, membershipRow, patchBody, PATCH_OP, postText, problemWith, snapshot } from './support.ts';

const SEARCH = 'urn:ietf:params:scim:api:messages:2.0:SearchRequest';

/** Adds `n` members straight into the database: enough rows to test paging limits without n HTTP calls. */
async function bulkInsertMembers(orgId: string, n: number): Promise<void> {
  const tag = unique('bulk');
  const db = testDb();
  for (let i = 0; i < n; i += 500) {
    const size = Math.min(500, n - i);
    const accounts = await db('accounts')
      .insert(Array.from({ length: size }, (_, k) => ({ email: `${tag}-${i + k}@example.test`, managed_by_org_id: orgId })))
      .returning(['id', 'email']);
    await db('memberships').insert(accounts.map((a: { id: string; email: string }) => ({
      org_id: orgId, account_id: a.id, user_name: a.email, emails: JSON.stringify([{ value: a.email, primary: true }]),
    })));
  }
}

describe('security: malformed paging and sorting', () => {
  it('startIndex below 1 means 1; count and startIndex that are not integers are 400; negative count is 0', async () => {
    const org = await newOrg();
    for (let i = 0; i < 3; i++) await createUser(org.scim);
    const first = await org.scim.get('/Users?startIndex=1&count=2');
    assert.equal(first.status, 200);
    for (const q of ['startIndex=-5&count=2', 'startIndex=0&count=2', 'startIndex=-99999999999&count=2']) {
      const res = await org.scim.get(`/Users?${q}`);
      assert.equal(res.status, 200, `${q}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.startIndex, 1, q);
      assert.deepEqual(res.body.Resources.map((r: { id: string }) => r.id), first.body.Resources.map((r: { id: string }) => r.id), q);
    }
    const none = await org.scim.get('/Users?count=-1');
    assert.equal(none.status, 200);
    assert.equal(none.body.Resources.length, 0);
    assert.equal(none.body.totalResults, 4);
    const beyond = await org.scim.get('/Users?startIndex=999999999');
    assert.equal(beyond.status, 200);
    assert.deepEqual(beyond.body.Resources, []);
    for (const q of ['count=abc', 'count=1.5', 'count=1e3', 'count=0x10', 'count=%20', 'startIndex=abc', 'startIndex=1;drop', 'startIndex=99999999999999999999', 'count=NaN', 'count=Infinity']) {
      const res = await org.scim.get(`/Users?${q}`);
      if (q === 'count=%20') { assert.ok(res.status === 200 || res.status === 400, q); continue; }
      assertScimError(res, 400, 'invalidValue');
    }
  });

  it('the same limits hold in a SearchRequest body, whatever JSON type is sent', async () => {
    const org = await newOrg();
    const problems: string[] = [];
    for (const extra of [
      { count: 'abc' }, { count: 1.5 }, { count: true }, { count: {} }, { count: [1] }, { startIndex: 'x' }, { startIndex: null, count: null },
      { filter: 42 }, { filter: { op: 'eq' } }, { filter: [1, 2] }, { sortBy: 7 }, { sortOrder: 'sideways' }, { attributes: 5 }, { excludedAttributes: {} },
    ]) {
      for (const path of ['/Users/.search', '/Groups/.search', '/.search']) {
        const res = await org.scim.post(path, { schemas: [SEARCH], ...extra });
        const p = problemWith(res, `${path} ${JSON.stringify(extra)}`);
        if (p) problems.push(p);
      }
    }
    assert.deepEqual(problems, []);
    for (const path of ['/Users/.search', '/.search']) {
      const res = await org.scim.post(path, { schemas: [SEARCH], startIndex: -5, count: 2 });
      assert.equal(res.status, 200);
      assert.equal(res.body.startIndex, 1);
      assertScimError(await org.scim.post(path, { schemas: [SEARCH], count: 'abc' }), 400, 'invalidValue');
    }
    assertScimError(await org.scim.post('/Users/.search', { filter: 'userName pr' }), 400);
    assertScimError(await org.scim.post('/Users/.search', [SEARCH]), 400);
  });

  it('count=100000 is capped at the maxResults advertised in /ServiceProviderConfig', async () => {
    const org = await newOrg();
    const spc = await org.scim.get('/ServiceProviderConfig');
    assert.equal(spc.status, 200);
    const maxResults = spc.body.filter.maxResults as number;
    assert.ok(Number.isInteger(maxResults) && maxResults > 0 && maxResults <= 10_000, `maxResults ${maxResults}`);
    await bulkInsertMembers(org.org.id, maxResults + 5);
    const total = maxResults + 6; // and the owner

    const res = await org.scim.get('/Users?count=100000&attributes=userName');
    assert.equal(res.status, 200);
    assert.equal(res.body.totalResults, total);
    assert.equal(res.body.itemsPerPage, maxResults);
    assert.equal(res.body.Resources.length, maxResults);

    const search = await org.scim.post('/Users/.search', { schemas: [SEARCH], count: 100000, attributes: ['userName'] });
    assert.equal(search.status, 200);
    assert.equal(search.body.Resources.length, maxResults);
    assert.equal(search.body.totalResults, total);

    const root = await org.scim.post('/.search', { schemas: [SEARCH], count: 100000, attributes: ['id'] });
    assert.equal(root.status, 200);
    assert.ok(root.body.Resources.length <= maxResults, `root .search returned ${root.body.Resources.length}`);

    const rest = await org.scim.get(`/Users?startIndex=${maxResults + 1}&count=100000&attributes=userName`);
    assert.equal(rest.status, 200);
    assert.equal(rest.body.Resources.length, 6);
  });

  it('sortBy on unknown or unsortable attributes, and a bad sortOrder, are 400 SCIM errors', async () => {
    const org = await newOrg();
    await createUser(org.scim);
    const problems: string[] = [];
    for (const sortBy of ['nope', 'password', 'groups', 'groups.value', 'name', `${ENTERPRISE}:manager`, 'emails[type eq "work"]', 'userName desc', 'userName;drop table accounts', "userName' --", 'meta', 'urn:x:y:z', '__proto__', 'constructor']) {
      const res = await org.scim.get(`/Users?sortBy=${encodeURIComponent(sortBy)}`);
      const p = problemWith(res, `sortBy=${sortBy}`);
      if (p) problems.push(p);
      else if (res.status !== 400) problems.push(`sortBy=${sortBy}: ${res.status}`);
    }
    for (const sortBy of ['members', 'members.value', 'nope']) {
      const res = await org.scim.get(`/Groups?sortBy=${encodeURIComponent(sortBy)}`);
      const p = problemWith(res, `Groups sortBy=${sortBy}`);
      if (p) problems.push(p);
      else if (res.status !== 400) problems.push(`Groups sortBy=${sortBy}: ${res.status}`);
    }
    assert.deepEqual(problems, []);
    assertScimError(await org.scim.get('/Users?sortBy=userName&sortOrder=sideways'), 400);
    const ok = await org.scim.get('/Users?sortBy=USERNAME&sortOrder=DESCENDING');
    assert.equal(ok.status, 200);
  });
});

describe('security: malformed PATCH requests', () => {
  /** The user's membership and account rows, to compare before and after. */
  const state = async (org: TestOrg, id: string) => {
    const m = await membershipRow(org.org.id, id);
    return { m, a: await testDb()('accounts').where({ id: m.account_id }).first() };
  };

  it('a PATCH envelope that is not a PatchOp with an array of operations is 400, and changes nothing', async () => {
    const org = await newOrg();
    const u = await createUser(org.scim);
    const before = await state(org, u.id);
    const bodies: unknown[] = [
      { schemas: [PATCH_OP], Operations: { op: 'replace', path: 'displayName', value: 'x' } },
      { schemas: [PATCH_OP], Operations: 'replace displayName x' },
      { schemas: [PATCH_OP], Operations: null },
      { schemas: [PATCH_OP], Operations: 7 },
      { schemas: [PATCH_OP], Operations: [] },
      { schemas: [PATCH_OP] },
      { schemas: [PATCH_OP], Operations: [null] },
      { schemas: [PATCH_OP], Operations: [[{ op: 'replace', path: 'displayName', value: 'x' }]] },
      { schemas: [PATCH_OP], Operations: ['replace'] },
      { Operations: [{ op: 'replace', path: 'displayName', value: 'x' }] },
      { schemas: PATCH_OP, Operations: [{ op: 'replace', path: 'displayName', value: 'x' }] },
      { schemas: [USER], Operations: [{ op: 'replace', path: 'displayName', value: 'x' }] },
      [{ op: 'replace', path: 'displayName', value: 'x' }],
      'replace',
      42,
    ];
    for (const body of bodies) {
      const res = await patchBody(org, `/Users/${u.id}`, body);
      try { assertScimError(res, 400); } catch (err) { throw new Error(`${JSON.stringify(body)}: ${(err as Error).message}`); }
    }
    const nullBody = await postText(org, '/Users', 'null');
    assert.equal(nullBody.status, 400);
    assert.deepEqual(await state(org, u.id), before);
  });

  it('unknown ops ("move", "copy", "test"), missing op, non-string op or path are 400 invalidValue; remove without path is noTarget', async () => {
    const org = await newOrg();
    const u = await createUser(org.scim);
    const before = await state(org, u.id);
    for (const op of [
      { op: 'move', from: 'displayName', path: 'nickName' },
      { op: 'copy', from: 'userName', path: 'displayName' },
      { op: 'test', path: 'userName', value: u.userName },
      { op: 'MOVE', path: 'displayName', value: 'x' },
      { path: 'displayName', value: 'x' },
      { op: 1, path: 'displayName', value: 'x' },
      { op: ['replace'], path: 'displayName', value: 'x' },
      { op: 'replace', path: 5, value: 'x' },
      { op: 'replace', path: '', value: 'x' },
      { op: 'replace', path: '   ', value: 'x' },
      { op: 'replace', path: 'displayName' },
      { op: 'add' },
    ]) {
      const res = await org.scim.patch(`/Users/${u.id}`, [op]);
      try { assertScimError(res, 400, 'invalidValue'); } catch (err) { throw new Error(`${JSON.stringify(op)}: ${(err as Error).message}`); }
    }
    assertScimError(await org.scim.patch(`/Users/${u.id}`, [{ op: 'remove' }]), 400, 'noTarget'); // RFC 7644 3.5.2.2
    assert.deepEqual(await state(org, u.id), before);
  });

  it('malformed and unknown paths (name[, emails[type eq], __proto__...) are 400 invalidPath or invalidFilter', async () => {
    const org = await newOrg();
    const u = await createUser(org.scim);
    const before = await state(org, u.id);
    const problems: string[] = [];
    for (const path of [
      'name[', 'emails[type eq]', 'emails[type eq "work"', 'emails]', 'emails[]', 'emails[type eq "work"].nope', 'emails[type eq "work"]x',
      'emails[type eq "work"][value eq "x"]', 'emails[nope eq "x"]', 'emails[type xx "work"]', 'name[givenName eq "x"]', 'userName[value eq "x"]',
      'nope', 'name.nope', 'name.givenName.deeper', 'urn:bad:schema:attr', `${ENTERPRISE}:nope`, `${ENTERPRISE}`, 'members',
      '__proto__', '__proto__.polluted', 'constructor', 'constructor.prototype', 'toString', 'name.__proto__', 'emails[type eq "work"].__proto__',
      `${'('.repeat(2000)}`, `emails[${'('.repeat(2000)}type eq "work"]`, `emails[type eq "work"${')'.repeat(2000)}]`,
    ]) {
      for (const op of ['add', 'replace', 'remove']) {
        const res = await org.scim.patch(`/Users/${u.id}`, [{ op, path, value: op === 'remove' ? undefined : 'x' }]);
        const what = `${op} ${path.length > 80 ? `${path.slice(0, 40)}...${path.slice(-40)}` : path}`;
        const p = problemWith(res, what);
        if (p) { problems.push(p); continue; }
        if (res.status !== 400) problems.push(`${what}: ${res.status} ${JSON.stringify(res.body).slice(0, 200)}`);
        else if (!['invalidPath', 'invalidFilter', 'noTarget', 'invalidValue', 'mutability'].includes(res.body.scimType)) problems.push(`${what}: scimType ${res.body.scimType}`);
      }
    }
    assert.deepEqual(problems, []);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.deepEqual(await state(org, u.id), before);
  });

  it('values of the wrong type are 400 invalidValue and change nothing', async () => {
    const org = await newOrg();
    const u = await createUser(org.scim);
    const before = await state(org, u.id);
    const problems: string[] = [];
    for (const op of [
      { op: 'replace', path: 'active', value: 'maybe' },
      { op: 'replace', path: 'active', value: 1 },
      { op: 'replace', value: { active: 'nope' } },
      { op: 'replace', path: 'emails', value: 42 },
      { op: 'replace', path: 'emails', value: 'x@example.test' },
      { op: 'add', path: 'emails', value: [{ value: { $ne: null } }] },
      { op: 'replace', path: 'emails[type eq "work"].value', value: 7 },
      { op: 'replace', path: 'emails[type eq "work"]', value: 'x' },
      { op: 'replace', path: 'emails[type eq "work"].primary', value: 'perhaps' },
      { op: 'replace', path: 'name', value: 'Jensen' },
      { op: 'replace', path: 'name', value: ['Jensen'] },
      { op: 'replace', path: 'name.givenName', value: 5 },
      { op: 'replace', path: 'name.givenName', value: { first: 'x' } },
      { op: 'replace', path: 'userName', value: { value: 'x' } },
      { op: 'replace', path: 'userName', value: 5 },
      { op: 'replace', path: 'userName', value: ['a@example.test'] },
      { op: 'replace', path: 'userName', value: null },
      { op: 'remove', path: 'userName' },
      { op: 'replace', path: 'displayName', value: [] },
      { op: 'replace', path: 'displayName', value: true },
      { op: 'replace', path: 'phoneNumbers', value: [{ value: {} }] },
      { op: 'replace', path: 'password', value: 12345678 },
      { op: 'replace', path: 'password', value: 'short' },
      { op: 'replace', path: 'password', value: 'x'.repeat(300) },
      { op: 'replace', path: `${ENTERPRISE}:employeeNumber`, value: { n: 1 } },
      { op: 'replace', path: `${ENTERPRISE}:manager`, value: 5 },
      { op: 'replace', value: { [ENTERPRISE]: 'flat' } },
      { op: 'replace', value: 'not an object' },
      { op: 'replace', value: ['userName', 'x'] },
      { op: 'add', value: null },
    ]) {
      const res = await org.scim.patch(`/Users/${u.id}`, [op]);
      const p = problemWith(res, JSON.stringify(op));
      if (p) problems.push(p);
      else if (res.status !== 400) problems.push(`${JSON.stringify(op)}: ${res.status} ${JSON.stringify(res.body).slice(0, 200)}`);
      else if (res.body.scimType !== 'invalidValue') problems.push(`${JSON.stringify(op)}: scimType ${res.body.scimType}`);
    }
    assert.deepEqual(problems, []);
    assert.deepEqual(await state(org, u.id), before);
  });

  it('a PATCH whose first operation is valid and second invalid applies nothing (row, version, account, groups)', async () => {
    const org = await newOrg();
    const u = await createUser(org.scim, undefined, { title: 'Before' });
    const other = await createUser(org.scim);
    const before = await state(org, u.id);
    const sequences: unknown[][] = [
      [{ op: 'replace', path: 'displayName', value: 'After' }, { op: 'replace', path: 'active', value: 'maybe' }],
      [{ op: 'replace', path: 'name.givenName', value: 'After' }, { op: 'replace', path: 'nope', value: 'x' }],
      [{ op: 'add', path: 'emails', value: [{ value: 'second@example.test', type: 'home' }] }, { op: 'move', path: 'title' }],
      [{ op: 'remove', path: 'title' }, { op: 'replace', path: 'id', value: 'x' }],
      [{ op: 'replace', value: { active: false } }, { op: 'replace', path: 'meta.created', value: '2000-01-01T00:00:00Z' }],
      [{ op: 'replace', path: 'userName', value: `${unique('renamed')}@example.test` }, { op: 'replace', path: 'userName', value: other.userName.toUpperCase() }],
      [{ op: 'replace', path: 'emails', value: [{ value: `${unique('moved')}@example.test`, primary: true }] }, { op: 'add', path: 'name[givenName eq "x"]', value: 'x' }],
      [{ op: 'replace', path: 'displayName', value: 'After' }, { op: 'replace', path: 'name', value: 'not an object' }],
    ];
    for (const ops of sequences) {
      const res = await org.scim.patch(`/Users/${u.id}`, ops);
      assert.ok(res.status === 400 || res.status === 409, `${JSON.stringify(ops)}: ${res.status} ${JSON.stringify(res.body)}`);
      assert.deepEqual(await state(org, u.id), before, JSON.stringify(ops));
    }
    const got = await org.scim.get(`/Users/${u.id}`);
    assert.equal(got.body.meta.version, u.meta.version);
    assert.equal(got.body.title, 'Before');
    assert.equal(got.body.active, true);
  });

  it('a group PATCH whose later operation fails applies none of the earlier ones (members, name, version)', async () => {
    const org = await newOrg();
    const stranger = await newOrg();
    const member = await createUser(org.scim);
    const newcomer = await createUser(org.scim);
    const foreign = await createUser(stranger.scim);
    const taken = await createGroup(org.scim, unique('taken-'));
    const g = await createGroup(org.scim, unique('target-'), [member.id]);
    const before = { row: await groupRow(org.org.id, g.id), members: await groupMemberRows(org.org.id, g.id) };
    const sequences: unknown[][] = [
      [{ op: 'add', path: 'members', value: [{ value: newcomer.id }] }, { op: 'replace', path: 'displayName', value: 123 }],
      [{ op: 'add', path: 'members', value: [{ value: newcomer.id }] }, { op: 'add', path: 'members', value: [{ value: foreign.id }] }],
      [{ op: 'remove', path: 'members' }, { op: 'add', path: 'members', value: [{ value: 'not-a-uuid' }] }],
      [{ op: 'add', path: 'members', value: [{ value: newcomer.id }] }, { op: 'replace', path: 'displayName', value: taken.displayName.toUpperCase() }],
      [{ op: 'replace', path: 'displayName', value: 'renamed' }, { op: 'remove', path: 'members[value ne "x"]' }],
      [{ op: 'remove', path: `members[value eq "${member.id}"]` }, { op: 'add', path: 'members', value: [{ value: newcomer.id, type: 'Group' }] }],
      [{ op: 'replace', path: 'members', value: [] }, { op: 'replace', path: 'nope', value: 'x' }],
    ];
    for (const ops of sequences) {
      const res = await org.scim.patch(`/Groups/${g.id}`, ops);
      assert.ok(res.status === 400 || res.status === 409, `${JSON.stringify(ops)}: ${res.status} ${JSON.stringify(res.body)}`);
      assert.deepEqual({ row: await groupRow(org.org.id, g.id), members: await groupMemberRows(org.org.id, g.id) }, before, JSON.stringify(ops));
    }
  });
});

describe('security: values the database cannot hold', () => {
  it('a NUL character in a string attribute is refused with 400, not 500', async () => {
    const org = await newOrg();
    const u = await createUser(org.scim);
    const before = await snapshot(org.org.id, [u.id]);
    const problems: string[] = [];
    const check = (res: Awaited<ReturnType<typeof org.scim.get>>, what: string) => {
      const p = problemWith(res, what);
      if (p) problems.push(p);
      else if (res.status !== 400) problems.push(`${what}: ${res.status}`);
    };
    check(await org.scim.post('/Users', userBody(`nul\u0000${unique()}@example.test`)), 'POST userName with NUL');
    check(await org.scim.post('/Users', userBody(`${unique()}@example.test`, { name: { givenName: 'a\u0000b', familyName: 'F' } })), 'POST name.givenName with NUL');
    check(await org.scim.post('/Users', userBody(`${unique()}@example.test`, { externalId: 'ext\u0000' })), 'POST externalId with NUL');
    check(await org.scim.patch(`/Users/${u.id}`, [{ op: 'replace', path: 'name.givenName', value: 'a\u0000b' }]), 'PATCH name.givenName with NUL');
    check(await org.scim.patch(`/Users/${u.id}`, [{ op: 'replace', path: 'displayName', value: '\u0000' }]), 'PATCH displayName with NUL');
    check(await org.scim.post('/Groups', { schemas: [GROUP], displayName: `g\u0000${unique()}` }), 'POST group displayName with NUL');
    check(await org.scim.post('/Users/.search', { schemas: ['urn:ietf:params:scim:api:messages:2.0:SearchRequest'], filter: 'userName eq "a\u0000b"' }), '.search filter with a raw NUL');
    assert.deepEqual(problems, []);
    assert.deepEqual(await snapshot(org.org.id, [u.id]), before);
  });

  it('over-long userName, displayName and externalId are refused with 400 (or stored), never 500', async () => {
    const org = await newOrg();
    const u = await createUser(org.scim);
    const g = await createGroup(org.scim);
    const problems: string[] = [];
    const check = (res: Awaited<ReturnType<typeof org.scim.get>>, what: string, okStatuses: number[]) => {
      const p = problemWith(res, what);
      if (p) problems.push(p);
      else if (!okStatuses.includes(res.status)) problems.push(`${what}: ${res.status}`);
    };
    const longName = `${'x'.repeat(300)}`;
    const noise = randomBytes(3000).toString('base64').slice(0, 4000);
    check(await org.scim.post('/Users', userBody(longName, { emails: [{ value: `${unique()}@example.test`, primary: true }] })), 'POST userName of 300 characters', [400]);
    check(await org.scim.patch(`/Users/${u.id}`, [{ op: 'replace', path: 'userName', value: longName }]), 'PATCH userName of 300 characters', [400]);
    check(await org.scim.post('/Groups', { schemas: [GROUP], displayName: 'g'.repeat(300) }), 'POST group displayName of 300 characters', [400]);
    check(await org.scim.patch(`/Groups/${g.id}`, [{ op: 'replace', path: 'displayName', value: 'g'.repeat(300) }]), 'PATCH group displayName of 300 characters', [400]);
    check(await org.scim.post('/Users', userBody(`${unique()}@example.test`, { externalId: noise })), 'POST externalId of 4,000 random characters', [201, 400]);
    check(await org.scim.patch(`/Users/${u.id}`, [{ op: 'replace', path: 'externalId', value: noise }]), 'PATCH externalId of 4,000 random characters', [200, 400]);
    check(await org.scim.post('/Groups', { schemas: [GROUP], displayName: unique('g'), externalId: noise }), 'POST group externalId of 4,000 random characters', [201, 400]);
    check(await org.scim.post('/Users', userBody(`${'y'.repeat(310)}@example.test`)), 'POST e-mail of 320+ characters', [400]);
    assert.deepEqual(problems, []);
  });

  it('JSON keys like __proto__ and constructor neither pollute the server nor reach storage', async () => {
    const org = await newOrg();
    const u = await createUser(org.scim);
    const text = `{"schemas":["${USER}"],"userName":"${unique('proto')}@example.test","__proto__":{"polluted":"yes","active":false},"name":{"__proto__":{"polluted":"yes"},"givenName":"P"},"constructor":{"prototype":{"polluted":"yes"}}}`;
    const created = await postText(org, '/Users', text);
    assert.ok(created.status === 201 || created.status === 400, `${created.status} ${JSON.stringify(created.body)}`);
    const patched = await patchBody(org, `/Users/${u.id}`, JSON.parse(`{"schemas":["${PATCH_OP}"],"Operations":[{"op":"replace","value":{"__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}}}}]}`));
    assert.ok(patched.status === 200 || patched.status === 400, `${patched.status} ${JSON.stringify(patched.body)}`);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.equal((Object.prototype as Record<string, unknown>).active, undefined);
    const rows = (await testDb().raw(`select m::text as p from memberships m where m.org_id = ?`, [org.org.id])).rows as { p: string }[];
    for (const { p } of rows) assert.equal(p.includes('polluted'), false, p);
  });
});
