// The admin API's errors: every `code` it answers with, and its HTTP status, defined once here.
import type { DirectoryError } from '../directory/errors.ts';

export const problemCodes = {
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  invalid_request: 400,
  invalid_value: 400,
  conflict: 409,
  internal: 500,
  // The directory's rules, by name (each a test in test/admin).
  owner_protected: 403,
  self_action: 403,
  not_managed: 403,
  escalation: 403,
  owner_only: 403,
  built_in_role: 403,
  licence_limit_reached: 409,
  sso_enforced: 409,
  managed_by_scim: 409,
  already_member: 409,
  already_invited: 409,
  already_active: 409,
  already_deactivated: 409,
  already_owner: 409,
  invitation_not_pending: 409,
  role_in_use: 409,
  role_name_taken: 409,
  group_name_taken: 409,
  no_mfa: 400,
  user_only: 403,
  wrong_password: 400,
  mfa_failed: 400,
  already_enrolled: 409,
  no_enrolment: 404,
  built_in_client: 403,
  domain_not_verified: 400,
  domain_claimed: 409,
  discovery_failed: 400,
  too_many_attempts: 429,
} as const;
export type ProblemCode = keyof typeof problemCodes;

export const problemStatus = (code: ProblemCode): number => problemCodes[code];

export class Problem extends Error {
  readonly code: ProblemCode;
  readonly extra: Record<string, unknown>;
  constructor(code: ProblemCode, detail: string, extra: Record<string, unknown> = {}) {
    super(detail);
    this.code = code;
    this.extra = extra;
  }

  /** The code of a directory error: its rule when this API names that rule, else its kind. */
  static fromDirectory(err: DirectoryError): ProblemCode {
    if (err.rule && err.rule in problemCodes) return err.rule as ProblemCode;
    switch (err.code) {
      case 'not_found': return 'not_found';
      case 'forbidden': return 'forbidden';
      case 'conflict': case 'limit_reached': case 'precondition_failed': return 'conflict';
      default: return 'invalid_value';
    }
  }
}
