import assert from 'node:assert/strict';
import { reuse } from '../../src/directory/predicate.ts';
import { databaseKind, testDb } from '../setup.ts';

describe('prepared statements', () => {
  it('runs a marked query as a named prepared statement on PostgreSQL (unprepared on PGlite), with the same result', async () => {
    await testDb().transaction(async (trx) => {
      const plain = await trx('organizations').where({ slug: 'no-such-org' }).first('id');
      const first = await reuse(trx('organizations').where({ slug: 'no-such-org' }).first('id'));
      const again = await reuse(trx('organizations').where({ slug: 'no-such-org' }).first('id'));
      assert.equal(plain, undefined);
      assert.equal(first, undefined);
      assert.equal(again, undefined);
      if (databaseKind() === 'postgresql') {
        // Same connection (a transaction): the statement is prepared once, under one name.
        // The pooled connection may hold other prepared statements (other queries on organizations.slug too): match the text.
        const text = trx('organizations').where({ slug: 'no-such-org' }).first('id').toSQL().toNative().sql;
        const { rows } = await trx.raw("select name, statement from pg_prepared_statements where name like 'roster_%'");
        const mine = rows.filter((r: { statement: string }) => r.statement === text);
        assert.equal(mine.length, 1, JSON.stringify(rows));
      }
    });
  });

  it('gives two different texts two different names (never "prepared statements must be unique")', async () => {
    await testDb().transaction(async (trx) => {
      await reuse(trx('organizations').where({ slug: 'a' }).first('id'));
      await reuse(trx('organizations').where({ slug: 'a' }).offset(1).first('id'));
      await reuse(trx('organizations').where({ slug: 'a' }).first('id', 'name'));
    });
  });
});
