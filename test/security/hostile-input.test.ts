// Adversarial: what a reviewer sent to a running server that answered 500. Bodies nested hundreds of thousands of
// levels deep, URLs that do not percent-decode, bytes that are not UTF-8, filters built to keep the database busy,
// and a table of malformed requests to every endpoint. Each is a 4xx SCIM error and leaves the database as it was.
import assert from 'node:assert/strict';
import knexFactory from 'knex';
import { pino } from 'pino';
import supertest from 'supertest';
import { createApp } from '../../src/http/app.ts';
import { MAX_FILTER_COMPARISONS } from '../../src/scim/filter.ts';
import { MAX_BODY_DEPTH } from '../../src/scim/request-guards.ts';
import { assertScimError, createGroup, createUser, GROUP, ISSUER, newOrg, testApp, type TestOrg, unique, USER, userBody } from '../helpers.ts';
import { testDatabaseUrl, testDb } from '../setup.ts';
import { assertNoServerError, listUsers, PATCH_OP, raw, snapshot } from './support.ts';

const SEARCH = 'urn:ietf:params:scim:api:messages:2.0:SearchRequest';
const BULK = 'urn:ietf:params:scim:api:messages:2.0:BulkRequest';

/** `[[[...]]]` and `{"a":{"a":...}}` as JSON text: built as strings, since JSON.stringify itself would overflow. */
const deepArray = (levels: number) => '['.repeat(levels) + ']'.repeat(levels);
const deepObject = (levels: number) => '{"a":'.repeat(levels) + '1' + '}'.repeat(levels);

/** A request with a JSON text (or raw bytes) sent exactly as given, authenticated as `org`. */
function sendText(org: TestOrg, method: 'post' | 'put' | 'patch', path: string, body: string | Buffer, contentType = 'application/scim+json') {
  return raw()[method](path)
    .set('Authorization', `Bearer ${org.scimToken}`)
    .set('Content-Type', contentType)
    .serialize((b: unknown) => b as string) // a Buffer goes out as its bytes, not as JSON
    .send(body);
}

/** Members straight into the database: enough rows for a filter to cost something, without n HTTP calls. */
async function insertMembers(orgId: string, n: number): Promise<void> {
  const tag = unique('load');
  const db = testDb();
  for (let i = 0; i < n; i += 500) {
    const accounts = await db('accounts')
      .insert(Array.from({ length: Math.min(500, n - i) }, (_, k) => ({ email: `${tag}-${i + k}@example.test`, managed_by_org_id: orgId })))
      .returning(['id', 'email']);
    await db('memberships').insert(accounts.map((a: { id: string; email: string }) => ({
      org_id: orgId, account_id: a.id, user_name: a.email,
      emails: JSON.stringify([{ value: a.email, type: 'work', primary: true }, { value: `home-${a.email}`, type: 'home' }]),
    })));
  }
}

const orFilter = (n: number, clause: (i: number) => string) => Array.from({ length: n }, (_, i) => clause(i)).join(' or ');

