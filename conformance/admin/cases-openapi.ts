// The OpenAPI document, and what the whole run saw: every operation the suite called is in the document,
// every operation in the document was called, every error answer was a problem with a documented code.
// These cases run last.
import assert from 'node:assert/strict';
import { expectJson } from './admin.ts';
import { type Ctx, test } from './runner.ts';

const METHODS = ['get', 'post', 'put', 'patch', 'delete'];

/** The document's operations: method (upper case), path template, and a matcher for concrete paths. */
function operationsOf(doc: any): { method: string; template: string; match: RegExp }[] {
  const out = [];
  for (const [template, ops] of Object.entries(doc.paths as Record<string, Record<string, unknown>>)) {
    const match = new RegExp(`^${template.split(/\{[^}]+\}/).map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('[^/]+')}/?$`);
    for (const method of Object.keys(ops).filter((m) => METHODS.includes(m))) out.push({ method: method.toUpperCase(), template, match });
  }
  return out;
}

/** The operations the run called (deliberate calls of routes that do not exist, and the document itself, left out). */
const calledOperations = (ctx: Ctx) => {
  const seen = new Map<string, { method: string; path: string }>();
  for (const c of ctx.log.calls) if (!c.probe && c.path !== '/openapi.json') seen.set(`${c.method} ${c.path}`, c);
  return [...seen.values()];
};

test('openapi: GET /api/v1/openapi.json needs no credential and is an OpenAPI 3.1 document: info, a server under /api/v1, bearer security, problem responses, x-problem-codes, operations under /orgs/{orgId}', async (ctx) => {
  const res = await ctx.anon.get('/openapi.json');
  const doc = expectJson(res, 200);
  assert.match(String(doc.openapi), /^3\.1\.\d+$/, `openapi: ${doc.openapi}`);
  assert.ok(typeof doc.info?.title === 'string' && typeof doc.info?.version === 'string', `info: ${JSON.stringify(doc.info)}`);
  assert.ok(Array.isArray(doc.servers) && doc.servers.some((s: any) => /\/api\/v1\/?$/.test(String(s.url))), `servers: ${JSON.stringify(doc.servers)}`);
  const schemes = doc.components?.securitySchemes ?? {};
  assert.ok(Object.values(schemes).some((s: any) => s.type === 'http' && String(s.scheme).toLowerCase() === 'bearer'), `a bearer security scheme: ${JSON.stringify(schemes)}`);
  assert.ok(Array.isArray(doc.security) && doc.security.length > 0, 'operations need the bearer credential by default');
  const codes = doc['x-problem-codes'];
  assert.ok(codes && typeof codes === 'object', 'x-problem-codes lists the stable error codes');
  for (const [code, status] of Object.entries(codes)) assert.ok(/^[a-z_]+$/.test(code) && Number.isInteger(status) && (status as number) >= 400, `x-problem-codes: ${code}: ${status}`);
  for (const code of ['unauthenticated', 'forbidden', 'not_found', 'invalid_request', 'invalid_value', 'conflict']) assert.ok(code in codes, `x-problem-codes lacks ${code}`);
  const ops = operationsOf(doc);
  assert.ok(ops.length > 0, 'the document lists no operation');
  for (const [template, methods] of Object.entries(doc.paths as Record<string, Record<string, any>>)) {
    assert.ok(template.startsWith('/orgs/{orgId}'), `every operation is under /orgs/{orgId}: ${template}`);
    for (const [method, op] of Object.entries(methods)) {
      if (!METHODS.includes(method)) continue;
      const where = `${method.toUpperCase()} ${template}`;
      assert.ok(typeof op.summary === 'string' && op.summary.length > 0, `${where}: no summary`);
      assert.ok(op.responses && Object.keys(op.responses).some((s) => /^2\d\d$/.test(s)), `${where}: no success response`);
      for (const s of ['401', '404']) assert.ok(op.responses[s], `${where}: no ${s} response`);
      const params = (op.parameters ?? []).filter((p: any) => p.in === 'path').map((p: any) => p.name).sort();
      assert.deepEqual(params, [...template.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort(), `${where}: path parameters`);
      if (op.requestBody) assert.ok(op.requestBody.content?.['application/json']?.schema, `${where}: a request body with no JSON schema`);
    }
  }
  const members = doc.paths['/orgs/{orgId}/members']?.get;
  assert.ok(members, 'GET /orgs/{orgId}/members is documented');
  const query = (members.parameters ?? []).filter((p: any) => p.in === 'query').map((p: any) => p.name);
  for (const q of ['search', 'status', 'role', 'limit', 'cursor']) assert.ok(query.includes(q), `GET /orgs/{orgId}/members: no query parameter ${q}`);
  assert.ok(doc.paths['/orgs/{orgId}/members']?.post?.requestBody, 'POST /orgs/{orgId}/members documents its body');
});

test('openapi: the document lists every operation the suite called (method and path)', async (ctx) => {
  const ops = operationsOf(await ctx.openapi());
  const missing = calledOperations(ctx).filter((c) => !ops.some((o) => o.method === c.method && o.match.test(c.path)));
  const unique = [...new Set(missing.map((c) => `${c.method} ${c.path.replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi, '{id}')}`))];
  assert.deepEqual(unique, [], `called but not in the document: ${unique.join(', ')}`);
});

// A deployment may have more than this suite knows: operations it does not call are named, not a failure.
test('openapi: the suite called every operation the document lists', async (ctx) => {
  if (ctx.subset) ctx.skip('--grep ran some of the cases only');
  const called = calledOperations(ctx);
  const unexercised = operationsOf(await ctx.openapi()).filter((o) => !called.some((c) => c.method === o.method && o.match.test(c.path)));
  if (unexercised.length) ctx.skip(`not exercised by this suite: ${unexercised.map((o) => `${o.method} ${o.template}`).join(', ')}`);
});

test('errors: every error answer of the run was application/problem+json with type, title, a status equal to the HTTP status, and a documented code (x-problem-codes) of that status', async (ctx) => {
  const codes = (await ctx.openapi())['x-problem-codes'] as Record<string, number>;
  const errors = ctx.log.errors;
  if (errors.length === 0) ctx.skip('no error answers were seen');
  const bad: string[] = [];
  for (const e of errors) {
    const b = e.body;
    const what = `${e.method} ${e.path} -> ${e.status}`;
    if (!/^application\/problem\+json\b/i.test(e.contentType)) bad.push(`${what}: Content-Type ${e.contentType || 'none'}`);
    else if (!b || typeof b !== 'object') bad.push(`${what}: not a JSON object: ${e.text}`);
    else if (typeof b.type !== 'string' || typeof b.title !== 'string') bad.push(`${what}: no type or title: ${e.text}`);
    else if (b.status !== e.status) bad.push(`${what}: status ${b.status} in the body`);
    else if (typeof b.code !== 'string' || !(b.code in codes)) bad.push(`${what}: code ${JSON.stringify(b.code)} is not in x-problem-codes`);
    else if (codes[b.code] !== e.status) bad.push(`${what}: code ${b.code} is documented as ${codes[b.code]}`);
  }
  assert.deepEqual([...new Set(bad)], [], `of ${errors.length} error answers`);
});
