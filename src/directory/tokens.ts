// Bearer secrets: 256 random bits, shown once, stored only as a SHA-256 hash.
// SHA-256 (not argon2) is right here: the secret has 256 bits of entropy, so there is nothing to brute-force,
// and every machine request verifies one.
import { createHash, randomBytes, randomInt } from 'node:crypto';

export type IssuedSecret = { secret: string; hash: string };

export function issueSecret(prefix: string): IssuedSecret {
  const secret = `${prefix}_${randomBytes(32).toString('base64url')}`;
  return { secret, hash: hashSecret(secret) };
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

const passwordAlphabet = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789';

/** A temporary password: 20 characters from an unambiguous alphabet (about 117 bits), uniform by randomInt. */
export function generateTemporaryPassword(): string {
  let out = '';
  for (let i = 0; i < 20; i++) out += passwordAlphabet[randomInt(passwordAlphabet.length)];
  return out;
}
