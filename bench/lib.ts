// Helpers of the SCIM benchmark: a throw-away database, fast SQL seeding, the baseline server, the load worker, the table.
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Worker } from 'node:worker_threads';
import express from 'express';
import knexFactory from 'knex';
import pg from 'pg';
import { type Db, migrate, openDb } from '../src/db.ts';
import type { LoadJob, LoadStats } from './load-worker.ts';

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

/** Runs one autocannon job on a worker thread. */
export function runLoad(job: LoadJob): Promise<LoadStats> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./load-worker.ts', import.meta.url), { workerData: job });
    let result: LoadStats | undefined;
    worker.once('message', (m: LoadStats) => { result = m; });
    worker.once('error', reject);
    worker.once('exit', (code) => (result ? resolve(result) : reject(new Error(`load worker exited with code ${code} and no result`))));
  });
}

/** Failures over completed requests; the run fails above 0.1%. */
export const failureRate = (s: LoadStats) => (s.non2xx + s.errors) / Math.max(1, s.okWithWarmup + s.non2xx + s.errors);

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
