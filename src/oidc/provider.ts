// The OpenID Connect provider (oidc-provider) over the directory: its storage in PostgreSQL, its signing keys
// from the directory (sealed at rest), its clients from the organisations' registered clients, whose secrets
// are checked through the one credential path (only their hashes are stored).
//
// The authorization code flow (PKCE required for public clients) signs people in through the interaction
// pages (interactions.ts); refresh tokens rotate, and a reused one is refused and revokes its grant. Every
// client belongs to an organisation: signing in to it needs a live session in that organisation (a login
// policy check, so a revoked session sends the browser back to sign-in), and its tokens carry the member's
// claims there.
import { hkdfSync } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import Provider, { type Adapter, type AdapterPayload, type Configuration, errors, interactionPolicy, type KoaContextWithOIDC } from 'oidc-provider';
import { findClient, maySeeToken, verifyClientSecret } from '../directory/clients.ts';
import { createEmailCodes } from '../directory/email-codes.ts';
import { ACR_MFA, ACR_ONE_FACTOR, evaluateLogin, loadSignInState } from '../directory/login-policy.ts';
import { OidcModelStore } from '../directory/oidc-store.ts';
import { createPasswordHasher, type PasswordHasher } from '../directory/passwords.ts';
import type { Sealer } from '../directory/sealing.ts';
import { linkGrant, type LiveSession, liveSession, logOut } from '../directory/sessions.ts';
import { bindSession, memberClaims, SESSION_TTL_SECONDS } from '../directory/sign-in.ts';
import { createThrottle, type Throttle, type ThrottleLimits } from '../directory/throttle.ts';
import { listSigningKeys, providerSigningKeys } from '../directory/signing-keys.ts';
import { repeat, startExpirySweeper } from './expiry.ts';
import { accountPagesApp } from './account-pages.ts';
import { offlineAccessWithoutConsentScreen } from './offline-access.ts';
import { newNonce, pageHeaderValues } from './forms.ts';
import { interactionsApp } from './interactions.ts';
import { checkIssuer, SSO_CALLBACK_PATH, ssoRedirectUri } from './upstream.ts';
import { escapeHtml, page } from './pages.ts';

export type OidcDeps = {
  db: Knex; issuer: string; sealer: Sealer; secret: string; logger: Logger;
  /** Express's `trust proxy` (TRUST_PROXY): whose X-Forwarded-* headers are believed. */
  trustProxy: boolean | number | string;
  /** How passwords are hashed and verified (the configured cost); OWASP's minimum when absent. */
  passwords?: PasswordHasher;
  /** The shortest password a person may choose (PASSWORD_MIN_LENGTH), 10 by default. */
  passwordMinLength?: number;
  throttle?: ThrottleLimits;
  /** Asks the mail sender to deliver what a sign-in step just queued. */
  wakeMail?: () => void;
};

/** Where oidc-provider's endpoints live (discovery is always /.well-known/openid-configuration). */
export const OIDC_PREFIX = '/oidc';
const routes = {
  authorization: `${OIDC_PREFIX}/auth`, token: `${OIDC_PREFIX}/token`, jwks: `${OIDC_PREFIX}/jwks`, userinfo: `${OIDC_PREFIX}/me`,
  introspection: `${OIDC_PREFIX}/token/introspection`, revocation: `${OIDC_PREFIX}/token/revocation`, end_session: `${OIDC_PREFIX}/session/end`,
  pushed_authorization_request: `${OIDC_PREFIX}/request`,
};

