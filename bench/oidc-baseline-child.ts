// The baseline of the OIDC benchmark, run as its own process (`node bench/oidc-baseline-child.ts`): a bare
// oidc-provider (the version in node_modules, the one Roster mounts) on a plain node HTTP server, with its
// default in-memory adapter and one static confidential client whose plain secret oidc-provider compares
// itself (client_secret_basic). No express, no logging, no database, no hashing of the secret.
//
// Its configuration mirrors src/oidc/provider.ts where that bears on a token or an introspection (routes,
// features, scopes, response types, the client's metadata as Roster's ClientStore gives it); only the
// storage and the client secret check differ. It listens on an ephemeral loopback port and sends
// { url } over the IPC channel once it listens.
// Env: BENCH_CLIENT_ID, BENCH_CLIENT_SECRET (the static client's credentials).
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider, { type Configuration } from 'oidc-provider';

const clientId = process.env.BENCH_CLIENT_ID;
const clientSecret = process.env.BENCH_CLIENT_SECRET;
if (!clientId || !clientSecret || !process.send) throw new Error('start me from bench/oidc.ts (BENCH_CLIENT_ID, BENCH_CLIENT_SECRET, an IPC channel)');

const server = createServer();
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

// One RS256 signing key, as Roster has (oidc-provider's development keys would only add a warning).
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), use: 'sig', alg: 'RS256', kid: 'bench' };

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
  routes: {
    authorization: '/oidc/auth', token: '/oidc/token', jwks: '/oidc/jwks', userinfo: '/oidc/me',
    introspection: '/oidc/token/introspection', revocation: '/oidc/token/revocation', end_session: '/oidc/session/end',
  },
  features: {
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    devInteractions: { enabled: false },
  },
  clientDefaults: { id_token_signed_response_alg: 'RS256', token_endpoint_auth_method: 'client_secret_basic' },
  enabledJWA: { idTokenSigningAlgValues: ['RS256'] },
  scopes: ['openid', 'offline_access', 'profile', 'email'],
  responseTypes: ['code'],
};

const provider = new Provider(issuer, configuration);
server.on('request', provider.callback());
process.send({ url: issuer });
// The IPC channel must not keep the process alive: SIGTERM ends it.
process.channel?.unref();
process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
