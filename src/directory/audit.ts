// Audit trail: who did what to which target, written in the same transaction as the change.
import type { Knex } from 'knex';

export type Actor = { type: 'scim_token' | 'api_key' | 'user' | 'system'; id: string | null };

export type AuditEntry = {
  action: string;
  targetType: string;
  targetId: string;
  details?: Record<string, unknown>;
};

export async function recordAudit(trx: Knex, orgId: string, actor: Actor, entry: AuditEntry): Promise<void> {
  await trx('audit_events').insert({
    org_id: orgId,
    actor_type: actor.type,
    actor_id: actor.id,
    action: entry.action,
    target_type: entry.targetType,
    target_id: entry.targetId,
    details: JSON.stringify(entry.details ?? {}),
  });
}