/** The Client model: read-only, from the organisations' registered clients (no dynamic registration). */
class ClientStore implements Adapter {
  readonly db: Knex;
  readonly issuer: string;
  constructor(db: Knex, issuer: string) { this.db = db; this.issuer = issuer; }
  async find(clientId: string): Promise<AdapterPayload | undefined> {
    const c = await findClient(this.db, clientId);
    if (!c) return undefined;
    // A built-in client's redirect URIs are paths under ISSUER (the console's).
    const redirectUris = c.redirectUris.map((u) => (u.startsWith('/') ? `${this.issuer}${u}` : u));
    const webUris = redirectUris.filter((u) => /^https?:/i.test(u)); // a native app's own scheme is no logout target
    return {
      client_id: c.clientId,
      client_name: c.name,
      org_id: c.orgId,
      redirect_uris: redirectUris,
      // A native app (its own scheme, or the loopback) may not be held to web redirect URIs.
      application_type: webUris.length === redirectUris.length ? 'web' : 'native',
      // After logout, back to one of the client's web redirect URIs or its origin's root.
      post_logout_redirect_uris: webUris.flatMap((u) => [u, `${new URL(u).origin}/`]).filter((u, i, all) => all.indexOf(u) === i),
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

/** Models a client redeems once: a code, a refresh token (rotation). */
const redeemable = new Set(['AuthorizationCode', 'RefreshToken']);

/**
 * A code or refresh token redeemed twice at once (two requests, maybe on two instances) both pass the
 * provider's "already consumed?" check; the database lets only one consume it. The other is a replay, and is
 * treated as the provider treats one it sees: its grant is revoked and the request refused.
 */
class RedeemOnceStore extends OidcModelStore {
  async consume(id: string): Promise<void> {
    if (await this.consumeOnce(id)) return;
    const payload = await this.find(id);
    if (payload?.grantId) await this.revokeByGrantId(payload.grantId);
    throw new errors.InvalidGrant('grant request is invalid (already used)');
  }
}

type PageCtx = { type: string; body: unknown; set: (field: string, value: string) => void };

/** A page of the provider's own (errors, logout) in the sign-in pages' look, under a nonce for its styles. */
function providerPage(ctx: PageCtx, title: string, body: string): void {
  const nonce = newNonce();
  for (const [name, value] of Object.entries(pageHeaderValues(nonce))) ctx.set(name, value);
  ctx.type = 'html';
  ctx.body = page({ title, nonce, body });
}

/** The provider's error page: the error and its description, nothing of the server's insides. */
async function renderError(ctx: PageCtx, out: { error?: string; error_description?: string }): Promise<void> {
  providerPage(ctx, 'Something went wrong', `<div class="error" role="alert"><p><strong>${escapeHtml(out.error)}</strong></p>${out.error_description ? `<p>${escapeHtml(out.error_description)}</p>` : ''}</div>`
    + '<p>Return to the application and try again.</p>');
}

/** RP-initiated logout asks before it signs the person out (the provider's form, with its own CSRF token). */
async function logoutSource(ctx: PageCtx, form: string): Promise<void> {
  providerPage(ctx, 'Sign out?', `${form}<p>You will be signed out of every application you signed in to here.</p>`
    + '<button autofocus type="submit" form="op.logoutForm" value="yes" name="logout">Yes, sign me out</button>'
    + '<button type="submit" form="op.logoutForm" class="secondary">No, stay signed in</button>');
}

async function postLogoutSuccessSource(ctx: PageCtx): Promise<void> {
  providerPage(ctx, 'You are signed out', '<p>You can close this window.</p>');
}

/** The organisation a client belongs to (its `org_id` metadata, set by ClientStore.find). */
const orgOf = (client: unknown) => (client as { org_id?: string } | undefined)?.org_id;

function derivedKey(secret: string, purpose: string): string {
  return Buffer.from(hkdfSync('sha256', secret, 'roster', purpose, 32)).toString('base64url');
}

export async function createOidcProvider(deps: OidcDeps): Promise<Provider> {
  const { db } = deps;
  const keys = await providerSigningKeys(db, deps.sealer);
  /**
   * The live session of this browser in the organisation. A sign-in that has just completed binds its session
   * first: the provider's browser session is known only once it has resumed (and the provider may ask for
   * the grant before it runs the login checks).
   */
  async function sessionOf(ctx: KoaContextWithOIDC, orgId: string): Promise<LiveSession | undefined> {
    const { session } = ctx.oidc;
    if (!session?.accountId) return undefined;
    const signedIn = (ctx.oidc.result as { roster?: { sessionId?: string } } | undefined)?.roster?.sessionId;
    if (signedIn && ctx.oidc.result?.login) await bindSession(db, { orgId, sessionId: signedIn, oidcSessionUid: session.uid, accountId: session.accountId });
    return liveSession(db, { orgId, oidcSessionUid: session.uid, accountId: session.accountId });
  }
  const policy = interactionPolicy.base();
  // A live session in the client's organisation: none yet (a first sign-in to this organisation from this
  // browser), or revoked (by an admin, deactivation, a password change) or expired, and the person signs in
  // again, under this organisation's login policy. A sign-in that just completed binds its session here: the
  // provider's browser session is only known once it has resumed.
  policy.get('login')!.checks.add(new interactionPolicy.Check('org_session', "no live session in the client's organisation", async (ctx: KoaContextWithOIDC) => {
    const { session, client } = ctx.oidc;
    const orgId = orgOf(client);
    if (!session?.accountId || !orgId) return interactionPolicy.Check.REQUEST_PROMPT;
    const live = await sessionOf(ctx, orgId);
    if (!live) return interactionPolicy.Check.REQUEST_PROMPT;
    // The organisation's policy today, against what that sign-in showed (it may have begun to require MFA).
    const state = await loadSignInState(db, { orgId, accountId: session.accountId });
    const stillMeets = state !== undefined && evaluateLogin(state, { provider: live.provider, factors: live.factors, now: new Date() }) === null;
    return stillMeets ? interactionPolicy.Check.NO_NEED_TO_PROMPT : interactionPolicy.Check.REQUEST_PROMPT;
  }));
  const configuration: Configuration = {
    adapter: function adapterFor(model: string): Adapter {
      if (model === 'Client') return new ClientStore(db, deps.issuer.replace(/\/$/, ''));
      return redeemable.has(model) ? new RedeemOnceStore(db, model) : new OidcModelStore(db, model);
    } as unknown as Configuration['adapter'],
    jwks: { keys: keys as never[] },
    cookies: { keys: [derivedKey(deps.secret, 'roster oidc cookies v1')], long: { httpOnly: true, sameSite: 'lax' }, short: { httpOnly: true, sameSite: 'lax' } },
    routes,
    // The member's claims in the client's organisation; no account (undefined) unless the membership is
    // active, so a deactivated member's codes and refresh tokens are refused.
    findAccount: async (ctx, sub) => {
      const orgId = orgOf(ctx.oidc.client);
      if (!orgId) return undefined;
      const claims = await memberClaims(db, { orgId, accountId: sub });
      return claims ? { accountId: sub, claims: async () => claims } : undefined;
    },
    claims: {
      // With the sign-in's own claims: which factors were used (amr, RFC 8176; acr) and when (auth_time).
      openid: ['sub', 'org_id', 'org_name', 'role', 'acr', 'amr', 'auth_time'],
      sid: null,
      email: ['email', 'email_verified'],
      profile: ['name', 'given_name', 'family_name'],
    },
    conformIdTokenClaims: false, // the ID token carries the granted scopes' claims, as applications expect
    acrValues: [ACR_ONE_FACTOR, ACR_MFA],
    // Clients are the organisation's own applications (first party): the grant is what they asked for, and
    // it is linked to the session it was issued under, so revoking the session revokes its tokens.
    loadExistingGrant: async (ctx) => {
      const { client, session } = ctx.oidc;
      const orgId = orgOf(client);
      if (!client || !session?.accountId || !orgId) return undefined;
      const grantId = ctx.oidc.result?.consent?.grantId || session.grantIdFor(client.clientId);
      const grant = (grantId ? await ctx.oidc.provider.Grant.find(grantId) : undefined) ?? new ctx.oidc.provider.Grant({ clientId: client.clientId, accountId: session.accountId });
      const scopes = [...(ctx.oidc.requestParamOIDCScopes ?? [])];
      if (scopes.length) grant.addOIDCScope(scopes.join(' '));
      const claims = [...(ctx.oidc.requestParamClaims ?? [])];
      if (claims.length) grant.addOIDCClaims(claims);
      const saved = await grant.save();
      const live = await sessionOf(ctx, orgId);
      if (live) await linkGrant(db, { orgId, sessionId: live.id, grantId: saved });
      return grant;
    },
    rotateRefreshToken: true, // every use gives a new refresh token; a reused one revokes the grant
    extraClientMetadata: { properties: ['org_id'] },
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
      rpInitiatedLogout: { enabled: true, logoutSource, postLogoutSuccessSource },
      userinfo: { enabled: true },
    },
    ttl: {
      ClientCredentials: 10 * 60, AccessToken: 10 * 60, AuthorizationCode: 60, IdToken: 60 * 60, Interaction: 60 * 60,
      Session: SESSION_TTL_SECONDS, Grant: SESSION_TTL_SECONDS, RefreshToken: SESSION_TTL_SECONDS,
    },
    interactions: { policy, url: async (_ctx, interaction) => `${OIDC_PREFIX}/interaction/${interaction.uid}` },
    renderError,
    // Secrets are stored only as hashes: methods that need the secret itself as a key (client_secret_jwt)
    // cannot work, so they are not offered.
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'none'],
    clientDefaults: { id_token_signed_response_alg: 'RS256', token_endpoint_auth_method: 'client_secret_basic' },
    enabledJWA: { idTokenSigningAlgValues: ['RS256'] },
    scopes: ['openid', 'offline_access', 'profile', 'email'],
    responseTypes: ['code'], // the authorization code flow only: no implicit or hybrid tokens in URLs
  };
  const provider = new Provider(deps.issuer, configuration);
  provider.proxy = true; // X-Forwarded-* reach it only from a trusted proxy: see createOidcService's handler
  // offline_access (a refresh token) is honoured only with prompt=consent (OpenID Connect Core 11, enforced by
  // the provider). The clients are the organisation's own applications, whose grants need no consent screen:
  // asking for offline_access is asking for it, and the consent step passes through the interaction at once.
  provider.use(offlineAccessWithoutConsentScreen(routes.authorization));
  // Logging out (the person confirmed) ends the person's sessions of this browser in every organisation.
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.oidc?.route === 'end_session_confirm' && ctx.oidc.params?.logout && ctx.status < 400) {
      const { session } = ctx.oidc;
      if (session?.accountId && session.uid) await logOut(db, { oidcSessionUid: session.uid, accountId: session.accountId });
    }
  });
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

