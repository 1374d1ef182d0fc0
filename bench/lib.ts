// Helpers of the benchmarks. Shared by bench/scim.ts, bench/oidc.ts and bench/admin.ts: a throw-away database,
// the node flags and environment of `npm start`, failures of the bench's own checks, baseline servers in
// processes of their own, load on worker threads, CPU accounting, the table. Then the SCIM benchmark's own:
// fast SQL seeding, its in-process baseline server, its load worker.
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import express from 'express';
import knexFactory from 'knex';
import pg from 'pg';
import { type Db, migrate, openDb } from '../src/db.ts';
import type { LoadJob, LoadStats } from './load-worker.ts';
import { procCpuMicros, type ProcMemory, procMemory } from './roster-child.ts';

/**
 * What every bench reads from its environment: DATABASE_URL (the PostgreSQL server the bench database is made
 * on), BENCH_SECONDS (measured seconds of each kind and side, 10), BENCH_WARMUP (seconds of warm-up before each
 * measured run, 2), BENCH_CONNECTIONS (10).
 */
export const benchEnv = {
  databaseUrl: process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres',
  seconds: Number(process.env.BENCH_SECONDS ?? 10),
  warmupSeconds: Number(process.env.BENCH_WARMUP ?? 2),
  connections: Number(process.env.BENCH_CONNECTIONS ?? 10),
};
/** The rounds that share a kind's BENCH_SECONDS, alternating the sides (drift in the machine's load falls on both alike): up to 4, of 2 s at least. */
export const rounds = Math.max(1, Math.min(4, Math.floor(benchEnv.seconds / 2)));
/** The seconds of each side's unmeasured first load (V8 compiles the hot paths, the pools fill). */
export const SETTLE_SECONDS = 5;

/** A check of the bench itself failed (a preflight, a failure rate): main() reports it without a stack. */
export class BenchFailure extends Error {}

export function assert(ok: unknown, message: string): asserts ok {
  if (!ok) throw new BenchFailure(message);
}

/** The end of a bench's main(): a BenchFailure as "BENCHMARK FAILED: ...", anything else as it is; exit code 1. */
export function reportFailure(err: unknown): void {
  console.error(err instanceof BenchFailure ? `\nBENCHMARK FAILED: ${err.message}` : err);
  process.exitCode = 1;
}

/** The 1-minute load average now, with a warning when the machine is busy (the numbers will be noisy). */
export function loadAverageAtStart(): number {
  const load = loadavg()[0];
  if (load > 1) console.warn(`WARNING: the machine is busy (1-minute load average ${load.toFixed(2)}): the numbers will be noisy`);
  return load;
}

/** At most this share of a run's requests may fail (non-2xx or connection errors), else the bench fails. */
export const MAX_FAILURE_RATE = 0.001;

/** Failures over completed requests; the run fails above MAX_FAILURE_RATE (0.1%). */
export const failureRate = (s: LoadStats) => (s.non2xx + s.errors) / Math.max(1, s.okWithWarmup + s.non2xx + s.errors);

/** Fails the bench when more than MAX_FAILURE_RATE of the run `name`'s requests failed; warns when some did. */
export function checkFailures(name: string, s: LoadStats): void {
  assert(failureRate(s) <= MAX_FAILURE_RATE,
    `${name}: ${s.non2xx} non-2xx responses and ${s.errors} connection errors (${s.timeouts} timeouts) over ${s.okWithWarmup + s.non2xx + s.errors} requests; statuses ${JSON.stringify(s.statusCodes)}`);
  if (s.non2xx + s.errors > 0) console.warn(`WARNING ${name}: ${s.non2xx} non-2xx, ${s.errors} errors (below the ${MAX_FAILURE_RATE * 100}% limit)`);
}

const root = fileURLToPath(new URL('..', import.meta.url));
const startScript = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { scripts: { start: string } }).scripts.start.split(/\s+/);
/** The node flags of `npm start` (package.json): the servers of a bench run with them, so that it measures what is deployed. */
export const startFlags = startScript.filter((w) => w.startsWith('--'));
/** Roster's node flags: `npm start`'s, then BENCH_ROSTER_FLAGS="--max-semi-space-size=4 ..." (memory experiments; later flags win). */
export const rosterFlags = [...startFlags, ...(process.env.BENCH_ROSTER_FLAGS ?? '').split(/\s+/).filter(Boolean)];
/** Roster's environment: what `npm start` sets (NAME=value words before `node`), then BENCH_ROSTER_ENV="NAME=value ..." (e.g. MALLOC_ARENA_MAX=1). */
export const rosterEnv = Object.fromEntries([...startScript.filter((w) => /^[A-Z_]+=/.test(w)), ...(process.env.BENCH_ROSTER_ENV ?? '').split(/\s+/).filter(Boolean)]
  .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));

