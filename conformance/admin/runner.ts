// The admin API suite's cases on conformance/lib/runner.ts: test(name, fn) registers a case; run() executes
// them in order, prints "ok - name" / "not ok - name: reason" per case and returns the tallies. Each case gets
// a fresh Ctx whose helpers remember what the case created and undo it afterwards (in a finally), newest
// first, so that the organisation is left as it was found and the suite can run again against it.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { type BaseCtx, once, reasonOf, type RunOptions as LibRunOptions, scoped, skip, Suite } from '../lib/runner.ts';
import { Api, type CallLog, qs, type Res } from './client.ts';
import { describe, expectJson, expectList, expectStatus } from './admin.ts';

export interface Ctx extends BaseCtx {
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
}

const suite = new Suite<Ctx>();

export const test = suite.test;

export interface RunOptions extends LibRunOptions {
  key: string;
  orgId: string;
}

export async function run(opts: RunOptions): Promise<{ passed: number; failed: number }> {
  const runId = `conf-admin-${randomBytes(3).toString('hex')}`;
  const log: CallLog = { calls: [], errors: [], timeouts: 0 };
  const api = new Api(opts.url, opts.orgId, opts.key, log, opts.requestTimeoutMs);
  const anon = api.withKey(null);
  const openapi = once((): Promise<any> => api.withKey(null).get('/openapi.json').then((res) => expectJson(res, 200)));

  return suite.run(runId, opts, (scope) => {
    const cleanup: { what: string; fn: () => Promise<Res | void>; ok: number[] }[] = [];
    const names = scoped(scope);
    const timeoutsBefore = log.timeouts;
    const ctx: Ctx = {
      api, anon, orgId: opts.orgId, scope, runId, log, subset: Boolean(opts.grep), openapi,
      email: names.email,
      name: names.name,
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
      skip,
    };
    return {
      ctx,
      async cleanup() {
        // A request that timed out may still hold the server (or be queued there): wait until it answers again,
        // so that the cleanup and the next cases do not fail for it.
        if (log.timeouts > timeoutsBefore) {
          const waited = await waitForServer(api, opts.caseTimeoutMs);
          if (opts.verbose) opts.log(`# a request timed out: the server answered again after ${waited === null ? 'more than ' : ''}${Math.round((waited ?? opts.caseTimeoutMs) / 1000)} s`);
        }
        return runCleanup(cleanup);
      },
    };
  });
}

/** Undoes what the case made, newest first; what could not be undone, or null. */
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
