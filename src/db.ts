// Knex on PostgreSQL (DATABASE_URL) or the embedded PGlite (DATA_DIR): one SQL dialect for both.
// PGlite (a WebAssembly PostgreSQL, tens of MB once loaded) is imported only when the embedded database is used.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import knexFactory, { type Knex } from 'knex';
// @ts-expect-error: Knex ships no types for its dialect classes
import PgClient from 'knex/lib/dialects/postgres/index.js';
import pg from 'pg';
import { migrationSource } from '../migrations/index.ts';

export type Db = Knex;

// Return bigint counts as numbers and timestamps as Date (pg's defaults are string and Date).
pg.types.setTypeParser(pg.types.builtins.INT8, (v: string) => Number(v));

/** Where Knex's own warnings go (its default prints driver stack traces on the console). */
export type DbLog = { warn: (msg: string) => void; debug: (msg: string) => void };

export type DbTarget = {
  databaseUrl?: string;
  dataDir?: string;
  inMemory?: boolean;
  poolMax?: number;
  /** PostgreSQL: `statement_timeout` of every pool connection, in ms (0 or unset: none). Migrations are exempt. */
  statementTimeoutMs?: number;
  /** PostgreSQL: run statements marked with `reuse()` as named prepared statements (default true). */
  preparedStatements?: boolean;
  log?: DbLog;
};

/**
 * Statement names by text: the texts are a bounded set, and a Map lookup is cheaper than a hash per query.
 * (Module-level: Knex's transaction clients are built from the client's prototype, without its own fields.)
 */
const statementNames = new Map<string, string>();

function statementName(sql: string): string {
  let name = statementNames.get(sql);
  if (name === undefined) {
    name = 'roster_' + createHash('sha1').update(sql).digest('hex').slice(0, 32);
    if (statementNames.size >= 10_000) statementNames.clear(); // a safety bound: the texts are few
    statementNames.set(sql, name);
  }
  return name;
}

/**
 * Knex's PostgreSQL client, plus named prepared statements: a query marked `.options({ prepare: true })` is
 * named after a hash of its compiled text, so each connection parses and plans it once. Planning was most
 * of a lookup's database time. Mark only statements whose text comes from a bounded set: each distinct text
 * stays prepared on every connection. (PGlite runs the same queries unprepared.) With
 * `preparedStatements: false` in the Knex config (behind PgBouncer in transaction mode, where a prepared
 * statement does not follow the client to the next server connection) the mark is dropped and the
 * statement runs unnamed.
 */
class PreparingPgClient extends (PgClient as typeof Knex.Client) {
  _query(connection: unknown, obj: { sql: string; options?: Record<string, unknown> }) {
    if (obj.options?.prepare) {
      const { prepare: _, ...options } = obj.options;
      const named = (this.config as { preparedStatements?: boolean }).preparedStatements !== false;
      obj.options = named ? { ...options, name: statementName(obj.sql) } : options;
    }
    return (PgClient as { prototype: { _query: (c: unknown, o: unknown) => unknown } }).prototype._query.call(this, connection, obj);
  }
}

function knexLog(log: DbLog | undefined): Knex.Config['log'] {
  // "Acquire connection error" carries the driver's stack; the caller gets the same error thrown and reports it once.
  const warn = (msg: string) => (/^Acquire connection error/.test(msg) ? log?.debug(msg) : (log ? log.warn(msg) : console.warn(msg)));
  return { warn, error: warn, deprecate: warn, debug: (msg: string) => log?.debug(String(msg)) };
}

export async function openDb(target: DbTarget): Promise<Db> {
  if (target.databaseUrl) {
    const timeout = Math.max(0, Math.trunc(target.statementTimeoutMs ?? 0));
    // JIT compilation pays off for long analytical queries, never for ours: it only adds latency.
    const setup = `set jit = off; set statement_timeout = ${timeout}`;
    return knexFactory({
      client: PreparingPgClient,
      connection: target.databaseUrl,
      log: knexLog(target.log),
      preparedStatements: target.preparedStatements ?? true,
      pool: {
        min: 0,
        max: target.poolMax ?? 10,
        afterCreate: (conn: pg.Client, done: (err: Error | null, conn: pg.Client) => void) => {
          conn.query(setup).then(() => done(null, conn), (err: Error) => done(err, conn));
        },
      },
    } as Knex.Config);
  }
  let dataDir: string | undefined;
  if (!target.inMemory) {
    if (!target.dataDir) throw new Error('openDb: dataDir is required for the embedded database');
    dataDir = join(target.dataDir, 'pgdata');
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  }
  const [{ default: ClientPgLite }, { PGlite }, { pg_trgm }, { btree_gin }] = await Promise.all([
    import('knex-pglite'), import('@electric-sql/pglite'), import('@electric-sql/pglite/contrib/pg_trgm'), import('@electric-sql/pglite/contrib/btree_gin'),
  ]);
  // The extensions the roster search's index uses (PostgreSQL ships them as contrib; PGlite loads them here).
  const connection = { pglite: new PGlite({ dataDir, extensions: { pg_trgm, btree_gin } }) } as unknown as Knex.StaticConnectionConfig;
  return knexFactory({ client: withDeleteCounts(ClientPgLite as unknown as typeof Knex.Client), dialect: 'postgres', connection, log: knexLog(target.log) });
}

/**
 * Migrations run without a statement timeout: each runs in its own transaction (Knex's default), which
 * first lifts the pool's `statement_timeout` for itself only (`set local`), so building an index on a big
 * table is not cancelled after the 10 s meant for requests. (A migration that opts out of its transaction,
 * `config: { transaction: false }`, is not exempt: on a pool, nothing scopes a setting to it.)
 */
