// Express assembly: request id, JSON logs, security headers, health, and the protocol routers. Nothing for
// operators is served here: the metrics have their own listener (METRICS_PORT, createMetricsApp), the
// operator commands a Unix socket (./operator.ts).
import { randomBytes, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import express, { type NextFunction, type Request, type Response } from 'express';
import helmet from 'helmet';
import type { Knex } from 'knex';
import type { Throttle } from '../directory/throttle.ts';
import type { Logger } from 'pino';
import { pinoHttp } from 'pino-http';
import { ping } from '../db.ts';
import { isDecodableUri } from '../scim/request-guards.ts';
import { createPasswordHasher, type PasswordHasher } from '../directory/passwords.ts';
import { type AccessTokenVerifier, type AdminSso, adminRouter, referencePage } from '../admin/router.ts';
import { scimRouter } from '../scim/router.ts';
import { isOidcPath } from '../oidc/provider.ts';
import { createMetrics } from './metrics.ts';
import { consoleRouter } from './console.ts';

export type Metrics = ReturnType<typeof createMetrics>;

/**
 * metrics: the registry the app records into (the caller serves it with createMetricsApp); a private one
 * when omitted. trustProxy: Express's `trust proxy` (TRUST_PROXY), default `loopback`.
 */
export type AppDeps = {
  db: Knex; logger: Logger; issuer: string; metrics?: Metrics; trustProxy?: boolean | number | string;
  /** The OpenID Connect provider's handler (src/oidc/provider.ts), for its paths; absent, they are 404. */
  oidc?: (req: IncomingMessage, res: ServerResponse) => void;
  /** The sign-in throttle (the OIDC service's), which also counts what people prove on their own account page. */
  throttle?: Throttle;
  /** Checks access tokens of Roster's own provider, for the admin API (members calling it); absent, only API keys. */
  verifyAccessToken?: AccessTokenVerifier;
  /** What the admin API needs to set SSO connections (from the OIDC service, and a DNS resolver); absent, those routes are 404. */
  sso?: AdminSso;
  /** How passwords given through the doors are hashed (the configured cost); OWASP's minimum when absent. */
  passwords?: PasswordHasher;
  /** PASSWORD_MIN_LENGTH, for passwords people choose through the admin API (their own). */
  passwordMinLength?: number;
};

const undecodable = (res: Response) => {
  res.status(400).type('application/problem+json').json({ type: 'about:blank', title: 'Bad Request', status: 400, detail: 'the request URL is not valid percent-encoded UTF-8' });
};

const requestIdPattern = /^[\w.:-]{1,128}$/;

/** A URL as logged: secrets in its query (a password-reset link's token, an identity provider's code) replaced. */
const redactSecrets = (url: string | undefined) => url?.replace(/([?&](?:token|code)=)[^&]*/g, '$1[redacted]');

export function createApp(deps: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false); // ETags are the resources' versions, set by the protocols; never a hash of the body
  app.set('trust proxy', deps.trustProxy ?? 'loopback');
  const metrics = deps.metrics ?? createMetrics();

  // A caller's X-Request-Id is kept when it is sane, so one id follows a request across systems.
  const requestId = (req: IncomingMessage, res: ServerResponse) => {
    const given = req.headers['x-request-id'];
    const id = typeof given === 'string' && requestIdPattern.test(given) ? given : randomUUID();
    res.setHeader('X-Request-Id', id);
    return id;
  };
  // Without request logs (LOG_LEVEL above info), a request gets its id and a logger made only if something logs
  // (an error): pino-http's per-request child logger and timing would be work for lines never written.
  if (!deps.logger.isLevelEnabled('info')) {
    app.use((req: Request, res: Response, next: NextFunction) => {
      const id = requestId(req, res);
      let log: Logger | undefined;
      Object.assign(req, { id });
      Object.defineProperty(req, 'log', { configurable: true, get: () => (log ??= deps.logger.child({ req: { id, method: req.method, url: redactSecrets(req.url) } })) });
      next();
    });
  }
  if (deps.logger.isLevelEnabled('info')) app.use(pinoHttp({
    logger: deps.logger,
    genReqId: requestId,
    serializers: {
      // The client's address as `trust proxy` sees it: behind a trusted proxy, from X-Forwarded-For.
      req: (req) => ({ id: req.id, method: req.method, url: redactSecrets(req.url), remoteAddress: (req.raw as { ip?: string } | undefined)?.ip ?? req.remoteAddress, userAgent: req.headers?.['user-agent'] }),
      res: (res) => ({ statusCode: res.statusCode }),
    },
    autoLogging: { ignore: (req) => req.url === '/healthz' },
  }));
  // Security headers for an API: a CSP that allows nothing (no response here is a page), no framing, no
  // sniffing, HSTS. The headers for retired browser features (Flash, IE downloads, DNS prefetch) are left out.
  app.use(helmet({
    contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
    xDnsPrefetchControl: false,
    xDownloadOptions: false,
    xPermittedCrossDomainPolicies: false,
    originAgentCluster: false,
  }));
  app.use(metrics.middleware);

  app.get('/healthz', (_req, res) => { res.json({ status: 'ok' }); });
  app.get('/readyz', async (req, res) => {
    try {
      await ping(deps.db);
      res.json({ status: 'ok', database: 'reachable' });
    } catch (err) {
      req.log.warn({ err }, 'readiness check failed');
      res.status(503).json({ status: 'unavailable', database: 'unreachable' });
    }
  });
  if (deps.oidc) {
    const oidc = deps.oidc;
    app.use((req: Request, res: Response, next: NextFunction) => (isOidcPath(req.path) ? oidc(req, res) : next()));
  }
  // A URL that does not percent-decode is a 400 before anything else looks at it (credentials included).
  app.use('/api/v1', (req: Request, res: Response, next: NextFunction) => (isDecodableUri(req.originalUrl) ? next() : undecodable(res)));
  app.use('/api/v1', adminRouter({ db: deps.db, logger: deps.logger, issuer: deps.issuer, verifyAccessToken: deps.verifyAccessToken, passwords: deps.passwords, passwordMinLength: deps.passwordMinLength, sso: deps.sso, throttle: deps.throttle }));
  // The admin API's reference, rendered from its OpenAPI document: a page with its own styles only.
  app.get('/docs', (_req: Request, res: Response) => {
    const nonce = randomBytes(16).toString('base64');
    res.set('Content-Security-Policy', `default-src 'none'; style-src 'nonce-${nonce}'; frame-ancestors 'none'`).type('html').send(referencePage(deps.issuer, nonce));
  });
  app.use('/console', consoleRouter());
  app.use('/scim/v2', scimRouter({ db: deps.db, baseUrl: `${deps.issuer}/scim/v2`, logger: deps.logger, passwords: deps.passwords ?? createPasswordHasher() }));

  app.use((req: Request, res: Response) => {
    if (!isDecodableUri(req.originalUrl)) return undecodable(res);
    res.status(404).type('application/problem+json').json({ type: 'about:blank', title: 'Not Found', status: 404, detail: `no route ${req.method} ${req.path}` });
  });
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const status = (err as { status?: number }).status;
    if (status && status >= 400 && status < 500) {
      res.status(status).type('application/problem+json').json({ type: 'about:blank', title: ({ 403: 'Forbidden', 404: 'Not Found' } as Record<number, string>)[status] ?? 'Bad Request', status, detail: status === 404 ? 'not found' : 'the request could not be read' });
      return;
    }
    req.log.error({ err }, 'unexpected error');
    res.status(500).type('application/problem+json').json({ type: 'about:blank', title: 'Internal Server Error', status: 500 });
  });
  return app;
}

/** The metrics listener's app (METRICS_PORT): GET /metrics in the Prometheus text format, nothing else. */
export function createMetricsApp(metrics: Metrics): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.get('/metrics', async (_req, res) => {
    res.set('Content-Type', metrics.registry.contentType).send(await metrics.registry.metrics());
  });
  app.use((_req: Request, res: Response) => { res.status(404).type('text/plain').send('not found: this port serves GET /metrics only\n'); });
  return app;
}
