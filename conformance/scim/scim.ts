// SCIM constants and assertion helpers shared by the case files.
import assert from 'node:assert/strict';
import type { Client, Res } from './client.ts';

export const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
export const GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group';
export const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
export const SPC = 'urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig';
export const RESOURCE_TYPE = 'urn:ietf:params:scim:schemas:core:2.0:ResourceType';
export const SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Schema';
export const LIST = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';
export const SEARCH = 'urn:ietf:params:scim:api:messages:2.0:SearchRequest';
export const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
export const BULK_REQUEST = 'urn:ietf:params:scim:api:messages:2.0:BulkRequest';
export const BULK_RESPONSE = 'urn:ietf:params:scim:api:messages:2.0:BulkResponse';
export const ERROR = 'urn:ietf:params:scim:api:messages:2.0:Error';
export const AD_GROUP = 'http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group';

export interface PatchOperation {
  op: string;
  path?: string;
  value?: unknown;
}

export function patchOp(...ops: PatchOperation[]): { schemas: string[]; Operations: PatchOperation[] } {
  return { schemas: [PATCH_OP], Operations: ops };
}

/** One-line summary of a response for assertion messages. */
export function describe(res: Res): string {
  const body = res.text.length > 300 ? `${res.text.slice(0, 300)}…` : res.text;
  return `${res.method} ${res.path} -> ${res.status} ${body}`;
}

export function expectStatus(res: Res, ...expected: number[]): void {
  if (!expected.includes(res.status)) {
    assert.fail(`expected HTTP ${expected.join(' or ')}, got ${describe(res)}`);
  }
}

export function expectScimJson(res: Res): void {
  const ct = res.headers.get('content-type') ?? '';
  assert.ok(
    ct.toLowerCase().startsWith('application/scim+json'),
    `Content-Type should be application/scim+json, got "${ct}" (${res.method} ${res.path})`,
  );
  assert.ok(res.body !== undefined && res.body !== null && typeof res.body === 'object',
    `body should be a JSON object: ${describe(res)}`);
}

/** Status + SCIM error shape (schemas = [Error URN], status as a string) + optional scimType. */
export function expectError(res: Res, status: number, scimType?: string | string[]): void {
  expectStatus(res, status);
  expectScimJson(res);
  assert.deepEqual(res.body.schemas, [ERROR], `error schemas: ${describe(res)}`);
  assert.equal(res.body.status, String(status), `error "status" must be the string "${status}": ${describe(res)}`);
  if (scimType !== undefined) {
    const allowed = Array.isArray(scimType) ? scimType : [scimType];
    assert.ok(allowed.includes(res.body.scimType),
      `scimType should be ${allowed.join(' or ')}, got ${JSON.stringify(res.body.scimType)}: ${describe(res)}`);
  }
}

/** 200 + ListResponse shape; returns the Resources array ([] when absent). */
export function expectList(res: Res): any[] {
  expectStatus(res, 200);
  expectScimJson(res);
  const b = res.body;
  assert.deepEqual(b.schemas, [LIST], `ListResponse schemas: ${describe(res)}`);
  assert.equal(typeof b.totalResults, 'number', `totalResults must be a number: ${describe(res)}`);
  assert.equal(typeof b.startIndex, 'number', `startIndex must be a number: ${describe(res)}`);
  assert.equal(typeof b.itemsPerPage, 'number', `itemsPerPage must be a number: ${describe(res)}`);
  const resources = b.Resources ?? [];
  assert.ok(Array.isArray(resources), `Resources must be an array: ${describe(res)}`);
  assert.equal(b.itemsPerPage, resources.length, `itemsPerPage must equal Resources.length: ${describe(res)}`);
  assert.ok(b.totalResults >= resources.length, `totalResults < Resources.length: ${describe(res)}`);
  return resources;
}

/** Sorted ids of a list of resources. */
export function idsOf(resources: any[]): string[] {
  return resources.map((r) => r.id).sort();
}

export function idFromLocation(location: string): string {
  const m = /\/([^/?#]+)\/?$/.exec(location);
  assert.ok(m, `cannot take an id from location ${location}`);
  return decodeURIComponent(m[1]);
}

/** Member ids of a group resource, sorted. */
export function memberIds(group: any): string[] {
  const members = group.members ?? [];
  assert.ok(Array.isArray(members), `members must be an array, got ${JSON.stringify(members)}`);
  return members.map((m: any) => m.value).sort();
}

/** Common checks of a freshly returned User or Group resource. */
export function expectResource(res: Res, resourceType: 'User' | 'Group'): void {
  expectScimJson(res);
  const b = res.body;
  assert.equal(typeof b.id, 'string', `id must be a string: ${describe(res)}`);
  assert.ok(b.id.length > 0, 'id must not be empty');
  assert.ok(Array.isArray(b.schemas) && b.schemas.includes(resourceType === 'User' ? USER : GROUP),
    `schemas must include the core ${resourceType} URN: ${JSON.stringify(b.schemas)}`);
  assert.ok(b.meta && typeof b.meta === 'object', `meta missing: ${describe(res)}`);
  assert.equal(b.meta.resourceType, resourceType, 'meta.resourceType');
  assert.ok(typeof b.meta.location === 'string' && b.meta.location.endsWith(`/${resourceType}s/${b.id}`),
    `meta.location should end with /${resourceType}s/${b.id}, got ${b.meta.location}`);
  assert.ok(!Number.isNaN(Date.parse(b.meta.created)), `meta.created not a date: ${b.meta.created}`);
  assert.ok(!Number.isNaN(Date.parse(b.meta.lastModified)), `meta.lastModified not a date: ${b.meta.lastModified}`);
  assert.equal(typeof b.meta.version, 'string', `meta.version missing: ${describe(res)}`);
}

/** The enterprise extension object of a user ({} when absent). */
export function ent(user: any): any {
  return user[ENTERPRISE] ?? {};
}

export function emailOf(user: any, type: string): string | undefined {
  return (user.emails ?? []).find((e: any) => e.type === type)?.value;
}

/** Resource with members in a canonical order (servers may order members differently per request). */
export function normalized(r: any): any {
  if (!Array.isArray(r?.members)) return r;
  const members = [...r.members].sort((x: any, y: any) => String(x.value).localeCompare(String(y.value)));
  return { ...r, members };
}

/**
 * PATCH `path` (e.g. "/Groups/<id>") with `ops` and return a fresh GET of the resource. Accepts 200 with the
 * resource (which must then equal the GET) or 204 (RFC 7644 §3.5.2 allows it; the case "patch: response is
 * 200 with the resource" holds the stricter contract). Either way the ETag header must match meta.version.
 */
export async function patched(c: Client, path: string, ...ops: PatchOperation[]): Promise<any> {
  const res = await c.patch(path, patchOp(...ops));
  expectStatus(res, 200, 204);
  const get = await c.get(path);
  expectStatus(get, 200);
  if (res.status === 200) {
    expectScimJson(res);
    assert.deepEqual(normalized(res.body), normalized(get.body), `PATCH response must equal a subsequent GET (${path})`);
  } else {
    assert.equal(res.text, '', '204 must have no body');
  }
  const etag = res.headers.get('etag');
  if (etag !== null || res.status === 200) {
    assert.equal(etag, get.body.meta?.version, `ETag header of the PATCH response must equal meta.version (${path})`);
  }
  return get.body;
}
