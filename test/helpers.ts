// Test helpers: an app on the test database, a fresh organisation per test, a SCIM client.
import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import supertest from 'supertest';
import { createOrganization } from '../src/directory/organizations.ts';
import { createApp } from '../src/http/app.ts';
import { testDb } from './setup.ts';

export const ISSUER = 'http://roster.test';
/**
 * The SECRET of every process of a test run that shares the test database (PostgreSQL): what one seals (the
 * OIDC signing keys), the others must open.
 */
export const TEST_SECRET = 'the SECRET of this test run, 32+ characters long';
export const SCIM_BASE = `${ISSUER}/scim/v2`;
export const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
export const GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group';
export const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
export const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
export const ERROR = 'urn:ietf:params:scim:api:messages:2.0:Error';

export const unique = (prefix = 't') => `${prefix}${randomBytes(5).toString('hex')}`;

let app: ReturnType<typeof createApp> | undefined;
export function testApp() {
  app ??= createApp({ db: testDb(), logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }), issuer: ISSUER });
  return app;
}

export type TestOrg = Awaited<ReturnType<typeof createOrganization>> & { scim: ScimClient };

export async function newOrg(): Promise<TestOrg> {
  const name = unique('org-');
  const created = await createOrganization(testDb(), { name, ownerEmail: `owner@${name}.test` });
  return { ...created, scim: scimClient(created.scimToken) };
}

export type ScimClient = ReturnType<typeof scimClient>;

/** supertest with the bearer token and scim+json set; paths are relative to /scim/v2. */
export function scimClient(token: string) {
  const agent = supertest(testApp());
  const withAuth = (t: supertest.Test) => t.set('Authorization', `Bearer ${token}`).set('Accept', 'application/scim+json');
  return {
    get: (path: string) => withAuth(agent.get(`/scim/v2${path}`)),
    delete: (path: string) => withAuth(agent.delete(`/scim/v2${path}`)),
    post: (path: string, body?: unknown) => withAuth(agent.post(`/scim/v2${path}`)).set('Content-Type', 'application/scim+json').send(body === undefined ? undefined : JSON.stringify(body)),
    put: (path: string, body: unknown) => withAuth(agent.put(`/scim/v2${path}`)).set('Content-Type', 'application/scim+json').send(JSON.stringify(body)),
    patch: (path: string, operations: unknown[]) => withAuth(agent.patch(`/scim/v2${path}`)).set('Content-Type', 'application/scim+json').send(JSON.stringify({ schemas: [PATCH_OP], Operations: operations })),
  };
}

export function userBody(userName: string, extra: Record<string, unknown> = {}) {
  return {
    schemas: [USER],
    userName,
    name: { givenName: 'Given', familyName: 'Family' },
    emails: [{ value: userName.includes('@') ? userName : `${userName}@example.test`, type: 'work', primary: true }],
    active: true,
    ...extra,
  };
}

export async function createUser(scim: ScimClient, userName = `${unique('u')}@example.test`, extra: Record<string, unknown> = {}) {
  const res = await scim.post('/Users', userBody(userName, extra));
  if (res.status !== 201) throw new Error(`createUser: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body as { id: string; userName: string; meta: { version: string } } & Record<string, unknown>;
}

export async function createGroup(scim: ScimClient, displayName = unique('g-'), members: string[] = []) {
  const res = await scim.post('/Groups', { schemas: [GROUP], displayName, members: members.map((value) => ({ value })) });
  if (res.status !== 201) throw new Error(`createGroup: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body as { id: string; displayName: string } & Record<string, unknown>;
}

/** Every SCIM error has this shape (RFC 7644 section 3.12). */
export function assertScimError(res: supertest.Response, status: number, scimType?: string) {
  if (res.status !== status) throw new Error(`expected ${status}, got ${res.status}: ${JSON.stringify(res.body)}`);
  if (!String(res.headers['content-type']).startsWith('application/scim+json')) throw new Error(`error content-type ${res.headers['content-type']}`);
  const b = res.body as Record<string, unknown>;
  if (!Array.isArray(b.schemas) || b.schemas[0] !== ERROR) throw new Error(`not a SCIM error: ${JSON.stringify(b)}`);
  if (b.status !== String(status)) throw new Error(`status field ${JSON.stringify(b.status)} is not "${status}"`);
  if (scimType !== undefined && b.scimType !== scimType) throw new Error(`scimType ${JSON.stringify(b.scimType)} is not ${scimType}`);
  if (typeof b.detail !== 'string' || b.detail.length === 0) throw new Error('error without detail');
}