/** Pages a person reaches from an e-mail (a password reset link). */
const ACCOUNT_PREFIX = '/account';

/** Whether a request path belongs to the sign-in door: the provider, its pages, the account pages, the SSO callback. */
export const isOidcPath = (path: string) => path === discovery || path === OIDC_PREFIX || path.startsWith(`${OIDC_PREFIX}/`) || path.startsWith(`${ACCOUNT_PREFIX}/`)
  || path === SSO_CALLBACK_PATH;

/**
 * The organisations' identity providers return to one fixed URL ({ISSUER}/sso/callback, what admins register
 * there). The state names the sign-in it belongs to: the browser goes on to that interaction's own page, where
 * its cookie is, and where the state is checked in full.
 */
function ssoCallback(req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://callback.invalid');
  const uid = /^([\w-]{10,64})\./.exec(url.searchParams.get('state') ?? '')?.[1];
  if (!uid || (req.method !== 'GET' && req.method !== 'HEAD')) {
    const nonce = newNonce();
    res.writeHead(400, { 'Content-Type': 'text/html; charset=utf-8', ...pageHeaderValues(nonce) })
      .end(page({ title: 'This sign-in has expired', nonce, body: '<p role="alert">This is not an answer to a sign-in in progress. Return to the application and sign in again.</p>' }));
    return;
  }
  res.writeHead(303, { Location: `${OIDC_PREFIX}/interaction/${uid}/sso${url.search}`, 'Cache-Control': 'no-store', 'Referrer-Policy': 'no-referrer' }).end();
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

export type OidcService = {
  handler: Handler; refresh: () => Promise<boolean>; stop: () => Promise<void>;
  /** Whose an access token this provider issued is, and to which client; null when it is not a live one. */
  verifyAccessToken: (token: string) => Promise<{ accountId: string; clientId: string } | null>;
  /** What the admin API needs to set an organisation's SSO connection: the sealer, the issuer check, the redirect URI. */
  sso: SsoSupport;
  /** The sign-in throttle, for the admin API's credential checks (a person's own password and app). */
  throttle: Throttle;
};

export type SsoSupport = { sealer: Sealer; checkIssuer: (issuer: string) => Promise<{ issuer: string }>; redirectUri: string };

/**
 * The provider as a request handler that follows key rotation: every `refreshEveryMs` (default a minute) it
 * checks which signing keys are published and, when that changed (`cli keys rotate`, on any instance), builds
 * a provider with the new keys and serves with it from then on. It also sweeps the provider's expired rows.
 */
export async function createOidcService(deps: OidcDeps & { refreshEveryMs?: number }): Promise<OidcService> {
  const fingerprint = async () => (await listSigningKeys(deps.db)).map((k) => `${k.kid}:${k.active}`).join(',');
  let current = await fingerprint();
  let provider = await createOidcProvider(deps);
  let callback = provider.callback();
  const refresh = async () => {
    const now = await fingerprint();
    if (now === current) return false;
    provider = await createOidcProvider(deps);
    callback = provider.callback();
    current = now;
    deps.logger.info({ keys: now }, 'OIDC signing keys changed: serving with the new set');
    return true;
  };
  const following = repeat(async () => { await refresh(); }, {
    everyMs: deps.refreshEveryMs ?? 60_000, logger: deps.logger, failed: 'could not check the OIDC signing keys; trying again later',
  });
  const sweeping = startExpirySweeper({ db: deps.db, logger: deps.logger });
  const passwords = deps.passwords ?? createPasswordHasher();
  const emailCodes = createEmailCodes(deps.secret);
  const issuerUrl = new URL(deps.issuer);
  const throttle = createThrottle(deps.db, deps.throttle);
  const interactions = interactionsApp({
    db: deps.db, provider: () => provider, sealer: deps.sealer, passwords, secret: deps.secret,
    throttle, logger: deps.logger, issuerName: new URL(deps.issuer).host, passwordMinLength: deps.passwordMinLength,
    trustProxy: deps.trustProxy, emailCodes, wakeMail: deps.wakeMail, issuer: deps.issuer,
  });
  const accountPages = accountPagesApp({
    db: deps.db, passwords, emailCodes, secret: deps.secret, logger: deps.logger, trustProxy: deps.trustProxy, passwordMinLength: deps.passwordMinLength, throttle,
  });
  return {
    handler: (req, res) => {
      if (req.url?.startsWith(`${OIDC_PREFIX}/interaction/`)) return interactions(req, res);
      if (req.url?.startsWith(`${ACCOUNT_PREFIX}/`)) return accountPages(req, res);
      if (req.url?.startsWith(`${SSO_CALLBACK_PATH}?`) || req.url === SSO_CALLBACK_PATH) return ssoCallback(req, res);
      // Every URL the provider names is on ISSUER's host, whatever Host or X-Forwarded-Host a caller sends (no
      // caller can make discovery or a redirect name another host). X-Forwarded-Proto (TLS at the proxy: the
      // cookies' Secure flag) and X-Forwarded-For are believed only from a proxy express trusts (TRUST_PROXY);
      // without one, the scheme is ISSUER's.
      const trusts = (req as IncomingMessage & { app?: { get(name: string): ((addr: string, i: number) => boolean) | undefined } }).app?.get('trust proxy fn');
      if (!trusts?.(req.socket.remoteAddress ?? '', 0)) {
        for (const h of Object.keys(req.headers)) if (h.startsWith('x-forwarded-')) delete req.headers[h];
      }
      req.headers.host = issuerUrl.host;
      delete req.headers['x-forwarded-host'];
      req.headers['x-forwarded-proto'] ??= issuerUrl.protocol.slice(0, -1);
      return callback(req, res);
    },
    refresh,
    sso: { sealer: deps.sealer, checkIssuer, redirectUri: ssoRedirectUri(deps.issuer) },
    stop: async () => { await Promise.all([following.stop(), sweeping.stop()]); },
    throttle,
    verifyAccessToken: async (token) => {
      if (token.length > 200) return null;
      const found = await provider.AccessToken.find(token);
      if (!found || !found.isValid || !found.accountId) return null;
      return { accountId: found.accountId, clientId: found.clientId as string };
    },
  };
}