describe('security: bodies nested deeper than any SCIM document', () => {
  it('a User whose emails hold 300,000 nested arrays or 100,000 nested objects is 400 and creates nobody', async () => {
    const org = await newOrg();
    const before = await snapshot(org.org.id, []);
    const userName = `${unique('deep')}@example.test`;
    for (const value of [deepArray(300_000), deepObject(100_000), `[${deepArray(300_000)}]`]) {
      const res = await sendText(org, 'post', '/Users', `{"schemas":["${USER}"],"userName":"${userName}","emails":[{"value":${value}}]}`);
      assertScimError(res, 400, 'invalidSyntax');
      assert.match(res.body.detail, new RegExp(`more than ${MAX_BODY_DEPTH} levels`));
    }
    const u = await createUser(org.scim);
    const put = await sendText(org, 'put', `/Users/${u.id}`, `{"schemas":["${USER}"],"userName":"${u.userName}","name":${deepObject(150_000)}}`);
    assertScimError(put, 400, 'invalidSyntax');
    assert.equal((await testDb()('memberships').where({ org_id: org.org.id, user_name: userName })).length, 0);
    assert.equal((await snapshot(org.org.id, [])).memberCount, Number(before.memberCount) + 1); // only the user made here
  });

  it('150,000 levels inside one Bulk operation refuse the whole request: no operation runs', async () => {
    const org = await newOrg();
    const before = await snapshot(org.org.id, []);
    const first = JSON.stringify({ method: 'POST', path: '/Users', bulkId: 'ok', data: userBody(`${unique('bulk')}@example.test`) });
    const text = `{"schemas":["${BULK}"],"Operations":[${first},{"method":"POST","path":"/Users","bulkId":"deep","data":{"schemas":["${USER}"],"userName":"x@y.z","emails":${deepArray(150_000)}}}]}`;
    assertScimError(await sendText(org, 'post', '/Bulk', text), 400, 'invalidSyntax');
    assert.deepEqual(await snapshot(org.org.id, []), before);
  });

  it('a PATCH value and a .search body nested 150,000 to 200,000 levels are 400 and change nothing', async () => {
    const org = await newOrg();
    const u = await createUser(org.scim);
    const g = await createGroup(org.scim, unique('g-'), [u.id]);
    const before = await snapshot(org.org.id, [u.id], [g.id]);
    const patches: [string, string][] = [
      [`/Users/${u.id}`, `{"schemas":["${PATCH_OP}"],"Operations":[{"op":"replace","path":"displayName","value":${deepArray(200_000)}}]}`],
      [`/Users/${u.id}`, `{"schemas":["${PATCH_OP}"],"Operations":[{"op":"replace","value":{"name":${deepObject(150_000)}}}]}`],
      [`/Groups/${g.id}`, `{"schemas":["${PATCH_OP}"],"Operations":[{"op":"add","path":"members","value":${deepArray(200_000)}}]}`],
    ];
    for (const [path, text] of patches) assertScimError(await sendText(org, 'patch', path, text), 400, 'invalidSyntax');
    for (const path of ['/Users/.search', '/Groups/.search', '/.search']) {
      assertScimError(await sendText(org, 'post', path, `{"schemas":["${SEARCH}"],"filter":${deepArray(200_000)}}`), 400, 'invalidSyntax');
    }
    assertScimError(await sendText(org, 'post', '/Groups', `{"schemas":["${GROUP}"],"displayName":"deep","members":${deepArray(200_000)}}`), 400, 'invalidSyntax');
    assert.deepEqual(await snapshot(org.org.id, [u.id], [g.id]), before);
  });

  it(`a body exactly ${MAX_BODY_DEPTH} levels deep is read; one level more is refused`, async () => {
    const org = await newOrg();
    await createUser(org.scim);
    // The SearchRequest object is level 1; an unknown member holding arrays adds the rest.
    const search = (levels: number) => `{"schemas":["${SEARCH}"],"count":1,"x":${deepArray(levels - 1)}}`;
    const atLimit = await sendText(org, 'post', '/Users/.search', search(MAX_BODY_DEPTH));
    assert.equal(atLimit.status, 200, JSON.stringify(atLimit.body));
    assert.equal(atLimit.body.Resources.length, 1);
    assertScimError(await sendText(org, 'post', '/Users/.search', search(MAX_BODY_DEPTH + 1)), 400, 'invalidSyntax');
  });
});

