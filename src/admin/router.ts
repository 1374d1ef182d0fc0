// The admin REST API, /api/v1: organisation owners and admins run their team. Every route is under
// /orgs/{orgId}; the caller is an organisation API key (its role) or an access token Roster's own provider
// issued to a member (what the member may do now: their role and their groups' roles, read on every
// request). A key or token of another organisation gets 404, a caller without the permission 403, a
// missing or bad credential 401. Errors are RFC 9457 problem+json with a stable `code`.
//
// Routes are a table (src/admin/routes.ts): each names its permission and its zod schemas, which both
// validate requests here and make the OpenAPI document (src/admin/openapi.ts).
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { z } from 'zod';
import { findClient } from '../directory/clients.ts';
import { apiKeyPermissions, verifyCredential } from '../directory/credentials.ts';
import { DirectoryError, Throttled } from '../directory/errors.ts';
import type { Throttle } from '../directory/throttle.ts';
import type { PasswordHasher } from '../directory/passwords.ts';
import { standingOf } from '../directory/roles.ts';
import type { Caller } from '../directory/team.ts';
import type { Sealer } from '../directory/sealing.ts';
import { openApiDocument, referencePage } from './openapi.ts';
import { Problem, type ProblemCode, problemStatus } from './problems.ts';
import { type AdminContext, routes } from './routes.ts';

/** Checks an access token Roster's provider issued: whose it is and to which client, or null. */
export type AccessTokenVerifier = (token: string) => Promise<{ accountId: string; clientId: string } | null>;

/**
 * What setting an SSO connection needs, handed in by whoever assembles the app (the sealer, the upstream's discovery check, the
 * redirect URI) and from the network (TXT records proving a domain); absent, the SSO routes answer 404.
 */
export type AdminSso = {
  sealer: Sealer;
  /** Checks the issuer's discovery document; answers the issuer as the document spells it (Invalid when it fails). */
  checkIssuer: (issuer: string) => Promise<{ issuer: string }>;
  redirectUri: string;
  resolveTxt: (name: string) => Promise<string[][]>;
};

export type AdminDeps = {
  db: Knex; logger: Logger; issuer: string; verifyAccessToken?: AccessTokenVerifier; passwords?: PasswordHasher; passwordMinLength?: number; sso?: AdminSso;
  /** The sign-in throttle: a person proving their password or app on their own account counts as a sign-in attempt. */
  throttle?: Throttle;
};

const titles: Record<number, string> = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 409: 'Conflict', 429: 'Too Many Requests', 500: 'Internal Server Error' };

function sendProblem(res: Response, code: ProblemCode, detail: string | undefined, extra: Record<string, unknown> = {}): void {
  const status = problemStatus(code);
  if (status === 401) res.set('WWW-Authenticate', 'Bearer realm="roster"');
  if (typeof extra.retryAfter === 'number') res.set('Retry-After', String(extra.retryAfter));
  res.status(status).type('application/problem+json').json({ type: 'about:blank', title: titles[status], status, code, ...(detail ? { detail } : {}), ...extra });
}

const bearer = /^Bearer\s+(\S+)\s*$/i;

async function authenticate(deps: AdminDeps, authorization: string | undefined, ip: string | null): Promise<Caller | null> {
  const token = bearer.exec(authorization ?? '')?.[1];
  if (!token) return null;
  if (token.startsWith('rst_key_')) {
    const key = await verifyCredential(deps.db, { kind: 'api_key', secret: token });
    if (!key) return null;
    // A member's key never does more than they can do now, and stops when they are no longer an active member.
    const permissions = await apiKeyPermissions(deps.db, key);
    if (!permissions) throw new Problem('unauthenticated', 'this API key stopped working: the member who made it is no longer an active member of the organisation. Ask an admin for a new key');
    return { orgId: key.orgId, actor: { type: 'api_key', id: key.id, ip }, permissions, madeBy: key.madeBy };
  }
  const access = deps.verifyAccessToken ? await deps.verifyAccessToken(token) : null;
  if (!access) return null;
  const client = await findClient(deps.db, access.clientId);
  if (!client) return null;
  const standing = await standingOf(deps.db, { orgId: client.orgId, accountId: access.accountId });
  if (!standing) return null;
  return { orgId: client.orgId, actor: { type: 'user', id: access.accountId, ip }, permissions: standing.permissions, madeBy: access.accountId };
}

