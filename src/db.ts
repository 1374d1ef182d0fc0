// Knex on PostgreSQL (DATABASE_URL) or the embedded PGlite (DATA_DIR): one SQL dialect for both.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import knexFactory, { type Knex } from 'knex';
import ClientPgLite from 'knex-pglite';
import pg from 'pg';
import { migrationSource } from '../migrations/index.ts';

export type Db = Knex;

// Return bigint counts as numbers and timestamps as Date (pg's defaults are string and Date).
pg.types.setTypeParser(pg.types.builtins.INT8, (v: string) => Number(v));

export type DbTarget = { databaseUrl?: string; dataDir?: string; inMemory?: boolean; poolMax?: number };

export function openDb(target: DbTarget): Db {
  if (target.databaseUrl) {
    return knexFactory({
      client: 'pg',
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