describe('security: URLs that do not percent-decode', () => {
  it('a malformed %-sequence in a SCIM path or query is a 400 SCIM error, and a DELETE through one deletes nothing', async () => {
    const org = await newOrg();
    const u = await createUser(org.scim);
    const g = await createGroup(org.scim, unique('g-'), [u.id]);
    const before = await snapshot(org.org.id, [u.id], [g.id]);
    const problems: string[] = [];
    const check = (res: supertest.Response, what: string) => {
      try { assertScimError(res, 400, 'invalidValue'); } catch (err) { problems.push(`${what}: ${(err as Error).message}`); }
    };
    for (const path of [
      '/Users/%FF%FE', '/Groups/%', '/Users/%E0%A4%A', '/Users/%C0%AF', '/Users/%ED%A0%80', `/Users/${u.id}%`, '/%FF', '/ResourceTypes/%FF', '/Schemas/%',
      '/Users?filter=userName%20eq%20%22%FF%22', '/Users?filter=%', '/Groups?count=%E0%A4%A', '/Users?attributes=%FFuserName',
    ]) check(await org.scim.get(path), `GET ${path}`);
    check(await org.scim.delete(`/Users/${u.id}%FF`), 'DELETE user id + %FF');
    check(await org.scim.delete(`/Groups/%ZZ${g.id}`), 'DELETE %ZZ + group id');
    check(await org.scim.put(`/Users/%FF${u.id}`, userBody(u.userName, { displayName: 'changed' })), 'PUT');
    check(await org.scim.patch(`/Groups/${g.id}%E0%A4%A`, [{ op: 'remove', path: 'members' }]), 'PATCH');
    assert.deepEqual(problems, []);
    assert.deepEqual(await snapshot(org.org.id, [u.id], [g.id]), before);
  });

  it('outside /scim/v2 a malformed %-sequence is 400 problem+json, not 500', async () => {
    for (const path of ['/x/%FF', '/api/v1/members/%E0%A4%A', '/%', '/healthz%C0']) {
      const res = await supertest(testApp()).get(path);
      assert.equal(res.status, 400, `${path}: ${res.status} ${JSON.stringify(res.body)}`);
      assert.match(String(res.headers['content-type']), /^application\/problem\+json/, path);
      assert.equal(res.body.status, 400, path);
      assert.equal(typeof res.body.detail, 'string', path);
    }
  });
});

describe('security: request bodies that are not UTF-8', () => {
  const bytes = (before: string, invalid: number[], after: string) => Buffer.concat([Buffer.from(before), Buffer.from(invalid), Buffer.from(after)]);

  it('a raw 0xFF byte (or any invalid UTF-8) inside a string value is 400 invalidSyntax and creates or changes nothing', async () => {
    const org = await newOrg();
    const u = await createUser(org.scim);
    const before = await snapshot(org.org.id, [u.id]);
    const userName = `${unique('bad')}@example.test`;
    for (const invalid of [[0xff], [0xfe, 0xff], [0xc0, 0xaf], [0xe2, 0x82], [0xed, 0xa0, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80]]) {
      const what = invalid.map((b) => b.toString(16)).join(' ');
      const create = await sendText(org, 'post', '/Users', bytes(`{"schemas":["${USER}"],"userName":"${userName}","displayName":"a`, invalid, 'b"}'));
      assertScimError(create, 400, 'invalidSyntax');
      assert.match(create.body.detail, /UTF-8/, what);
      const patch = await sendText(org, 'patch', `/Users/${u.id}`, bytes(`{"schemas":["${PATCH_OP}"],"Operations":[{"op":"replace","path":"displayName","value":"`, invalid, '"}]}'));
      assertScimError(patch, 400, 'invalidSyntax');
      const bulk = await sendText(org, 'post', '/Bulk', bytes(`{"schemas":["${BULK}"],"Operations":[{"method":"POST","path":"/Groups","data":{"schemas":["${GROUP}"],"displayName":"`, invalid, '"}}]}'));
      assertScimError(bulk, 400, 'invalidSyntax');
    }
    assert.deepEqual(await snapshot(org.org.id, [u.id]), before);
    assert.equal((await testDb()('memberships').where({ org_id: org.org.id, user_name: userName })).length, 0);
  });

  it('a charset other than UTF-8 (utf-16, latin1) is 400 and creates nothing', async () => {
    const org = await newOrg();
    const before = await snapshot(org.org.id, []);
    const text = JSON.stringify(userBody(`${unique('cs')}@example.test`));
    for (const [charset, body] of [['utf-16le', Buffer.from(text, 'utf16le')], ['utf-16', Buffer.from(text, 'utf16le')], ['latin1', Buffer.from(text, 'latin1')], ['utf-32', Buffer.from(text)]] as const) {
      const res = await sendText(org, 'post', '/Users', body, `application/scim+json; charset=${charset}`);
      try { assertScimError(res, 400, 'invalidSyntax'); } catch (err) { throw new Error(`charset=${charset}: ${(err as Error).message}`); }
    }
    assert.deepEqual(await snapshot(org.org.id, []), before);
  });

  it('valid multi-byte UTF-8 (accents, CJK, emoji) is stored and read back exactly', async () => {
    const org = await newOrg();
    const displayName = 'Zoë Ångström 山田太郎 👩🏽‍💻';
    const created = await sendText(org, 'post', '/Users', Buffer.from(JSON.stringify(userBody(`${unique('utf')}@example.test`, { displayName })), 'utf8'), 'application/scim+json; charset=utf-8');
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal((await org.scim.get(`/Users/${created.body.id}`)).body.displayName, displayName);
    const row = await testDb()('memberships').where({ org_id: org.org.id, id: created.body.id }).first();
    assert.ok(JSON.stringify(row).includes(displayName), 'stored without replacement characters');
  });
});

