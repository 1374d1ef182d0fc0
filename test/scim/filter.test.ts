import assert from 'node:assert/strict';
import { assertScimError, createGroup, createUser, ENTERPRISE, newOrg, type TestOrg, unique } from '../helpers.ts';

/** Three people with distinct attributes, in a fresh organisation. */
async function seed(): Promise<{ org: TestOrg; ids: Record<string, string>; tag: string }> {
  const org = await newOrg();
  const tag = unique('f');
  const ids: Record<string, string> = {};
  const people = [
    { key: 'ann', userName: `ann.${tag}@alpha.test`, extra: { name: { givenName: 'Ann', familyName: 'Archer' }, title: 'Engineer', externalId: 'E-1', emails: [{ value: `ann.${tag}@alpha.test`, type: 'work', primary: true }, { value: `ann@home.test`, type: 'home' }], [ENTERPRISE]: { employeeNumber: '100', department: 'R&D', manager: { value: 'm-1' } } } },
    { key: 'bob', userName: `bob.${tag}@beta.test`, extra: { name: { givenName: 'Bob', familyName: 'Baker' }, title: 'Manager', externalId: 'e-2', active: false, emails: [{ value: `bob.${tag}@beta.test`, type: 'work', primary: true }], [ENTERPRISE]: { employeeNumber: '200', department: 'Sales' } } },
    { key: 'cat', userName: `cat.${tag}@alpha.test`, extra: { name: { givenName: 'Cat', familyName: 'Carter' }, emails: [{ value: `cat.${tag}@alpha.test`, type: 'work', primary: true }] } },
  ];
  for (const p of people) ids[p.key] = (await createUser(org.scim, p.userName, p.extra)).id;
  return { org, ids, tag };
}

async function find(org: TestOrg, filter: string): Promise<string[]> {
  const res = await org.scim.get(`/Users?filter=${encodeURIComponent(filter)}&count=1000`);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.equal(res.body.totalResults, res.body.Resources.length);
  return (res.body.Resources as { id: string }[]).map((r) => r.id).sort();
}

