// The admin REST API, /api/v1: organisation owners and admins run their team. Every route is under
// /orgs/{orgId}; the caller is an organisation API key (its role) or an access token Roster's own provider
// issued to a member (the member's role now, read on every request). A key or token of another organisation
// gets 404, a caller without the permission 403, a missing or bad credential 401. Errors are RFC 9457
// problem+json with a stable `code`.
//
// What exists so far: the access rules, the organisation's settings and login configuration, sessions (list,
// revoke), auth activity, the audit log, SCIM tokens, API keys and OIDC clients.
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { z } from 'zod';
import { type Actor, listAuditEvents } from '../directory/audit.ts';
import { createClient, findClient, listClients, revokeClient } from '../directory/clients.ts';
import { createCredential, listCredentials, revokeCredentialBy, verifyCredential } from '../directory/credentials.ts';
import { DirectoryError } from '../directory/errors.ts';
import { getOrganizationSettings, updateLoginConfig, updateOrganizationSettings } from '../directory/organizations.ts';
import { listAuthEvents } from '../directory/auth-events.ts';
import { isUuid } from '../directory/predicate.ts';
import { activeRoleOf, mayGrant, type Permission, permissionsOf } from '../directory/roles.ts';
import { listSessions, revokeSession } from '../directory/sessions.ts';

/** Checks an access token Roster's provider issued: whose it is and to which client, or null. */
export type AccessTokenVerifier = (token: string) => Promise<{ accountId: string; clientId: string } | null>;

export type AdminDeps = { db: Knex; logger: Logger; verifyAccessToken?: AccessTokenVerifier };

type Caller = { orgId: string; actor: Actor; permissions: ReadonlySet<Permission> };

/** The stable codes of this API's errors (the `code` member of every problem). */
export const problemCodes = {
  unauthenticated: 401, forbidden: 403, not_found: 404, invalid_request: 400, invalid_value: 400, conflict: 409, internal: 500,
} as const;
type ProblemCode = keyof typeof problemCodes;

class Problem extends Error {
  readonly code: ProblemCode;
  readonly extra: Record<string, unknown>;
  constructor(code: ProblemCode, detail: string, extra: Record<string, unknown> = {}) {
    super(detail);
    this.code = code;
    this.extra = extra;
  }
}

const titles: Record<number, string> = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 409: 'Conflict', 500: 'Internal Server Error' };

function sendProblem(res: Response, code: ProblemCode, detail: string | undefined, extra: Record<string, unknown> = {}): void {
  const status = problemCodes[code];
  if (status === 401) res.set('WWW-Authenticate', 'Bearer realm="roster"');
  res.status(status).type('application/problem+json').json({ type: 'about:blank', title: titles[status], status, code, ...(detail ? { detail } : {}), ...extra });
}

const bearer = /^Bearer\s+(\S+)\s*$/i;

async function authenticate(deps: AdminDeps, authorization: string | undefined): Promise<Caller | null> {
  const token = bearer.exec(authorization ?? '')?.[1];
  if (!token) return null;
  if (token.startsWith('rst_key_')) {
    const key = await verifyCredential(deps.db, { kind: 'api_key', secret: token });
    return key ? { orgId: key.orgId, actor: { type: 'api_key', id: key.id }, permissions: permissionsOf(key.role) } : null;
  }
  const access = deps.verifyAccessToken ? await deps.verifyAccessToken(token) : null;
  if (!access) return null;
  const client = await findClient(deps.db, access.clientId);
  if (!client) return null;
  const role = await activeRoleOf(deps.db, { orgId: client.orgId, accountId: access.accountId });
  if (!role) return null;
  return { orgId: client.orgId, actor: { type: 'user', id: access.accountId }, permissions: permissionsOf(role) };
}

const loginConfiguration = z.object({
  requireMfa: z.boolean(), mfaMethods: z.array(z.enum(['totp', 'email'])).min(1).max(2), loginProviders: z.array(z.enum(['password', 'sso'])).min(1).max(2),
  allowIdentityLinking: z.boolean(), ssoEnforced: z.boolean(),
}).partial().strict();

const orgPatch = z.object({
  name: z.string().max(400),
  loginConfiguration,
  invitationLifetimeDays: z.number().int(),
  licenceLimit: z.number().int().nullable(),
}).partial().strict();