describe('security: filters that would keep the database busy', () => {
  it(`up to ${MAX_FILTER_COMPARISONS} comparisons pass; one more is 400 invalidFilter naming the limit, on every list and search`, async () => {
    const org = await newOrg();
    const u = await createUser(org.scim);
    const atCap = orFilter(MAX_FILTER_COMPARISONS - 1, (i) => `emails.value eq "nobody${i}@example.test"`) + ` or emails.value eq "${u.userName}"`;
    const found = await listUsers(org, atCap);
    assert.equal(found.status, 200, JSON.stringify(found.body));
    assert.deepEqual(found.body.Resources.map((r: { id: string }) => r.id), [u.id]);
    const over: [string, string][] = [
      ['emails.value eq', orFilter(MAX_FILTER_COMPARISONS + 1, (i) => `emails.value eq "n${i}@example.test"`)],
      ['emails.value co', orFilter(MAX_FILTER_COMPARISONS + 1, (i) => `emails.value co "n${i}"`)],
      ['value paths', orFilter(Math.ceil((MAX_FILTER_COMPARISONS + 1) / 2), (i) => `emails[value co "n${i}"]`)],
      ['and under not', `not (${Array.from({ length: MAX_FILTER_COMPARISONS + 1 }, (_, i) => `userName eq "n${i}"`).join(' and ')})`],
      ['300 clauses', orFilter(300, (i) => `emails.value co "n${i}"`)],
    ];
    for (const [what, filter] of over) {
      for (const res of [
        await listUsers(org, filter),
        await org.scim.post('/Users/.search', { schemas: [SEARCH], filter }),
        await org.scim.post('/.search', { schemas: [SEARCH], filter }),
      ]) {
        try { assertScimError(res, 400, 'invalidFilter'); } catch (err) { throw new Error(`${what}: ${(err as Error).message}`); }
        assert.match(res.body.detail, new RegExp(`more than ${MAX_FILTER_COMPARISONS} comparisons`), what);
      }
    }
    const groups = await org.scim.get(`/Groups?filter=${encodeURIComponent(orFilter(MAX_FILTER_COMPARISONS + 1, (i) => `displayName eq "g${i}"`))}`);
    assertScimError(groups, 400, 'invalidFilter');
  });

  it('what Okta and Entra send passes: one comparison, or a handful joined by and/or, value paths included', async () => {
    const org = await newOrg();
    const u = await createUser(org.scim, undefined, { externalId: unique('ext') });
    const g = await createGroup(org.scim, unique('g-'), [u.id]);
    for (const filter of [
      `userName eq "${u.userName}"`,
      `externalId eq "${u.externalId}"`,
      `emails[type eq "work" and value eq "${u.userName}"]`,
      `userName eq "${u.userName}" and active eq true`,
      `userName eq "${u.userName}" or userName eq "a@example.test" or userName eq "b@example.test" or externalId eq "c" or emails.value eq "d@example.test"`,
    ]) {
      const res = await listUsers(org, filter);
      assert.equal(res.status, 200, `${filter}: ${JSON.stringify(res.body)}`);
      assert.deepEqual(res.body.Resources.map((r: { id: string }) => r.id), [u.id], filter);
    }
    const entra = await org.scim.get(`/Groups?filter=${encodeURIComponent(`id eq "${g.id}" and members[value eq "${u.id}"]`)}&excludedAttributes=members`);
    assert.equal(entra.status, 200, JSON.stringify(entra.body));
    assert.equal(entra.body.totalResults, 1);
  });

  it('a statement PostgreSQL cancels (statement_timeout, 57014) is 503 with Retry-After and a SCIM error, logged as a warning', async () => {
    const org = await newOrg();
    await insertMembers(org.org.id, 4000);
    const slow = orFilter(MAX_FILTER_COMPARISONS, (i) => `emails.value co "zz${i}q"`);
    // On either database the filter is valid and under the cap: any refusal below is the timeout's.
    const normal = await listUsers(org, slow);
    assert.equal(normal.status, 200, JSON.stringify(normal.body));
    assert.equal(normal.body.totalResults, 0);

    const url = testDatabaseUrl();
    if (url === undefined) return; // the embedded PGlite has no statement_timeout: the cancellation needs PostgreSQL
    const lines: { level: number; msg: string }[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => { lines.push(JSON.parse(line)); } });
    type Conn = { query: (sql: string) => Promise<unknown> };
    const db = knexFactory({
      client: 'pg',
      connection: url,
      pool: {
        min: 0, max: 2,
        afterCreate: (conn: Conn, done: (err: Error | null, conn: Conn) => void) => {
          conn.query('set statement_timeout = 10').then(() => done(null, conn), (err: Error) => done(err, conn));
        },
      },
    });
    try {
      const app = createApp({ db, logger, issuer: ISSUER });
      const res = await supertest(app).get(`/scim/v2/Users?count=1000&filter=${encodeURIComponent(slow)}`).set('Authorization', `Bearer ${org.scimToken}`);
      assertScimError(res, 503);
      assert.match(String(res.headers['retry-after']), /^[1-9]\d*$/);
      assert.ok(lines.some((l) => l.level === 40 && /cancelled/.test(l.msg)), JSON.stringify(lines));
      assert.deepEqual(lines.filter((l) => l.level >= 50), [], 'nothing is logged as an error');
    } finally {
      await db.destroy();
    }
  });
});