describe('SCIM filters', () => {
  let s: Awaited<ReturnType<typeof seed>>;
  before(async () => { s = await seed(); });
  const ids = (...keys: string[]) => keys.map((k) => s.ids[k]).sort();

  it('compares userName case-insensitively, with operators and attribute names in any case', async () => {
    assert.deepEqual(await find(s.org, `userName eq "ANN.${s.tag}@ALPHA.TEST"`), ids('ann'));
    assert.deepEqual(await find(s.org, `USERNAME Eq "ann.${s.tag}@alpha.test"`), ids('ann'));
  });

  it('supports eq ne co sw ew pr', async () => {
    assert.deepEqual(await find(s.org, `userName co "${s.tag}@alpha"`), ids('ann', 'cat'));
    assert.deepEqual(await find(s.org, `userName sw "bob.${s.tag}"`), ids('bob'));
    assert.deepEqual(await find(s.org, `userName ew "@beta.test" and userName co "${s.tag}"`), ids('bob'));
    assert.deepEqual(await find(s.org, `title pr and userName co "${s.tag}"`), ids('ann', 'bob'));
    assert.deepEqual(await find(s.org, `title ne "Engineer" and userName co "${s.tag}"`), ids('bob', 'cat'));
  });

  it('supports gt ge lt le on strings and on meta dates', async () => {
    assert.deepEqual(await find(s.org, `userName gt "bob" and userName co "${s.tag}"`), ids('bob', 'cat'));
    assert.deepEqual(await find(s.org, `userName lt "bob" and userName co "${s.tag}"`), ids('ann'));
    assert.deepEqual(await find(s.org, `meta.lastModified gt "2000-01-01T00:00:00Z" and userName co "${s.tag}"`), ids('ann', 'bob', 'cat'));
    assert.deepEqual(await find(s.org, `meta.created lt "2000-01-01T00:00:00Z"`), []);
    assert.deepEqual(await find(s.org, `meta.created le "2999-01-01T00:00:00Z" and userName co "${s.tag}"`), ids('ann', 'bob', 'cat'));
  });

  it('compares a returned meta.lastModified exactly: gt excludes the user it came from, ge includes it', async () => {
    const got = await s.org.scim.get(`/Users/${s.ids.cat}`);
    const at = got.body.meta.lastModified;
    assert.deepEqual(await find(s.org, `meta.lastModified gt "${at}" and id eq "${s.ids.cat}"`), []);
    assert.deepEqual(await find(s.org, `meta.lastModified ge "${at}" and id eq "${s.ids.cat}"`), ids('cat'));
  });

  it('supports and, or, not and grouping', async () => {
    assert.deepEqual(await find(s.org, `userName co "${s.tag}" and (title eq "Engineer" or title eq "Manager")`), ids('ann', 'bob'));
    assert.deepEqual(await find(s.org, `userName co "${s.tag}" and not (title eq "Engineer")`), ids('bob', 'cat'));
  });

  it('filters on sub-attributes, value paths and multi-valued attributes', async () => {
    assert.deepEqual(await find(s.org, `name.familyName eq "baker"`), ids('bob'));
    assert.deepEqual(await find(s.org, `emails[type eq "work" and value co "@alpha.test"] and userName co "${s.tag}"`), ids('ann', 'cat'));
    assert.deepEqual(await find(s.org, `emails[type eq "home"] and userName co "${s.tag}"`), ids('ann'));
    assert.deepEqual(await find(s.org, `emails.value eq "ann@home.test" and userName co "${s.tag}"`), ids('ann'));
    assert.deepEqual(await find(s.org, `emails co "home.test" and userName co "${s.tag}"`), ids('ann'));
  });

  it('filters on enterprise extension attributes by full URN', async () => {
    assert.deepEqual(await find(s.org, `${ENTERPRISE}:employeeNumber eq "200"`), ids('bob'));
    assert.deepEqual(await find(s.org, `${ENTERPRISE}:department eq "r&d"`), ids('ann'));
    assert.deepEqual(await find(s.org, `${ENTERPRISE}:manager.value eq "m-1"`), ids('ann'));
  });

  it('honours caseExact: externalId and id compare exactly', async () => {
    assert.deepEqual(await find(s.org, `externalId eq "E-1"`), ids('ann'));
    assert.deepEqual(await find(s.org, `externalId eq "e-1"`), []);
    assert.deepEqual(await find(s.org, `id eq "${s.ids.cat}"`), ids('cat'));
    assert.deepEqual(await find(s.org, `id eq "not-a-uuid"`), []);
  });

  it('filters on active, with booleans or their string forms', async () => {
    assert.deepEqual(await find(s.org, `active eq false and userName co "${s.tag}"`), ids('bob'));
    assert.deepEqual(await find(s.org, `active eq true and userName co "${s.tag}"`), ids('ann', 'cat'));
  });

  it('answers a filter that matches nothing with 200 and an empty list', async () => {
    const res = await s.org.scim.get(`/Users?filter=${encodeURIComponent('userName eq "nobody@nowhere.test"')}`);
    assert.equal(res.status, 200);
    assert.equal(res.body.totalResults, 0);
    assert.deepEqual(res.body.Resources, []);
  });

  it('refuses unknown attributes, malformed filters and impossible comparisons with 400 invalidFilter', async () => {
    for (const f of ['foo eq "x"', 'userName eq', 'userName xx "a"', '(userName eq "a"', 'emails[foo eq "x"]', 'active gt true', 'meta.created gt "yesterday"', 'name eq "x"', 'password eq "x"']) {
      const res = await s.org.scim.get(`/Users?filter=${encodeURIComponent(f)}`);
      assertScimError(res, 400, 'invalidFilter');
    }
  });

  it('filters groups by displayName (case-insensitive) and by member', async () => {
    const g1 = await createGroup(s.org.scim, `Admins ${s.tag}`, [s.ids.ann]);
    await createGroup(s.org.scim, `Users ${s.tag}`, [s.ids.bob]);
    const byName = await s.org.scim.get(`/Groups?filter=${encodeURIComponent(`displayName eq "admins ${s.tag}"`)}&excludedAttributes=members`);
    assert.equal(byName.status, 200);
    assert.deepEqual(byName.body.Resources.map((g: { id: string }) => g.id), [g1.id]);
    assert.equal('members' in byName.body.Resources[0], false);
    const byMember = await s.org.scim.get(`/Groups?filter=${encodeURIComponent(`members[value eq "${s.ids.ann}"]`)}`);
    assert.deepEqual(byMember.body.Resources.map((g: { id: string }) => g.id), [g1.id]);
    const byMemberValue = await s.org.scim.get(`/Groups?filter=${encodeURIComponent(`members.value eq "${s.ids.ann}"`)}`);
    assert.deepEqual(byMemberValue.body.Resources.map((g: { id: string }) => g.id), [g1.id]);
    const usersInGroup = await find(s.org, `groups.value eq "${g1.id}"`);
    assert.deepEqual(usersInGroup, ids('ann'));
  });
});

