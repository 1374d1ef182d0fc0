// Password hashing: argon2id at a configured cost, OWASP's minimum by default (m = 19 MiB, t = 2, p = 1):
// memory per hash is what bounds a server under a burst of sign-ins, so the default is the floor OWASP
// recommends, and an operator may raise it (never lower it). Hashing never runs inside a transaction.
import { Invalid } from './errors.ts';

export const passwordPolicy = { minLength: 8, maxLength: 256 } as const;

export type PasswordCost = { memoryKiB: number; timeCost: number; parallelism: number };
export const OWASP_MINIMUM_COST: PasswordCost = { memoryKiB: 19_456, timeCost: 2, parallelism: 1 };

export type PasswordHasher = {
  readonly cost: PasswordCost;
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

/** argon2 is loaded on first use: most requests never hash a password, and the native module costs memory. */
const argon2 = async () => (await import('argon2')).default;

/** A hasher at `cost`, which must be at least OWASP's minimum in each dimension. */
export function createPasswordHasher(cost: PasswordCost = OWASP_MINIMUM_COST): PasswordHasher {
  const floor = OWASP_MINIMUM_COST;
  if (!(cost.memoryKiB >= floor.memoryKiB && cost.timeCost >= floor.timeCost && cost.parallelism >= floor.parallelism)) {
    throw new Invalid(`the password hashing cost must be at least m=${floor.memoryKiB} KiB, t=${floor.timeCost}, p=${floor.parallelism}`, { field: 'cost', rule: 'below_minimum' });
  }
  return {
    cost,
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
