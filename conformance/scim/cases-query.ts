// Listing, paging, sorting, attribute projection and POST .search (RFC 7644 §3.4.2-3.4.3).
import assert from 'node:assert/strict';
import { qs } from './client.ts';
import { test } from './runner.ts';
import type { Ctx } from './runner.ts';
import { ENTERPRISE, LIST, SEARCH, expectList, expectStatus, idsOf, memberIds } from './scim.ts';

/** Filter matching the users this case created (all userNames start with "<scope>-"). */
const mine = (ctx: Ctx): string => `userName sw "${ctx.scope}-"`;

async function createUsers(ctx: Ctx, labels: string[]): Promise<any[]> {
  const users: any[] = [];
  for (const l of labels) users.push(await ctx.createUser({ userName: ctx.uname(l), title: `title-${l}` }));
  return users;
}

test('list: GET /Users and /Groups return a ListResponse with startIndex 1', async (ctx) => {
  const { c } = ctx;
  await ctx.createUser();
  await ctx.createGroup();
  for (const path of ['/Users', '/Groups', `/Users${qs({ startIndex: 1, count: 2 })}`]) {
    const res = await c.get(path);
    expectList(res);
    assert.equal(res.body.startIndex, 1, `${path}: startIndex`);
    assert.ok(res.body.totalResults >= 1, `${path}: totalResults`);
  }
});

test('list: filter with no match -> 200, totalResults 0, Resources []', async (ctx) => {
  const res = await ctx.c.get(`/Users${qs({ filter: `userName eq "${ctx.uname('nobody')}"` })}`);
  const resources = expectList(res);
  assert.equal(res.body.totalResults, 0);
  assert.deepEqual(res.body.Resources, [], 'Resources must be present and empty');
  assert.equal(resources.length, 0);
  const groups = await ctx.c.get(`/Groups${qs({ filter: `displayName eq "${ctx.name('nothing')}"` })}`);
  expectList(groups);
  assert.equal(groups.body.totalResults, 0);
});

test('paging: count=0 returns only totalResults', async (ctx) => {
  await createUsers(ctx, ['a', 'b', 'c']);
  const res = await ctx.c.get(`/Users${qs({ filter: mine(ctx), count: 0 })}`);
  expectList(res);
  assert.equal(res.body.totalResults, 3);
  assert.equal((res.body.Resources ?? []).length, 0, 'no Resources with count=0');
  assert.equal(res.body.itemsPerPage, 0);
});

test('paging: count=2 pages see every user exactly once, startIndex echoed', async (ctx) => {
  const users = await createUsers(ctx, ['p1', 'p2', 'p3', 'p4', 'p5']);
  const seen: string[] = [];
  for (let startIndex = 1; startIndex <= 7; startIndex += 2) {
    const res = await ctx.c.get(`/Users${qs({ filter: mine(ctx), startIndex, count: 2 })}`);
    const page = expectList(res);
    assert.equal(res.body.startIndex, startIndex, 'startIndex echoed');
    assert.equal(res.body.totalResults, 5);
    assert.equal(page.length, Math.max(0, Math.min(2, 5 - startIndex + 1)), `page size at startIndex ${startIndex}`);
    seen.push(...page.map((u: any) => u.id));
  }
  assert.deepEqual([...seen].sort(), idsOf(users), 'each user exactly once across pages');
});

test('paging: startIndex < 1 is treated as 1, negative count as 0', async (ctx) => {
  await createUsers(ctx, ['a', 'b']);
  const zero = await ctx.c.get(`/Users${qs({ filter: mine(ctx), startIndex: 0 })}`);
  expectList(zero);
  assert.equal(zero.body.startIndex, 1);
  assert.equal(zero.body.Resources.length, 2);
  const neg = await ctx.c.get(`/Users${qs({ filter: mine(ctx), count: -5 })}`);
  expectList(neg);
  assert.equal(neg.body.totalResults, 2);
  assert.equal((neg.body.Resources ?? []).length, 0);
});

test('paging: count above filter.maxResults is capped to maxResults', async (ctx) => {
  const max: number = (await ctx.spc()).filter?.maxResults;
  assert.ok(Number.isInteger(max) && max > 0, `filter.maxResults: ${max}`);
  if (max <= 25) {
    await createUsers(ctx, Array.from({ length: max + 1 }, (_, i) => `m${i}`));
    const res = await ctx.c.get(`/Users${qs({ filter: mine(ctx), count: max + 10 })}`);
    expectList(res);
    assert.equal(res.body.totalResults, max + 1);
    assert.equal(res.body.itemsPerPage, max, 'itemsPerPage capped to maxResults');
  }
  for (const path of ['/Users', '/Groups']) {
    const res = await ctx.c.get(`${path}${qs({ count: max + 1000 })}`);
    const page = expectList(res);
    assert.ok(page.length <= max && res.body.itemsPerPage <= max, `${path}: itemsPerPage ${res.body.itemsPerPage} > maxResults ${max}`);
  }
});

test('sorting: sortBy=userName ascending (default) and descending', async (ctx) => {
  const [b, a, c] = await createUsers(ctx, ['bravo', 'alpha', 'charlie']);
  const asc = await ctx.c.get(`/Users${qs({ filter: mine(ctx), sortBy: 'userName' })}`);
  assert.deepEqual(expectList(asc).map((u: any) => u.id), [a.id, b.id, c.id], 'ascending by default');
  const desc = await ctx.c.get(`/Users${qs({ filter: mine(ctx), sortBy: 'userName', sortOrder: 'descending' })}`);
  assert.deepEqual(expectList(desc).map((u: any) => u.id), [c.id, b.id, a.id], 'descending');
  const page = await ctx.c.get(`/Users${qs({ filter: mine(ctx), sortBy: 'userName', sortOrder: 'descending', startIndex: 2, count: 1 })}`);
  assert.deepEqual(expectList(page).map((u: any) => u.id), [b.id], 'sorting applies before paging');
  const groups = [await ctx.createGroup({ displayName: ctx.name('g2') }), await ctx.createGroup({ displayName: ctx.name('g1') })];
  const gdesc = await ctx.c.get(`/Groups${qs({ filter: `displayName sw "${ctx.scope}-"`, sortBy: 'displayName', sortOrder: 'descending' })}`);
  assert.deepEqual(expectList(gdesc).map((g: any) => g.id), [groups[0].id, groups[1].id]);
});

