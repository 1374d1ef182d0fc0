// Minimal sequential test runner: test(name, fn) registers a case; run() executes them in order, prints
// "ok - name" / "not ok - name: reason" per case and returns the tallies. Each case gets a fresh Ctx whose
// helpers remember what the case created and undo it afterwards (in a finally), newest first, so that the
// organisation is left as it was found and the suite can run again against it.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Api, type CallLog, qs, type Res } from './client.ts';
import { describe, expectJson, expectList, expectStatus } from './admin.ts';

export interface Ctx {
  /** The client with the owner API key given on the command line. */
  api: Api;
  /** The same server and organisation, no credential. */
  anon: Api;
  orgId: string;
  /** Unique prefix of this case (e.g. "conf-admin-3fa2c1-17"); names and e-mails the case makes start with it. */
  scope: string;
  /** Unique prefix of the whole run (e.g. "conf-admin-3fa2c1"). */
  runId: string;
  /** A fresh e-mail address under the case scope: "<scope>-<label>@example.com". */
  email(label?: string): string;
  /** A fresh name under the case scope: "<scope>-<label>". */
  name(label?: string): string;
  /** Undo something when the case ends: `fn`'s answer must have one of `ok` (default 200, 204, 404). */
  defer(what: string, fn: () => Promise<Res | void>, ok?: number[]): void;
  /** POST /members (201 expected), removed when the case ends. */
  createMember(fields?: Record<string, unknown>): Promise<{ member: any; temporaryPassword: string | null }>;
  /** POST /api-keys with the owner key (201 expected), revoked when the case ends; `api` uses the new key. */
  createKey(role: string, name?: string): Promise<{ id: string; secret: string; api: Api }>;
  /** POST /roles (201 expected), deleted when the case ends. */
  createRole(fields?: Record<string, unknown>): Promise<any>;
  /** POST /groups (201 expected), deleted when the case ends. */
  createGroup(fields?: Record<string, unknown>): Promise<any>;
  /** POST /invitations (201 expected), cancelled when the case ends; returns the invitations. */
  invite(emails: string[], role?: string, fields?: Record<string, unknown>): Promise<any[]>;
  /** The audit log has an event with this action about this target (and, when given, by this actor). Returns it. */
  expectAudit(action: string, targetId: string, actor?: { type: string; id?: string | null }): Promise<any>;
  /** The organisation's owner, as the roster shows them. */
  owner(): Promise<any>;
  /** GET /api/v1/openapi.json (fetched once per run). */
  openapi(): Promise<any>;
  /** Whether only some of the cases run (--grep). */
  subset: boolean;
  /** What the run called so far. */
  log: CallLog;
  /** End the case as passed-with-a-note ("ok - name # SKIP reason"). */
  skip(reason: string): never;
}

export type CaseFn = (ctx: Ctx) => Promise<void>;

const cases: { name: string; fn: CaseFn }[] = [];

export function test(name: string, fn: CaseFn): void {
  if (cases.some((c) => c.name === name)) throw new Error(`duplicate case name: ${name}`);
  cases.push({ name, fn });
}

class Skip extends Error {}

export interface RunOptions {
  url: string;
  key: string;
  orgId: string;
  grep?: string;
  caseTimeoutMs: number;
  requestTimeoutMs: number;
  verbose: boolean;
  log: (line: string) => void;
}