export type ChildServer<M> = { child: ChildProcess; pid: number; ready: M; proc: () => ProcMemory; stop: () => Promise<void> };

/**
 * A baseline in its own process: `node <npm start's flags> <script>` (a path from the repository's root) with
 * only PATH, NODE_ENV=production and `env` in its environment, an IPC channel, and its first message (a
 * server's {url}) awaited, 30 s at most. `label`: its output goes to stderr, each line prefixed "[label] ";
 * without, it shares this process's. `what` names it in errors ("the baseline").
 */
export async function startChild<M>(script: string, opts: { what: string; env?: Record<string, string>; label?: string }): Promise<ChildServer<M>> {
  const child: ChildProcess = spawn(process.execPath, [...startFlags, script], {
    cwd: root,
    stdio: ['ignore', opts.label ? 'pipe' : 'inherit', opts.label ? 'pipe' : 'inherit', 'ipc'],
    env: { PATH: process.env.PATH, NODE_ENV: 'production', ...opts.env },
  });
  if (opts.label) {
    const prefix = (chunk: Buffer) => chunk.toString().split('\n').filter(Boolean).map((l) => `[${opts.label}] ${l}\n`).join('');
    child.stdout!.on('data', (c: Buffer) => process.stderr.write(prefix(c)));
    child.stderr!.on('data', (c: Buffer) => process.stderr.write(prefix(c)));
  }
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let done = false;
  void exited.then(() => { done = true; });
  const stop = async () => {
    if (done) return;
    child.kill('SIGTERM');
    const killed = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(killed);
  };
  const ready = await new Promise<M>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${opts.what} did not start within 30 s`)), 30_000);
    child.once('message', (m: M) => { clearTimeout(timer); resolve(m); });
    void exited.then((code) => { clearTimeout(timer); reject(new Error(`${opts.what} exited with code ${code} before it was ready`)); });
  }).catch(async (err) => { await stop(); throw err; });
  return { child, pid: child.pid!, ready, proc: () => procMemory(child.pid!), stop };
}

/** Runs one job on a worker thread (`script`, e.g. new URL('./load-worker.ts', import.meta.url)): its one message. */
export function runWorker<R>(script: URL, job: unknown, what = 'load worker'): Promise<R> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(script, { workerData: job });
    let result: R | undefined;
    worker.once('message', (m: R) => { result = m; });
    worker.once('error', reject);
    worker.once('exit', (code) => (result ? resolve(result) : reject(new Error(`${what} exited with code ${code} and no result`))));
  });
}

/** CPU time (µs) of this database's client backends that exist now, by pid (PostgreSQL runs on this machine, so /proc has them). */
export async function backendCpu(db: Db): Promise<Map<number, number>> {
  const { rows } = await db.raw(`select pid from pg_stat_activity where datname = current_database() and backend_type = 'client backend' and pid <> pg_backend_pid()`);
  const cpu = new Map<number, number>();
  for (const { pid } of rows as { pid: number }[]) {
    try { cpu.set(pid, procCpuMicros(pid)); } catch { /* gone, or not on this machine */ }
  }
  return cpu;
}

/** CPU time (µs) the backends of `before` (backendCpu) used since. */
export function backendCpuSince(before: Map<number, number>): number {
  let sum = 0;
  for (const [pid, micros] of before) {
    try { sum += procCpuMicros(pid) - micros; } catch { /* ended during the run */ }
  }
  return sum;
}

/** CPU time (µs, user + system, 10 ms ticks from /proc) of a server: its process, its main thread (the event loop), its PostgreSQL backends, and the load generator (this process). */
export type CpuUse = { process: number; main: number; postgres: number; client: number };
/** CPU time summed over runs, and the requests they answered. */
export type CpuTally = CpuUse & { n: number };

export const cpuTally = (): CpuTally => ({ process: 0, main: 0, postgres: 0, client: 0, n: 0 });

/**
 * Runs `run` (a load on the server of process `pid`) and adds the CPU time it took to `tally`, with `requests`
 * of its result; the database's backends are counted only with `db` (those that exist when it starts).
 */
export async function chargeCpu<T>(tally: CpuTally, pid: number, db: Db | null, run: () => Promise<T>, requests: (result: T) => number): Promise<T> {
  const p0 = procCpuMicros(pid);
  const m0 = procCpuMicros(pid, true);
  const pg0 = db ? await backendCpu(db) : new Map<number, number>();
  const c0 = procCpuMicros(process.pid);
  const result = await run();
  tally.process += procCpuMicros(pid) - p0;
  tally.main += procCpuMicros(pid, true) - m0;
  tally.postgres += backendCpuSince(pg0);
  tally.client += procCpuMicros(process.pid) - c0;
  tally.n += requests(result);
  return result;
}

/** A tally's CPU time per request (µs). */
export const perRequest = (tally: CpuTally, field: keyof CpuUse) => tally[field] / Math.max(1, tally.n);

/** Creates roster_bench_<random> on the server of `url`, migrates it, hands it to `fn`, and always drops it. */
export async function withBenchDatabase<T>(url: string, fn: (db: Db, url: string) => Promise<T>): Promise<T> {
  const name = `roster_bench_${randomBytes(6).toString('hex')}`;
  const admin = knexFactory({ client: 'pg', connection: url, pool: { min: 0, max: 1 } });
  const u = new URL(url);
  u.pathname = `/${name}`;
  let db: Db | undefined;
  let created = false;
  try {
    await admin.raw(`create database ${name}`);
    created = true;
    console.log(`database ${name} created`);
    db = await openDb({ databaseUrl: u.toString(), poolMax: 10 });
    await migrate(db);
    return await fn(db, u.toString());
  } finally {
    await db?.destroy().catch(() => {});
    if (created) {
      await admin.raw(`drop database if exists ${name} with (force)`).catch((err) => console.error(`could not drop ${name}:`, err));
      console.log(`database ${name} dropped`);
    }
    await admin.destroy();
  }
}

export const SEED = { users: 100_000, bigGroup: 50_000, smallGroup: 10 } as const;

// Deterministic ids: user N is account md5('a'||N) and membership md5('m'||N), so groups can be filled by N.
const memberId = (n: string) => `md5('m' || ${n})::uuid`;

/**
 * SQL-only seeding: users 1..users (accounts + memberships with the typed person columns the directory stores:
 * given_name, family_name, and `emails` holding one primary work e-mail, the same address as the userName),
 * the big group holds users 1..bigGroup, the small group the next smallGroup users; everyone after is a spare.
 */
export async function seed(db: Db, orgId: string, users: number): Promise<{ bigGroupId: string; smallGroupId: string; spareIds: string[] }> {
  const { bigGroup, smallGroup } = SEED;
  await db.transaction(async (trx) => {
    await trx.raw(`insert into accounts (id, email, given_name, family_name, managed_by_org_id, created_at, updated_at)
      select md5('a' || n)::uuid, 'user' || n || '@bench.test', 'Given' || n, 'Family' || n, ?, t, t
      from generate_series(1, ?::int) n, lateral (select now() - (?::int - n) * interval '1 second' as t) ts`, [orgId, users, users]);
    await trx.raw(`insert into memberships (org_id, id, account_id, user_name, given_name, family_name, emails, created_at, updated_at)
      select ?, ${memberId('n')}, md5('a' || n)::uuid, 'user' || n || '@bench.test', 'Given' || n, 'Family' || n,
        jsonb_build_array(jsonb_build_object('value', 'user' || n || '@bench.test', 'type', 'work', 'primary', true)), t, t
      from generate_series(1, ?::int) n, lateral (select now() - (?::int - n) * interval '1 second' as t) ts`, [orgId, users, users]);
  });
  const [big] = await db('groups').insert({ org_id: orgId, display_name: `Big (${bigGroup})` }).returning('id');
  const [small] = await db('groups').insert({ org_id: orgId, display_name: `Small (${smallGroup})` }).returning('id');
  const fill = (groupId: string, from: number, to: number) => db.raw(
    `insert into group_members (org_id, group_id, membership_id) select ?, ?, ${memberId('n')} from generate_series(?::int, ?::int) n`,
    [orgId, groupId, from, to]);
  await fill(big.id, 1, bigGroup);
  await fill(small.id, bigGroup + 1, bigGroup + smallGroup);
  await db.raw('analyze');
  const spares = await db.raw(`select ${memberId('n')} as id from generate_series(?::int, ?::int) n`, [bigGroup + smallGroup + 1, users]);
  return { bigGroupId: big.id, smallGroupId: small.id, spareIds: spares.rows.map((r: { id: string }) => r.id) };
}

export async function groupSize(db: Db, groupId: string): Promise<number> {
  const [{ n }] = await db('group_members').where({ group_id: groupId }).count({ n: '*' });
  return Number(n);
}

/**
 * Waits until no query of this database is running. autocannon drops its connections at the end of a run,
 * but the server finishes the requests it had in hand: they must not be billed to the next run.
 */
export async function settle(db: Db, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  // Idle twice in a row: a request between two of its queries can look idle once.
  for (let idle = 0; ;) {
    const { rows } = await db.raw(`select count(*) as n from pg_stat_activity
      where datname = current_database() and pid <> pg_backend_pid() and state <> 'idle'`);
    idle = Number(rows[0].n) === 0 ? idle + 1 : 0;
    if (idle === 2) return;
    if (Date.now() > deadline) throw new Error('the database did not become idle between runs');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * Every run starts from the same state: the dead row versions a run leaves (each group PATCH rewrites the
 * group's row) would otherwise slow the next run, and the order of the runs would decide their ratio.
 */
export async function vacuum(db: Db): Promise<void> {
  await db.raw('vacuum (analyze) groups, group_members, memberships, accounts, audit_events, credentials');
}

/** Listens on an ephemeral loopback port; the handler may be attached later (when it needs to know the port). */
export async function listen(handler?: RequestListener): Promise<{ server: Server; url: string; close: () => Promise<void> }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const close = () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); });
  return { server, url, close };
}

const bearer = /^Bearer\s+(\S+)\s*$/i;

/**
 * The DESIGN's yardsticks, one express app on one `pg.Pool` (10 connections), no logging, no SCIM, plain
 * `pool.query` (unnamed statements, as plain pg code writes them):
 * - `GET /lookup?userName=`: one indexed query, no authentication, the organisation fixed in advance;
 * - `GET /auth/lookup?userName=`: a plain bearer-token check first (sha256 of the token, one indexed query of
 *   `credentials` for an active SCIM token), then the same lookup scoped by the organisation the token gave:
 *   two round trips, as Roster makes.
 */
export function baselineApp(databaseUrl: string, orgId: string): { app: express.Express; pool: pg.Pool } {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 10 });
  // An idle connection closed under the pool (the bench database is dropped with `force` at the end) must not
  // crash the bench: pg emits that on the pool, and an 'error' event without a listener throws.
  pool.on('error', () => {});
  const app = express();
  const lookup = async (org: string, userName: unknown, res: express.Response) => {
    const { rows } = await pool.query('select id, user_name, given_name, family_name, emails from memberships where org_id = $1 and lower(user_name) = lower($2)',
      [org, String(userName ?? '')]);
    if (rows.length === 0) res.status(404).json({ error: 'not found' });
    else res.json(rows[0]);
  };
  app.get('/lookup', async (req, res, next) => {
    try {
      await lookup(orgId, req.query.userName, res);
    } catch (err) {
      next(err);
    }
  });
  app.get('/auth/lookup', async (req, res, next) => {
    try {
      const token = bearer.exec(req.headers.authorization ?? '')?.[1];
      const hash = token ? createHash('sha256').update(token).digest('hex') : undefined;
      const { rows } = hash
        ? await pool.query(`select org_id from credentials where secret_hash = $1 and kind = 'scim_token' and revoked_at is null`, [hash])
        : { rows: [] };
      if (rows.length === 0) {
        res.status(401).json({ error: 'unauthorized' });
        return;
      }
      await lookup(rows[0].org_id, req.query.userName, res);
    } catch (err) {
      next(err);
    }
  });
  return { app, pool };
}

/** Runs one autocannon job of the SCIM benchmark on a worker thread (bench/load-worker.ts). */
export const runLoad = (job: LoadJob): Promise<LoadStats> => runWorker(new URL('./load-worker.ts', import.meta.url), job);

export type Row = { name: string; roster: LoadStats; baseline?: LoadStats; ratio?: number; ratioNote?: string };

export function formatTable(rows: Row[]): string {
  const f = (n: number | undefined, digits = 0) => (n === undefined ? '-' : n.toFixed(digits));
  const head = ['benchmark', 'roster req/s', 'roster p99 ms', 'baseline req/s', 'baseline p99 ms', 'ratio', 'non-2xx/errors'];
  const body = rows.map((r) => [
    r.name, f(r.roster.rps), f(r.roster.p99, 1), f(r.baseline?.rps), f(r.baseline?.p99, 1),
    r.ratio === undefined ? '-' : `${r.ratio.toFixed(2)}${r.ratioNote ? ` ${r.ratioNote}` : ''}`,
    `${r.roster.non2xx + r.roster.errors}${r.baseline ? ` / ${r.baseline.non2xx + r.baseline.errors}` : ''}`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => '| ' + cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ') + ' |';
  return [line(head), '|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|', ...body.map(line)].join('\n');
}

export const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MB`;
