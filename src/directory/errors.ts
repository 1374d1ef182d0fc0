// Typed errors of the directory. Each protocol maps them to its own wire format in one place.

export type DirectoryErrorCode =
  | 'not_found'
  | 'conflict'
  | 'forbidden'
  | 'invalid'
  | 'limit_reached'
  | 'precondition_failed';

export class DirectoryError extends Error {
  readonly code: DirectoryErrorCode;
  constructor(code: DirectoryErrorCode, message: string) {
    super(message);
    this.code = code;
    this.name = new.target.name;
  }
}

export class NotFound extends DirectoryError {
  constructor(message: string) { super('not_found', message); }
}

/** A uniqueness rule was broken; `field` names what collided (e.g. "userName"). */
export class Conflict extends DirectoryError {
  readonly field: string;
  constructor(field: string, message: string) {
    super('conflict', message);
    this.field = field;
  }
}

export class Forbidden extends DirectoryError {
  constructor(message: string) { super('forbidden', message); }
}

export class Invalid extends DirectoryError {
  constructor(message: string) { super('invalid', message); }
}

export class LimitReached extends DirectoryError {
  constructor(message: string) { super('limit_reached', message); }
}

export class PreconditionFailed extends DirectoryError {
  constructor(message: string) { super('precondition_failed', message); }
}

/** PostgreSQL unique_violation, by constraint name, so callers can turn it into a Conflict. */
export function uniqueViolation(err: unknown): string | null {
  const e = err as { code?: string; constraint?: string } | null;
  return e && e.code === '23505' ? (e.constraint ?? '') : null;
}

/** Limits of what the directory stores (indexed text must stay well under PostgreSQL's btree entry size). */
export const limits = { userName: 256, displayName: 256, externalId: 512 } as const;

export function checkLength(field: keyof typeof limits, value: string | null | undefined): void {
  if (value !== null && value !== undefined && value.length > limits[field]) {
    throw new Invalid(`${field} must be at most ${limits[field]} characters`);
  }
}

/** A name that identifies something (userName, group displayName): not blank, and within its length limit. */
export function checkName(field: 'userName' | 'displayName', value: string): void {
  if (value.trim() === '') throw new Invalid(`${field} cannot be blank`);
  checkLength(field, value);
}
