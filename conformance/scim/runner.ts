// Minimal sequential test runner: test(name, fn) registers a case; run() executes them in order, prints
// "ok - name" / "not ok - name: reason" per case and returns the tallies. Each case gets a fresh Ctx whose
// helpers remember what the case created, and deletes it afterwards (in a finally), newest first.
import { randomBytes } from 'node:crypto';
import { Client } from './client.ts';
import { GROUP, USER, describe, expectResource, expectStatus } from './scim.ts';

export type Kind = 'Users' | 'Groups';

export interface Ctx {
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
  /** End the case as passed-with-a-note ("ok - name # SKIP reason"). */
  skip(reason: string): never;
}

export type CaseFn = (ctx: Ctx) => Promise<void>;

interface Case {
  name: string;
  fn: CaseFn;
}

const cases: Case[] = [];

export function test(name: string, fn: CaseFn): void {
  if (cases.some((c) => c.name === name)) throw new Error(`duplicate case name: ${name}`);
  cases.push({ name, fn });
}

class Skip extends Error {}

export interface RunOptions {
  url: string;
  token: string;
  grep?: string;
  caseTimeoutMs: number;
  requestTimeoutMs: number;
  verbose: boolean;
  log: (line: string) => void;
}

export async function run(opts: RunOptions): Promise<{ passed: number; failed: number }> {
  const runId = `conf-${randomBytes(3).toString('hex')}`;
  const client = new Client(opts.url, opts.token, opts.requestTimeoutMs);
  let spcCache: Promise<any> | null = null;
  const spc = (): Promise<any> => {
    spcCache ??= client.get('/ServiceProviderConfig').then((res) => {
      expectStatus(res, 200);
      return res.body;
    });
    spcCache.catch(() => { spcCache = null; });
    return spcCache;
  };

  const selected = cases.filter((c) => !opts.grep || c.name.toLowerCase().includes(opts.grep.toLowerCase()));
  if (selected.length === 0) console.error(`no case name contains "${opts.grep}"`);
  let passed = 0;
  let failed = 0;
  let index = 0;
  for (const tc of selected) {
    index += 1;
    const scope = `${runId}-${index}`;
    const cleanup: Array<{ kind: Kind; id: string }> = [];
    let counter = 0;
    const label = (l?: string): string => l ?? `x${++counter}`;
    const ctx: Ctx = {
      c: client,
      scope,
      uname: (l) => `${scope}-${label(l)}@example.com`,
      name: (l) => `${scope}-${label(l)}`,
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
      skip(reason: string): never { throw new Skip(reason); },
    };

    let error: unknown = null;
    let skipped: string | null = null;
    try {
      await withTimeout(tc.fn(ctx), opts.caseTimeoutMs);
    } catch (err) {
      if (err instanceof Skip) skipped = err.message;
      else error = err;
    } finally {
      const cleanupError = await runCleanup(client, cleanup);
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
