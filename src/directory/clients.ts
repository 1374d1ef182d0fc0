// OpenID Connect clients of an organisation. A confidential client authenticates with a secret from the one
// credential path (kind client_secret: hashed, shown once); a public client (a single-page or native app)
// has none and must use PKCE. Revoking a client refuses it at once, with all its secrets.
import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { type Actor, recordAudit } from './audit.ts';
import { issueCredential, revokeCredential, verifyCredential } from './credentials.ts';
import { Forbidden, Invalid } from './errors.ts';
import { revokeClientTokens } from './oidc-store.ts';
import { reuse } from './predicate.ts';

/**
 * Every organisation's built-in console client: public (PKCE), named by the organisation's slug, redirecting
 * to the console's own path under ISSUER (`redirectUris` are relative: the provider puts ISSUER before them).
 * It is not stored: it exists as long as the organisation does, and cannot be revoked.
 */
export const CONSOLE_CLIENT_PREFIX = 'rst_console_';
export const consoleClientId = (slug: string) => `${CONSOLE_CLIENT_PREFIX}${slug}`;
export const consolePath = (slug: string) => `/console/${slug}`;

async function consoleClient(db: Knex, clientId: string): Promise<(ClientInfo & { secretCredentialId: null; builtIn: true }) | undefined> {
  const slug = clientId.slice(CONSOLE_CLIENT_PREFIX.length);
  if (!/^[a-z0-9][a-z0-9-]{0,79}$/.test(slug)) return undefined;
  const org = await reuse(db('organizations').where({ slug }).first('id', 'created_at'));
  if (!org) return undefined;
  return {
    clientId, orgId: org.id, name: 'Roster console', public: true, redirectUris: [`${consolePath(slug)}/callback`], grantTypes: ['authorization_code', 'refresh_token'],
    createdAt: new Date(org.created_at), revokedAt: null, secretCredentialId: null, builtIn: true,
  };
}

export type ClientInput = { orgId: string; actor: Actor; name?: string; redirectUris: string[]; public: boolean };
export type ClientInfo = { clientId: string; orgId: string; name: string; public: boolean; redirectUris: string[]; grantTypes: string[]; createdAt: Date; revokedAt: Date | null };

const loopbackHosts = new Set(['localhost', '127.0.0.1', '[::1]']);

/** An absolute https URI without a fragment; plain http only to the loopback (a developer's machine). */
export function checkRedirectUri(uri: string): void {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw new Invalid(`"${uri}" is not an absolute URI`, { field: 'redirectUris', rule: 'not_absolute' });
  }
  if (url.hash) throw new Invalid(`a redirect URI cannot have a fragment: "${uri}"`, { field: 'redirectUris', rule: 'fragment' });
  if (url.protocol === 'http:' && !loopbackHosts.has(url.hostname)) {
    throw new Invalid(`a redirect URI must use https (plain http only to localhost): "${uri}"`, { field: 'redirectUris', rule: 'not_https' });
  }
  if (uri.length > 2000) throw new Invalid('a redirect URI is at most 2,000 characters', { field: 'redirectUris', rule: 'too_long' });
}

/** Registers a client; a confidential one gets a secret, shown this once. */
export async function createClient(db: Knex, input: ClientInput): Promise<{ clientId: string; clientSecret: string | null }> {
  if (input.redirectUris.length === 0 || input.redirectUris.length > 20) {
    throw new Invalid('a client has 1 to 20 redirect URIs', { field: 'redirectUris', rule: 'count' });
  }
  input.redirectUris.forEach(checkRedirectUri);
  const clientId = `rst_client_${randomBytes(16).toString('base64url')}`;
  const grantTypes = input.public ? ['authorization_code', 'refresh_token'] : ['authorization_code', 'refresh_token', 'client_credentials'];
  return db.transaction(async (trx) => {
    const secret = input.public ? null : await issueCredential(trx, { orgId: input.orgId, kind: 'client_secret', name: clientId });
    await trx('oidc_clients').insert({
      client_id: clientId, org_id: input.orgId, name: input.name ?? clientId, public: input.public,
      redirect_uris: input.redirectUris, grant_types: grantTypes, secret_credential_id: secret?.id ?? null,
    });
    await recordAudit(trx, { orgId: input.orgId, actor: input.actor, action: 'client.created', targetType: 'client', targetId: clientId, details: { public: input.public, redirectUris: input.redirectUris } });
    return { clientId, clientSecret: secret?.secret ?? null };
  });
}

