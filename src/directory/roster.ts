// The roster: an organisation's members and pending invitations as its admins see them, searched by name or
// e-mail (one trigram index), filtered by status and role, paged by a cursor over (created, id). One
// statement per page, whatever the size of the organisation; the total is one more indexed count.
import type { Knex } from 'knex';
import { Invalid, NotFound } from './errors.ts';
import { isUuid } from './predicate.ts';

export type RosterStatus = 'active' | 'deactivated' | 'invited';

export type RosterEntry = {
  id: string;
  /** A member, or a pending invitation (status `invited`: `id` is the invitation's). */
  kind: 'member' | 'invitation';
  accountId: string | null;
  name: string | null;
  email: string;
  phone: string | null;
  role: string;
  /** Roles the member's groups grant besides their own, each with the group. */
  grantedRoles: { role: string; groupId: string; groupName: string }[];
  status: RosterStatus;
  /** Upstream identities linked to the account (the identity provider's issuer). */
  identities: { provider: string }[];
  mfaMethods: string[];
  /** This organisation manages the account: it may edit the profile and reset the password or MFA. */
  managed: boolean;
  groups: { id: string; name: string }[];
  joinedAt: Date;
  lastSignInAt: Date | null;
  lastActiveAt: Date | null;
  deactivatedAt: Date | null;
  deactivatedBy: { type: string; id: string | null } | null;
  /** For an invitation: when it lapses. */
  expiresAt?: Date;
};

export type RosterQuery = { orgId: string; search?: string; status?: RosterStatus; role?: string; limit: number; cursor?: string };

/** A cursor is the (created, id) of the last row of a page, opaque to the caller. */
export function encodeCursor(createdAt: Date, id: string): string {
  return Buffer.from(`${createdAt.toISOString()}|${id}`).toString('base64url');
}

function decodeCursor(cursor: string): { at: string; id: string } {
  const [at, id] = Buffer.from(cursor, 'base64url').toString().split('|');
  if (!id || !isUuid(id) || !isIsoInstant(at)) throw new Invalid('cursor is the nextCursor of a previous page', { field: 'cursor', rule: 'malformed' });
  return { at, id };
}

/** Exactly the form toISOString() writes (what a cursor holds): nothing else reaches SQL as a timestamp. */
export const isIsoInstant = (s: string | undefined): s is string =>
  typeof s === 'string' && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/.test(s) && !Number.isNaN(Date.parse(s)) && new Date(s).toISOString() === s;

