// Password hashing: argon2id with the library's defaults (m=64 MiB, t=3, p=4), the OWASP-recommended family.
import argon2 from 'argon2';
import { Invalid } from './errors.ts';

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
  return argon2.hash(password, { type: argon2.argon2id });
}

export async function verifyPassword(hash: string, password: string): Promise<boolean> {
  return argon2.verify(hash, password);
}
