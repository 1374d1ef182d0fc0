// Adversarial: filters built to escape their SQL, wildcards that must stay literal, and filters built to exhaust
// the parser or the database. Nothing may answer 500, and nothing may match what it should not.
import assert from 'node:assert/strict';
import { isDeepStrictEqual } from 'node:util';
import { createUser, GROUP, newOrg, unique } from '../helpers.ts';
import { MAX_FILTER_COMPARISONS } from '../../src/scim/filter.ts';
import { testDb } from '../setup.ts';
import { assertNoServerError, findUsers, listUsers, problemWith } from './support.ts';

const SEARCH = 'urn:ietf:params:scim:api:messages:2.0:SearchRequest';

describe('security: filter injection', () => {
  it('quotes, backslashes and SQL fragments in filters never answer 500 and never match everything', async () => {
    const org = await newOrg();
    const u1 = await createUser(org.scim);
    await createUser(org.scim, undefined, { name: { givenName: 'Robert', familyName: 'Tables' } });
    const counts = async () => Promise.all(['accounts', 'memberships', 'groups', 'credentials'].map(async (t) => (await testDb()(t).count({ n: '*' }))[0].n));
    const before = await counts();
    const hostile = [
      `userName eq "x' or '1'='1"`,
      `userName eq "x' or 1=1 --"`,
      `userName eq "x\\" or \\"1\\" eq \\"1"`,
      `userName eq "\\\\"`,
      `userName eq "\\"`,
      `userName eq "a\\\\"`,
      `userName co "\\\\"`,
      `userName eq "'); drop table memberships; --"`,
      `userName eq "x'; select pg_sleep(0); --"`,
      `userName eq "$1"`,
      `userName eq "?"`,
      `userName eq "??"`,
      `userName eq ":name"`,
      `name.familyName eq "Tables' or ''='"`,
      `name.givenName co "' || (select email from accounts limit 1) || '"`,
      `emails[value co "' or ''='"]`,
      `emails[type eq "work\\" or \\"\\"=\\""]`,
      `externalId eq "\\u0027 or 1=1"`,
      `id eq "${u1.id}' or '1'='1"`,
      `id eq "00000000-0000-0000-0000-000000000000' or 'a'='a"`,
      `meta.created gt "2000-01-01T00:00:00Z' or '1'='1"`,
      `userName eq "x" or "1" eq "1"`,
      `userName eq "x") or (userName pr`,
      `"userName" eq "x"`,
      `userName eq 'x'`,
      `userName; drop table accounts eq "x"`,
      `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "1' or '1'='1"`,
    ];
    for (const filter of hostile) {
      const res = await listUsers(org, filter);
      assertNoServerError(res, filter);
      if (res.status === 200) assert.equal(res.body.totalResults, 0, `${filter} matched ${res.body.totalResults}`);
      else assert.equal(res.body.scimType, 'invalidFilter', filter);
      const search = await org.scim.post('/Users/.search', { schemas: [SEARCH], filter });
      assertNoServerError(search, `.search ${filter}`);
      if (search.status === 200) assert.equal(search.body.totalResults, 0, filter);
      const groups = await org.scim.get(`/Groups?filter=${encodeURIComponent(filter.replace(/^userName/, 'displayName'))}`);
      assertNoServerError(groups, `Groups ${filter}`);
      if (groups.status === 200) assert.equal(groups.body.totalResults, 0, filter);
    }
    assert.deepEqual(await counts(), before);
  });

  it('% and _ in co, sw and ew match themselves, not any characters (columns, profile attributes and e-mails)', async () => {
    const org = await newOrg();
    const t = unique('');
    const pct = await createUser(org.scim, `p%ct-${t}@example.test`, { name: { givenName: 'G', familyName: '100%' } });
    await createUser(org.scim, `pxct-${t}@example.test`, { name: { givenName: 'G', familyName: '1000' } });
    const lead = await createUser(org.scim, `_lead-${t}@example.test`, { name: { givenName: 'G', familyName: '_x' } });
    await createUser(org.scim, `xlead-${t}@example.test`, { name: { givenName: 'G', familyName: 'ax' } });
    const mid = await createUser(org.scim, `m_d-${t}@example.test`);
    await createUser(org.scim, `mad-${t}@example.test`);

    assert.deepEqual(await findUsers(org, 'userName co "%"'), [pct.id]);
    assert.deepEqual(await findUsers(org, `userName co "p%ct-${t}"`), [pct.id]);
    assert.deepEqual(await findUsers(org, 'userName co "p_ct"'), []);
    assert.deepEqual(await findUsers(org, 'userName sw "_"'), [lead.id]);
    assert.deepEqual(await findUsers(org, 'userName sw "%"'), []);
    assert.deepEqual(await findUsers(org, `userName sw "m_d-${t}"`), [mid.id]);
    assert.deepEqual(await findUsers(org, `userName ew "_d-${t}@example.test"`), [mid.id]);
    assert.deepEqual(await findUsers(org, `userName ew "%"`), []);
    assert.deepEqual(await findUsers(org, 'userName co "_"').then((r) => r.sort()), [lead.id, mid.id].sort());

    assert.deepEqual(await findUsers(org, 'emails.value co "%"'), [pct.id]);
    assert.deepEqual(await findUsers(org, 'emails[value sw "_"]'), [lead.id]);
    assert.deepEqual(await findUsers(org, 'name.familyName ew "%"'), [pct.id]);
    assert.deepEqual(await findUsers(org, 'name.familyName sw "_"'), [lead.id]);
    assert.deepEqual(await findUsers(org, 'name.familyName co "0%"'), [pct.id]);
  });

  it('a backslash in a filter is the JSON escape it is in RFC 7644: "\\\\" is one backslash', async () => {
    const org = await newOrg();
    const t = unique('');
    const back = await createUser(org.scim, `back\\slash-${t}@example.test`);
    await createUser(org.scim, `backslash-${t}@example.test`);
    assert.equal(back.userName, `back\\slash-${t}@example.test`);
    const cases: [string, string[]][] = [
      [`userName eq "back\\\\slash-${t}@example.test"`, [back.id]],
      ['userName co "\\\\"', [back.id]],
      ['userName eq "\\\\"', []],
      [`userName eq "\\u0062ack\\\\slash-${t}@example.test"`, [back.id]],
    ];
    const problems: string[] = [];
    for (const [filter, expected] of cases) {
      const res = await listUsers(org, filter);
      const got = res.status === 200 ? (res.body.Resources as { id: string }[]).map((r) => r.id) : `${res.status} ${JSON.stringify(res.body)}`;
      if (!isDeepStrictEqual(got, expected)) problems.push(`${filter} -> ${JSON.stringify(got)}, expected ${JSON.stringify(expected)}`);
    }
    assert.deepEqual(problems, []);
  });

  it('very long filters, long or-chains and deep nesting answer 200 or 400, never 500', async () => {
    const org = await newOrg();
    const u = await createUser(org.scim);

    const tooLong = await listUsers(org, `userName eq "${'a'.repeat(10_050)}"`);
    assertNoServerError(tooLong, 'over 10,000 characters');
    assert.equal(tooLong.status, 400);
    assert.equal(tooLong.body.scimType, 'invalidFilter');

    const longValue = await listUsers(org, `userName eq "${'a'.repeat(9_000)}"`);
    assertNoServerError(longValue, '9,000-character value');
    assert.equal(longValue.status, 200);
    assert.equal(longValue.body.totalResults, 0);

    // An or-chain up to the cap works; one more comparison is refused (each one can cost a scan of the members).
    const chain = (n: number) => [...Array.from({ length: n - 1 }, (_, i) => `userName eq "nobody${i}"`), `userName eq "${u.userName}"`].join(' or ');
    assert.deepEqual(await findUsers(org, chain(MAX_FILTER_COMPARISONS)), [u.id]);
    const overCap = await listUsers(org, chain(MAX_FILTER_COMPARISONS + 1));
    assertNoServerError(overCap, 'an or-chain over the cap');
    assert.equal(overCap.status, 400);
    assert.equal(overCap.body.scimType, 'invalidFilter');

    const shapes: [string, string][] = [
      ['4,900 nested parentheses', '('.repeat(4_900) + `userName eq "${u.userName}"` + ')'.repeat(4_900)],
      ['1,600 nested not', 'not ('.repeat(1_600) + 'userName eq "x"' + ')'.repeat(1_600)],
      ['800 nested not', 'not ('.repeat(800) + 'userName eq "x"' + ')'.repeat(800)],
      ['450 nested and', '(userName pr and '.repeat(450) + `userName eq "${u.userName}"` + ')'.repeat(450)],
      ['450 nested or', '(userName eq "x" or '.repeat(450) + `userName eq "${u.userName}"` + ')'.repeat(450)],
      ['600 nested value filters', `emails[${'not ('.repeat(600)}value eq "x"${')'.repeat(600)}]`],
      ['unbalanced opening', '('.repeat(3_000) + 'userName eq "x"'],
      ['unbalanced closing', 'userName eq "x"' + ')'.repeat(3_000)],
    ];
    const problems: string[] = [];
    for (const [what, filter] of shapes) {
      assert.ok(filter.length <= 10_000, `${what} is ${filter.length} characters`);
      const res = await listUsers(org, filter);
      const p = problemWith(res, `GET /Users ${what}`);
      if (p) problems.push(p);
      else if (res.status === 400 && res.body.scimType !== 'invalidFilter') problems.push(`${what}: scimType ${res.body.scimType}`);
      const search = await org.scim.post('/.search', { schemas: [SEARCH], filter });
      const q = problemWith(search, `POST /.search ${what}`);
      if (q) problems.push(q);
    }
    assert.deepEqual(problems, []);
    // The server is still healthy afterwards.
    assert.deepEqual(await findUsers(org, `userName eq "${u.userName}"`), [u.id]);
  });

  it('unknown operators, unknown attributes and malformed expressions are 400 invalidFilter', async () => {
    const org = await newOrg();
    const filters = [
      'userName xx "a"',
      'userName regex ".*"',
      'userName like "%"',
      'userName eq',
      'eq "a"',
      'userName eq "a" and',
      'userName eq "a" userName eq "b"',
      '((userName eq "a")',
      'userName eq "a")',
      'userName eq "unterminated',
      'nope eq "a"',
      'password eq "x"',
      'password pr',
      'name eq "x"',
      'emails[nope eq "a"]',
      'emails[value eq "a"][type eq "b"]',
      'emails[value eq "a"',
      'userName[value eq "a"]',
      'active gt true',
      'active eq "maybe"',
      'meta.created gt "yesterday"',
      'meta.created co 5',
      'userName eq true',
      'userName eq {}',
      'userName eq ["a"]',
      '',
      ' ',
      '()',
      'not',
      'and',
    ];
    for (const filter of filters) {
      const res = await listUsers(org, filter);
      assertNoServerError(res, JSON.stringify(filter));
      if (filter.trim() === '') continue; // an empty filter may mean "no filter"
      assert.equal(res.status, 400, `${JSON.stringify(filter)}: ${res.status} ${JSON.stringify(res.body)}`);
      assert.equal(res.body.scimType, 'invalidFilter', JSON.stringify(filter));
    }
  });

  it('dates at and beyond the edges of what PostgreSQL stores answer 200 or 400, never 500', async () => {
    const org = await newOrg();
    const problems: string[] = [];
    for (const value of [
      '+275760-09-13T00:00:00.000Z',
      '-000001-01-01T00:00:00Z',
      '-271821-04-20T00:00:00Z',
      '0001-01-01T00:00:00Z',
      '9999-12-31T23:59:59.999Z',
      '2020-02-30T00:00:00Z',
      '0',
      '1e21',
    ]) {
      for (const filter of [`meta.created gt "${value}"`, `meta.lastModified le "${value}"`]) {
        const res = await listUsers(org, filter);
        const p = problemWith(res, filter);
        if (p) problems.push(p);
        else if (res.status === 400 && res.body.scimType !== 'invalidFilter') problems.push(`${filter}: scimType ${res.body.scimType}`);
      }
    }
    assert.deepEqual(problems, []);
  });

  it('a filter on groups with SQL fragments or wildcards behaves the same: literal, scoped, no 500', async () => {
    const org = await newOrg();
    const pct = await org.scim.post('/Groups', { schemas: [GROUP], displayName: `50% off ${unique()}` });
    await org.scim.post('/Groups', { schemas: [GROUP], displayName: `500 off ${unique()}` });
    assert.equal(pct.status, 201);
    const res = await org.scim.get(`/Groups?filter=${encodeURIComponent('displayName co "0%"')}`);
    assert.equal(res.status, 200);
    assert.deepEqual(res.body.Resources.map((g: { id: string }) => g.id), [pct.body.id]);
    for (const filter of [`displayName eq "x' or '1'='1"`, `members[value eq "x' or '1'='1"]`, `members.value eq "' or 1=1 --"`, 'displayName sw "_"']) {
      const r = await org.scim.get(`/Groups?filter=${encodeURIComponent(filter)}`);
      assertNoServerError(r, filter);
      if (r.status === 200) assert.equal(r.body.totalResults, 0, filter);
    }
  });

  it('userName equality is exact apart from letter case: no trimming, no prefix match, no wildcard', async () => {
    const org = await newOrg();
    const u = await createUser(org.scim, `${unique('exact')}@example.test`);
    assert.deepEqual(await findUsers(org, `userName eq "${u.userName}"`), [u.id]);
    assert.deepEqual(await findUsers(org, `userName eq " ${u.userName}"`), []);
    assert.deepEqual(await findUsers(org, `userName eq "${u.userName.slice(0, -1)}"`), []);
    assert.deepEqual(await findUsers(org, `userName eq "${u.userName.slice(0, -1)}%"`), []);
    assert.deepEqual(await findUsers(org, `userName eq "${u.userName.slice(0, -1)}_"`), []);
  });
});