export function adminRouter(deps: AdminDeps): express.Router {
  const router = express.Router();
  router.use(express.json({ limit: '100kb', type: ['application/json', 'application/*+json'] }));

  const caller = (res: Response) => res.locals.caller as Caller;
  const need = (res: Response, permission: Permission) => {
    if (!caller(res).permissions.has(permission)) throw new Problem('forbidden', `this needs the ${permission} permission`);
  };
  const route = (handler: (req: Request, res: Response) => Promise<void>) => async (req: Request, res: Response, next: NextFunction) => {
    try {
      await handler(req, res);
    } catch (err) {
      next(err);
    }
  };

  router.use(async (req: Request, res: Response, next: NextFunction) => {
    try {
      const found = await authenticate(deps, req.get('authorization'));
      if (!found) throw new Problem('unauthenticated', 'a valid API key or access token is required (Authorization: Bearer ...)');
      res.locals.caller = found;
      next();
    } catch (err) {
      next(err);
    }
  });

  // Another organisation's id (or one that does not exist) is not found, whoever asks: nothing tells them apart.
  router.param('orgId', (req, res, next, orgId: string) => {
    if (orgId !== caller(res).orgId) return next(new Problem('not_found', `no organisation ${orgId}`));
    next();
  });

  router.get('/orgs/:orgId', route(async (req, res) => {
    res.json(await getOrganizationSettings(deps.db, { orgId: caller(res).orgId }));
  }));

  router.patch('/orgs/:orgId', route(async (req, res) => {
    const parsed = orgPatch.safeParse(req.body);
    if (!parsed.success) throw new Problem('invalid_request', parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; '));
    const { orgId, actor } = caller(res);
    const change = parsed.data;
    if (change.name !== undefined || change.loginConfiguration !== undefined || change.invitationLifetimeDays !== undefined) need(res, 'org.manage');
    if (change.licenceLimit !== undefined) need(res, 'billing.manage');
    await deps.db.transaction(async (trx) => {
      if (change.loginConfiguration && Object.keys(change.loginConfiguration).length) await updateLoginConfig(trx, { orgId, actor, change: change.loginConfiguration });
      await updateOrganizationSettings(trx, { orgId, actor, change: { name: change.name, invitationLifetimeDays: change.invitationLifetimeDays, licenceLimit: change.licenceLimit } });
    });
    res.json(await getOrganizationSettings(deps.db, { orgId }));
  }));

  // Sessions and auth activity (view: owners and admins).
  const limitOf = (req: Request) => {
    const raw = req.query.limit;
    if (raw === undefined) return 50;
    const n = typeof raw === 'string' && /^\d{1,4}$/.test(raw) ? Number(raw) : NaN;
    if (!(n >= 1 && n <= 200)) throw new Problem('invalid_request', 'limit is a whole number from 1 to 200');
    return n;
  };
  /** A page's `cursor`: the nextCursor of the page before (an event id). */
  const cursorOf = (req: Request) => {
    const cursor = req.query.cursor;
    if (cursor === undefined) return undefined;
    if (typeof cursor !== 'string' || !/^\d{1,18}$/.test(cursor)) throw new Problem('invalid_request', 'cursor is the nextCursor of a previous page');
    return Number(cursor);
  };
  const uuidParam = (req: Request, name: string) => {
    const v = req.query[name];
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || !isUuid(v)) throw new Problem('invalid_request', `${name} is an id (a UUID)`);
    return v;
  };
  const timeParam = (req: Request, name: string) => {
    const v = req.query[name];
    if (v === undefined) return undefined;
    const d = typeof v === 'string' ? new Date(v) : new Date(NaN);
    if (Number.isNaN(d.getTime())) throw new Problem('invalid_request', `${name} is a date and time (ISO 8601)`);
    return d;
  };

  router.get('/orgs/:orgId/sessions', route(async (req, res) => {
    need(res, 'activity.view');
    const items = await listSessions(deps.db, {
      orgId: caller(res).orgId, accountId: uuidParam(req, 'accountId'), all: req.query.all === 'true', since: timeParam(req, 'since'), until: timeParam(req, 'until'), limit: limitOf(req),
    });
    res.json({ items, total: null, nextCursor: null }); // total: not counted yet (one page of up to 200, newest first)
  }));

  router.delete('/orgs/:orgId/sessions/:sessionId', route(async (req, res) => {
    need(res, 'activity.view');
    await revokeSession(deps.db, { orgId: caller(res).orgId, sessionId: String(req.params.sessionId), by: caller(res).actor });
    res.status(204).end();
  }));

  router.get('/orgs/:orgId/auth-events', route(async (req, res) => {
    need(res, 'activity.view');
    const cursor = cursorOf(req);
    const page = await listAuthEvents(deps.db, {
      orgId: caller(res).orgId, accountId: uuidParam(req, 'accountId'), since: timeParam(req, 'since'), until: timeParam(req, 'until'), limit: limitOf(req),
      ...(cursor === undefined ? {} : { before: cursor }),
    });
    res.json({ items: page.events, total: null, nextCursor: page.nextBefore === null ? null : String(page.nextBefore) });
  }));

  router.get('/orgs/:orgId/audit-events', route(async (req, res) => {
    need(res, 'activity.view');
    const cursor = cursorOf(req);
    const page = await listAuditEvents(deps.db, { orgId: caller(res).orgId, limit: limitOf(req), ...(cursor === undefined ? {} : { before: cursor }) });
    res.json({ items: page.events, total: null, nextCursor: page.nextBefore === null ? null : String(page.nextBefore) });
  }));

  // Credentials of the organisation: SCIM tokens and API keys (secrets shown once), and OIDC clients.
  const body = <T extends z.ZodType>(req: Request, schema: T): z.infer<T> => {
    const parsed = schema.safeParse(req.body);
    if (!parsed.success) throw new Problem('invalid_request', parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; '));
    return parsed.data;
  };
  for (const [path, kind] of [['scim-tokens', 'scim_token'], ['api-keys', 'api_key']] as const) {
    router.get(`/orgs/:orgId/${path}`, route(async (req, res) => {
      need(res, 'org.manage');
      const items = await listCredentials(deps.db, { orgId: caller(res).orgId, kind });
      res.json({ items, total: items.length, nextCursor: null });
    }));
    router.post(`/orgs/:orgId/${path}`, route(async (req, res) => {
      need(res, 'org.manage');
      const input = body(req, z.object({ name: z.string(), ...(kind === 'api_key' ? { role: z.string() } : {}) }).strict());
      const role = (input as { role?: string }).role ?? null;
      // Never a key that can do more than its creator (an admin cannot mint an owner's key).
      if (kind === 'api_key' && role !== null && !mayGrant(caller(res).permissions, role)) throw new Problem('forbidden', `you cannot create a key with the role ${role}`);
      const issued = await createCredential(deps.db, { orgId: caller(res).orgId, kind, name: input.name, role, actor: caller(res).actor });
      res.status(201).json({ id: issued.id, name: input.name.trim(), ...(role ? { role } : {}), secret: issued.secret });
    }));
    router.delete(`/orgs/:orgId/${path}/:id`, route(async (req, res) => {
      need(res, 'org.manage');
      if (!(await revokeCredentialBy(deps.db, { orgId: caller(res).orgId, kind, id: String(req.params.id), actor: caller(res).actor }))) {
        throw new Problem('not_found', `no active ${kind === 'api_key' ? 'API key' : 'SCIM token'} ${req.params.id} in this organisation`);
      }
      res.status(204).end();
    }));
  }

  router.get('/orgs/:orgId/clients', route(async (req, res) => {
    need(res, 'org.manage');
    const items = await listClients(deps.db, { orgId: caller(res).orgId });
    res.json({ items, total: items.length, nextCursor: null });
  }));
  router.post('/orgs/:orgId/clients', route(async (req, res) => {
    need(res, 'org.manage');
    const input = body(req, z.object({ name: z.string().min(1).max(200).optional(), redirectUris: z.array(z.string()).min(1).max(20), public: z.boolean().default(false) }).strict());
    const created = await createClient(deps.db, { orgId: caller(res).orgId, actor: caller(res).actor, name: input.name, redirectUris: input.redirectUris, public: input.public });
    res.status(201).json({ client_id: created.clientId, ...(created.clientSecret ? { client_secret: created.clientSecret } : {}) });
  }));
  router.delete('/orgs/:orgId/clients/:clientId', route(async (req, res) => {
    need(res, 'org.manage');
    if (!(await revokeClient(deps.db, { orgId: caller(res).orgId, actor: caller(res).actor, clientId: String(req.params.clientId) }))) {
      throw new Problem('not_found', `no active client ${req.params.clientId} in this organisation`);
    }
    res.status(204).end();
  }));

  router.use((req: Request, res: Response) => { sendProblem(res, 'not_found', `no route ${req.method} ${req.baseUrl}${req.path}`); });
  router.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    if (err instanceof Problem) return sendProblem(res, err.code, err.message, err.extra);
    if (err instanceof DirectoryError) {
      const code: ProblemCode = err.code === 'not_found' ? 'not_found' : err.code === 'forbidden' ? 'forbidden' : err.code === 'conflict' ? 'conflict' : 'invalid_value';
      return sendProblem(res, code, err.message, { ...(err.field ? { field: err.field } : {}), ...(err.rule ? { rule: err.rule } : {}) });
    }
    const status = (err as { status?: number }).status;
    if (status && status >= 400 && status < 500) return sendProblem(res, 'invalid_request', 'the request body is not valid JSON');
    ((req as { log?: Logger }).log ?? deps.logger).error({ err }, 'unexpected error in the admin API');
    sendProblem(res, 'internal', undefined);
  });
  return router;
}
