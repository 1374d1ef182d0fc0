// Password hashing: argon2id at a configured cost, OWASP's minimum by default (m = 19 MiB, t = 2, p = 1):
// memory per hash is what bounds a server under a burst of sign-ins, so the default is the floor OWASP
// recommends, and an operator may raise it (never lower it). Hashing never runs inside a transaction.
import { Invalid } from './errors.ts';

export const passwordPolicy = { minLength: 8, maxLength: 256 } as const;

export type PasswordCost = { memoryKiB: number; timeCost: number; parallelism: number };
export const OWASP_MINIMUM_COST: PasswordCost = { memoryKiB: 19_456, timeCost: 2, parallelism: 1 };

export type PasswordHasher = {
  hash(password: string): Promise<string>;
  verify(hash: string, password: string): Promise<boolean>;
};

export function checkPasswordPolicy(password: string): void {
  if (password.length < passwordPolicy.minLength) {
    throw new Invalid(`password must be at least ${passwordPolicy.minLength} characters`, { field: 'password', rule: 'too_short' });
  }
  if (password.length > passwordPolicy.maxLength) {
    throw new Invalid(`password must be at most ${passwordPolicy.maxLength} characters`, { field: 'password', rule: 'too_long' });
  }
}

/** NIST SP 800-63B for a password a person chooses: a minimum length, no composition rules, nothing common. */
export const CHOSEN_PASSWORD_MIN_LENGTH = 10;

let common: Promise<Set<string>> | undefined;
/** The 49,000 most common passwords (zxcvbn-ts's list), loaded on first use and kept. */
function commonPasswords(): Promise<Set<string>> {
  common ??= import('@zxcvbn-ts/language-common').then((m) => new Set((m.dictionary as Record<string, string[]>)['passwords-common'].map((p) => p.toLowerCase())));
  return common;
}

/**
 * The rules for a password a person chooses (sign-up, a forced change, a reset): at least `minLength`
 * characters (10 unless configured), at most 256, not the e-mail address or its local part, and not one of
 * the most common passwords; no composition rules (NIST SP 800-63B, 5.1.1.2). Every character counts,
 * spaces and emoji included.
 */
export async function checkChosenPassword(password: string, context: { email: string; minLength?: number }): Promise<void> {
  const min = context.minLength ?? CHOSEN_PASSWORD_MIN_LENGTH;
  const length = [...password].length;
  if (length < min) throw new Invalid(`a password has at least ${min} characters`, { field: 'password', rule: 'too_short' });
  if (length > passwordPolicy.maxLength) throw new Invalid(`a password has at most ${passwordPolicy.maxLength} characters`, { field: 'password', rule: 'too_long' });
  const lower = password.toLowerCase();
  const email = context.email.toLowerCase();
  if (lower === email || lower === email.split('@')[0]) throw new Invalid('a password cannot be your e-mail address', { field: 'password', rule: 'is_email' });
  if ((await commonPasswords()).has(lower)) throw new Invalid('this password is one of the most common ones: choose another', { field: 'password', rule: 'too_common' });
}

/** argon2 is loaded on first use: most requests never hash a password, and the native module costs memory. */
const argon2 = async () => (await import('argon2')).default;

/** A hasher at `cost`, which must be at least OWASP's minimum in each dimension. */
export function createPasswordHasher(cost: PasswordCost = OWASP_MINIMUM_COST): PasswordHasher {
  const floor = OWASP_MINIMUM_COST;
  if (!(cost.memoryKiB >= floor.memoryKiB && cost.timeCost >= floor.timeCost && cost.parallelism >= floor.parallelism)) {
    throw new Invalid(`the password hashing cost must be at least m=${floor.memoryKiB} KiB, t=${floor.timeCost}, p=${floor.parallelism}`, { field: 'cost', rule: 'below_minimum' });
  }
  return {
    async hash(password) {
      checkPasswordPolicy(password);
      const a = await argon2();
      return a.hash(password, { type: a.argon2id, memoryCost: cost.memoryKiB, timeCost: cost.timeCost, parallelism: cost.parallelism });
    },
    async verify(hash, password) {
      return (await argon2()).verify(hash, password);
    },
  };
}
