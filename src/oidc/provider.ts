// The OpenID Connect provider (oidc-provider) over the directory: its storage in PostgreSQL, its signing keys
// from the directory (sealed at rest), its clients from the organisations' registered clients, whose secrets
// are checked through the one credential path (only their hashes are stored).
//
// What works today: discovery, JWKS, the client credentials grant, introspection and revocation. The sign-in
// pages (the authorization code flow's interactions) are the next step: until then the interaction route
// says so in a page of its own.
import { hkdfSync } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import Provider, { type Adapter, type AdapterPayload, type Configuration } from 'oidc-provider';
import { findClient, maySeeToken, verifyClientSecret } from '../directory/clients.ts';
import { OidcModelStore } from '../directory/oidc-store.ts';
import type { Sealer } from '../directory/sealing.ts';
import { listSigningKeys, providerSigningKeys } from '../directory/signing-keys.ts';
import { repeat, startExpirySweeper } from './expiry.ts';

export type OidcDeps = { db: Knex; issuer: string; sealer: Sealer; secret: string; trustProxy: boolean; logger: Logger };

/** Where oidc-provider's endpoints live (discovery is always /.well-known/openid-configuration). */
export const OIDC_PREFIX = '/oidc';
const routes = {
  authorization: `${OIDC_PREFIX}/auth`, token: `${OIDC_PREFIX}/token`, jwks: `${OIDC_PREFIX}/jwks`, userinfo: `${OIDC_PREFIX}/me`,
  introspection: `${OIDC_PREFIX}/token/introspection`, revocation: `${OIDC_PREFIX}/token/revocation`, end_session: `${OIDC_PREFIX}/session/end`,
};

/** The Client model: read-only, from the organisations' registered clients (no dynamic registration). */
class ClientStore implements Adapter {
  readonly db: Knex;
  constructor(db: Knex) { this.db = db; }
  async find(clientId: string): Promise<AdapterPayload | undefined> {
    const c = await findClient(this.db, clientId);
    if (!c) return undefined;
    return {
      client_id: c.clientId,
      client_name: c.name,
      redirect_uris: c.redirectUris,
      grant_types: c.grantTypes,
      response_types: ['code'],
      token_endpoint_auth_method: c.public ? 'none' : 'client_secret_basic',
      // Not the secret: a marker that the client has one. compareClientSecret checks the presented secret
      // against its hash; nothing may use this value as a key (no HS* algorithms, no client_secret_jwt).
      ...(c.secretCredentialId ? { client_secret: `hashed:${c.secretCredentialId}` } : {}),
    } as AdapterPayload;
  }
  async upsert(): Promise<void> { throw new Error('clients are registered through the directory'); }
  async findByUid(): Promise<undefined> { return undefined; }
  async findByUserCode(): Promise<undefined> { return undefined; }
  async consume(): Promise<void> { throw new Error('clients are not consumed'); }
  async destroy(): Promise<void> { throw new Error('clients are revoked through the directory'); }
  async revokeByGrantId(): Promise<void> { /* clients belong to no grant */ }
}

const escapeHtml = (s: unknown) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The provider's error page: plain, self-contained (no third-party fonts), the error and its description. */
async function renderError(ctx: { type: string; body: unknown }, out: { error?: string; error_description?: string }): Promise<void> {
  ctx.type = 'html';
  ctx.body = '<!doctype html><html lang="en"><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">'
    + '<title>Sign-in error</title><h1>Something went wrong</h1>'
    + `<p><strong>${escapeHtml(out.error)}</strong></p>${out.error_description ? `<p>${escapeHtml(out.error_description)}</p>` : ''}</html>`;
}

function derivedKey(secret: string, purpose: string): string {
  return Buffer.from(hkdfSync('sha256', secret, 'roster', purpose, 32)).toString('base64url');
}

