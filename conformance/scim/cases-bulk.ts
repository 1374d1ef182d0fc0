// Bulk operations (RFC 7644 §3.7): bulkId references, failOnErrors, per-operation results, size limits.
import assert from 'node:assert/strict';
import { qs } from './client.ts';
import { test } from './runner.ts';
import type { Ctx, Kind } from './runner.ts';
import {
  BULK_REQUEST, BULK_RESPONSE, GROUP, PATCH_OP, USER, describe, expectError, expectList, expectScimJson, expectStatus,
  idFromLocation, memberIds,
} from './scim.ts';
import type { Res } from './client.ts';

/** POST /Bulk; tracks every created resource for cleanup; expects 200 + BulkResponse; returns Operations. */
async function bulk(ctx: Ctx, operations: unknown[], failOnErrors?: number): Promise<any[]> {
  const body: Record<string, unknown> = { schemas: [BULK_REQUEST], Operations: operations };
  if (failOnErrors !== undefined) body.failOnErrors = failOnErrors;
  const res = await ctx.c.post('/Bulk', body);
  trackCreated(ctx, res);
  expectStatus(res, 200);
  expectScimJson(res);
  assert.deepEqual(res.body.schemas, [BULK_RESPONSE], `BulkResponse schemas: ${describe(res)}`);
  assert.ok(Array.isArray(res.body.Operations), `BulkResponse.Operations: ${describe(res)}`);
  return res.body.Operations;
}

function trackCreated(ctx: Ctx, res: Res): void {
  for (const op of res.body?.Operations ?? []) {
    if (typeof op?.location !== 'string' || String(op.method).toUpperCase() !== 'POST') continue;
    const kind: Kind | null = op.location.includes('/Groups/') ? 'Groups' : op.location.includes('/Users/') ? 'Users' : null;
    if (kind && String(op.status).startsWith('2')) ctx.track(kind, idFromLocation(op.location));
  }
}

function expectOp(op: any, method: string, status: string, bulkId?: string): void {
  assert.ok(op, `missing operation result for ${method} ${bulkId ?? ''}`);
  assert.equal(String(op.method).toUpperCase(), method, `operation method: ${JSON.stringify(op)}`);
  assert.equal(op.status, status, `operation status must be the string "${status}": ${JSON.stringify(op)}`);
  if (bulkId !== undefined) assert.equal(op.bulkId, bulkId, `bulkId echoed: ${JSON.stringify(op)}`);
}

const postUser = (bulkId: string, userName: string): object =>
  ({ method: 'POST', path: '/Users', bulkId, data: { schemas: [USER], userName } });

async function countUsers(ctx: Ctx, userName: string): Promise<number> {
  const res = await ctx.c.get(`/Users${qs({ filter: `userName eq "${userName}"` })}`);
  expectList(res);
  return res.body.totalResults;
}

test('bulk: user and group in one request, group member references bulkId:u1', async (ctx) => {
  const userName = ctx.uname('bulk-u1');
  const displayName = ctx.name('bulk-g1');
  const ops = await bulk(ctx, [
    postUser('u1', userName),
    { method: 'POST', path: '/Groups', bulkId: 'g1', data: { schemas: [GROUP], displayName, members: [{ type: 'User', value: 'bulkId:u1' }] } },
  ]);
  assert.equal(ops.length, 2);
  const [u, g] = [ops.find((o) => o.bulkId === 'u1'), ops.find((o) => o.bulkId === 'g1')];
  expectOp(u, 'POST', '201', 'u1');
  expectOp(g, 'POST', '201', 'g1');
  for (const op of [u, g]) assert.equal(typeof op.location, 'string', `location: ${JSON.stringify(op)}`);
  assert.ok(u.location.includes('/Users/') && g.location.includes('/Groups/'), 'locations point at the new resources');
  const userId = idFromLocation(u.location);
  const group = await ctx.c.get(`/Groups/${idFromLocation(g.location)}`);
  expectStatus(group, 200);
  assert.equal(group.body.displayName, displayName);
  assert.deepEqual(memberIds(group.body), [userId], 'bulkId:u1 resolved to the created user id');
  const user = await ctx.c.get(`/Users/${userId}`);
  expectStatus(user, 200);
  assert.equal(user.body.userName, userName);
  if (u.version !== undefined) assert.equal(u.version, user.body.meta.version, 'operation version = meta.version');
});