type Row = {
  name: string;
  request: (org: TestOrg, ids: { user: string; group: string }) => supertest.Test;
  status: number;
  scimType?: string;
};

const manyNames = (n: number, name: (i: number) => string) => Array.from({ length: n }, (_, i) => name(i)).join(',');

/** Bodies that are valid JSON but not a JSON object, for every endpoint that reads a body. */
const writeEndpoints: [string, 'post' | 'put' | 'patch', (ids: { user: string; group: string }) => string, string][] = [
  ['POST /Users', 'post', () => '/Users', 'invalidValue'],
  ['PUT /Users/id', 'put', (ids) => `/Users/${ids.user}`, 'invalidValue'],
  ['PATCH /Users/id', 'patch', (ids) => `/Users/${ids.user}`, 'invalidSyntax'],
  ['POST /Groups', 'post', () => '/Groups', 'invalidValue'],
  ['PUT /Groups/id', 'put', (ids) => `/Groups/${ids.group}`, 'invalidValue'],
  ['PATCH /Groups/id', 'patch', (ids) => `/Groups/${ids.group}`, 'invalidSyntax'],
  ['POST /Bulk', 'post', () => '/Bulk', 'invalidSyntax'],
  ['POST /Users/.search', 'post', () => '/Users/.search', 'invalidValue'],
  ['POST /Groups/.search', 'post', () => '/Groups/.search', 'invalidValue'],
  ['POST /.search', 'post', () => '/.search', 'invalidValue'],
];

