// Upstream SSO: one OpenID Connect connection per organisation (its client secret sealed at rest, bound to
// the organisation), the e-mail domains it claims (each claimed by one organisation at most, lower-cased,
// looked up by domain at sign-in: a small global table, as accounts are), and the upstream identities
// (issuer + subject) linked to accounts, each remembering the organisation whose connection linked it.
import type { Knex } from 'knex';
import { runScript } from './script.ts';

export async function up(knex: Knex): Promise<void> {
  await runScript(knex, schema);
}

const schema = `
    create table sso_connections (
      org_id uuid primary key references organizations (id) on delete cascade,
      issuer text not null check (length(issuer) between 1 and 2000),
      client_id text not null check (length(client_id) between 1 and 1000),
      client_secret_sealed text not null,
      jit_provisioning boolean not null default true,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now()
    );

    create table sso_domains (
      domain text primary key check (domain = lower(domain) and length(domain) between 3 and 253),
      org_id uuid not null references sso_connections (org_id) on delete cascade,
      created_at timestamptz not null default now()
    );
    create index sso_domains_org on sso_domains (org_id);

    create table identities (
      id uuid primary key default gen_random_uuid(),
      account_id uuid not null references accounts (id) on delete cascade,
      provider text not null check (length(provider) between 1 and 2000),
      subject text not null check (length(subject) between 1 and 255),
      org_id uuid not null references organizations (id) on delete cascade,
      created_at timestamptz not null default now(),
      last_used_at timestamptz,
      constraint identities_provider_subject_key unique (provider, subject)
    );
    create index identities_account on identities (account_id);
    create index identities_org on identities (org_id, account_id);

    alter table auth_events add column detail text check (detail is null or length(detail) <= 500)
`;
