// The OpenID Connect provider's signing keys: RS256 (what relying parties expect by default), generated on
// first start, the private part sealed at rest. The newest active key signs; rotation adds a key and keeps
// the old one published until every token it signed has expired, then stops publishing it.
import { generateKeyPair, randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import type { Knex } from 'knex';
import { Invalid } from './errors.ts';
import type { Sealer } from './sealing.ts';

const generate = promisify(generateKeyPair);

export type Jwk = Record<string, unknown> & { kid: string; alg: string; use: 'sig' };

/**
 * How long a rotated-out key stays published: longer than anything the provider signs lives (ID tokens: an
 * hour; JWT access tokens and logout tokens: less), with room for clocks and caches.
 */
export const KEEP_PUBLISHED_SECONDS = 24 * 3600;

const sealContext = (kid: string) => `signing_key:${kid}`;

async function newKey(trx: Knex, sealer: Sealer): Promise<string> {
  const { privateKey, publicKey } = await generate('rsa', { modulusLength: 2048 });
  const kid = randomUUID();
  const meta = { kid, alg: 'RS256', use: 'sig' as const };
  await trx('signing_keys').insert({
    kid, alg: meta.alg,
    public_jwk: JSON.stringify({ ...publicKey.export({ format: 'jwk' }), ...meta }),
    private_jwk_sealed: sealer.seal(JSON.stringify({ ...privateKey.export({ format: 'jwk' }), ...meta }), sealContext(kid)),
  });
  return kid;
}

/** One writer at a time (two instances starting together must not both create the first key). */
const lockKeys = (trx: Knex) => trx.raw('lock table signing_keys in share row exclusive mode');

/** Creates the first signing key when there is none active. Returns whether it created one. */
export async function ensureSigningKey(db: Knex, sealer: Sealer): Promise<boolean> {
  if (await db('signing_keys').whereNull('retired_at').first('kid')) return false;
  return db.transaction(async (trx) => {
    await lockKeys(trx);
    if (await trx('signing_keys').whereNull('retired_at').first('kid')) return false;
    await newKey(trx, sealer);
    return true;
  });
}

/**
 * Adds a new signing key, which signs from now on; the keys it replaces stay published for
 * KEEP_PUBLISHED_SECONDS. Keys whose time is over are deleted.
 */
export async function rotateSigningKey(db: Knex, sealer: Sealer): Promise<{ kid: string; retired: string[] }> {
  return db.transaction(async (trx) => {
    await lockKeys(trx);
    await trx('signing_keys').where('unpublish_at', '<', trx.fn.now()).delete();
    const retired: { kid: string }[] = await trx('signing_keys').whereNull('retired_at')
      .update({ retired_at: trx.fn.now(), unpublish_at: trx.raw('now() + make_interval(secs => ?)', [KEEP_PUBLISHED_SECONDS]) })
      .returning('kid');
    const kid = await newKey(trx, sealer);
    return { kid, retired: retired.map((r) => r.kid) };
  });
}

type KeyRow = { kid: string; public_jwk: Jwk; private_jwk_sealed: string; retired_at: Date | null };

const publishedKeys = (db: Knex) => db('signing_keys')
  .where((q) => q.whereNull('unpublish_at').orWhere('unpublish_at', '>', db.fn.now()))
  // The signing key first (active, newest), then the retired ones: the provider signs with the first.
  .orderByRaw('retired_at is not null, created_at desc');

/** The private keys the provider holds: the one that signs first, then those still published. */
export async function providerSigningKeys(db: Knex, sealer: Sealer): Promise<Jwk[]> {
  const rows = (await publishedKeys(db).select('kid', 'private_jwk_sealed')) as KeyRow[];
  return rows.map((r) => {
    let plain: string;
    try {
      plain = sealer.open(r.private_jwk_sealed, sealContext(r.kid));
    } catch {
      throw new Invalid(`the OIDC signing key ${r.kid} cannot be opened with this SECRET: SECRET must stay the one the keys were created with`, { field: 'SECRET', rule: 'cannot_open' });
    }
    return JSON.parse(plain) as Jwk;
  });
}

/** The public keys to publish (JWKS), with when each stops being published. */
export async function listSigningKeys(db: Knex): Promise<{ kid: string; alg: string; active: boolean; createdAt: Date; unpublishAt: Date | null }[]> {
  const rows = await publishedKeys(db).select('kid', 'alg', 'created_at', 'retired_at', 'unpublish_at');
  return rows.map((r) => ({ kid: r.kid, alg: r.alg, active: r.retired_at === null, createdAt: new Date(r.created_at), unpublishAt: r.unpublish_at ? new Date(r.unpublish_at) : null }));
}
