// OpenID Connect clients (relying parties). Each belongs to one organisation; its client_id is unique across
// the issuer. A confidential client's secret is a row of `credentials` (kind client_secret): hashed, shown
// once, revocable like any other credential.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create table oidc_clients (
      client_id text primary key,
      org_id uuid not null references organizations (id) on delete cascade,
      name text not null check (length(name) between 1 and 200),
      public boolean not null,
      redirect_uris text[] not null check (cardinality(redirect_uris) between 1 and 20),
      post_logout_redirect_uris text[] not null default '{}',
      grant_types text[] not null,
      secret_credential_id uuid references credentials (id) on delete set null,
      created_at timestamptz not null default now(),
      revoked_at timestamptz,
      check (public = (secret_credential_id is null) or revoked_at is not null)
    )`);
  await knex.raw('create index oidc_clients_org on oidc_clients (org_id, created_at desc)');
}
