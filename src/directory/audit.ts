// Audit trail: who did what to which target, written in the same transaction as the change.
import type { Knex } from 'knex';

/** Who acts: a machine credential (by its kind and id), a member, or the system (the operator CLI). */
export type Actor = { type: 'scim_token' | 'api_key' | 'user' | 'system'; id: string | null };

export type AuditEntry = {
  orgId: string;
  actor: Actor;
  action: string;
  targetType: string;
  targetId: string;
  details?: Record<string, unknown>;
};

export async function recordAudit(trx: Knex, entry: AuditEntry): Promise<void> {
  await trx('audit_events').insert({
    org_id: entry.orgId,
    actor_type: entry.actor.type,
    actor_id: entry.actor.id,
    action: entry.action,
    target_type: entry.targetType,
    target_id: entry.targetId,
    details: JSON.stringify(entry.details ?? {}),
  });
}