const rows: Row[] = [
  // Bare JSON values: the strict JSON parser refuses all but arrays (invalidSyntax); an array is not a resource.
  ...writeEndpoints.flatMap(([name, method, path, arrayType]): Row[] => [
    ...['"a string"', '42', 'null', 'true'].map((body): Row => ({ name: `${name} with the body ${body}`, request: (org, ids) => sendText(org, method, path(ids), body), status: 400, scimType: 'invalidSyntax' })),
    { name: `${name} with the body []`, request: (org, ids) => sendText(org, method, path(ids), '[]'), status: 400, scimType: arrayType },
    { name: `${name} with the body [{}]`, request: (org, ids) => sendText(org, method, path(ids), '[{}]'), status: 400, scimType: arrayType },
    { name: `${name} with charset=latin1`, request: (org, ids) => sendText(org, method, path(ids), '{}', 'application/scim+json; charset=latin1'), status: 400, scimType: 'invalidSyntax' },
  ]),
  // Empty bodies: the parser reads "" as {}, which lacks the schemas every write needs.
  ...(['post /Users', 'put /Users/id', 'patch /Users/id', 'post /Groups', 'put /Groups/id', 'patch /Groups/id', 'post /Bulk'] as const).map((spec): Row => {
    const [method, template] = spec.split(' ') as ['post' | 'put' | 'patch', string];
    return {
      name: `${method.toUpperCase()} ${template} with an empty body (Content-Length: 0)`,
      request: (org, ids) => raw()[method](template.replace('/Users/id', `/Users/${ids.user}`).replace('/Groups/id', `/Groups/${ids.group}`))
        .set('Authorization', `Bearer ${org.scimToken}`).set('Content-Type', 'application/scim+json').set('Content-Length', '0'),
      status: 400,
      scimType: 'invalidValue',
    };
  }),
  { name: 'POST /Users with no body and no Content-Type', request: (org) => raw().post('/Users').set('Authorization', `Bearer ${org.scimToken}`), status: 400, scimType: 'invalidValue' },
  // Path segments far longer than any id (Node's own header limit, 16 KB, refuses longer URLs before the app).
  { name: 'GET /Users/<15,000 characters>', request: (org) => org.scim.get(`/Users/${'a'.repeat(15_000)}`), status: 404 },
  { name: 'DELETE /Groups/<15,000 characters>', request: (org) => org.scim.delete(`/Groups/${'9'.repeat(15_000)}`), status: 404 },
  { name: 'PATCH /Users/<15,000 characters>', request: (org) => org.scim.patch(`/Users/${'%41'.repeat(5_000)}`, [{ op: 'replace', path: 'displayName', value: 'x' }]), status: 404 },
  // Paging values no integer holds.
  ...['count=1e309', 'startIndex=1e309', 'count=NaN', 'startIndex=NaN', 'count=-1e309', 'startIndex=Infinity', 'count=99999999999999999999'].map((q): Row => ({
    name: `GET /Users?${q}`, request: (org) => org.scim.get(`/Users?${q}`), status: 400, scimType: 'invalidValue',
  })),
  ...['"count":1e309', '"startIndex":-1e309', '"count":"NaN"', '"startIndex":"Infinity"', '"count":1e400'].map((member): Row => ({
    name: `POST /Users/.search with {${member}}`,
    request: (org) => sendText(org, 'post', '/Users/.search', `{"schemas":["${SEARCH}"],${member}}`),
    status: 400,
    scimType: 'invalidValue',
  })),
  { name: 'GET /Users?count=-5 (negative means none)', request: (org) => org.scim.get('/Users?count=-5'), status: 200 },
  { name: 'GET /Users?startIndex=-5 (below 1 means 1)', request: (org) => org.scim.get('/Users?startIndex=-5'), status: 200 },
  // Projections with thousands of names: the query string as long as Node accepts, the body as long as we do.
  { name: 'GET /Users?attributes= 2,000 unknown names', request: (org) => org.scim.get(`/Users?attributes=${manyNames(2_000, (i) => `x${i}`)}`), status: 200 },
  { name: 'GET /Groups/id?excludedAttributes= 1,500 names', request: (org, ids) => org.scim.get(`/Groups/${ids.group}?excludedAttributes=${manyNames(1_500, () => 'members')}`), status: 200 },
  { name: 'POST /Users/.search attributes: 10,000 comma-separated names', request: (org) => org.scim.post('/Users/.search', { schemas: [SEARCH], attributes: manyNames(10_000, (i) => `a${i}`) }), status: 200 },
  { name: 'POST /.search attributes: 10,000 names as an array', request: (org) => org.scim.post('/.search', { schemas: [SEARCH], attributes: Array.from({ length: 10_000 }, () => 'userName') }), status: 200 },
  { name: 'POST /Groups/.search excludedAttributes: 10,000 names', request: (org) => org.scim.post('/Groups/.search', { schemas: [SEARCH], excludedAttributes: manyNames(10_000, () => 'displayName') }), status: 200 },
  // sortBy on each kind of attribute: sortable ones answer, the rest are invalidValue.
  ...([
    ['userName', 200], ['active', 200], ['meta.created', 200], ['meta.lastModified', 200], ['name.givenName', 200], ['emails', 200], ['emails.value', 200],
    ['emails.primary', 200], ['profileUrl', 200], ['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber', 200],
    ['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value', 200],
    ['name', 400, 'invalidValue'], ['password', 400, 'invalidValue'], ['nope', 400, 'invalidValue'], ['__proto__', 400, 'invalidValue'], ['emails[type eq "work"].value', 400, 'invalidValue'],
  ] as [string, number, string?][]).map(([attr, status, scimType]): Row => ({
    name: `GET /Users?sortBy=${attr}`, request: (org) => org.scim.get(`/Users?sortBy=${encodeURIComponent(attr)}&sortOrder=descending`), status, scimType,
  })),
  ...([['displayName', 200], ['members', 400, 'invalidValue'], ['members.value', 400, 'invalidValue'], ['meta.created', 200]] as [string, number, string?][]).map(([attr, status, scimType]): Row => ({
    name: `GET /Groups?sortBy=${attr}`, request: (org) => org.scim.get(`/Groups?sortBy=${encodeURIComponent(attr)}`), status, scimType,
  })),
  // Sizes over the advertised limit.
  {
    name: 'POST /Bulk with a 10 MB body',
    request: (org) => sendText(org, 'post', '/Bulk', JSON.stringify({ schemas: [BULK], Operations: [{ method: 'POST', path: '/Users', data: userBody(`${'b'.repeat(10_000_000)}@example.test`) }] })),
    status: 413,
  },
  {
    name: 'POST /Users with a 2 MB displayName',
    request: (org) => sendText(org, 'post', '/Users', JSON.stringify(userBody(`${unique('big')}@example.test`, { displayName: 'd'.repeat(2_000_000) }))),
    status: 413,
  },
];

