// Password hashing: argon2id with the library's defaults (m=64 MiB, t=3, p=4), the OWASP-recommended family.
import { Invalid } from './errors.ts';

/** argon2 is loaded on first use: most requests never hash a password, and the native module costs memory. */
const argon2 = async () => (await import('argon2')).default;

export const passwordPolicy = { minLength: 8, maxLength: 256 } as const;

export function checkPasswordPolicy(password: string): void {
  if (password.length < passwordPolicy.minLength) {
    throw new Invalid(`password must be at least ${passwordPolicy.minLength} characters`);
  }
  if (password.length > passwordPolicy.maxLength) {
    throw new Invalid(`password must be at most ${passwordPolicy.maxLength} characters`);
  }
}

export async function hashPassword(password: string): Promise<string> {
  checkPasswordPolicy(password);
  const a = await argon2();
  return a.hash(password, { type: a.argon2id });
}

export async function verifyPassword(hash: string, password: string): Promise<boolean> {
  return (await argon2()).verify(hash, password);
}