test('attributes=userName returns only id, userName (and schemas/meta)', async (ctx) => {
  const u = await ctx.createUser({ displayName: 'Projected', title: 'T', [ENTERPRISE]: { employeeNumber: '1' } });
  const check = (r: any): void => {
    assert.equal(r.id, u.id, 'id is always returned');
    assert.equal(r.userName, u.userName);
    for (const k of ['name', 'emails', 'active', 'displayName', 'title', ENTERPRISE]) {
      assert.equal(r[k], undefined, `"${k}" must not be returned with attributes=userName`);
    }
  };
  const list = await ctx.c.get(`/Users${qs({ filter: mine(ctx), attributes: 'userName' })}`);
  check(expectList(list)[0]);
  const one = await ctx.c.get(`/Users/${u.id}${qs({ attributes: 'userName' })}`);
  expectStatus(one, 200);
  check(one.body);
  const excl = await ctx.c.get(`/Users/${u.id}${qs({ excludedAttributes: 'id,emails,title' })}`);
  expectStatus(excl, 200);
  assert.equal(excl.body.id, u.id, 'id cannot be excluded');
  assert.equal(excl.body.emails, undefined);
  assert.equal(excl.body.title, undefined);
  assert.equal(excl.body.displayName, 'Projected');
});

test('attributes: sub-attribute and extension projection', async (ctx) => {
  const u = await ctx.createUser({ name: { givenName: 'Given', familyName: 'Family' }, [ENTERPRISE]: { employeeNumber: '77', department: 'D' } });
  const res = await ctx.c.get(`/Users/${u.id}${qs({ attributes: `name.givenName,${ENTERPRISE}:employeeNumber` })}`);
  expectStatus(res, 200);
  assert.equal(res.body.id, u.id);
  assert.equal(res.body.name?.givenName, 'Given');
  assert.equal(res.body.name?.familyName, undefined, 'name.familyName not requested');
  assert.equal(res.body[ENTERPRISE]?.employeeNumber, '77');
  assert.equal(res.body[ENTERPRISE]?.department, undefined, 'department not requested');
  assert.equal(res.body.userName, undefined, 'userName not requested');
});

test('excludedAttributes=members on groups (GET by id and list)', async (ctx) => {
  const u = await ctx.createUser();
  const g = await ctx.createGroup({ members: [{ value: u.id }] });
  const one = await ctx.c.get(`/Groups/${g.id}${qs({ excludedAttributes: 'members' })}`);
  expectStatus(one, 200);
  assert.equal(one.body.id, g.id);
  assert.equal(one.body.displayName, g.displayName);
  assert.equal(one.body.members, undefined, 'members excluded');
  const list = await ctx.c.get(`/Groups${qs({ filter: `displayName eq "${g.displayName}"`, excludedAttributes: 'members' })}`);
  const [r] = expectList(list);
  assert.equal(r.id, g.id);
  assert.equal(r.members, undefined, 'members excluded in list');
  const full = await ctx.c.get(`/Groups/${g.id}`);
  assert.deepEqual(memberIds(full.body), [u.id], 'members still there');
});

test('.search: POST /Users/.search with a SearchRequest', async (ctx) => {
  const users = await createUsers(ctx, ['s1', 's2', 's3']);
  const res = await ctx.c.post('/Users/.search', {
    schemas: [SEARCH], filter: mine(ctx), startIndex: 1, count: 2, sortBy: 'userName', attributes: ['userName'],
  });
  const page = expectList(res);
  assert.deepEqual(res.body.schemas, [LIST]);
  assert.equal(res.body.totalResults, 3);
  assert.deepEqual(page.map((u: any) => u.id), [users[0].id, users[1].id]);
  assert.equal(page[0].emails, undefined, 'attributes honoured');
  const excl = await ctx.c.post('/Users/.search', { schemas: [SEARCH], filter: mine(ctx), excludedAttributes: ['emails'] });
  const all = expectList(excl);
  assert.equal(all.length, 3);
  assert.ok(all.every((u: any) => u.emails === undefined && typeof u.userName === 'string'), 'excludedAttributes honoured');
});

test('.search: POST /Groups/.search and root POST /.search', async (ctx) => {
  const u = await ctx.createUser();
  const g = await ctx.createGroup({ members: [{ value: u.id }] });
  const groups = await ctx.c.post('/Groups/.search', { schemas: [SEARCH], filter: `displayName eq "${g.displayName}"`, excludedAttributes: ['members'] });
  const [found] = expectList(groups);
  assert.equal(groups.body.totalResults, 1);
  assert.equal(found.id, g.id);
  assert.equal(found.members, undefined);
  const root = await ctx.c.post('/.search', { schemas: [SEARCH], filter: `id eq "${u.id}" or id eq "${g.id}"` });
  const both = expectList(root);
  assert.equal(root.body.totalResults, 2);
  assert.deepEqual(idsOf(both), [u.id, g.id].sort());
  const types = both.map((r: any) => r.meta?.resourceType).sort();
  assert.deepEqual(types, ['Group', 'User'], 'root search returns both resource types');
});
