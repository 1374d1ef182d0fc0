// Sessions of an account in one organisation. Revocation is immediate and reaches what the OIDC provider
// issued under the session: a session row knows its grants (session_grants), and every token the provider
// stores (oidc_payloads) carries its grant id, so revoking the session deletes those tokens in the same
// transaction. A revoked session is never honoured again.
import type { Knex } from 'knex';

/** Revokes every live session of the account in this organisation and deletes their grants' tokens. */
export async function revokeSessions(trx: Knex, who: { orgId: string; accountId: string }): Promise<number> {
  const revoked: { id: string }[] = await trx('sessions')
    .where({ org_id: who.orgId, account_id: who.accountId })
    .whereNull('revoked_at')
    .update({ revoked_at: trx.fn.now() })
    .returning('id');
  if (revoked.length === 0) return 0;
  const grants = trx('session_grants').where('org_id', who.orgId).whereIn('session_id', revoked.map((r) => r.id)).select('grant_id');
  await trx('oidc_payloads').whereIn('grant_id', grants).delete();
  return revoked.length;
}
