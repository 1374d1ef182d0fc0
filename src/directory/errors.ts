// Typed errors of the directory. They speak of the domain: the field and the rule that refused a change.
// Each door words them for its protocol, in one place (SCIM error JSON, problem+json, an HTML message).

export type DirectoryErrorCode =
  | 'not_found'
  | 'conflict'
  | 'forbidden'
  | 'invalid'
  | 'limit_reached'
  | 'precondition_failed';

/** What a refusal is about: the field of the input (a member's `userName`, `emails`...) and the rule it broke. */
export type ErrorInfo = { field?: string; rule?: string };

export class DirectoryError extends Error {
  readonly code: DirectoryErrorCode;
  readonly field: string | null;
  readonly rule: string | null;
  constructor(code: DirectoryErrorCode, message: string, info: ErrorInfo = {}) {
    super(message);
    this.code = code;
    this.field = info.field ?? null;
    this.rule = info.rule ?? null;
    this.name = new.target.name;
  }
}

export class NotFound extends DirectoryError {
  constructor(message: string, info?: ErrorInfo) { super('not_found', message, info); }
}

/** A uniqueness rule was broken; `field` names what collided (e.g. "userName"). */
export class Conflict extends DirectoryError {
  declare readonly field: string;
  constructor(field: string, message: string, rule?: string) { super('conflict', message, { field, rule }); }
}

export class Forbidden extends DirectoryError {
  constructor(message: string, info?: ErrorInfo) { super('forbidden', message, info); }
}

export class Invalid extends DirectoryError {
  constructor(message: string, info?: ErrorInfo) { super('invalid', message, info); }
}

export class LimitReached extends DirectoryError {
  constructor(message: string, info?: ErrorInfo) { super('limit_reached', message, info); }
}

/** Too many attempts at proving a credential: refused, without checking, for `retryAfter` seconds. */
export class Throttled extends DirectoryError {
  readonly retryAfter: number;
  constructor(retryAfter: number) {
    super('limit_reached', `too many attempts: wait ${Math.ceil(retryAfter / 60)} minute${retryAfter > 60 ? 's' : ''} and try again`, { rule: 'too_many_attempts' });
    this.retryAfter = retryAfter;
  }
}

/** The caller expected another version of the record than the one stored (optimistic concurrency). */
export class PreconditionFailed extends DirectoryError {
  readonly expected: number;
  readonly actual: number;
  constructor(what: string, versions: { expected: number; actual: number }) {
    super('precondition_failed', `the ${what} has changed: it is at version ${versions.actual}, not ${versions.expected}`, { rule: 'version_mismatch' });
    this.expected = versions.expected;
    this.actual = versions.actual;
  }
}

/** Refuses a stale version: `expected` undefined means the caller did not ask for one. */
export function checkVersion(what: string, versions: { expected: number | undefined; actual: number }): void {
  if (versions.expected !== undefined && versions.expected !== versions.actual) {
    throw new PreconditionFailed(what, { expected: versions.expected, actual: versions.actual });
  }
}

/** PostgreSQL unique_violation, by constraint name, so callers can turn it into a Conflict. */
export function uniqueViolation(err: unknown): string | null {
  const e = err as { code?: string; constraint?: string } | null;
  return e && e.code === '23505' ? (e.constraint ?? '') : null;
}

/** Limits of what the directory stores (indexed text must stay well under PostgreSQL's btree entry size). */
export const limits = { userName: 256, displayName: 256, externalId: 512, text: 4096, listItems: 100 } as const;

export function checkLength(field: string, value: string | null | undefined, max: number = limits.text): void {
  if (value !== null && value !== undefined && value.length > max) {
    throw new Invalid(`${field} must be at most ${max} characters`, { field, rule: 'too_long' });
  }
}

/** A name that identifies something (a user name, a group's display name): not blank, and within its length limit. */
export function checkName(field: 'userName' | 'displayName', value: string): void {
  if (value.trim() === '') throw new Invalid(`${field} cannot be blank`, { field, rule: 'blank' });
  checkLength(field, value, limits[field]);
}
