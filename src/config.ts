// The only reader of process.env. Everything else receives a typed Config.
import { randomBytes } from 'node:crypto';
import { existsSync, linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { OWASP_MINIMUM_COST, type PasswordCost } from './directory/passwords.ts';

const floor = OWASP_MINIMUM_COST;

const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  ISSUER: z.url().optional(),
  DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL').optional(),
  DATA_DIR: z.string().min(1).default('./data'),
  SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  SMTP_URL: z.string().regex(/^smtps?:\/\//, 'must be an smtp:// or smtps:// URL').optional(),
  MAIL_FROM: z.string().max(320).regex(/^([^<>\r\n]*<[^\s@<>]+@[^\s@<>]+>|[^\s@<>]+@[^\s@<>]+)$/, 'must be an address, like "Roster <no-reply@example.com>" or no-reply@example.com').optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  METRICS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  TRUST_PROXY: z.string().default('loopback'),
  DATABASE_STATEMENT_TIMEOUT_MS: z.coerce.number().int().min(0).default(10_000),
  DATABASE_PREPARED_STATEMENTS: z.enum(['true', 'false'], 'must be true or false').default('true'),
  // argon2id cost: OWASP's minimum by default, and never below it.
  PASSWORD_HASH_MEMORY_KIB: z.coerce.number().int().min(floor.memoryKiB, `must be at least ${floor.memoryKiB} (19 MiB, OWASP's minimum)`).default(floor.memoryKiB),
  PASSWORD_HASH_TIME_COST: z.coerce.number().int().min(floor.timeCost, `must be at least ${floor.timeCost} (OWASP's minimum)`).max(100).default(floor.timeCost),
  PASSWORD_HASH_PARALLELISM: z.coerce.number().int().min(floor.parallelism).max(64).default(floor.parallelism),
  PASSWORD_MIN_LENGTH: z.coerce.number().int().min(8, 'must be at least 8 (NIST SP 800-63B)').max(64, 'must be at most 64').default(10),
});

export type Config = {
  env: 'development' | 'production' | 'test';
  port: number;
  issuer: string;
  databaseUrl: string | undefined;
  dataDir: string;
  secret: string;
  smtpUrl: string | undefined;
  /** The From of every message: MAIL_FROM, or `Roster <no-reply@ISSUER's host>`. */
  mailFrom: string;
  logLevel: string;
  /** Port of the metrics listener (GET /metrics); unset: no metrics served. */
  metricsPort: number | undefined;
  /** Express's `trust proxy`: true, false, a hop count, or addresses/subnets/names ("loopback, 10.0.0.0/8"). */
  trustProxy: boolean | number | string;
  /** PostgreSQL statement_timeout of the server's connections (ms, 0: none); migrations are exempt. */
  statementTimeoutMs: number;
  /** Named prepared statements on PostgreSQL; off behind PgBouncer in transaction mode. */
  preparedStatements: boolean;
  /** argon2id cost of password hashes. */
  passwordCost: PasswordCost;
  /** The shortest password a person may choose (NIST SP 800-63B: at least 8; 10 by default). */
  passwordMinLength: number;
};

function parseTrustProxy(value: string): boolean | number | string {
  const v = value.trim();
  if (v === 'true') return true;
  if (v === 'false') return false;
  if (/^\d+$/.test(v)) return Number(v);
  return v;
}

/** The domain of the default sender: the issuer's host name (localhost for an IP address). */
function mailDomain(issuer: string): string {
  const host = new URL(issuer).hostname;
  return /^[\d.]+$|^\[/.test(host) ? 'localhost' : host;
}

export class ConfigError extends Error {}

/**
 * Loads `.env` from the working directory into the environment when there is one (silently skipped when
 * there is none); a variable already set in the environment wins over the file.
 */
export function loadDotEnv(path = '.env'): void {
  if (!existsSync(path)) return;
  try {
    process.loadEnvFile(path);
  } catch (err) {
    throw new ConfigError(`cannot read ${resolve(path)}: ${(err as Error).message}`);
  }
}

/** Reads and validates the environment; a bad value stops the process with a clear message. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const blanksRemoved = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== ''));
  const parsed = envSchema.safeParse(blanksRemoved);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new ConfigError(`invalid configuration: ${problems}`);
  }
  const e = parsed.data;
  const dataDir = resolve(e.DATA_DIR);
  const issuer = (e.ISSUER ?? `http://localhost:${e.PORT}`).replace(/\/$/, '');
  if (e.NODE_ENV === 'production' && !e.SECRET) {
    throw new ConfigError('invalid configuration: SECRET is required when NODE_ENV=production');
  }
  return {
    env: e.NODE_ENV,
    port: e.PORT,
    issuer,
    databaseUrl: e.DATABASE_URL,
    dataDir,
    secret: e.SECRET ?? readOrCreateDevSecret(dataDir),
    smtpUrl: e.SMTP_URL,
    mailFrom: e.MAIL_FROM ?? `Roster <no-reply@${mailDomain(issuer)}>`,
    logLevel: e.LOG_LEVEL,
    metricsPort: e.METRICS_PORT,
    trustProxy: parseTrustProxy(e.TRUST_PROXY),
    statementTimeoutMs: e.DATABASE_STATEMENT_TIMEOUT_MS,
    preparedStatements: e.DATABASE_PREPARED_STATEMENTS === 'true',
    passwordCost: { memoryKiB: e.PASSWORD_HASH_MEMORY_KIB, timeCost: e.PASSWORD_HASH_TIME_COST, parallelism: e.PASSWORD_HASH_PARALLELISM },
    passwordMinLength: e.PASSWORD_MIN_LENGTH,
  } satisfies Config;
}

/**
 * Development only: a random secret kept in DATA_DIR so restarts keep cookies and encrypted data readable.
 * Written to a temporary file and linked into place (exclusive), so two processes starting together on a
 * fresh DATA_DIR end up with the same secret and neither reads a half-written one.
 */
function readOrCreateDevSecret(dataDir: string): string {
  const file = join(dataDir, 'secret');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const secret = randomBytes(32).toString('base64url');
  const temporary = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
  writeFileSync(temporary, secret + '\n', { flag: 'wx', mode: 0o600 });
  try {
    linkSync(temporary, file);
    return secret;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return readFileSync(file, 'utf8').trim();
  } finally {
    rmSync(temporary, { force: true });
  }
}
