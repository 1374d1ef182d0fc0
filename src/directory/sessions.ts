// Sessions of an account in one organisation. Revocation is immediate and reaches what the OIDC provider
// issued under the session: a session row knows its grants (session_grants), and every token the provider
// stores carries its grant id, so revoking the session deletes those tokens and grants in the same
// transaction (through oidc-store.ts, the one module that touches the provider's storage). A revoked
// session is never honoured again.
import type { Knex } from 'knex';
import type { Actor } from './audit.ts';
import { type AuthEventReason, recordAuthEvent } from './auth-events.ts';
import { revokeGrants } from './oidc-store.ts';

/**
 * Revokes every live session of the account in this organisation and deletes their grants' tokens. The rows
 * stay, with when, why and by whom (the activity views and auditors read them), and each revocation is an
 * auth event.
 */
export async function revokeSessions(
  trx: Knex,
  who: { orgId: string; accountId: string; reason: AuthEventReason; by: Actor },
): Promise<number> {
  const revoked: { id: string; client_id: string | null; device: string | null }[] = await trx('sessions')
    .where({ org_id: who.orgId, account_id: who.accountId })
    .whereNull('revoked_at')
    .update({ revoked_at: trx.fn.now(), revoked_reason: who.reason, revoked_by: `${who.by.type}:${who.by.id ?? ''}` })
    .returning(['id', 'client_id', 'device']);
  if (revoked.length === 0) return 0;
  for (const s of revoked) {
    await recordAuthEvent(trx, { orgId: who.orgId, accountId: who.accountId, type: 'session_revoked', outcome: 'success', reason: who.reason, clientId: s.client_id, device: s.device });
  }
  await revokeGrants(trx, trx('session_grants').where('org_id', who.orgId).whereIn('session_id', revoked.map((r) => r.id)).select('grant_id'));
  return revoked.length;
}
