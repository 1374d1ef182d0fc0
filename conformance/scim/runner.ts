// The SCIM suite's cases on conformance/lib/runner.ts: test(name, fn) registers a case; run() executes them
// in order, prints "ok - name" / "not ok - name: reason" per case and returns the tallies. Each case gets a
// fresh Ctx whose helpers remember what the case created, and deletes it afterwards (in a finally), newest first.
import { randomBytes } from 'node:crypto';
import { type BaseCtx, once, reasonOf, type RunOptions as LibRunOptions, scoped, skip, Suite } from '../lib/runner.ts';
import { Client } from './client.ts';
import { GROUP, USER, describe, expectResource, expectStatus } from './scim.ts';

export type Kind = 'Users' | 'Groups';

export interface Ctx extends BaseCtx {
  /** Client with the valid bearer token. */
  c: Client;
  /** Unique prefix of this case (e.g. "conf-3fa2c1-17"); everything the case creates starts with it. */
  scope: string;
  /** A fresh userName under the case scope: "<scope>-<label>@example.com". */
  uname(label?: string): string;
  /** A fresh name (group displayName, externalId...) under the case scope: "<scope>-<label>". */
  name(label?: string): string;
  /** Delete /<kind>/<id> when the case ends (a 404 then is fine). */
  track(kind: Kind, id: string): void;
  /** POST /Users (201 expected); `fields` override the defaults. Returns the created resource. */
  createUser(fields?: Record<string, unknown>): Promise<any>;
  /** POST /Groups (201 expected); `fields` override the defaults. Returns the created resource. */
  createGroup(fields?: Record<string, unknown>): Promise<any>;
  /** GET /ServiceProviderConfig (fetched once per run). */
  spc(): Promise<any>;
}

const suite = new Suite<Ctx>();

export const test = suite.test;

export interface RunOptions extends LibRunOptions {
  token: string;
}

export async function run(opts: RunOptions): Promise<{ passed: number; failed: number }> {
  const runId = `conf-${randomBytes(3).toString('hex')}`;
  const client = new Client(opts.url, opts.token, opts.requestTimeoutMs);
  const spc = once((): Promise<any> => client.get('/ServiceProviderConfig').then((res) => {
    expectStatus(res, 200);
    return res.body;
  }));

  return suite.run(runId, opts, (scope) => {
    const cleanup: Array<{ kind: Kind; id: string }> = [];
    const names = scoped(scope);
    const ctx: Ctx = {
      c: client,
      scope,
      uname: names.email,
      name: names.name,
      track: (kind, id) => { cleanup.push({ kind, id }); },
      async createUser(fields = {}) {
        const userName = typeof fields.userName === 'string' ? fields.userName : ctx.uname();
        const body = {
          schemas: [USER],
          userName,
          name: { givenName: 'Conf', familyName: 'Tester' },
          emails: [{ value: userName, type: 'work', primary: true }],
          active: true,
          ...fields,
        };
        const res = await client.post('/Users', body);
        if (typeof res.body?.id === 'string' && res.status >= 200 && res.status < 300) ctx.track('Users', res.body.id);
        expectStatus(res, 201);
        expectResource(res, 'User');
        return res.body;
      },
      async createGroup(fields = {}) {
        const body = { schemas: [GROUP], displayName: ctx.name(), ...fields };
        const res = await client.post('/Groups', body);
        if (typeof res.body?.id === 'string' && res.status >= 200 && res.status < 300) ctx.track('Groups', res.body.id);
        expectStatus(res, 201);
        expectResource(res, 'Group');
        return res.body;
      },
      spc,
      skip,
    };
    return { ctx, cleanup: () => runCleanup(client, cleanup) };
  });
}

/** Deletes what the case created, newest first, each once; what could not be deleted, or null. */
async function runCleanup(client: Client, items: Array<{ kind: Kind; id: string }>): Promise<string | null> {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const { kind, id } of [...items].reverse()) {
    const key = `${kind}/${id}`;
    if (seen.has(key)) continue;
    seen.add(key);
    try {
      const res = await client.del(`/${kind}/${encodeURIComponent(id)}`);
      if (![200, 204, 404].includes(res.status)) problems.push(describe(res));
    } catch (err) {
      problems.push(reasonOf(err));
    }
  }
  return problems.length ? problems.join('; ') : null;
}