export function untimed<T>(source: Knex.MigrationSource<T>): Knex.MigrationSource<T> {
  return {
    getMigrations: (loadExtensions) => source.getMigrations(loadExtensions),
    getMigrationName: (m) => source.getMigrationName(m),
    getMigration: async (m) => {
      const migration = await source.getMigration(m);
      return {
        ...migration,
        up: async (knex: Knex) => {
          await knex.raw('set local statement_timeout = 0');
          return migration.up(knex);
        },
      };
    },
  };
}

const untimedMigrationSource = untimed(migrationSource);

/** The names of the migrations not yet applied (reads the migrations table; changes nothing). */
export async function pendingMigrations(db: Db): Promise<string[]> {
  const [, pending] = (await db.migrate.list({ migrationSource: untimedMigrationSource })) as [unknown[], { file?: string; name?: string }[] | string[]];
  return pending.map((p) => (typeof p === 'string' ? p : (p.name ?? p.file ?? String(p))));
}

export async function migrate(db: Db): Promise<string[]> {
  const [, applied] = (await db.migrate.latest({ migrationSource: untimedMigrationSource })) as [number, string[]];
  return applied;
}

/** Applies what is pending, telling `onPending` first (a long migration is never silent). Returns what was applied. */
export async function migrateIfNeeded(db: Db, onPending: (pending: string[]) => void): Promise<string[]> {
  const pending = await pendingMigrations(db);
  if (pending.length === 0) return [];
  onPending(pending);
  return migrate(db);
}

/** "3 migrations to apply" */
export const describePending = (pending: string[]) => `${pending.length} migration${pending.length === 1 ? '' : 's'} to apply`;

export async function ping(db: Db): Promise<void> {
  await db.raw('select 1');
}

/** Where a PostgreSQL URL points, without its password: for messages. */
export function describeDatabaseUrl(databaseUrl: string): { host: string; port: string; database: string; user: string; where: string } {
  let u: URL;
  try {
    u = new URL(databaseUrl);
  } catch {
    return { host: '?', port: '5432', database: '?', user: '?', where: 'the server in DATABASE_URL' };
  }
  const host = decodeURIComponent(u.hostname || 'localhost').replace(/^\[(.*)\]$/, '$1');
  const port = u.port || '5432';
  const database = decodeURIComponent(u.pathname.replace(/^\//, '')) || decodeURIComponent(u.username) || 'postgres';
  return { host, port, database, user: decodeURIComponent(u.username) || '(default user)', where: `${host}:${port}` };
}

/**
 * One line saying what is wrong with the database and what to do, for an error met while connecting;
 * null when the error is not a connection problem (a bug: the caller shows it in full).
 */
export function databaseProblem(err: unknown, databaseUrl: string | undefined): string | null {
  const e = err as { code?: string; message?: string; name?: string; errors?: unknown[] };
  if (!databaseUrl) return null;
  const { host, port, database, user, where } = describeDatabaseUrl(databaseUrl);
  // Node reports a refused connection to "localhost" (both ::1 and 127.0.0.1 tried) as an AggregateError.
  const code = e?.code ?? (e?.errors?.[0] as { code?: string } | undefined)?.code;
  switch (code) {
    case '3D000':
      return `roster: database "${database}" does not exist on ${where}; create it (createdb -h ${host} -p ${port} ${database}) or fix DATABASE_URL`;
    case '28P01':
      return `roster: PostgreSQL on ${where} refused the password of user "${user}"; fix the credentials in DATABASE_URL`;
    case '28000':
      return `roster: PostgreSQL on ${where} refused user "${user}" (${e.message}); fix the user in DATABASE_URL or the server's pg_hba.conf`;
    case 'ECONNREFUSED':
      return `roster: cannot connect to PostgreSQL on ${where} (connection refused); start PostgreSQL or fix the host and port in DATABASE_URL`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `roster: cannot resolve the host "${host}" of DATABASE_URL; fix DATABASE_URL`;
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `roster: cannot reach PostgreSQL on ${where} (${code}); check the network or fix the host and port in DATABASE_URL`;
    case '57P03':
      return `roster: PostgreSQL on ${where} is starting up or shutting down; try again in a moment`;
    case '53300':
      return `roster: PostgreSQL on ${where} has no connection slot left (too many clients); raise max_connections or lower the pool`;
  }
  if (e?.name === 'KnexTimeoutError') return `roster: PostgreSQL on ${where} did not accept a connection in time; check that it is up and reachable, and DATABASE_URL`;
  if (/SSL|certificate/i.test(e?.message ?? '')) return `roster: TLS to PostgreSQL on ${where} failed (${e.message}); fix the sslmode in DATABASE_URL or the server's certificate`;
  if (/^0[08]|^28/.test(code ?? '')) return `roster: PostgreSQL on ${where} refused the connection (${e.message}); check DATABASE_URL`;
  return null;
}

/**
 * knex-pglite names a delete's result "DEL" where Knex's PostgreSQL dialect expects "DELETE", so a delete
 * answered its raw result instead of the number of rows deleted (as it does on PostgreSQL).
 */
function withDeleteCounts(Base: typeof Knex.Client): typeof Knex.Client {
  return class extends (Base as unknown as new (config: Knex.Config) => { processResponse(obj: unknown, runner: unknown): unknown }) {
    processResponse(obj: { method?: string }, runner: unknown) {
      const out = super.processResponse(obj, runner) as { command?: string; rowCount?: number } | null;
      return obj.method === 'del' && out !== null && typeof out === 'object' && out.command === 'DEL' ? out.rowCount : out;
    }
  } as unknown as typeof Knex.Client;
}
