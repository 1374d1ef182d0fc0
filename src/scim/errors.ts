// The one SCIM error type and the one place it becomes wire JSON (RFC 7644 section 3.12).
import { DirectoryError, type PreconditionFailed } from '../directory/errors.ts';

export const ERROR_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:Error';

export type ScimType =
  | 'invalidFilter' | 'tooMany' | 'uniqueness' | 'mutability' | 'invalidSyntax'
  | 'invalidPath' | 'noTarget' | 'invalidValue' | 'invalidVers' | 'sensitive';

// RFC 7644 table 9: the status each scimType belongs to.
const statusOf: Record<ScimType, number> = {
  invalidFilter: 400, tooMany: 400, uniqueness: 409, mutability: 400, invalidSyntax: 400,
  invalidPath: 400, noTarget: 400, invalidValue: 400, invalidVers: 400, sensitive: 403,
};

export class ScimError extends Error {
  readonly status: number;
  readonly scimType: ScimType | undefined;
  constructor(status: number, scimType: ScimType | undefined, detail: string) {
    super(detail);
    if (scimType && statusOf[scimType] !== status) throw new Error(`scimType ${scimType} does not go with status ${status}`);
    this.status = status;
    this.scimType = scimType;
  }
}

/** 503 with Retry-After: the server is too busy to answer now, and the same request may succeed later. */
export class ServiceUnavailable extends ScimError {
  readonly retryAfterSeconds: number;
  constructor(detail: string, retryAfterSeconds: number) {
    super(503, undefined, detail);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** PostgreSQL cancelled the statement (statement_timeout): SQLSTATE 57014, query_canceled. */
const QUERY_CANCELED = '57014';
const RETRY_AFTER_SECONDS = 5;

export const invalidValue = (detail: string) => new ScimError(400, 'invalidValue', detail);
export const invalidSyntax = (detail: string) => new ScimError(400, 'invalidSyntax', detail);
export const invalidFilter = (detail: string) => new ScimError(400, 'invalidFilter', detail);
export const invalidPath = (detail: string) => new ScimError(400, 'invalidPath', detail);
export const mutability = (detail: string) => new ScimError(400, 'mutability', detail);
export const notFound = (detail: string) => new ScimError(404, undefined, detail);
export const unauthorized = () => new ScimError(401, undefined, 'a valid SCIM bearer token is required');

export type ErrorBody = { schemas: string[]; status: string; scimType?: ScimType; detail: string };

export function errorBody(e: ScimError): ErrorBody {
  return { schemas: [ERROR_SCHEMA], status: String(e.status), ...(e.scimType ? { scimType: e.scimType } : {}), detail: e.message };
}

/**
 * Maps anything thrown while serving SCIM to a ScimError. `unexpected` is true for errors that are bugs or
 * outages: the caller logs them and answers 500 with a generic detail. A cancelled statement is neither: it is
 * a ServiceUnavailable (503), which the caller logs as a warning.
 */
/** The directory's refusals in SCIM's words, where SCIM has its own (by the rule that refused). */
const scimWording: Record<string, (e: DirectoryError) => string> = {
  version_mismatch: (e) => `the resource has changed since the version given in If-Match (it is now at W/"${(e as PreconditionFailed).actual}")`,
  email_required: () => 'a user needs an e-mail address: give "emails", or a userName that is an e-mail address',
  user_name_taken: () => 'userName is already taken in this organisation',
  group_name_taken: () => 'a group with this displayName already exists',
};

export function toScimError(err: unknown): { error: ScimError; unexpected: boolean } {
  if (err instanceof ScimError) return { error: err, unexpected: false };
  if (err instanceof DirectoryError) {
    const detail = (err.rule && scimWording[err.rule]?.(err)) || err.message;
    switch (err.code) {
      case 'not_found': return { error: new ScimError(404, undefined, detail), unexpected: false };
      case 'conflict': return { error: new ScimError(409, 'uniqueness', detail), unexpected: false };
      case 'forbidden': return { error: new ScimError(403, undefined, detail), unexpected: false };
      case 'invalid': return { error: new ScimError(400, 'invalidValue', detail), unexpected: false };
      case 'limit_reached': return { error: new ScimError(403, undefined, detail), unexpected: false };
      case 'precondition_failed': return { error: new ScimError(412, undefined, detail), unexpected: false };
    }
  }
  const e = err as { type?: string; status?: number; code?: unknown } | null;
  if (e?.code === QUERY_CANCELED) {
    return { error: new ServiceUnavailable('the request took too long for the database; try again later', RETRY_AFTER_SECONDS), unexpected: false };
  }
  if (e?.type === 'entity.parse.failed') return { error: invalidSyntax('the request body is not valid JSON'), unexpected: false };
  if (e?.type === 'entity.too.large') return { error: new ScimError(413, undefined, 'the request body is larger than the server accepts'), unexpected: false };
  if (e?.type === 'encoding.unsupported' || e?.type === 'charset.unsupported') return { error: invalidSyntax('unsupported body encoding or charset'), unexpected: false };
  if (e?.status === 400 && e.type) return { error: invalidSyntax('the request body could not be read'), unexpected: false };
  return { error: new ScimError(500, undefined, 'internal server error'), unexpected: true };
}
