// The OpenID Connect provider's storage in PostgreSQL: the seven-method adapter contract of oidc-provider
// (upsert, find, findByUid, findByUserCode, consume, destroy, revokeByGrantId; see its memory adapter), one
// row per model instance in `oidc_payloads`. Nothing else reads or writes that table: sessions revoke what
// was issued under them through `revokeGrants`, here.
//
// Expiry is the database's clock (every instance agrees); an expired payload is never found. A consumed
// payload (an authorization code, a rotated refresh token) is found with `consumed` set, which the provider
// refuses, and which lets it detect a replay and revoke the grant.
import type { Knex } from 'knex';
import { reuse } from './predicate.ts';
import { hashSecret } from './tokens.ts';

export type OidcPayload = Record<string, unknown> & { grantId?: string; uid?: string; userCode?: string; sessionUid?: string };

/** Models that belong to a grant: revoking the grant removes them (as in oidc-provider's memory adapter). */
const grantable = new Set(['AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest', 'PreAuthorizedCode']);

/**
 * Models whose id is a bearer secret (the token itself, for opaque tokens): stored as a SHA-256 of it, and
 * without the `jti` copy in the payload, so that reading the database gives no usable token. A token has 256
 * random bits; a fast hash is enough.
 */
const bearer = new Set(['AccessToken', 'RefreshToken', 'AuthorizationCode', 'ClientCredentials', 'DeviceCode', 'BackchannelAuthenticationRequest']);

type Row = { payload: OidcPayload; consumed_at: Date | string | null };

const epoch = (d: Date | string) => Math.floor(new Date(d).getTime() / 1000);

function payloadOf(row: Row | undefined): OidcPayload | undefined {
  if (!row) return undefined;
  return row.consumed_at ? { ...row.payload, consumed: epoch(row.consumed_at) } : row.payload;
}

/** One model's storage: what oidc-provider calls `new Adapter(name)`. */
export class OidcModelStore {
  readonly db: Knex;
  readonly model: string;

  constructor(db: Knex, model: string) {
    this.db = db;
    this.model = model;
  }

  /** The row id of a model instance: the hash of a bearer secret, the id itself otherwise. */
  private key(id: string): string {
    return bearer.has(this.model) ? `sha256:${hashSecret(id)}` : id;
  }

  /** A live (unexpired) row of this model matching `where`. */
  private async findWhere(where: Record<string, string>): Promise<OidcPayload | undefined> {
    const row = await reuse(this.db('oidc_payloads')
      .where({ model: this.model, ...where })
      .where((q) => q.whereNull('expires_at').orWhere('expires_at', '>', this.db.fn.now()))
      .first('payload', 'consumed_at'));
    return payloadOf(row as Row | undefined);
  }

  async upsert(id: string, payload: OidcPayload, expiresIn?: number): Promise<void> {
    const expiresAt = typeof expiresIn === 'number' ? this.db.raw('now() + make_interval(secs => ?)', [expiresIn]) : null;
    const stored = bearer.has(this.model) ? { ...payload, jti: undefined } : payload;
    const row = {
      model: this.model, id: this.key(id), payload: JSON.stringify(stored),
      grant_id: grantable.has(this.model) ? (payload.grantId ?? null) : null,
      session_uid: payload.sessionUid ?? null,
      uid: this.model === 'Session' ? (payload.uid ?? null) : null,
      user_code: payload.userCode ?? null,
      expires_at: expiresAt,
      consumed_at: null,
    };
    await reuse(this.db('oidc_payloads').insert(row).onConflict(['model', 'id']).merge());
  }

  async find(id: string): Promise<OidcPayload | undefined> {
    const payload = await this.findWhere({ id: this.key(id) });
    return payload && bearer.has(this.model) ? { ...payload, jti: id } : payload;
  }

  findByUid(uid: string): Promise<OidcPayload | undefined> {
    return this.findWhere({ uid });
  }

  findByUserCode(userCode: string): Promise<OidcPayload | undefined> {
    return this.findWhere({ user_code: userCode });
  }

  async consume(id: string): Promise<void> {
    await this.consumeOnce(id);
  }

  /**
   * Marks the payload consumed unless it already is: true for the one caller that consumed it. Two instances
   * redeeming one code or refresh token at once both pass the provider's "not consumed yet" check; only one
   * gets true here (the row lock decides).
   */
  async consumeOnce(id: string): Promise<boolean> {
    const n = await this.db('oidc_payloads').where({ model: this.model, id: this.key(id) }).whereNull('consumed_at').update({ consumed_at: this.db.fn.now() });
    return n === 1;
  }

  async destroy(id: string): Promise<void> {
    await this.db('oidc_payloads').where({ model: this.model, id: this.key(id) }).delete();
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    await revokeGrants(this.db, [grantId]);
  }
}

/** The adapter class oidc-provider takes (`adapter` in its configuration), bound to a database. */
export function oidcAdapter(db: Knex): new (model: string) => OidcModelStore {
  return class extends OidcModelStore {
    constructor(model: string) {
      super(db, model);
    }
  };
}

/** Deletes everything issued under these grants (tokens, codes) and the grants themselves. */
export async function revokeGrants(trx: Knex, grantIds: string[] | Knex.QueryBuilder): Promise<number> {
  return trx('oidc_payloads')
    .where((q) => q.whereIn('grant_id', grantIds).orWhere((g) => g.where('model', 'Grant').whereIn('id', grantIds)))
    .delete();
}

/** Deletes the provider's browser sessions with these uids: the browser must sign in again. */
export async function endBrowserSessions(trx: Knex, uids: string[] | Knex.QueryBuilder): Promise<number> {
  return trx('oidc_payloads').where({ model: 'Session' }).whereIn('uid', uids).delete();
}

/** Deletes everything issued to a client (tokens, codes, grants): a revoked client's tokens stop at once. */
export async function revokeClientTokens(trx: Knex, clientId: string): Promise<number> {
  // A scan of the provider's storage: revoking a client is rare, and the sweeper keeps the table to what is live.
  return trx('oidc_payloads').whereRaw("payload->>'clientId' = ?", [clientId]).delete();
}

/**
 * Removes up to `batch` expired payloads (they are never found; this only reclaims the space), in one short
 * statement so that it never holds many row locks for long. Returns how many it removed.
 */
export async function deleteExpiredOidcPayloads(db: Knex, opts: { batch?: number } = {}): Promise<number> {
  return db('oidc_payloads')
    .whereRaw('ctid in (select ctid from oidc_payloads where expires_at < now() limit ?)', [opts.batch ?? 5000])
    .delete();
}
