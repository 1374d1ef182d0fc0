// Audit trail: who did what to which target, written in the same transaction as the change.
import type { Knex } from 'knex';

/** Who acts: a machine credential (by its kind and id), a member, or the system (the operator CLI); and from where (the client's address). */
export type Actor = { type: 'scim_token' | 'api_key' | 'user' | 'system'; id: string | null; ip?: string | null };

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
    ip: entry.actor.ip ?? null,
  });
}

export type AuditEvent = { id: number; actor: Actor & { ip: string | null }; action: string; targetType: string | null; targetId: string | null; details: Record<string, unknown>; createdAt: Date };

/** One page of the organisation's audit log, newest first; `before` (an event id) continues a page. One indexed query. */
export async function listAuditEvents(
  db: Knex,
  q: { orgId: string; limit: number; before?: number; actorId?: string; action?: string; targetId?: string; since?: Date },
): Promise<{ events: AuditEvent[]; nextBefore: number | null; total: number }> {
  const matching = db('audit_events').where({ org_id: q.orgId });
  if (q.actorId !== undefined) matching.where({ actor_id: q.actorId });
  if (q.action !== undefined) matching.where({ action: q.action });
  if (q.targetId !== undefined) matching.where({ target_id: q.targetId });
  if (q.since !== undefined) matching.where('created_at', '>=', q.since);
  const [{ n }] = await matching.clone().count({ n: '*' });
  const query = matching.orderBy([{ column: 'created_at', order: 'desc' }, { column: 'id', order: 'desc' }]).limit(q.limit + 1);
  if (q.before !== undefined) {
    query.whereRaw('(created_at, id) < (select created_at, id from audit_events where org_id = ? and id = ?)', [q.orgId, q.before]);
  }
  const rows = await query;
  const page = rows.slice(0, q.limit);
  return {
    events: page.map((r) => ({
      id: Number(r.id), actor: { type: r.actor_type, id: r.actor_id, ip: r.ip ?? null }, action: r.action, targetType: r.target_type, targetId: r.target_id,
      details: typeof r.details === 'string' ? JSON.parse(r.details) : r.details, createdAt: new Date(r.created_at),
    })),
    nextBefore: rows.length > q.limit ? Number(page[page.length - 1].id) : null,
    total: Number(n),
  };
}