describe('SCIM list paging, sorting and projection', () => {
  it('pages with a 1-based startIndex in a stable order, every user exactly once', async () => {
    const org = await newOrg();
    const tag = unique('p');
    for (let i = 0; i < 7; i++) await createUser(org.scim, `${tag}-${i}@example.test`);
    const seen: string[] = [];
    for (let start = 1; start <= 9; start += 2) {
      const res = await org.scim.get(`/Users?filter=${encodeURIComponent(`userName sw "${tag}"`)}&startIndex=${start}&count=2`);
      assert.equal(res.status, 200);
      assert.equal(res.body.totalResults, 7);
      assert.equal(res.body.startIndex, start);
      assert.equal(res.body.itemsPerPage, res.body.Resources.length);
      seen.push(...res.body.Resources.map((r: { id: string }) => r.id));
    }
    assert.equal(seen.length, 7);
    assert.equal(new Set(seen).size, 7);
  });

  it('answers count=0 with the total and no resources, and caps count at the advertised maximum', async () => {
    const org = await newOrg();
    await createUser(org.scim);
    const zero = await org.scim.get('/Users?count=0');
    assert.equal(zero.status, 200);
    assert.equal(zero.body.totalResults, 2); // the owner and the new user
    assert.deepEqual(zero.body.Resources, []);
    const spc = await org.scim.get('/ServiceProviderConfig');
    const capped = await org.scim.get(`/Users?count=${spc.body.filter.maxResults + 500}`);
    assert.equal(capped.status, 200);
    assert.ok(capped.body.itemsPerPage <= spc.body.filter.maxResults);
  });

  it('sorts by userName and by name.familyName, ascending and descending', async () => {
    const org = await newOrg();
    const tag = unique('s');
    await createUser(org.scim, `b-${tag}@example.test`, { name: { familyName: 'Zed' } });
    await createUser(org.scim, `a-${tag}@example.test`, { name: { familyName: 'Young' } });
    await createUser(org.scim, `c-${tag}@example.test`, { name: { familyName: 'Xavier' } });
    const f = encodeURIComponent(`userName co "${tag}"`);
    const asc = await org.scim.get(`/Users?filter=${f}&sortBy=userName`);
    assert.deepEqual(asc.body.Resources.map((r: { userName: string }) => r.userName[0]), ['a', 'b', 'c']);
    const desc = await org.scim.get(`/Users?filter=${f}&sortBy=userName&sortOrder=descending`);
    assert.deepEqual(desc.body.Resources.map((r: { userName: string }) => r.userName[0]), ['c', 'b', 'a']);
    const byFamily = await org.scim.get(`/Users?filter=${f}&sortBy=name.familyName`);
    assert.deepEqual(byFamily.body.Resources.map((r: { userName: string }) => r.userName[0]), ['c', 'a', 'b']);
    const byEmail = await org.scim.get(`/Users?filter=${f}&sortBy=emails`);
    assert.deepEqual(byEmail.body.Resources.map((r: { userName: string }) => r.userName[0]), ['a', 'b', 'c']);
    assertScimError(await org.scim.get(`/Users?sortBy=nothing`), 400, 'invalidValue');
    assertScimError(await org.scim.get(`/Users?sortOrder=sideways`), 400, 'invalidValue');
  });

  it('returns only the requested attributes (plus id and schemas), or all but the excluded ones', async () => {
    const org = await newOrg();
    const u = await createUser(org.scim, undefined, { title: 'Boss' });
    const only = await org.scim.get(`/Users/${u.id}?attributes=userName,name.givenName`);
    assert.deepEqual(Object.keys(only.body).sort(), ['id', 'name', 'schemas', 'userName']);
    assert.deepEqual(only.body.name, { givenName: 'Given' });
    const without = await org.scim.get(`/Users/${u.id}?excludedAttributes=title,emails,groups`);
    assert.equal('title' in without.body, false);
    assert.equal('emails' in without.body, false);
    assert.equal('groups' in without.body, false);
    assert.equal(without.body.userName, u.userName);
    const list = await org.scim.get(`/Users?attributes=userName&filter=${encodeURIComponent(`id eq "${u.id}"`)}`);
    assert.deepEqual(Object.keys(list.body.Resources[0]).sort(), ['id', 'schemas', 'userName']);
  });

  it('searches with POST /.search on Users, Groups and the root', async () => {
    const org = await newOrg();
    const tag = unique('q');
    const u = await createUser(org.scim, `${tag}@example.test`);
    const g = await createGroup(org.scim, `${tag}-group`);
    const search = { schemas: ['urn:ietf:params:scim:api:messages:2.0:SearchRequest'], filter: `userName eq "${tag}@example.test"`, startIndex: 1, count: 10, attributes: ['userName'] };
    const users = await org.scim.post('/Users/.search', search);
    assert.equal(users.status, 200);
    assert.deepEqual(users.body.Resources.map((r: { id: string }) => r.id), [u.id]);
    const groups = await org.scim.post('/Groups/.search', { ...search, filter: `displayName sw "${tag}"`, attributes: undefined });
    assert.deepEqual(groups.body.Resources.map((r: { id: string }) => r.id), [g.id]);
    const root = await org.scim.post('/.search', { schemas: search.schemas, filter: `meta.created gt "2000-01-01T00:00:00Z"` });
    assert.equal(root.status, 200);
    assert.equal(root.body.totalResults, 3); // owner, user, group
    const rootByName = await org.scim.post('/.search', { schemas: search.schemas, filter: `displayName sw "${tag}"` });
    assert.deepEqual(rootByName.body.Resources.map((r: { id: string }) => r.id), [g.id]);
    assertScimError(await org.scim.post('/Users/.search', { filter: 'userName pr' }), 400, 'invalidValue');
  });
});
