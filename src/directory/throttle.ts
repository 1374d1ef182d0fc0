// Brute-force throttling of sign-in, with rate-limiter-flexible on the directory's database, so every
// instance counts the same attempts. Failures are counted per e-mail as typed (lower-cased, whether or not an
// account has it: the answer must not tell) and per client IP. A key that reaches its limit is refused until
// its window passes, never for good: an attacker must not be able to shut a real person out for longer than
// the window (the known complaint about permanent lockouts).
import type { Knex } from 'knex';
import { RateLimiterPostgres, type RateLimiterRes } from 'rate-limiter-flexible';
import { hashSecret } from './tokens.ts';

export type ThrottleLimits = {
  /** Failures allowed per e-mail address in `windowSeconds`. */
  perEmail: number;
  /** Failures allowed per IP in `windowSeconds` (higher: many people share an office's address). */
  perIp: number;
  windowSeconds: number;
};
export const DEFAULT_THROTTLE: ThrottleLimits = { perEmail: 10, perIp: 100, windowSeconds: 15 * 60 };

export type Throttle = {
  /** Seconds until attempts are allowed again for this e-mail or IP; 0 when allowed. */
  retryAfter(key: { email: string; ip: string | null }): Promise<number>;
  /** Counts a failed attempt against the e-mail and the IP. */
  fail(key: { email: string; ip: string | null }): Promise<void>;
  /** A successful sign-in clears the e-mail's count (not the IP's). */
  succeed(key: { email: string }): Promise<void>;
};

/**
 * rate-limiter-flexible speaks to PostgreSQL through a `query({ text, values })` client; this one runs its
 * statements through Knex, so the same code serves PostgreSQL and the embedded PGlite.
 */
function knexQueryClient(db: Knex) {
  return {
    async query(q: { text: string; values?: unknown[] }) {
      const values = q.values ?? [];
      const bindings: unknown[] = [];
      const sql = q.text.replace(/\$(\d+)/g, (_m, n: string) => {
        bindings.push(values[Number(n) - 1]);
        return '?';
      });
      const result = await db.raw(sql, bindings as Knex.RawBinding[]);
      // PGlite reports rowCount 0 for a SELECT that returns rows: the rows decide.
      const rows = result.rows ?? [];
      return { rows, rowCount: rows.length > 0 ? rows.length : (result.rowCount ?? 0) };
    },
  };
}

// Keys are hashed: fixed length (the table's key is 255 characters), and typed e-mails are not kept in clear.
const emailKey = (email: string) => hashSecret(email.trim().toLowerCase());
const ipKey = (ip: string) => hashSecret(ip);

export function createThrottle(db: Knex, limits: ThrottleLimits = DEFAULT_THROTTLE): Throttle {
  const common = { storeClient: knexQueryClient(db), storeType: 'client', tableName: 'sign_in_throttle', tableCreated: true, clearExpiredByTimeout: false, duration: limits.windowSeconds };
  const byEmail = new RateLimiterPostgres({ ...common, keyPrefix: 'email', points: limits.perEmail });
  const byIp = new RateLimiterPostgres({ ...common, keyPrefix: 'ip', points: limits.perIp });
  const wait = (res: RateLimiterRes | null, points: number) => (res && res.consumedPoints >= points ? Math.max(1, Math.ceil(res.msBeforeNext / 1000)) : 0);
  return {
    async retryAfter({ email, ip }) {
      const [e, i] = await Promise.all([byEmail.get(emailKey(email)), ip ? byIp.get(ipKey(ip)) : null]);
      return Math.max(wait(e, limits.perEmail), wait(i, limits.perIp));
    },
    async fail({ email, ip }) {
      await Promise.all([
        byEmail.penalty(emailKey(email), 1),
        ip ? byIp.penalty(ipKey(ip), 1) : null,
      ]);
    },
    async succeed({ email }) {
      await byEmail.delete(emailKey(email));
    },
  };
}

/** Removes counters whose window ended (the sweeper calls this; an expired counter is never read). */
export async function deleteExpiredThrottleCounters(db: Knex): Promise<number> {
  return db('sign_in_throttle').where('expire', '<', Date.now()).delete();
}
