// Filtering (RFC 7644 §3.4.2.2): operators, logic, grouping, value paths, sub-attributes, extension URNs.
import assert from 'node:assert/strict';
import { qs } from './client.ts';
import { test } from './runner.ts';
import type { Ctx } from './runner.ts';
import { ENTERPRISE, USER, expectError, expectList, idsOf } from './scim.ts';

interface Fixture {
  alice: any;
  bob: any;
  carol: any;
  /** "userName sw <scope>" — restricts a filter to the fixture. */
  scope: string;
  /** ids of the users matching `filter` (scoped to the fixture unless unscoped). */
  find(filter: string, unscoped?: boolean): Promise<string[]>;
}

async function fixture(ctx: Ctx): Promise<Fixture> {
  const alice = await ctx.createUser({
    userName: ctx.uname('alice'),
    externalId: ctx.name('ext-alice'),
    name: { givenName: 'Alice', familyName: `${ctx.scope}-Anders` },
    displayName: 'Alice Anders',
    title: 'Engineer',
    emails: [{ value: `${ctx.scope}-alice@example.com`, type: 'work', primary: true }],
    schemas: [USER, ENTERPRISE],
    [ENTERPRISE]: { employeeNumber: `${ctx.scope}-E1`, department: 'R&D' },
  });
  const bob = await ctx.createUser({
    userName: ctx.uname('bob'),
    name: { givenName: 'Bob', familyName: `${ctx.scope}-Brown` },
    displayName: 'Bob Brown',
    title: 'Manager',
    emails: [
      { value: `${ctx.scope}-bob@example.org`, type: 'work', primary: true },
      { value: `${ctx.scope}-bob@example.com`, type: 'home' },
    ],
    schemas: [USER, ENTERPRISE],
    [ENTERPRISE]: { employeeNumber: `${ctx.scope}-E2`, department: 'Sales' },
  });
  const carol = await ctx.createUser({
    userName: ctx.uname('carol'),
    name: { givenName: 'Carol', familyName: `${ctx.scope}-Clark` },
    emails: [],
    active: false,
  });
  const scope = `userName sw "${ctx.scope}-"`;
  return {
    alice, bob, carol, scope,
    async find(filter, unscoped = false) {
      const f = unscoped ? filter : `${scope} and (${filter})`;
      const res = await ctx.c.get(`/Users${qs({ filter: f, count: 50 })}`);
      const resources = expectList(res);
      assert.equal(res.body.totalResults, resources.length, `totalResults for ${f}`);
      return idsOf(resources);
    },
  };
}

const ids = (...users: any[]): string[] => idsOf(users);

test('filter: eq on userName, case-insensitive value', async (ctx) => {
  const f = await fixture(ctx);
  assert.deepEqual(await f.find(`userName eq "${f.alice.userName}"`, true), ids(f.alice));
  assert.deepEqual(await f.find(`userName eq "${f.alice.userName.toUpperCase()}"`, true), ids(f.alice), 'userName is caseExact=false');
  assert.deepEqual(await f.find(`id eq "${f.bob.id}"`, true), ids(f.bob));
  assert.deepEqual(await f.find(`externalId eq "${f.alice.externalId}"`, true), ids(f.alice));
});

test('filter: attribute names and operators are case-insensitive', async (ctx) => {
  const f = await fixture(ctx);
  assert.deepEqual(await f.find(`USERNAME EQ "${f.alice.userName}"`, true), ids(f.alice));
  assert.deepEqual(await f.find(`UserName Eq "${f.alice.userName}"`, true), ids(f.alice));
  assert.deepEqual(await f.find('TITLE Pr'), ids(f.alice, f.bob));
  assert.deepEqual(await f.find('name.GIVENNAME sW "Bo"'), ids(f.bob));
});

