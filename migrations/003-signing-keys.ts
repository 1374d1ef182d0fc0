// Signing keys of the OpenID Connect provider: generated on first start, the private part sealed with a key
// derived from SECRET (src/directory/sealing.ts). The newest active key signs; a rotated-out key stays
// published (JWKS) until `unpublish_at`, when every token it signed has expired.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create table signing_keys (
      kid text primary key,
      alg text not null,
      public_jwk jsonb not null,
      private_jwk_sealed text not null,
      created_at timestamptz not null default now(),
      retired_at timestamptz,
      unpublish_at timestamptz,
      check ((retired_at is null) = (unpublish_at is null))
    )`);
}
