// The database connection the server opens: statement timeout (migrations exempt), the prepared-statement
// switch, and the configuration that drives them.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import type { Knex } from 'knex';
import { pino } from 'pino';
import supertest from 'supertest';
import { loadConfig } from '../../src/config.ts';
import { type Db, openDb, untimed } from '../../src/db.ts';
import { reuse } from '../../src/directory/predicate.ts';
import { createApp } from '../../src/http/app.ts';
import { unique } from '../helpers.ts';
import { testDatabaseUrl, testDb } from '../setup.ts';

const secret = 's'.repeat(32);

/** A connection like the server's to the run's database (a second in-memory PGlite on the embedded run). */
function openLikeServer(options: { statementTimeoutMs?: number; preparedStatements?: boolean }): Promise<Db> {
  const url = testDatabaseUrl();
  // Knex's own messages (a migration that fails on purpose below) are not shown.
  const log = { warn: () => {}, debug: () => {} };
  return url ? openDb({ databaseUrl: url, poolMax: 2, log, ...options }) : openDb({ inMemory: true, log, ...options });
}

describe('database connection', function () {
  this.timeout(2 * 60_000);

  it('configuration: statement timeout 10 s, prepared statements on, trust proxy loopback, no metrics port, by default; each can be set', () => {
    const d = loadConfig({ SECRET: secret });
    assert.equal(d.statementTimeoutMs, 10_000);
    assert.equal(d.preparedStatements, true);
    assert.equal(d.trustProxy, 'loopback');
    assert.equal(d.metricsPort, undefined);
    const c = loadConfig({ SECRET: secret, DATABASE_STATEMENT_TIMEOUT_MS: '2500', DATABASE_PREPARED_STATEMENTS: 'false', TRUST_PROXY: '2', METRICS_PORT: '9464' });
    assert.equal(c.statementTimeoutMs, 2500);
    assert.equal(c.preparedStatements, false);
    assert.equal(c.trustProxy, 2);
    assert.equal(c.metricsPort, 9464);
    assert.equal(loadConfig({ SECRET: secret, TRUST_PROXY: 'true' }).trustProxy, true);
    assert.equal(loadConfig({ SECRET: secret, TRUST_PROXY: 'false' }).trustProxy, false);
    assert.equal(loadConfig({ SECRET: secret, TRUST_PROXY: 'loopback, 10.0.0.0/8' }).trustProxy, 'loopback, 10.0.0.0/8');
    assert.throws(() => loadConfig({ SECRET: secret, DATABASE_PREPARED_STATEMENTS: 'no' }), /DATABASE_PREPARED_STATEMENTS: must be true or false/);
    assert.throws(() => loadConfig({ SECRET: secret, METRICS_PORT: 'x' }), /METRICS_PORT/);
    assert.throws(() => loadConfig({ SECRET: secret, DATABASE_STATEMENT_TIMEOUT_MS: '-1' }), /DATABASE_STATEMENT_TIMEOUT_MS/);
  });

  it('the app trusts the proxies it is told to (TRUST_PROXY), loopback by default: the logged client address follows', async () => {
    const loggedAddress = async (trustProxy?: boolean | number | string) => {
      const lines: string[] = [];
      const logger = pino({ level: 'info' }, new Writable({ write(chunk, _enc, done) { lines.push(String(chunk)); done(); } }));
      const app = createApp({ db: testDb(), logger, issuer: 'http://x.test', trustProxy });
      await supertest(app).get('/readyz').set('X-Forwarded-For', '203.0.113.9').expect(200);
      const line = lines.map((l) => JSON.parse(l)).find((l) => l.req?.url === '/readyz');
      return line.req.remoteAddress as string;
    };
    assert.equal(await loggedAddress(), '203.0.113.9', 'the test client is on loopback: a trusted proxy by default');
    assert.equal(await loggedAddress(1), '203.0.113.9');
    assert.match(await loggedAddress(false), /127\.0\.0\.1|::1/);
    assert.match(await loggedAddress('10.0.0.0/8'), /127\.0\.0\.1|::1/);
  });

  it('cancels a statement that runs longer than the statement timeout on PostgreSQL; jit stays off', async () => {
    const db = await openLikeServer({ statementTimeoutMs: 200 });
    try {
      if (testDatabaseUrl()) {
        // One connection, so both settings are read where the statement runs.
        await db.transaction(async (trx) => {
          assert.equal((await trx.raw('show statement_timeout')).rows[0].statement_timeout, '200ms');
          assert.equal((await trx.raw('show jit')).rows[0].jit, 'off');
        });
        await assert.rejects(db.raw('select pg_sleep(3)'), (err: { code?: string }) => err.code === '57014');
        // The connection stays usable.
        assert.equal((await db.raw('select 1 as one')).rows[0].one, 1);
      } else {
        // PGlite: one in-process connection, no timeout to set; the option is accepted and changes nothing.
        assert.equal((await db.raw('select 1 as one')).rows[0].one, 1);
      }
    } finally {
      await db.destroy();
    }
  });

  it('runs migrations without the statement timeout, and only them', async () => {
    const db = await openLikeServer({ statementTimeoutMs: 200 });
    const table = unique('test_migrations_');
    const seen: string[] = [];
    const source: Knex.MigrationSource<string> = {
      getMigrations: async () => ['slow'],
      getMigrationName: (m) => m,
      getMigration: async () => ({
        up: async (knex: Knex) => {
          seen.push((await knex.raw("select current_setting('statement_timeout') as t")).rows[0].t);
          // Longer than the pool's timeout: cancelled unless the migration is exempt.
          await knex.raw('select pg_sleep(0.5)');
        },
        down: async () => {},
      }),
    };
    try {
      await db.migrate.latest({ migrationSource: untimed(source), tableName: table });
      assert.deepEqual(seen, ['0']);
      if (testDatabaseUrl()) {
        // Outside the migration's transaction the timeout is back: `set local` did not leak to the pool.
        await assert.rejects(db.raw('select pg_sleep(3)'), (err: { code?: string }) => err.code === '57014');
        // And the same migration without the wrapper is cancelled: the wrapper is what exempts it.
        const plain = unique('test_migrations_');
        await assert.rejects(db.migrate.latest({ migrationSource: source, tableName: plain }), (err: { code?: string }) => err.code === '57014');
        await db.schema.dropTableIfExists(plain);
        await db.schema.dropTableIfExists(`${plain}_lock`);
      }
    } finally {
      await db.schema.dropTableIfExists(table);
      await db.schema.dropTableIfExists(`${table}_lock`);
      await db.destroy();
    }
  });

  it('with DATABASE_PREPARED_STATEMENTS=false no roster_% statement is prepared; the answers are the same', async () => {
    const preparedStatements = loadConfig({ SECRET: secret, DATABASE_PREPARED_STATEMENTS: 'false' }).preparedStatements;
    const slug = unique('no-such-slug-');
    const preparedNames = async (db: Db) => db.transaction(async (trx) => {
      const found = await reuse(trx('organizations').where({ slug }).first('id'));
      assert.equal(found, undefined);
      if (!testDatabaseUrl()) return [];
      const { rows } = await trx.raw("select name from pg_prepared_statements where name like 'roster_%'");
      return rows.map((r: { name: string }) => r.name);
    });
    const url = testDatabaseUrl();
    if (!url) {
      // PGlite runs every statement unprepared whatever the switch: the marked query still answers.
      assert.deepEqual(await preparedNames(testDb()), []);
      return;
    }
    const off = await openDb({ databaseUrl: url, poolMax: 1, preparedStatements });
    const on = await openDb({ databaseUrl: url, poolMax: 1 });
    try {
      assert.deepEqual(await preparedNames(off), []);
      // The same query on a connection with the switch on is prepared (so the check above can fail).
      assert.equal((await preparedNames(on)).length, 1);
    } finally {
      await off.destroy();
      await on.destroy();
    }
  });
});