test('filter: ne, co, sw, ew', async (ctx) => {
  const f = await fixture(ctx);
  assert.deepEqual(await f.find(`userName ne "${f.alice.userName}"`), ids(f.bob, f.carol));
  assert.deepEqual(await f.find('userName co "-bo"'), ids(f.bob));
  assert.deepEqual(await f.find('displayName co "anders"'), ids(f.alice), 'co on a caseExact=false attribute ignores case');
  assert.deepEqual(await f.find(`userName sw "${ctx.scope}-c"`), ids(f.carol));
  assert.deepEqual(await f.find('userName ew "ol@example.com"'), ids(f.carol));
  assert.deepEqual(await f.find('title sw "Eng"'), ids(f.alice));
  assert.deepEqual(await f.find('title ew "ager"'), ids(f.bob));
});

test('filter: gt, ge, lt, le on strings', async (ctx) => {
  const f = await fixture(ctx);
  assert.deepEqual(await f.find(`userName gt "${f.bob.userName}"`), ids(f.carol));
  assert.deepEqual(await f.find(`userName ge "${f.bob.userName}"`), ids(f.bob, f.carol));
  assert.deepEqual(await f.find(`userName lt "${f.bob.userName}"`), ids(f.alice));
  assert.deepEqual(await f.find(`userName le "${f.bob.userName}"`), ids(f.alice, f.bob));
});

test('filter: pr', async (ctx) => {
  const f = await fixture(ctx);
  assert.deepEqual(await f.find('title pr'), ids(f.alice, f.bob));
  assert.deepEqual(await f.find('emails pr'), ids(f.alice, f.bob), 'an empty multi-valued attribute is not present');
  assert.deepEqual(await f.find(`${ENTERPRISE}:employeeNumber pr`), ids(f.alice, f.bob));
  assert.deepEqual(await f.find('not (displayName pr)'), ids(f.carol));
});

test('filter: and, or, not, parentheses and precedence', async (ctx) => {
  const f = await fixture(ctx);
  const [a, b] = [f.alice.userName, f.bob.userName];
  assert.deepEqual(await f.find(`(userName eq "${a}" or userName eq "${b}") and title eq "Manager"`, true), ids(f.bob));
  assert.deepEqual(await f.find(`userName eq "${a}" or userName eq "${b}" and title eq "Engineer"`, true), ids(f.alice),
    'and binds tighter than or');
  assert.deepEqual(await f.find('not (title eq "Engineer")'), ids(f.bob, f.carol));
  assert.deepEqual(await f.find('title eq "Engineer" or title eq "Manager"'), ids(f.alice, f.bob));
  assert.deepEqual(await f.find('((title eq "Engineer") or (not (title pr)))'), ids(f.alice, f.carol));
  assert.deepEqual(await f.find('title eq "Engineer" and title eq "Manager"'), []);
});

test('filter: value path emails[type eq "work" and value co "@example.com"]', async (ctx) => {
  const f = await fixture(ctx);
  assert.deepEqual(await f.find('emails[type eq "work" and value co "@example.com"]'), ids(f.alice));
  assert.deepEqual(await f.find('emails[type eq "home"]'), ids(f.bob));
  assert.deepEqual(await f.find('emails[value ew ".org"] or emails[type eq "work" and value sw "nobody"]'), ids(f.bob));
});

test('filter: sub-attributes name.familyName and emails.value', async (ctx) => {
  const f = await fixture(ctx);
  assert.deepEqual(await f.find(`name.familyName eq "${ctx.scope}-Anders"`, true), ids(f.alice));
  assert.deepEqual(await f.find(`name.familyName sw "${ctx.scope}-B"`, true), ids(f.bob));
  assert.deepEqual(await f.find(`emails.value eq "${ctx.scope}-bob@example.com"`), ids(f.bob), 'matches any email value');
  assert.deepEqual(await f.find('emails.type eq "home"'), ids(f.bob));
  assert.deepEqual(await f.find(`${USER}:name.givenName eq "Alice"`), ids(f.alice), 'URN-qualified core attribute');
});