export async function run(opts: RunOptions): Promise<{ passed: number; failed: number }> {
  const runId = `conf-admin-${randomBytes(3).toString('hex')}`;
  const log: CallLog = { calls: [], errors: [], timeouts: 0 };
  const api = new Api(opts.url, opts.orgId, opts.key, log, opts.requestTimeoutMs);
  const anon = api.withKey(null);
  let docCache: Promise<any> | null = null;
  const openapi = (): Promise<any> => {
    docCache ??= api.withKey(null).get('/openapi.json').then((res) => expectJson(res, 200));
    docCache.catch(() => { docCache = null; });
    return docCache;
  };

  const selected = cases.filter((c) => !opts.grep || c.name.toLowerCase().includes(opts.grep.toLowerCase()));
  if (selected.length === 0) console.error(`no case name contains "${opts.grep}"`);
  let passed = 0;
  let failed = 0;
  let index = 0;
  for (const tc of selected) {
    index += 1;
    const scope = `${runId}-${index}`;
    const cleanup: { what: string; fn: () => Promise<Res | void>; ok: number[] }[] = [];
    let counter = 0;
    const label = (l?: string): string => l ?? `x${++counter}`;
    const ctx: Ctx = {
      api, anon, orgId: opts.orgId, scope, runId, log, subset: Boolean(opts.grep), openapi,
      email: (l) => `${scope}-${label(l)}@example.com`,
      name: (l) => `${scope}-${label(l)}`,
      defer(what, fn, ok = [200, 204, 404]) { cleanup.push({ what, fn, ok }); },
      async createMember(fields = {}) {
        const body = { name: `Conf ${ctx.name()}`, email: ctx.email(), role: 'member', ...fields };
        const res = await api.post(api.org('/members'), body);
        const id = res.body?.member?.id;
        if (res.status === 201 && typeof id === 'string') ctx.defer(`remove member ${id}`, () => api.del(api.org(`/members/${id}`)));
        const b = expectJson(res, 201);
        assert.equal(typeof b.member?.id, 'string', `POST /members answers {member: {id...}}: ${describe(res)}`);
        return b;
      },
      async createKey(role, name = ctx.name(`${role}-key`)) {
        const res = await api.post(api.org('/api-keys'), { name, role });
        if (res.status === 201 && typeof res.body?.id === 'string') ctx.defer(`revoke API key ${res.body.id}`, () => api.del(api.org(`/api-keys/${res.body.id}`)));
        const b = expectJson(res, 201);
        assert.match(String(b.secret), /^rst_key_/, `an API key's secret starts with rst_key_: ${describe(res)}`);
        return { id: b.id, secret: b.secret, api: api.withKey(b.secret) };
      },
      async createRole(fields = {}) {
        const res = await api.post(api.org('/roles'), { name: ctx.name('role'), permissions: ['roster.view'], ...fields });
        if (res.status === 201 && typeof res.body?.id === 'string') ctx.defer(`delete role ${res.body.id}`, () => api.del(api.org(`/roles/${res.body.id}`)));
        return expectJson(res, 201);
      },
      async createGroup(fields = {}) {
        const res = await api.post(api.org('/groups'), { name: ctx.name('group'), ...fields });
        if (res.status === 201 && typeof res.body?.id === 'string') ctx.defer(`delete group ${res.body.id}`, () => api.del(api.org(`/groups/${res.body.id}`)));
        return expectJson(res, 201);
      },
      async invite(emails, role = 'member', fields = {}) {
        const res = await api.post(api.org('/invitations'), { emails, role, ...fields });
        if (res.status === 201 && Array.isArray(res.body?.items)) {
          for (const i of res.body.items) ctx.defer(`cancel invitation ${i.id}`, () => api.del(api.org(`/invitations/${i.id}`)), [204, 404, 409]);
        }
        const b = expectJson(res, 201);
        assert.ok(Array.isArray(b.items) && b.items.length === new Set(emails.map((e) => e.toLowerCase())).size, `one invitation per address: ${describe(res)}`);
        return b.items;
      },
      async expectAudit(action, targetId, actor) {
        const matches = (e: any) => e.action === action && (e.targetId === targetId || String(e.targetId ?? '').split(',').includes(targetId))
          && (!actor || (e.actor?.type === actor.type && (actor.id === undefined || e.actor?.id === actor.id)));
        const byTarget = await api.get(api.org(`/audit-events${qs({ action, target: targetId, limit: 50 })}`));
        let found = expectList(byTarget).find(matches);
        // A batch (invitations) names all its targets in one event: "id1,id2".
        if (!found) found = expectList(await api.get(api.org(`/audit-events${qs({ action, limit: 200 })}`))).find(matches);
        assert.ok(found, `the audit log has no ${action} event about ${targetId}${actor ? ` by ${actor.type}${actor.id ? ` ${actor.id}` : ''}` : ''}`);
        return found;
      },
      async owner() {
        const owners = expectList(await api.get(api.org(`/members${qs({ role: 'owner' })}`)));
        assert.equal(owners.length, 1, `exactly one owner: ${JSON.stringify(owners).slice(0, 300)}`);
        return owners[0];
      },
      skip(reason: string): never { throw new Skip(reason); },
    };

    let error: unknown = null;
    let skipped: string | null = null;
    const timeoutsBefore = log.timeouts;
    try {
      await withTimeout(tc.fn(ctx), opts.caseTimeoutMs);
    } catch (err) {
      if (err instanceof Skip) skipped = err.message;
      else error = err;
    } finally {
      // A request that timed out may still hold the server (or be queued there): wait until it answers again,
      // so that the cleanup and the next cases do not fail for it.
      if (log.timeouts > timeoutsBefore) {
        const waited = await waitForServer(api, opts.caseTimeoutMs);
        if (opts.verbose) opts.log(`# a request timed out: the server answered again after ${waited === null ? 'more than ' : ''}${Math.round((waited ?? opts.caseTimeoutMs) / 1000)} s`);
      }
      const cleanupError = await runCleanup(cleanup);
      if (error === null && cleanupError !== null) error = new Error(`cleanup: ${cleanupError}`);
    }

    if (error === null) {
      passed += 1;
      opts.log(skipped === null ? `ok - ${tc.name}` : `ok - ${tc.name} # SKIP ${oneLine(skipped)}`);
    } else {
      failed += 1;
      opts.log(`not ok - ${tc.name}: ${oneLine(reasonOf(error))}`);
      if (opts.verbose && error instanceof Error && error.stack) {
        for (const line of error.stack.split('\n')) opts.log(`#   ${line}`);
      }
    }
  }
  opts.log(`${passed} passed, ${failed} failed`);
  return { passed, failed };
}

async function runCleanup(items: { what: string; fn: () => Promise<Res | void>; ok: number[] }[]): Promise<string | null> {
  const problems: string[] = [];
  for (const { what, fn, ok } of [...items].reverse()) {
    try {
      const res = await fn();
      if (res) {
        try {
          expectStatus(res, ...ok);
        } catch (err) {
          problems.push(`${what}: ${reasonOf(err)}`);
        }
      }
    } catch (err) {
      problems.push(`${what}: ${reasonOf(err)}`);
    }
  }
  return problems.length ? problems.join('; ') : null;
}

/** Waits (up to `ms`) until GET /orgs/{orgId} gets an answer, whatever it is; how long that took, or null. */
async function waitForServer(api: Api, ms: number): Promise<number | null> {
  const start = Date.now();
  const patient = new Api(api.server, api.orgId, api.key, { calls: [], errors: [], timeouts: 0 }, ms);
  while (Date.now() - start < ms) {
    try {
      await patient.get(patient.org());
      return Date.now() - start;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
  return null;
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`case timed out after ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

function reasonOf(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}

function oneLine(s: string): string {
  const flat = s.replace(/\s*\n\s*/g, ' ').trim();
  return flat.length > 700 ? `${flat.slice(0, 700)}…` : flat;
}