describe('security: malformed requests to every endpoint (a table)', () => {
  it('each row answers its 4xx (or 200 where the request is merely odd) in SCIM form and changes nothing', async function () {
    this.timeout(60_000);
    const org = await newOrg();
    const u = await createUser(org.scim);
    const g = await createGroup(org.scim, unique('g-'), [u.id]);
    const ids = { user: u.id, group: g.id };
    const before = await snapshot(org.org.id, [u.id], [g.id]);
    const problems: string[] = [];
    for (const row of rows) {
      const res = await row.request(org, ids);
      try {
        assertNoServerError(res, row.name);
        if (row.status >= 400) assertScimError(res, row.status, row.scimType);
        else assert.equal(res.status, row.status, JSON.stringify(res.body).slice(0, 200));
      } catch (err) {
        problems.push(`${row.name}: ${(err as Error).message.split('\n')[0].slice(0, 300)}`);
      }
    }
    assert.deepEqual(problems, []);
    assert.deepEqual(await snapshot(org.org.id, [u.id], [g.id]), before);
    assert.ok(rows.length > 100, `${rows.length} rows`);
  });

  it('sortBy on every attribute and sub-attribute of every schema answers 200 or 400 invalidValue, never 500', async () => {
    const org = await newOrg();
    const u = await createUser(org.scim, undefined, { title: 'T', phoneNumbers: [{ value: '+1 555 0100', type: 'work' }] });
    await createGroup(org.scim, unique('g-'), [u.id]);
    const schemas = (await org.scim.get('/Schemas')).body.Resources as { id: string; attributes: { name: string; subAttributes?: { name: string }[] }[] }[];
    const problems: string[] = [];
    let tried = 0;
    for (const schema of schemas) {
      const endpoint = schema.id.endsWith(':Group') ? 'Groups' : 'Users';
      for (const a of schema.attributes) {
        for (const name of [a.name, ...(a.subAttributes ?? []).map((s) => `${a.name}.${s.name}`)]) {
          for (const attr of [name, `${schema.id}:${name}`]) {
            const res = await org.scim.get(`/${endpoint}?sortBy=${encodeURIComponent(attr)}&sortOrder=descending`);
            tried++;
            if (res.status === 200) continue;
            if (res.status !== 400 || res.body.scimType !== 'invalidValue') problems.push(`${endpoint} sortBy=${attr}: ${res.status} ${JSON.stringify(res.body).slice(0, 200)}`);
          }
        }
      }
    }
    assert.deepEqual(problems, []);
    assert.ok(tried > 100, `only ${tried} sortBy values tried`);
  });
});
