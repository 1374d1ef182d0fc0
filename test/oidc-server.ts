// An in-process Roster server for the sign-in suites: the app with the OIDC service (and the admin API's
// access-token check) on the test database, on a free port of 127.0.0.1, as many as a test needs.
import { Resolver } from 'node:dns/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import type { PasswordHasher } from '../src/directory/passwords.ts';
import { createSealer } from '../src/directory/sealing.ts';
import { ensureSigningKey } from '../src/directory/signing-keys.ts';
import type { ThrottleLimits } from '../src/directory/throttle.ts';
import { createApp } from '../src/http/app.ts';
import { createOidcService, type OidcService } from '../src/oidc/provider.ts';
import { TEST_SECRET } from './helpers.ts';
import { testDb } from './setup.ts';

export const testLogger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

export type Srv = { issuer: string; oidc: OidcService; server: Server };

/** trustProxy (default false): whether X-Forwarded-* of every caller are believed (express's `trust proxy`). */
/** resolveTxt: how the admin API reads DNS TXT records (domain proofs for SSO); the system's resolver when absent. */
export async function startServer(opts: { throttle?: ThrottleLimits; passwords?: PasswordHasher; trustProxy?: boolean; resolveTxt?: (name: string) => Promise<string[][]> } = {}): Promise<Srv> {
  const trustProxy = opts.trustProxy ?? false;
  const sealer = createSealer(TEST_SECRET);
  await ensureSigningKey(testDb(), sealer);
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const oidc = await createOidcService({ db: testDb(), issuer, sealer, secret: TEST_SECRET, trustProxy, logger: testLogger, passwords: opts.passwords, throttle: opts.throttle });
  const resolveTxt = opts.resolveTxt ?? ((name: string) => new Resolver().resolveTxt(name));
  server.on('request', createApp({ db: testDb(), logger: testLogger, issuer, oidc: oidc.handler, verifyAccessToken: oidc.verifyAccessToken, throttle: oidc.throttle, trustProxy, sso: { ...oidc.sso, resolveTxt } }));
  return { issuer, oidc, server };
}

export async function stopServer(srv: Srv | undefined): Promise<void> {
  if (!srv) return;
  await srv.oidc.stop();
  srv.server.closeAllConnections();
  await new Promise((resolve) => srv.server.close(resolve));
}