test('filter: enterprise attribute by full URN', async (ctx) => {
  const f = await fixture(ctx);
  assert.deepEqual(await f.find(`${ENTERPRISE}:employeeNumber eq "${ctx.scope}-E2"`, true), ids(f.bob));
  assert.deepEqual(await f.find(`${ENTERPRISE}:department eq "R&D"`), ids(f.alice));
});

test('filter: booleans and active', async (ctx) => {
  const f = await fixture(ctx);
  assert.deepEqual(await f.find('active eq false'), ids(f.carol));
  assert.deepEqual(await f.find('active eq true'), ids(f.alice, f.bob));
  assert.deepEqual(await f.find('active ne true'), ids(f.carol));
});

test('filter: meta.lastModified and meta.created comparisons', async (ctx) => {
  const f = await fixture(ctx);
  const carolModified: string = f.carol.meta.lastModified;
  assert.deepEqual(await f.find('meta.lastModified gt "2000-01-01T00:00:00Z"'), ids(f.alice, f.bob, f.carol));
  assert.deepEqual(await f.find('meta.lastModified lt "2000-01-01T00:00:00Z"'), []);
  assert.deepEqual(await f.find(`meta.lastModified gt "${carolModified}"`), [], 'nothing in scope after the last one');
  assert.deepEqual(await f.find(`meta.lastModified ge "${f.alice.meta.lastModified}"`), ids(f.alice, f.bob, f.carol));
  assert.deepEqual(await f.find(`meta.created le "${f.alice.meta.created}"`), ids(f.alice));
  const future = new Date(Date.now() + 86_400_000).toISOString();
  assert.deepEqual(await f.find(`meta.lastModified gt "${future}"`), []);
});

test('filter: groups by displayName, id and members.value', async (ctx) => {
  const u = await ctx.createUser();
  const g1 = await ctx.createGroup({ members: [{ value: u.id }] });
  const g2 = await ctx.createGroup();
  const find = async (filter: string): Promise<string[]> => {
    const res = await ctx.c.get(`/Groups${qs({ filter })}`);
    return idsOf(expectList(res));
  };
  assert.deepEqual(await find(`displayName eq "${g1.displayName}"`), [g1.id]);
  assert.deepEqual(await find(`displayName sw "${ctx.scope}-"`), [g1.id, g2.id].sort());
  assert.deepEqual(await find(`id eq "${g2.id}"`), [g2.id]);
  assert.deepEqual(await find(`displayName sw "${ctx.scope}-" and members.value eq "${u.id}"`), [g1.id]);
  assert.deepEqual(await find(`displayName sw "${ctx.scope}-" and members[value eq "${u.id}"]`), [g1.id]);
});

test('filter: quoted values with spaces, quotes and backslashes', async (ctx) => {
  const f = await fixture(ctx);
  assert.deepEqual(await f.find('displayName eq "Bob Brown"'), ids(f.bob));
  assert.deepEqual(await f.find('displayName eq "Bob \\"The\\" Brown"'), []);
  assert.deepEqual(await f.find(`${ENTERPRISE}:department eq "R&D" and displayName co " "`), ids(f.alice));
});

test('filter: unknown attribute or malformed filter -> 400 invalidFilter', async ({ c }) => {
  const bad = [
    'foo eq "x"',
    'userName eq',
    'userName xx "a"',
    '(userName eq "a"',
    'userName eq "unterminated',
    'userName eq "a" and',
    'emails[type eq "work"',
    'and userName eq "a"',
  ];
  for (const filter of bad) expectError(await c.get(`/Users${qs({ filter })}`), 400, 'invalidFilter');
  expectError(await c.get(`/Groups${qs({ filter: 'nonsense eq "x"' })}`), 400, 'invalidFilter');
  expectError(await c.post('/Users/.search', {
    schemas: ['urn:ietf:params:scim:api:messages:2.0:SearchRequest'], filter: 'userName eq "a" or',
  }), 400, 'invalidFilter');
});
