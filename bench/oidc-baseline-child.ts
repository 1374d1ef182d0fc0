// The baseline of the OIDC benchmark, run as its own process (`node bench/oidc-baseline-child.ts`): a bare
// oidc-provider (the version in node_modules, the one Roster mounts) on a plain node HTTP server, with its
// default in-memory adapter and one static confidential client whose plain secret oidc-provider compares
// itself (client_secret_basic). No express, no logging, no database, no hashing of the secret.
//
// Its configuration mirrors src/oidc/provider.ts where that bears on a token, an introspection or a refresh
// (routes, features, scopes, claims, response types, TTLs, refresh token rotation, a grant per sign-in with
// the scopes asked for, offline_access without a consent screen, the client's metadata as Roster's
// ClientStore gives it); only the storage, the client secret check and the accounts differ: an account is
// whatever id the authorization request's login_hint names, with fixed claims of Roster's shape, kept in
// memory (Roster reads the member's claims from the directory on every code exchange and refresh).
//
// Refresh tokens come the way a relying party gets them, through the authorization code flow: the bench asks
// for a code, and this process's interaction URL logs the login_hint's account in at once (no page, no
// password: the refresh benchmark measures the refresh grant, not the sign-in) and passes the consent step
// as Roster's pages do; the bench exchanges the code. It listens on an ephemeral loopback port and sends
// { url } over the IPC channel once it listens.
// Env: BENCH_CLIENT_ID, BENCH_CLIENT_SECRET (the static client's credentials).
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider, { type Configuration } from 'oidc-provider';
import { offlineAccessWithoutConsentScreen } from '../src/oidc/offline-access.ts';

const clientId = process.env.BENCH_CLIENT_ID;
const clientSecret = process.env.BENCH_CLIENT_SECRET;
if (!clientId || !clientSecret || !process.send) throw new Error('start me from bench/oidc.ts (BENCH_CLIENT_ID, BENCH_CLIENT_SECRET, an IPC channel)');

const server = createServer();
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

// One RS256 signing key, as Roster has (oidc-provider's development keys would only add a warning).
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), use: 'sig', alg: 'RS256', kid: 'bench' };

const SESSION_TTL_SECONDS = 14 * 24 * 3600; // as src/directory/sign-in.ts
const routes = {
  authorization: '/oidc/auth', token: '/oidc/token', jwks: '/oidc/jwks', userinfo: '/oidc/me',
  introspection: '/oidc/token/introspection', revocation: '/oidc/token/revocation', end_session: '/oidc/session/end',
};

const configuration: Configuration = {
  // no `adapter`: oidc-provider's in-memory adapter (an LRU cache in this process)
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    client_name: clientId,
    redirect_uris: ['https://x.example/cb'],
    grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  jwks: { keys: [jwk as never] },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  routes,
  // The claims Roster's findAccount gives (src/directory/sign-in.ts memberClaims), from memory.
  findAccount: async (_ctx, sub) => ({
    accountId: sub,
    claims: async () => ({
      sub, email: `${sub}@bench.test`, email_verified: false, name: `Given ${sub}`, given_name: 'Given', family_name: sub,
      org_id: '00000000-0000-4000-8000-000000000000', org_name: 'Bench OIDC', role: 'member',
    }),
  }),
  claims: {
    openid: ['sub', 'org_id', 'org_name', 'role', 'acr', 'amr', 'auth_time'],
    sid: null,
    email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'family_name'],
  },
  conformIdTokenClaims: false,
  acrValues: ['urn:roster:loa:1fa', 'urn:roster:loa:mfa'],
  // As Roster: the grant is what the client asked for (first-party clients, no consent screen).
  loadExistingGrant: async (ctx) => {
    const { client, session } = ctx.oidc;
    if (!client || !session?.accountId) return undefined;
    const grantId = ctx.oidc.result?.consent?.grantId || session.grantIdFor(client.clientId);
    const grant = (grantId ? await ctx.oidc.provider.Grant.find(grantId) : undefined) ?? new ctx.oidc.provider.Grant({ clientId: client.clientId, accountId: session.accountId });
    const scopes = [...(ctx.oidc.requestParamOIDCScopes ?? [])];
    if (scopes.length) grant.addOIDCScope(scopes.join(' '));
    const claims = [...(ctx.oidc.requestParamClaims ?? [])];
    if (claims.length) grant.addOIDCClaims(claims);
    await grant.save();
    return grant;
  },
  rotateRefreshToken: true,
  ttl: {
    ClientCredentials: 10 * 60, AccessToken: 10 * 60, AuthorizationCode: 60, IdToken: 60 * 60, Interaction: 60 * 60,
    Session: SESSION_TTL_SECONDS, Grant: SESSION_TTL_SECONDS, RefreshToken: SESSION_TTL_SECONDS,
  },
  interactions: { url: async (_ctx, interaction) => `/oidc/interaction/${interaction.uid}` },
  features: {
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    devInteractions: { enabled: false },
    userinfo: { enabled: true },
  },
  clientDefaults: { id_token_signed_response_alg: 'RS256', token_endpoint_auth_method: 'client_secret_basic' },
  enabledJWA: { idTokenSigningAlgValues: ['RS256'] },
  scopes: ['openid', 'offline_access', 'profile', 'email'],
  responseTypes: ['code'],
};

const provider = new Provider(issuer, configuration);
// offline_access needs prompt=consent (OpenID Connect Core 11): added as Roster adds it (src/oidc/provider.ts).
provider.use(offlineAccessWithoutConsentScreen(routes.authorization));

/** The interaction: logs the login_hint's account in at once, then passes the consent step (as Roster's pages do). */
async function interaction(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const details = await provider.interactionDetails(req, res);
  if (details.prompt.name === 'login') {
    const accountId = String(details.params.login_hint ?? '');
    if (!/^[\w.-]{1,64}$/.test(accountId)) throw new Error('the bench signs in with login_hint=<account id>');
    await provider.interactionFinished(req, res, { login: { accountId, amr: ['pwd'], acr: 'urn:roster:loa:1fa', remember: true } }, { mergeWithLastSubmission: false });
  } else {
    await provider.interactionFinished(req, res, { consent: {} }, { mergeWithLastSubmission: true });
  }
}

const callback = provider.callback();
server.on('request', (req: IncomingMessage, res: ServerResponse) => {
  if (!req.url?.startsWith('/oidc/interaction/')) return callback(req, res);
  interaction(req, res).catch((err: Error) => {
    res.statusCode = 500;
    res.end(String(err?.message ?? err));
  });
});
process.send({ url: issuer });
// The IPC channel must not keep the process alive: SIGTERM ends it.
process.channel?.unref();
process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
