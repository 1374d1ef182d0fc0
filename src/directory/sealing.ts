// Secrets at rest (signing keys' private parts, and next: TOTP secrets, SSO client secrets): sealed with
// AES-256-GCM under a key derived from SECRET by HKDF-SHA256. Each sealed value is bound to what it is
// (`context`, authenticated but not stored), so a sealed value copied to another row or column does not open.
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { Invalid } from './errors.ts';

export type Sealer = {
  seal(plain: string, context: string): string;
  open(sealed: string, context: string): string;
  /** A keyed hash (HMAC-SHA256) of `value` for `context`: for low-entropy secrets that are only ever compared. */
  mac(value: string, context: string): string;
};

const VERSION = 'v1';

export function createSealer(secret: string): Sealer {
  if (secret.length < 32) throw new Invalid('the sealing secret must be at least 32 characters', { field: 'SECRET', rule: 'too_short' });
  const key = Buffer.from(hkdfSync('sha256', secret, 'roster', 'roster secrets at rest v1', 32));
  const macKey = Buffer.from(hkdfSync('sha256', secret, 'roster', 'roster keyed hashes v1', 32));
  return {
    mac(value, context) {
      return createHmac('sha256', macKey).update(context).update('\n').update(value).digest('hex');
    },
    seal(plain, context) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      cipher.setAAD(Buffer.from(context));
      const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
      return `${VERSION}.${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url')}`;
    },
    open(sealed, context) {
      const [version, data] = sealed.split('.');
      if (version !== VERSION || !data) throw new Error(`not a sealed value of version ${VERSION}`);
      const raw = Buffer.from(data, 'base64url');
      const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
      decipher.setAAD(Buffer.from(context));
      decipher.setAuthTag(raw.subarray(12, 28));
      return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
    },
  };
}
