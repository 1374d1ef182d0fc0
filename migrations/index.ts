// Knex migration source: the list of migrations, in order, forward only.
// Imported explicitly (not discovered on disk) so the same list runs from source, tests and the Docker image.
import type { Knex } from 'knex';
import * as m001 from './001-directory.ts';
import * as m002 from './002-typed-members.ts';
import * as m003 from './003-signing-keys.ts';
import * as m004 from './004-oidc-clients.ts';
import * as m005 from './005-sign-in-foundation.ts';
import * as m006 from './006-sign-in.ts';
import * as m007 from './007-mail.ts';
import * as m008 from './008-email-codes.ts';
import * as m009 from './009-sso.ts';
import * as m010 from './010-team.ts';
import * as m011 from './011-key-makers.ts';

type Migration = { up: (knex: Knex) => Promise<void>; down?: (knex: Knex) => Promise<void> };

const migrations: Record<string, Migration> = {
  '001-directory': m001,
  '002-typed-members': m002,
  '003-signing-keys': m003,
  '004-oidc-clients': m004,
  '005-sign-in-foundation': m005,
  '006-sign-in': m006,
  '007-mail': m007,
  '008-email-codes': m008,
  '009-sso': m009,
  '010-team': m010,
  '011-key-makers': m011,
};

export const migrationSource: Knex.MigrationSource<string> = {
  getMigrations: async () => Object.keys(migrations),
  getMigrationName: (name) => name,
  getMigration: async (name) => {
    const m = migrations[name];
    return { up: m.up, down: m.down ?? (async () => { throw new Error(`migration ${name} is forward only`); }) };
  },
};
