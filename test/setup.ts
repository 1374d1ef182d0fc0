// Root hooks: one fresh database for the whole run (a new PostgreSQL database when DATABASE_URL is set,
// an in-memory PGlite otherwise), migrated once and dropped at the end. Tests isolate themselves by
// creating their own organisation; none depends on another's rows.
import { randomBytes } from 'node:crypto';
import knexFactory from 'knex';
import { migrate, openDb, type Db } from '../src/db.ts';

let db: Db | undefined;
let dropDatabase: (() => Promise<void>) | undefined;
let databaseUrl: string | undefined;

/** The URL of this run's PostgreSQL database, or undefined on the embedded database. */
export const testDatabaseUrl = () => databaseUrl;

export function testDb(): Db {
  if (!db) throw new Error('the test database is not open (test/setup.ts root hook did not run)');
  return db;
}

export const databaseKind = () => (process.env.DATABASE_URL ? 'postgresql' : 'pglite');

async function openFreshDatabase(): Promise<Db> {
  const url = process.env.DATABASE_URL;
  if (!url) return openDb({ inMemory: true });
  const name = `roster_test_${randomBytes(6).toString('hex')}`;
  const admin = knexFactory({ client: 'pg', connection: url, pool: { min: 0, max: 1 } });
  await admin.raw(`create database ${name}`);
  const u = new URL(url);
  u.pathname = `/${name}`;
  dropDatabase = async () => {
    await admin.raw(`drop database if exists ${name} with (force)`);
    await admin.destroy();
  };
  databaseUrl = u.toString();
  return openDb({ databaseUrl, poolMax: 20 });
}

export const mochaHooks = {
  async beforeAll(this: Mocha.Context) {
    this.timeout(60_000);
    db = await openFreshDatabase();
    await migrate(db);
  },
  async afterAll() {
    await db?.destroy();
    await dropDatabase?.();
  },
};
