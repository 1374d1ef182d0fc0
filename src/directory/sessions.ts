// Sessions of an account in one organisation. Revocation is immediate and reaches what the OIDC provider
// issued under the session: a session row knows its grants (session_grants), and every token the provider
// stores carries its grant id, so revoking the session deletes those tokens and grants in the same
// transaction (through oidc-store.ts, the one module that touches the provider's storage). A revoked
// session is never honoured again.
import type { Knex } from 'knex';
import { revokeGrants } from './oidc-store.ts';

/** Revokes every live session of the account in this organisation and deletes their grants' tokens. */
export async function revokeSessions(trx: Knex, who: { orgId: string; accountId: string }): Promise<number> {
  const revoked: { id: string }[] = await trx('sessions')
    .where({ org_id: who.orgId, account_id: who.accountId })
    .whereNull('revoked_at')
    .update({ revoked_at: trx.fn.now() })
    .returning('id');
  if (revoked.length === 0) return 0;
  await revokeGrants(trx, trx('session_grants').where('org_id', who.orgId).whereIn('session_id', revoked.map((r) => r.id)).select('grant_id'));
  return revoked.length;
}