export async function createOidcProvider(deps: OidcDeps): Promise<Provider> {
  const { db } = deps;
  const keys = await providerSigningKeys(db, deps.sealer);
  const configuration: Configuration = {
    adapter: function adapterFor(model: string): Adapter {
      return model === 'Client' ? new ClientStore(db) : new OidcModelStore(db, model);
    } as unknown as Configuration['adapter'],
    jwks: { keys: keys as never[] },
    cookies: { keys: [derivedKey(deps.secret, 'roster oidc cookies v1')] },
    routes,
    features: {
      clientCredentials: { enabled: true },
      // Tenancy (the directory's rule): a client learns about a token only within its own organisation.
      introspection: {
        enabled: true,
        allowedPolicy: (_ctx, caller, token) => maySeeToken(db, { caller: { clientId: caller.clientId, public: caller.clientAuthMethod === 'none' }, tokenClientId: token.clientId }),
      },
      // Only the client a token was issued to may revoke it (RFC 7009: the answer is 200 either way).
      revocation: { enabled: true, allowedPolicy: async (_ctx, caller, token) => token.clientId === caller.clientId },
      devInteractions: { enabled: false },
    },
    ttl: { ClientCredentials: 10 * 60 },
    renderError,
    clientDefaults: { id_token_signed_response_alg: 'RS256', token_endpoint_auth_method: 'client_secret_basic' },
    enabledJWA: { idTokenSigningAlgValues: ['RS256'] },
    scopes: ['openid', 'offline_access', 'profile', 'email'],
    responseTypes: ['code'], // the authorization code flow only: no implicit or hybrid tokens in URLs
    interactions: { url: async (_ctx, interaction) => `${OIDC_PREFIX}/interaction/${interaction.uid}` },
  };
  const provider = new Provider(deps.issuer, configuration);
  provider.proxy = deps.trustProxy;
  // The provider answers server_error (500) for what it did not expect: that is ours to log, as any 500.
  provider.on('server_error', (_ctx: unknown, err: Error) => deps.logger.error({ err }, 'unexpected error in the OIDC provider'));
  // Only hashes of client secrets are stored: check the presented secret through the credential path, against
  // the credential the client was found with (its `client_secret` marker, set by ClientStore.find).
  const clientPrototype = provider.Client.prototype as unknown as { clientSecret?: string; compareClientSecret(actual: string): Promise<boolean> };
  clientPrototype.compareClientSecret = async function (this: { clientSecret?: string }, actual: string) {
    const marker = /^hashed:([0-9a-f-]{36})$/.exec(this.clientSecret ?? '');
    return marker !== null && verifyClientSecret(db, { secretCredentialId: marker[1], secret: actual });
  };
  return provider;
}

const discovery = '/.well-known/openid-configuration';

/** Whether a request path belongs to the provider. */
export const isOidcPath = (path: string) => path === discovery || path === OIDC_PREFIX || path.startsWith(`${OIDC_PREFIX}/`);

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

export type OidcService = { handler: Handler; refresh: () => Promise<boolean>; stop: () => Promise<void> };

/**
 * The provider as a request handler that follows key rotation: every `refreshEveryMs` (default a minute) it
 * checks which signing keys are published and, when that changed (`cli keys rotate`, on any instance), builds
 * a provider with the new keys and serves with it from then on. It also sweeps the provider's expired rows.
 */
export async function createOidcService(deps: OidcDeps & { refreshEveryMs?: number }): Promise<OidcService> {
  const fingerprint = async () => (await listSigningKeys(deps.db)).map((k) => `${k.kid}:${k.active}`).join(',');
  let current = await fingerprint();
  let handler = oidcHandler(await createOidcProvider(deps));
  const refresh = async () => {
    const now = await fingerprint();
    if (now === current) return false;
    handler = oidcHandler(await createOidcProvider(deps));
    current = now;
    deps.logger.info({ keys: now }, 'OIDC signing keys changed: serving with the new set');
    return true;
  };
  const following = repeat(async () => { await refresh(); }, {
    everyMs: deps.refreshEveryMs ?? 60_000, logger: deps.logger, failed: 'could not check the OIDC signing keys; trying again later',
  });
  const sweeping = startExpirySweeper({ db: deps.db, logger: deps.logger });
  return {
    handler: (req, res) => handler(req, res),
    refresh,
    stop: async () => { await Promise.all([following.stop(), sweeping.stop()]); },
  };
}

/** The provider as a request handler; the sign-in pages are not built yet, and the interaction route says so. */
export function oidcHandler(provider: Provider): Handler {
  const callback = provider.callback();
  return (req, res) => {
    if (req.url?.startsWith(`${OIDC_PREFIX}/interaction/`)) {
      res.writeHead(501, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
      res.end('<!doctype html><html lang="en"><meta charset="utf-8"><title>Sign-in is not available yet</title>'
        + '<h1>Sign-in is not available yet</h1><p>This Roster server does not have its sign-in pages yet: '
        + 'applications can use the client credentials grant, not the authorization code flow.</p></html>');
      return;
    }
    callback(req, res);
  };
}