type Row = { client_id: string; org_id: string; name: string; public: boolean; redirect_uris: string[]; grant_types: string[]; created_at: Date; revoked_at: Date | null };

const toInfo = (r: Row): ClientInfo => ({
  clientId: r.client_id, orgId: r.org_id, name: r.name, public: r.public, redirectUris: r.redirect_uris, grantTypes: r.grant_types,
  createdAt: new Date(r.created_at), revokedAt: r.revoked_at ? new Date(r.revoked_at) : null,
});

/** The organisation's clients: its built-in console first, then those it registered, newest first. */
export async function listClients(db: Knex, input: { orgId: string }): Promise<(ClientInfo & { builtIn: boolean })[]> {
  const rows = await db('oidc_clients').where({ org_id: input.orgId }).orderBy([{ column: 'created_at', order: 'desc' }, { column: 'client_id' }]);
  const org = await db('organizations').where({ id: input.orgId }).first('slug');
  const builtIn = org ? await consoleClient(db, consoleClientId(org.slug)) : undefined;
  return [...(builtIn ? [builtIn] : []), ...(rows as Row[]).map((r) => ({ ...toInfo(r), builtIn: false }))].map(({ secretCredentialId: _, ...c }: ClientInfo & { secretCredentialId?: unknown; builtIn: boolean }) => c);
}

/** Revokes a client of this organisation, its secret and every token issued to it, at once. False if it has no such active client. */
export async function revokeClient(db: Knex, input: { orgId: string; actor: Actor; clientId: string }): Promise<boolean> {
  if (input.clientId.startsWith(CONSOLE_CLIENT_PREFIX) && (await consoleClient(db, input.clientId))?.orgId === input.orgId) {
    throw new Forbidden('the console client is built in: it cannot be revoked', { field: 'clientId', rule: 'built_in_client' });
  }
  return db.transaction(async (trx) => {
    const [row] = await trx('oidc_clients').where({ org_id: input.orgId, client_id: input.clientId }).whereNull('revoked_at')
      .update({ revoked_at: trx.fn.now() }).returning('secret_credential_id');
    if (!row) return false;
    if (row.secret_credential_id) await revokeCredential(trx, { orgId: input.orgId, kind: 'client_secret', id: row.secret_credential_id });
    await revokeClientTokens(trx, input.clientId);
    await recordAudit(trx, { orgId: input.orgId, actor: input.actor, action: 'client.revoked', targetType: 'client', targetId: input.clientId });
    return true;
  });
}

/** An active client, or undefined. */
export async function findClient(db: Knex, clientId: string): Promise<(ClientInfo & { secretCredentialId: string | null }) | undefined> {
  if (typeof clientId !== 'string' || clientId.length > 100) return undefined;
  if (clientId.startsWith(CONSOLE_CLIENT_PREFIX)) return consoleClient(db, clientId);
  const row = await reuse(db('oidc_clients').where({ client_id: clientId }).whereNull('revoked_at').first());
  return row ? { ...toInfo(row as Row), secretCredentialId: row.secret_credential_id } : undefined;
}

/**
 * Whether `secret` is the active secret with this credential id (the one findClient gave for the client):
 * one indexed statement, through the credential path. A revoked client's secret is revoked with it.
 */
export async function verifyClientSecret(db: Knex, input: { secretCredentialId: string; secret: string }): Promise<boolean> {
  const credential = await verifyCredential(db, { kind: 'client_secret', secret: input.secret });
  return credential !== null && credential.id === input.secretCredentialId;
}

/**
 * Tenancy of token introspection: a client learns about a token issued to itself, or (a confidential client,
 * such as a resource server) to another active client of its own organisation; never across organisations.
 */
export async function maySeeToken(db: Knex, input: { caller: { clientId: string; public: boolean }; tokenClientId: string | undefined }): Promise<boolean> {
  const { caller, tokenClientId } = input;
  if (tokenClientId === caller.clientId) return true;
  if (caller.public || !tokenClientId) return false;
  const [row] = await db('oidc_clients').whereIn('client_id', [caller.clientId, tokenClientId]).whereNull('revoked_at')
    .select(db.raw('count(*)::int as n, count(distinct org_id)::int as orgs'));
  return row.n === 2 && row.orgs === 1;
}
