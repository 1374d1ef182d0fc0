// /scim/v2: authentication by the organisation's bearer token, scim+json in and out, one error mapping.
import express, { type NextFunction, type Request, type Response, Router } from 'express';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type { PasswordHasher } from '../directory/passwords.ts';
import { authenticate } from './auth.ts';
import { runBulk } from './bulk.ts';
import type { Precondition, ScimContext, ScimResult } from './context.ts';
import { etagOf } from './context.ts';
import { getResourceType, getSchema, listResourceTypes, listSchemas, MAX_PAYLOAD_BYTES, serviceProviderConfig } from './discovery.ts';
import { errorBody, invalidValue, notFound, type ScimError, ServiceUnavailable, toScimError, unauthorized } from './errors.ts';
import { createScimGroup, deleteScimGroup, getScimGroup, listScimGroups, patchScimGroup, replaceScimGroup } from './groups.ts';
import { parseListParams, SEARCH_SCHEMA } from './list-params.ts';
import { parsePatchRequest } from './patch.ts';
import { parseProjection } from './projection.ts';
import { refuseDeepBody, refuseUndecodableUrl, verifyUtf8Body } from './request-guards.ts';
import { rootSearch } from './root-search.ts';
import { groupType, userType } from './schemas/resource-types.ts';
import { createUser, deleteUser, getUser, listUsers, patchUser, replaceUser } from './users.ts';

export const SCIM_CONTENT_TYPE = 'application/scim+json; charset=utf-8';

type Deps = { db: Knex; baseUrl: string; logger: Logger; passwords: PasswordHasher };
type Handler = (ctx: ScimContext, req: Request) => Promise<ScimResult> | ScimResult;

function send(res: Response, r: ScimResult): void {
  if (r.version !== undefined) res.set('ETag', etagOf(r.version));
  if (r.location && r.status === 201) res.set('Location', r.location);
  res.status(r.status);
  if (r.body === undefined) { res.end(); return; }
  res.set('Content-Type', SCIM_CONTENT_TYPE).send(JSON.stringify(r.body));
}

/** Anything thrown while serving SCIM, as the SCIM error to answer with; bugs, outages and timeouts are logged. */
function scimErrorOf(log: Logger, err: unknown): ScimError {
  const { error, unexpected } = toScimError(err);
  if (unexpected) log.error({ err }, 'unexpected error serving SCIM');
  else if (error instanceof ServiceUnavailable) log.warn({ err }, 'database statement cancelled serving SCIM: answered 503');
  return error;
}

function sendError(res: Response, e: ScimError): void {
  if (e.status === 401) res.set('WWW-Authenticate', 'Bearer realm="scim"');
  if (e instanceof ServiceUnavailable) res.set('Retry-After', String(e.retryAfterSeconds));
  res.status(e.status).set('Content-Type', SCIM_CONTENT_TYPE).send(JSON.stringify(errorBody(e)));
}

/** If-Match: W/"3", "3" or *. A value that is none of these can never match: 412. */
function precondition(req: Request): Precondition {
  const header = req.get('If-Match');
  if (!header || header.trim() === '*') return {};
  const m = /^(?:W\/)?"(\d+)"$/.exec(header.trim());
  return { ifMatch: m ? Number(m[1]) : -1 };
}

function searchBody(req: Request): Record<string, unknown> {
  const body = req.body as Record<string, unknown> | undefined;
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw invalidValue('the request body must be a SearchRequest object');
  if (!Array.isArray(body.schemas) || !body.schemas.some((s) => typeof s === 'string' && s.toLowerCase() === SEARCH_SCHEMA.toLowerCase())) {
    throw invalidValue(`"schemas" must contain "${SEARCH_SCHEMA}"`);
  }
  return body;
}

const query = (req: Request) => req.query as Record<string, unknown>;
const param = (req: Request, name: string) => String(req.params[name]);