/** The path of the first string holding a NUL character (PostgreSQL refuses them in text), or null. */
function nulIn(value: unknown, path: string): string | null {
  if (typeof value === 'string') return value.includes('\u0000') ? path : null;
  if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k.includes('\u0000')) return path;
      const found = nulIn(v, Array.isArray(value) ? `${path}[${k}]` : path === 'body' || path === 'query' ? k : `${path}.${k}`);
      if (found) return found;
    }
  }
  return null;
}

/** A zod failure as a 400 that names each field and what is wrong with it. */
function invalid(error: z.ZodError, where: 'body' | 'query'): Problem {
  const errors = error.issues.map((i) => ({ field: i.path.length ? i.path.join('.') : where, message: i.message }));
  return new Problem('invalid_request', errors.map((e) => `${e.field}: ${e.message}`).join('; '), { errors });
}

export function adminRouter(deps: AdminDeps): express.Router {
  const router = express.Router();
  router.get('/openapi.json', (_req, res) => { res.json(openApiDocument(deps.issuer)); });

  router.use(express.json({ limit: '100kb', type: ['application/json', 'application/*+json'] }));
  router.use(async (req: Request, res: Response, next: NextFunction) => {
    try {
      const found = await authenticate(deps, req.get('authorization'), req.ip ?? null);
      if (!found) throw new Problem('unauthenticated', 'a valid API key or access token is required (Authorization: Bearer ...)');
      res.locals.caller = found;
      next();
    } catch (err) {
      next(err);
    }
  });

  // Another organisation's id (or one that does not exist) is not found, whoever asks: nothing tells them apart.
  router.param('orgId', (req, res, next, orgId: string) => {
    if (orgId !== (res.locals.caller as Caller).orgId) return next(new Problem('not_found', `no organisation ${orgId}`));
    next();
  });

  for (const route of routes) {
    router[route.method](route.path.replace(/\{(\w+)\}/g, ':$1'), async (req: Request, res: Response, next: NextFunction) => {
      try {
        const caller = res.locals.caller as Caller;
        for (const p of route.permissions ?? []) {
          if (!caller.permissions.has(p)) throw new Problem('forbidden', `this needs the ${p} permission`);
        }
        if (route.self && caller.actor.type !== 'user') throw new Problem('user_only', "this is a person's own account: call it with their access token, not an API key");
        const nul = nulIn(req.query, 'query') ?? nulIn(req.body, 'body');
        if (nul) throw new Problem('invalid_request', `${nul}: text cannot contain a NUL character`, { errors: [{ field: nul, message: 'text cannot contain a NUL character' }] });
        const query = (route.query ?? z.object({}).strict()).safeParse(req.query);
        if (!query.success) throw invalid(query.error, 'query');
        let body: unknown;
        if (route.body) {
          const parsed = route.body.safeParse(req.body ?? {});
          if (!parsed.success) throw invalid(parsed.error, 'body');
          body = parsed.data;
        }
        const ctx: AdminContext = { db: deps.db, deps, caller, params: req.params as Record<string, string>, query: query.data as Record<string, unknown>, body, req };
        const result = await route.handler(ctx);
        if (result === undefined) res.status(204).end();
        else res.status(route.status ?? 200).json(result);
      } catch (err) {
        next(err);
      }
    });
  }

  router.use((req: Request, res: Response) => { sendProblem(res, 'not_found', `no route ${req.method} ${req.baseUrl}${req.path}`); });
  router.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    if (err instanceof Problem) return sendProblem(res, err.code, err.message, err.extra);
    if (err instanceof DirectoryError) {
      const code = Problem.fromDirectory(err);
      return sendProblem(res, code, err.message, {
        ...(err.field ? { field: err.field } : {}), ...(err.rule ? { rule: err.rule } : {}), ...(err instanceof Throttled ? { retryAfter: err.retryAfter } : {}),
        ...(problemStatus(code) === 400 ? { errors: [{ field: err.field ?? 'body', message: err.message }] } : {}),
      });
    }
    const status = (err as { status?: number }).status;
    if (status && status >= 400 && status < 500) return sendProblem(res, 'invalid_request', 'the request body is not valid JSON');
    ((req as { log?: Logger }).log ?? deps.logger).error({ err }, 'unexpected error in the admin API');
    sendProblem(res, 'internal', undefined);
  });
  return router;
}

export { referencePage };