test('bulk: failOnErrors 1 stops after the first error', async (ctx) => {
  const [a, c] = [ctx.uname('a'), ctx.uname('c')];
  const ops = await bulk(ctx, [postUser('a', a), postUser('dup', a), postUser('c', c)], 1);
  assert.equal(ops.length, 2, `processing stops after the first error: ${JSON.stringify(ops)}`);
  expectOp(ops[0], 'POST', '201', 'a');
  expectOp(ops[1], 'POST', '409', 'dup');
  assert.equal(ops[1].response?.status, '409', 'failed operation carries a SCIM error response');
  assert.equal(ops[1].response?.scimType, 'uniqueness');
  assert.equal(await countUsers(ctx, a), 1);
  assert.equal(await countUsers(ctx, c), 0, 'operations after the failure are not performed');
});

test('bulk: without failOnErrors every operation is attempted', async (ctx) => {
  const [d, e] = [ctx.uname('d'), ctx.uname('e')];
  const ops = await bulk(ctx, [postUser('d', d), postUser('dup', d), postUser('e', e)]);
  assert.equal(ops.length, 3);
  expectOp(ops[0], 'POST', '201', 'd');
  expectOp(ops[1], 'POST', '409', 'dup');
  expectOp(ops[2], 'POST', '201', 'e');
  assert.equal(await countUsers(ctx, e), 1);
});

test('bulk: PUT, PATCH and DELETE operations', async (ctx) => {
  const u1 = await ctx.createUser({ displayName: 'One' });
  const u2 = await ctx.createUser();
  const g = await ctx.createGroup();
  const renamed = ctx.name('g-renamed');
  const ops = await bulk(ctx, [
    { method: 'PATCH', path: `/Users/${u1.id}`, data: { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'displayName', value: 'Patched' }] } },
    { method: 'PUT', path: `/Groups/${g.id}`, data: { schemas: [GROUP], displayName: renamed, members: [{ value: u1.id }] } },
    { method: 'DELETE', path: `/Users/${u2.id}` },
    { method: 'DELETE', path: '/Users/6f1c2a8e-0000-4000-8000-000000000000' },
  ]);
  assert.equal(ops.length, 4);
  expectOp(ops[0], 'PATCH', '200');
  expectOp(ops[1], 'PUT', '200');
  expectOp(ops[2], 'DELETE', '204');
  expectOp(ops[3], 'DELETE', '404');
  assert.ok(String(ops[0].location ?? '').endsWith(`/Users/${u1.id}`), `PATCH location: ${JSON.stringify(ops[0])}`);
  assert.equal((await ctx.c.get(`/Users/${u1.id}`)).body.displayName, 'Patched');
  const group = await ctx.c.get(`/Groups/${g.id}`);
  assert.equal(group.body.displayName, renamed);
  assert.deepEqual(memberIds(group.body), [u1.id]);
  expectError(await ctx.c.get(`/Users/${u2.id}`), 404);
});

test('bulk: more operations than bulk.maxOperations -> 413', async (ctx) => {
  const max: number = (await ctx.spc()).bulk?.maxOperations;
  assert.ok(Number.isInteger(max) && max > 0, `bulk.maxOperations: ${max}`);
  if (max >= 100_000) ctx.skip(`bulk.maxOperations is ${max}; too many to send`);
  const operations = Array.from({ length: max + 1 }, (_, i) => ({
    method: 'DELETE', path: `/Users/6f1c2a8e-0000-4000-8000-${String(i).padStart(12, '0')}`,
  }));
  const res = await ctx.c.post('/Bulk', { schemas: [BULK_REQUEST], Operations: operations });
  trackCreated(ctx, res);
  expectError(res, 413);
});

test('bulk: payload above bulk.maxPayloadSize -> 413', async (ctx) => {
  const max: number = (await ctx.spc()).bulk?.maxPayloadSize;
  assert.ok(Number.isInteger(max) && max > 0, `bulk.maxPayloadSize: ${max}`);
  if (max > 16 * 1024 * 1024) ctx.skip(`bulk.maxPayloadSize is ${max} bytes; not sending that much`);
  const padding = 'x'.repeat(max + 1024);
  const res = await ctx.c.post('/Bulk', {
    schemas: [BULK_REQUEST],
    Operations: [{ method: 'POST', path: '/Users', bulkId: 'big', data: { schemas: [USER], userName: ctx.uname('big'), displayName: padding } }],
  });
  trackCreated(ctx, res);
  expectError(res, 413);
});

test('bulk: request without the BulkRequest schema -> 400', async (ctx) => {
  const res = await ctx.c.post('/Bulk', { Operations: [postUser('x', ctx.uname('x'))] });
  trackCreated(ctx, res);
  expectError(res, 400);
});