export function scimRouter(deps: Deps): Router {
  const router = Router();
  router.use(refuseUndecodableUrl);
  const publicRoute = (fn: () => unknown) => (_req: Request, res: Response) => send(res, { status: 200, body: fn() });
  router.get('/ServiceProviderConfig', publicRoute(() => serviceProviderConfig(deps.baseUrl)));
  router.get('/ResourceTypes', publicRoute(() => listResourceTypes(deps.baseUrl)));
  router.get('/ResourceTypes/:id', (req, res) => send(res, { status: 200, body: getResourceType(deps.baseUrl, param(req, 'id')) }));
  router.get('/Schemas', publicRoute(() => listSchemas(deps.baseUrl)));
  router.get('/Schemas/:id', (req, res) => send(res, { status: 200, body: getSchema(deps.baseUrl, param(req, 'id')) }));

  // Everything below needs the organisation's token; the token alone decides the organisation.
  router.use(async (req: Request, res: Response, next: NextFunction) => {
    try {
      const ctx = await authenticate(deps, req.get('Authorization'), req.ip);
      if (!ctx) return sendError(res, unauthorized());
      res.locals.scim = ctx;
      next();
    } catch (err) {
      next(err);
    }
  });
  // Bodies are read only once the caller is known: without a token, nothing is parsed.
  // Only the routes that take a body read one (the lookups Okta and Entra make all day need none).
  const body = [
    express.json({ limit: MAX_PAYLOAD_BYTES, type: ['application/json', 'application/scim+json', 'application/*+json'], verify: verifyUtf8Body }),
    refuseDeepBody,
  ];

  const route = (h: Handler) => async (req: Request, res: Response, next: NextFunction) => {
    try {
      const r = await h(res.locals.scim as ScimContext, req);
      const inm = req.get('If-None-Match');
      if (req.method === 'GET' && r.version !== undefined && inm && inm.split(',').map((s) => s.trim()).includes(etagOf(r.version))) {
        res.set('ETag', etagOf(r.version)).status(304).end();
        return;
      }
      send(res, r);
    } catch (err) {
      next(err);
    }
  };

  const projectionOf = (type: typeof userType, req: Request) => {
    const p = parseListParams(query(req));
    return parseProjection(type, p.attributes, p.excludedAttributes);
  };
  const patchProjection = (req: Request) => (query(req).attributes || query(req).excludedAttributes ? projectionOf(groupType, req) : null);

  router.get('/Users', route((ctx, req) => listUsers(ctx, parseListParams(query(req)))));
  router.post('/Users/.search', ...body, route((ctx, req) => listUsers(ctx, parseListParams(searchBody(req)))));
  router.post('/Users', ...body, route((ctx, req) => createUser(ctx, req.body)));
  router.get('/Users/:id', route((ctx, req) => getUser(ctx, param(req, 'id'), projectionOf(userType, req))));
  router.put('/Users/:id', ...body, route((ctx, req) => replaceUser(ctx, { id: param(req, 'id'), body: req.body, pre: precondition(req) })));
  router.patch('/Users/:id', ...body, route((ctx, req) => patchUser(ctx, { id: param(req, 'id'), ops: parsePatchRequest(req.body), pre: precondition(req) })));
  router.delete('/Users/:id', route((ctx, req) => deleteUser(ctx, param(req, 'id'), precondition(req))));

  router.get('/Groups', route((ctx, req) => listScimGroups(ctx, parseListParams(query(req)))));
  router.post('/Groups/.search', ...body, route((ctx, req) => listScimGroups(ctx, parseListParams(searchBody(req)))));
  router.post('/Groups', ...body, route((ctx, req) => createScimGroup(ctx, req.body)));
  router.get('/Groups/:id', route((ctx, req) => getScimGroup(ctx, param(req, 'id'), projectionOf(groupType, req))));
  router.put('/Groups/:id', ...body, route((ctx, req) => replaceScimGroup(ctx, { id: param(req, 'id'), body: req.body, pre: precondition(req) })));
  router.patch('/Groups/:id', ...body, route((ctx, req) => patchScimGroup(ctx, { id: param(req, 'id'), ops: parsePatchRequest(req.body), pre: precondition(req), projection: patchProjection(req) })));
  router.delete('/Groups/:id', route((ctx, req) => deleteScimGroup(ctx, param(req, 'id'), precondition(req))));

  router.post('/.search', ...body, route((ctx, req) => rootSearch(ctx, parseListParams(searchBody(req)))));
  router.post('/Bulk', ...body, route((ctx, req) => runBulk(ctx, req.body, (err) => scimErrorOf(req.log ?? deps.logger, err))));

  router.use((req: Request, _res: Response, next: NextFunction) => next(notFound(`no SCIM endpoint ${req.method} ${req.path}`)));
  router.use((err: unknown, req: Request, res: Response, _next: NextFunction) => sendError(res, scimErrorOf(req.log ?? deps.logger, err)));
  return router;
}
