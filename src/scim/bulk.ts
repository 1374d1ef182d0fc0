// /Bulk (RFC 7644 section 3.7): operations run one by one, each in its own transaction; "bulkId:x" references
// are resolved to the ids of resources created earlier in the same request (dependencies first).
import type { ScimContext, ScimResult } from './context.ts';
import { errorBody, invalidSyntax, invalidValue, ScimError } from './errors.ts';
import { createScimGroup, deleteScimGroup, patchScimGroup, replaceScimGroup } from './groups.ts';
import { parsePatchRequest } from './patch.ts';
import { createUser, deleteUser, patchUser, replaceUser } from './users.ts';
import { BULK_MAX_OPERATIONS } from './discovery.ts';

export const BULK_REQUEST = 'urn:ietf:params:scim:api:messages:2.0:BulkRequest';
export const BULK_RESPONSE = 'urn:ietf:params:scim:api:messages:2.0:BulkResponse';

type BulkOp = { method: string; bulkId?: string; version?: string; path: string; data?: unknown };
type BulkResult = { method: string; bulkId?: string; location?: string; version?: string; status: string; response?: unknown };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function parseBulkRequest(body: unknown): { ops: BulkOp[]; failOnErrors: number } {
  if (!isObject(body)) throw invalidSyntax('the request body must be a JSON object');
  if (!Array.isArray(body.schemas) || !body.schemas.some((s) => typeof s === 'string' && s.toLowerCase() === BULK_REQUEST.toLowerCase())) {
    throw invalidValue(`"schemas" must contain "${BULK_REQUEST}"`);
  }
  const ops = body.Operations;
  if (!Array.isArray(ops)) throw invalidValue('"Operations" must be an array');
  if (ops.length > BULK_MAX_OPERATIONS) throw new ScimError(413, undefined, `at most ${BULK_MAX_OPERATIONS} operations per bulk request`);
  const failOnErrors = body.failOnErrors === undefined ? Infinity : Number(body.failOnErrors);
  if (!Number.isInteger(failOnErrors) && failOnErrors !== Infinity) throw invalidValue('failOnErrors must be an integer');
  return {
    failOnErrors: failOnErrors < 1 ? Infinity : failOnErrors,
    ops: ops.map((o, i) => {
      if (!isObject(o) || typeof o.method !== 'string' || typeof o.path !== 'string') throw invalidValue(`Operations[${i}] needs a method and a path`);
      if (o.bulkId !== undefined && typeof o.bulkId !== 'string') throw invalidValue(`Operations[${i}].bulkId must be a string`);
      return { method: o.method.toUpperCase(), bulkId: o.bulkId as string | undefined, version: typeof o.version === 'string' ? o.version : undefined, path: o.path, data: o.data };
    }),
  };
}

const refPattern = /^bulkId:(.+)$/;

/** bulkIds a value refers to (in any string, at any depth). */
function references(value: unknown, out = new Set<string>()): Set<string> {
  if (typeof value === 'string') { const m = refPattern.exec(value); if (m) out.add(m[1]); }
  else if (Array.isArray(value)) value.forEach((v) => references(v, out));
  else if (isObject(value)) Object.values(value).forEach((v) => references(v, out));
  return out;
}

function substitute(value: unknown, ids: Map<string, string>): unknown {
  if (typeof value === 'string') { const m = refPattern.exec(value); return m && ids.has(m[1]) ? ids.get(m[1]) : value; }
  if (Array.isArray(value)) return value.map((v) => substitute(v, ids));
  if (isObject(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substitute(v, ids)]));
  return value;
}

function versionOf(etag: string | undefined): number | undefined {
  const m = etag ? /^(?:W\/)?"?(\d+)"?$/.exec(etag.trim()) : null;
  return m ? Number(m[1]) : undefined;
}

async function runOne(ctx: ScimContext, op: BulkOp): Promise<ScimResult> {
  const m = /^\/(Users|Groups)(?:\/([^/]+))?$/i.exec(op.path);
  if (!m) throw invalidValue(`unsupported bulk path ${op.path}`);
  const users = m[1].toLowerCase() === 'users';
  const id = m[2];
  const pre = { ifMatch: versionOf(op.version) };
  if (op.method === 'POST' && !id) return users ? createUser(ctx, op.data) : createScimGroup(ctx, op.data);
  if (!id) throw invalidValue(`${op.method} needs a resource id in the path`);
  if (op.method === 'PUT') return users ? replaceUser(ctx, { id, body: op.data, pre }) : replaceScimGroup(ctx, { id, body: op.data, pre });
  if (op.method === 'PATCH') {
    const ops = parsePatchRequest(op.data);
    return users ? patchUser(ctx, { id, ops, pre }) : patchScimGroup(ctx, { id, ops, pre, projection: null });
  }
  if (op.method === 'DELETE') return users ? deleteUser(ctx, id, pre) : deleteScimGroup(ctx, id, pre);
  throw invalidValue(`unsupported bulk method ${op.method}`);
}

/** `errorOf` turns what an operation threw into its SCIM error (and logs what needs logging). */
export async function runBulk(ctx: ScimContext, body: unknown, errorOf: (err: unknown) => ScimError): Promise<ScimResult> {
  const { ops, failOnErrors } = parseBulkRequest(body);
  const results: (BulkResult | undefined)[] = new Array(ops.length);
  const created = new Map<string, string>();
  const pending = new Set(ops.map((_, i) => i));
  let errors = 0;
  const fail = (i: number, e: ScimError) => {
    results[i] = { method: ops[i].method, ...(ops[i].bulkId ? { bulkId: ops[i].bulkId } : {}), status: String(e.status), response: errorBody(e) };
    errors++;
  };
  while (pending.size > 0 && errors < failOnErrors) {
    // Next: the first pending operation whose references are all resolved.
    const ready = [...pending].find((i) => [...references([ops[i].path, ops[i].data])].every((ref) => created.has(ref)));
    if (ready === undefined) {
      // What is left refers to bulkIds never created (unknown, failed, or circular): RFC 7644 3.7.1 says 409.
      for (const i of pending) { fail(i, new ScimError(409, undefined, `unresolved bulkId reference in operation ${i}`)); if (errors >= failOnErrors) break; }
      break;
    }
    pending.delete(ready);
    const op = ops[ready];
    try {
      const r = await runOne(ctx, { ...op, path: substitute(op.path, created) as string, data: substitute(op.data, created) });
      const location = r.location;
      if (op.bulkId && op.method === 'POST' && isObject(r.body) && typeof r.body.id === 'string') created.set(op.bulkId, r.body.id);
      results[ready] = {
        method: op.method, ...(op.bulkId ? { bulkId: op.bulkId } : {}), ...(location ? { location } : {}),
        ...(r.version !== undefined ? { version: `W/"${r.version}"` } : {}), status: String(r.status),
      };
    } catch (err) {
      fail(ready, errorOf(err));
    }
  }
  return { status: 200, body: { schemas: [BULK_RESPONSE], Operations: results.filter((r) => r !== undefined) } };
}
