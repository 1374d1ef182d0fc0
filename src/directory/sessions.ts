// Sessions of an account in one organisation. Revocation is immediate: a revoked session is never honoured.
import type { Knex } from 'knex';

export async function revokeSessions(trx: Knex, orgId: string, accountId: string): Promise<number> {
  return trx('sessions')
    .where({ org_id: orgId, account_id: accountId })
    .whereNull('revoked_at')
    .update({ revoked_at: trx.fn.now() });
}