/** A search term as a LIKE pattern: its wildcards taken literally. */
const containing = (term: string) => `%${term.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

const memberSelect = `
  select 'member' as kind, m.id, m.account_id, coalesce(m.display_name, m.name_formatted, nullif(trim(concat_ws(' ', m.given_name, m.family_name)), '')) as name,
    a.email, coalesce((select p->>'value' from jsonb_array_elements(m.phone_numbers) p where p->>'primary' = 'true' limit 1), m.phone_numbers->0->>'value') as phone, m.role, m.status, a.managed_by_org_id = m.org_id as managed, m.created_at, m.deactivated_at, m.deactivated_by_type, m.deactivated_by_id,
    null::timestamptz as expires_at,
    (select coalesce(json_agg(json_build_object('role', g.role, 'groupId', g.id, 'groupName', g.display_name) order by g.display_name), '[]'::json)
       from group_members gm join groups g on g.org_id = gm.org_id and g.id = gm.group_id
       where gm.org_id = m.org_id and gm.membership_id = m.id and g.role is not null) as granted_roles,
    (select coalesce(json_agg(json_build_object('id', g.id, 'name', g.display_name) order by g.display_name), '[]'::json)
       from group_members gm join groups g on g.org_id = gm.org_id and g.id = gm.group_id
       where gm.org_id = m.org_id and gm.membership_id = m.id) as groups,
    (select coalesce(json_agg(distinct i.provider), '[]'::json) from identities i where i.account_id = m.account_id and i.org_id = m.org_id) as identities,
    (select coalesce(json_agg(distinct f.kind), '[]'::json) from mfa_factors f where f.account_id = m.account_id and f.confirmed_at is not null) as mfa_methods,
    (select max(s.created_at) from sessions s where s.org_id = m.org_id and s.account_id = m.account_id) as last_sign_in_at,
    (select max(s.last_active_at) from sessions s where s.org_id = m.org_id and s.account_id = m.account_id) as last_active_at
  from memberships m join accounts a on a.id = m.account_id`;

const invitationSelect = `
  select 'invitation' as kind, i.id, null::uuid as account_id, null as name, i.email, null as phone, i.role, 'invited' as status, false as managed,
    i.created_at, null::timestamptz as deactivated_at, null as deactivated_by_type, null as deactivated_by_id, i.expires_at,
    '[]'::json as granted_roles, '[]'::json as groups, '[]'::json as identities, '[]'::json as mfa_methods,
    null::timestamptz as last_sign_in_at, null::timestamptz as last_active_at
  from invitations i`;

type Row = {
  kind: 'member' | 'invitation'; id: string; account_id: string | null; name: string | null; email: string; phone: string | null; role: string;
  status: RosterStatus; managed: boolean | null; created_at: Date; deactivated_at: Date | null; deactivated_by_type: string | null; deactivated_by_id: string | null;
  expires_at: Date | null; granted_roles: RosterEntry['grantedRoles']; groups: RosterEntry['groups']; identities: string[]; mfa_methods: string[];
  last_sign_in_at: Date | null; last_active_at: Date | null;
};

const date = (d: Date | string | null) => (d === null ? null : new Date(d));

function toEntry(r: Row): RosterEntry {
  return {
    id: r.id, kind: r.kind, accountId: r.account_id, name: r.name, email: r.email, phone: r.phone, role: r.role,
    grantedRoles: r.granted_roles, status: r.status, identities: r.identities.map((provider) => ({ provider })), mfaMethods: r.mfa_methods,
    managed: Boolean(r.managed), groups: r.groups, joinedAt: new Date(r.created_at), lastSignInAt: date(r.last_sign_in_at), lastActiveAt: date(r.last_active_at),
    deactivatedAt: date(r.deactivated_at), deactivatedBy: r.deactivated_by_type ? { type: r.deactivated_by_type, id: r.deactivated_by_id } : null,
    ...(r.expires_at ? { expiresAt: new Date(r.expires_at) } : {}),
  };
}

/**
 * One page of the roster, oldest first, and the total of what the query selects. Members come from
 * `memberships` (search: the trigram index over their names, user name and e-mails), pending invitations
 * that have not lapsed from `invitations` (search: their e-mail).
 */
export async function listRoster(db: Knex, q: RosterQuery): Promise<{ items: RosterEntry[]; total: number; nextCursor: string | null }> {
  const search = q.search?.trim() ? containing(q.search.trim()) : null;
  const after = q.cursor ? decodeCursor(q.cursor) : null;
  const wantMembers = q.status !== 'invited';
  const wantInvitations = q.status === undefined || q.status === 'invited';
  const parts: { sql: string; count: string; bindings: Knex.RawBinding[] }[] = [];
  if (wantMembers) {
    const where = ['m.org_id = ?'];
    const bindings: Knex.RawBinding[] = [q.orgId];
    if (q.status) { where.push('m.status = ?'); bindings.push(q.status); }
    if (q.role) { where.push('m.role = ?'); bindings.push(q.role); }
    if (search) { where.push("m.search_text like ? escape '\\'"); bindings.push(search); }
    parts.push({ sql: `${memberSelect} where ${where.join(' and ')}`, count: `select count(*) from memberships m where ${where.join(' and ')}`, bindings });
  }
  if (wantInvitations) {
    const where = ["i.org_id = ?", "i.status = 'pending'", 'i.expires_at > now()'];
    const bindings: Knex.RawBinding[] = [q.orgId];
    if (q.role) { where.push('i.role = ?'); bindings.push(q.role); }
    if (search) { where.push("lower(i.email) like ? escape '\\'"); bindings.push(search); }
    parts.push({ sql: `${invitationSelect} where ${where.join(' and ')}`, count: `select count(*) from invitations i where ${where.join(' and ')}`, bindings });
  }
  // Each part walks its own (org, created, id) index past the cursor and stops at the page size.
  const page = (p: (typeof parts)[number]) => {
    const alias = p.sql.includes('from invitations i') ? 'i' : 'm';
    const keyset = after ? ` and (${alias}.created_at, ${alias}.id) > (?::timestamptz, ?::uuid)` : '';
    return { sql: `(${p.sql}${keyset} order by ${alias}.created_at, ${alias}.id limit ?)`, bindings: [...p.bindings, ...(after ? [after.at, after.id] : []), q.limit + 1] };
  };
  const pages = parts.map(page);
  const { rows } = await db.raw(
    `select * from (${pages.map((p) => p.sql).join(' union all ')}) r order by r.created_at, r.id limit ?`,
    [...pages.flatMap((p) => p.bindings), q.limit + 1],
  );
  const counted = await db.raw(`select ${parts.map((p) => `(${p.count})`).join(' + ')} as n`, parts.flatMap((p) => p.bindings));
  const items = (rows as Row[]).slice(0, q.limit).map(toEntry);
  const last = items[items.length - 1];
  return { items, total: Number(counted.rows[0].n), nextCursor: rows.length > q.limit && last ? encodeCursor(last.joinedAt, last.id) : null };
}

/** One member as the roster shows them. */
export async function getRosterMember(db: Knex, q: { orgId: string; memberId: string }): Promise<RosterEntry> {
  const missing = new NotFound(`no member ${q.memberId} in this organisation`, { field: 'memberId', rule: 'member_not_found' });
  if (!isUuid(q.memberId)) throw missing;
  const { rows } = await db.raw(`${memberSelect} where m.org_id = ? and m.id = ?`, [q.orgId, q.memberId]);
  if (!rows[0]) throw missing;
  return toEntry(rows[0]);
}
