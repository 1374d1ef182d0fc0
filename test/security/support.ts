// Shared pieces of the adversarial suite: raw requests (any header, any body), database snapshots, sessions.
import assert from 'node:assert/strict';
import supertest from 'supertest';
import { ERROR, PATCH_OP, testApp, type TestOrg } from '../helpers.ts';
import { testDb } from '../setup.ts';

export { PATCH_OP };

/** A SCIM request with nothing set: the caller chooses the Authorization header and the body. */
export function raw() {
  const agent = supertest(testApp());
  return {
    get: (path: string) => agent.get(`/scim/v2${path}`),
    delete: (path: string) => agent.delete(`/scim/v2${path}`),
    post: (path: string) => agent.post(`/scim/v2${path}`),
    put: (path: string) => agent.put(`/scim/v2${path}`),
    patch: (path: string) => agent.patch(`/scim/v2${path}`),
  };
}

/** PATCH with an arbitrary body (not necessarily a well-formed PatchOp), authenticated as `org`. */
export function patchBody(org: TestOrg, path: string, body: unknown) {
  return raw().patch(path)
    .set('Authorization', `Bearer ${org.scimToken}`)
    .set('Content-Type', 'application/scim+json')
    .send(JSON.stringify(body));
}

/** POST with an arbitrary JSON text, authenticated as `org`. */
export function postText(org: TestOrg, path: string, text: string) {
  return raw().post(path)
    .set('Authorization', `Bearer ${org.scimToken}`)
    .set('Content-Type', 'application/scim+json')
    .send(text);
}

export const ids = (res: supertest.Response): string[] => ((res.body.Resources ?? []) as { id: string }[]).map((r) => r.id).sort();

export async function listUsers(org: TestOrg, filter: string, extra = ''): Promise<supertest.Response> {
  return org.scim.get(`/Users?filter=${encodeURIComponent(filter)}&count=1000${extra}`);
}

/** A list answer with its ids; fails on anything but 200. */
export async function findUsers(org: TestOrg, filter: string): Promise<string[]> {
  const res = await listUsers(org, filter);
  assert.equal(res.status, 200, `${filter}: ${res.status} ${JSON.stringify(res.body)}`);
  assert.equal(res.body.totalResults, res.body.Resources.length, filter);
  return ids(res);
}

/** A client-side error or a success, never a 5xx; errors must be SCIM errors. */
export function assertNoServerError(res: supertest.Response, what: string): void {
  assert.ok(res.status < 500, `${what}: answered ${res.status} ${JSON.stringify(res.body)}`);
  if (res.status >= 400) {
    assert.match(String(res.headers['content-type']), /^application\/scim\+json/, `${what}: content-type`);
    assert.equal(res.body.schemas?.[0], ERROR, `${what}: not a SCIM error: ${JSON.stringify(res.body)}`);
    assert.equal(res.body.status, String(res.status), what);
  }
}

/** Like assertNoServerError, but returns what is wrong (or null), so that a loop can report every case at once. */
export function problemWith(res: supertest.Response, what: string): string | null {
  try {
    assertNoServerError(res, what);
    return null;
  } catch (err) {
    return (err as Error).message.split('\n')[0];
  }
}

export async function membershipRow(orgId: string, id: string) {
  return testDb()('memberships').where({ org_id: orgId, id }).first();
}

export async function accountRow(accountId: string) {
  return testDb()('accounts').where({ id: accountId }).first();
}

export async function accountOfMember(orgId: string, id: string) {
  const m = await membershipRow(orgId, id);
  assert.ok(m, `membership ${id} in ${orgId}`);
  return accountRow(m.account_id);
}

export async function groupRow(orgId: string, id: string) {
  return testDb()('groups').where({ org_id: orgId, id }).first();
}

export async function groupMemberRows(orgId: string, groupId: string) {
  return testDb()('group_members').where({ org_id: orgId, group_id: groupId }).orderBy('membership_id').select('membership_id', 'created_at');
}

/** Everything the directory holds about one organisation's user and one group: compared before and after an attack. */
export async function snapshot(orgId: string, userIds: string[], groupIds: string[] = []) {
  const db = testDb();
  const members = await db('memberships').where({ org_id: orgId }).whereIn('id', userIds).orderBy('id');
  const accounts = await db('accounts').whereIn('id', members.map((m) => m.account_id)).orderBy('id');
  const groups = await db('groups').where({ org_id: orgId }).whereIn('id', groupIds).orderBy('id');
  const groupMembers = await db('group_members').where({ org_id: orgId }).orderBy(['group_id', 'membership_id']);
  const sessions = await db('sessions').where({ org_id: orgId }).orderBy('id');
  const memberCount = (await db('memberships').where({ org_id: orgId }).count({ n: '*' }))[0].n;
  const groupCount = (await db('groups').where({ org_id: orgId }).count({ n: '*' }))[0].n;
  return { members, accounts, groups, groupMembers, sessions, memberCount, groupCount };
}

export async function insertSession(orgId: string, accountId: string, opts: { revokedAt?: Date; expiresAt?: Date } = {}): Promise<string> {
  const [row] = await testDb()('sessions').insert({
    org_id: orgId,
    account_id: accountId,
    provider: 'password',
    ip: '203.0.113.7',
    user_agent: 'security-test',
    expires_at: opts.expiresAt ?? new Date(Date.now() + 24 * 3600 * 1000),
    revoked_at: opts.revokedAt ?? null,
  }).returning('id');
  return row.id;
}

export async function sessionRow(orgId: string, id: string) {
  return testDb()('sessions').where({ org_id: orgId, id }).first();
}
