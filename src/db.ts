// Knex on PostgreSQL (DATABASE_URL) or the embedded PGlite (DATA_DIR): one SQL dialect for both.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import knexFactory, { type Knex } from 'knex';
// @ts-expect-error: Knex ships no types for its dialect classes
import PgClient from 'knex/lib/dialects/postgres/index.js';
import ClientPgLite from 'knex-pglite';
import pg from 'pg';
import { migrationSource } from '../migrations/index.ts';

export type Db = Knex;

// Return bigint counts as numbers and timestamps as Date (pg's defaults are string and Date).
pg.types.setTypeParser(pg.types.builtins.INT8, (v: string) => Number(v));

export type DbTarget = { databaseUrl?: string; dataDir?: string; inMemory?: boolean; poolMax?: number };

/**
 * Knex's PostgreSQL client, plus named prepared statements: a query marked `.options({ prepare: true })` is
 * named after a hash of its compiled text, so each connection parses and plans it once. Planning was most
 * of a lookup's database time. Mark only statements whose text comes from a bounded set: each distinct text
 * stays prepared on every connection. (PGlite runs the same queries unprepared.)
 */
class PreparingPgClient extends (PgClient as typeof Knex.Client) {
  _query(connection: unknown, obj: { sql: string; options?: Record<string, unknown> }) {
    if (obj.options?.prepare) {
      const { prepare: _, ...options } = obj.options;
      obj.options = { ...options, name: 'roster_' + createHash('sha1').update(obj.sql).digest('hex').slice(0, 32) };
    }
    return (PgClient as { prototype: { _query: (c: unknown, o: unknown) => unknown } }).prototype._query.call(this, connection, obj);
  }
}

export function openDb(target: DbTarget): Db {
  if (target.databaseUrl) {
    return knexFactory({
      client: PreparingPgClient,
      connection: target.databaseUrl,
      pool: {
        min: 0,
        max: target.poolMax ?? 10,
        // JIT compilation pays off for long analytical queries, never for ours: it only adds latency.
        afterCreate: (conn: pg.Client, done: (err: Error | null, conn: pg.Client) => void) => {
          conn.query('set jit = off').then(() => done(null, conn), (err: Error) => done(err, conn));
        },
      },
    });
  }
  let connection: object = {};
  if (!target.inMemory) {
    if (!target.dataDir) throw new Error('openDb: dataDir is required for the embedded database');
    const dir = join(target.dataDir, 'pgdata');
    mkdirSync(dir, { recursive: true });
    connection = { filename: dir };
  }
  return knexFactory({ client: ClientPgLite as unknown as typeof Knex.Client, dialect: 'postgres', connection });
}

export async function migrate(db: Db): Promise<string[]> {
  const [, applied] = (await db.migrate.latest({ migrationSource })) as [number, string[]];
  return applied;
}

export async function ping(db: Db): Promise<void> {
  await db.raw('select 1');
}
