// Brute-force throttling of sign-in, with rate-limiter-flexible on the directory's database, so every
// instance counts the same attempts. Every attempt is counted, before it is checked (so concurrent attempts
// cannot slip past), per subject (the account, or the address typed when no account has it: the answer is
// the same either way) and per client network (an IPv4 address, an IPv6 /64); a success starts the subject's
// count again. A key that reaches its limit is refused until
// its window passes, never for good: an attacker must not be able to shut a real person out for longer than
// the window (the known complaint about permanent lockouts).
import type { Knex } from 'knex';
import { RateLimiterPostgres, RateLimiterRes } from 'rate-limiter-flexible';
import { Throttled } from './errors.ts';
import { hashSecret } from './tokens.ts';

export type ThrottleLimits = {
  /** Failures allowed per e-mail address in `windowSeconds`. */
  perEmail: number;
  /** Failures allowed per IP in `windowSeconds` (higher: many people share an office's address). */
  perIp: number;
  windowSeconds: number;
};
export const DEFAULT_THROTTLE: ThrottleLimits = { perEmail: 10, perIp: 100, windowSeconds: 15 * 60 };

export type ThrottleKey = {
  /** Whose attempts these are: throttleSubject() of the account when the address has one, else of the address typed. */
  subject: string;
  ip: string | null;
};

export type Throttle = {
  /**
   * Counts this attempt against its subject and its IP, atomically (concurrent attempts cannot slip past the
   * count): seconds to wait when either is over its limit (the attempt must then be refused), else 0.
   */
  attempt(key: ThrottleKey): Promise<number>;
  /** A successful attempt: the subject's count starts again, and the IP gets its point back. */
  succeed(key: ThrottleKey): Promise<void>;
};

/**
 * The subject of sign-in attempts: the account when the address has one (so every spelling PostgreSQL finds
 * it by counts together), else the address as typed, normalised (NFKC, lower case).
 */
export function throttleSubject(found: { accountId: string | null; email: string }): string {
  return found.accountId ? `account:${found.accountId}` : `email:${found.email.trim().normalize('NFKC').toLowerCase()}`;
}

/**
 * An attempt at proving one of the account's credentials outside a sign-in (its current password, a code of
 * its authenticator app, on the person's own account page): counted with the sign-in attempts of the account
 * and the network, refused (Throttled) over the limit. A success does not start the count again: it is no
 * sign-in. Without a throttle (a door that has none), nothing is counted.
 */
export async function countCredentialAttempt(throttle: Throttle | undefined, input: { accountId: string; ip?: string | null }): Promise<void> {
  if (!throttle) return;
  const wait = await throttle.attempt({ subject: throttleSubject({ accountId: input.accountId, email: '' }), ip: input.ip ?? null });
  if (wait > 0) throw new Throttled(wait);
}

/** The network an address stands for: an IPv4 address, or the /64 of an IPv6 one (one host holds a whole /64). */
export function ipNetwork(ip: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return mapped[1];
  if (!ip.includes(':')) return ip;
  const [head, tail = ''] = ip.split('%')[0].split('::');
  const left = head ? head.split(':') : [];
  const right = ip.includes('::') && tail ? tail.split(':') : [];
  const groups = [...left, ...Array(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return `${groups.slice(0, 4).map((g) => g.toLowerCase().replace(/^0+(?=.)/, '')).join(':')}::/64`;
}

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
const subjectKey = (subject: string) => hashSecret(subject);
const ipKey = (ip: string) => hashSecret(ipNetwork(ip));

export function createThrottle(db: Knex, limits: ThrottleLimits = DEFAULT_THROTTLE): Throttle {
  const common = { storeClient: knexQueryClient(db), storeType: 'client', tableName: 'sign_in_throttle', tableCreated: true, clearExpiredByTimeout: false, duration: limits.windowSeconds };
  const bySubject = new RateLimiterPostgres({ ...common, keyPrefix: 'subject', points: limits.perEmail });
  const byIp = new RateLimiterPostgres({ ...common, keyPrefix: 'ip', points: limits.perIp });
  /** Consumes a point; the seconds to wait when that went over the limit, else 0. */
  const consume = async (limiter: RateLimiterPostgres, key: string): Promise<number> => {
    try {
      await limiter.consume(key, 1);
      return 0;
    } catch (refused) {
      if (refused instanceof RateLimiterRes) return Math.max(1, Math.ceil(refused.msBeforeNext / 1000));
      throw refused;
    }
  };
  return {
    async attempt({ subject, ip }) {
      const waits = await Promise.all([consume(bySubject, subjectKey(subject)), ip ? consume(byIp, ipKey(ip)) : 0]);
      return Math.max(...waits);
    },
    async succeed({ subject, ip }) {
      await Promise.all([bySubject.delete(subjectKey(subject)), ip ? byIp.reward(ipKey(ip), 1) : null]);
    },
  };
}

/** Removes counters whose window ended (the sweeper calls this; an expired counter is never read). */
export async function deleteExpiredThrottleCounters(db: Knex): Promise<number> {
  return db('sign_in_throttle').where('expire', '<', Date.now()).delete();
}
