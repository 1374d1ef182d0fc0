// The roster: an organisation's members and pending invitations as its admins see them, searched by name or
// e-mail (one trigram index), filtered by status and role, paged by a cursor over (created, id). One
// statement per page of members (its total and each member's groups, sessions, identities and factors, set-based)
// and one for pending invitations, whatever the size of the organisation.
import type { Knex } from 'knex';
import { Invalid, NotFound } from './errors.ts';
import { isUuid, reuse } from './predicate.ts';

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

/**
 * The members of `page` (a CTE of member ids and creation times, in order) with everything the roster shows,
 * set-based: one pass over each related table for the whole page, never a subquery per row.
 */
const memberDetails = `
  g as (select gm.membership_id,
      json_agg(json_build_object('role', g.role, 'groupId', g.id, 'groupName', g.display_name) order by g.display_name) filter (where g.role is not null) as granted_roles,
      json_agg(json_build_object('id', g.id, 'name', g.display_name) order by g.display_name) as groups
    from group_members gm join groups g on g.org_id = gm.org_id and g.id = gm.group_id
    where gm.org_id = :org and gm.membership_id in (select id from page) group by gm.membership_id),
  pa as (select account_id from page),
  s as (select s.account_id, max(s.created_at) as last_sign_in_at, max(s.last_active_at) as last_active_at
    from sessions s where s.org_id = :org and s.account_id in (select account_id from pa) group by s.account_id),
  i as (select account_id, json_agg(distinct provider) as identities from identities
    where org_id = :org and account_id in (select account_id from pa) group by account_id),
  f as (select account_id, json_agg(distinct kind) as mfa_methods from mfa_factors
    where confirmed_at is not null and account_id in (select account_id from pa) group by account_id),
  details as (
    select 'member' as kind, m.id, m.account_id, coalesce(m.display_name, m.name_formatted, nullif(trim(concat_ws(' ', m.given_name, m.family_name)), '')) as name,
      a.email, coalesce((select p->>'value' from jsonb_array_elements(m.phone_numbers) p where p->>'primary' = 'true' limit 1), m.phone_numbers->0->>'value') as phone,
      m.role, m.status, a.managed_by_org_id = m.org_id as managed, m.created_at, m.deactivated_at, m.deactivated_by_type, m.deactivated_by_id,
      null::timestamptz as expires_at, coalesce(g.granted_roles, '[]'::json) as granted_roles, coalesce(g.groups, '[]'::json) as groups,
      coalesce(i.identities, '[]'::json) as identities, coalesce(f.mfa_methods, '[]'::json) as mfa_methods, s.last_sign_in_at, s.last_active_at
    from page p join memberships m on m.org_id = :org and m.id = p.id join accounts a on a.id = m.account_id
      left join g on g.membership_id = m.id left join s on s.account_id = m.account_id left join i on i.account_id = m.account_id left join f on f.account_id = m.account_id)`;

const invitationColumns = `'invitation' as kind, i.id, null::uuid as account_id, null as name, i.email, null as phone, i.role, 'invited' as status, false as managed,
    i.created_at, null::timestamptz as deactivated_at, null as deactivated_by_type, null as deactivated_by_id, i.expires_at,
    '[]'::json as granted_roles, '[]'::json as groups, '[]'::json as identities, '[]'::json as mfa_methods,
    null::timestamptz as last_sign_in_at, null::timestamptz as last_active_at`;

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
  const size = q.limit + 1;
  const keyset = after ? 'where (created_at, id) > (:at::timestamptz, :after::uuid)' : '';
  const binds: Record<string, Knex.RawBinding> = { org: q.orgId, size, ...(after ? { at: after.at, after: after.id } : {}), ...(search ? { search } : {}), ...(q.role ? { role: q.role } : {}) };
  const wantMembers = q.status !== 'invited';
  const wantInvitations = q.status === undefined || q.status === 'invited';
  const memberWhere = ['m.org_id = :org', ...(q.status ? ['m.status = :status'] : []), ...(q.role ? ['m.role = :role'] : []), ...(search ? ["m.search_text like :search escape '\\'"] : [])];
  const invitationWhere = ['i.org_id = :org', "i.status = 'pending'", 'i.expires_at > now()', ...(q.role ? ['i.role = :role'] : []), ...(search ? ["lower(i.email) like :search escape '\\'"] : [])];
  // One statement for the members' page (their ids) and both totals. A search reads its matches once (one
  // trigram index scan) for the page and the total; otherwise the page walks the (org, created, id) index
  // past the cursor and the total is an index-only count. Its texts are a bounded set: prepared once.
  const { rows: found } = await reuse(db.raw(
    `with ${wantMembers ? `matched as ${search ? 'materialized ' : ''}(select m.id, m.created_at from memberships m where ${memberWhere.join(' and ')}),` : ''}
      invited as (select i.id from invitations i where ${wantInvitations ? invitationWhere.join(' and ') : 'false'})
    select ${wantMembers ? '(select count(*) from matched)' : '0'} as members, (select count(*) from invited) as invited, p.id
    from (select 1) one left join (${wantMembers ? `select id, created_at from matched ${keyset} order by created_at, id limit :size` : 'select null::uuid as id, null::timestamptz as created_at where false'}) p on true`,
    { ...binds, ...(q.status ? { status: q.status } : {}) },
  ));
  const invitedTotal = Number(found[0].invited);
  const ids = found.map((r: { id: string | null }) => r.id).filter((id: string | null): id is string => id !== null);
  const rows: Row[] = ids.length ? await memberRows(db, q.orgId, ids) : [];
  // Pending invitations are read only when there are some to show.
  if (invitedTotal > 0) {
    const { rows: invitations } = await reuse(db.raw(
      `select ${invitationColumns} from invitations i where ${invitationWhere.join(' and ')} ${keyset ? `and ${keyset.slice(6).replace(/created_at, id/, 'i.created_at, i.id')}` : ''}
      order by i.created_at, i.id limit :size`,
      binds,
    ));
    rows.push(...invitations);
  }
  const total = Number(found[0].members) + invitedTotal;
  // Members and invitations, merged in (created, id) order: the page and whether there is more.
  rows.sort((x, y) => new Date(x.created_at).getTime() - new Date(y.created_at).getTime() || (x.id < y.id ? -1 : x.id > y.id ? 1 : 0));
  const items = rows.slice(0, q.limit).map(toEntry);
  const last = items[items.length - 1];
  return { items, total, nextCursor: rows.length > q.limit && last ? encodeCursor(last.joinedAt, last.id) : null };
}

/** The members with these ids, with everything the roster shows (one statement, planned once per connection). */
async function memberRows(db: Knex, orgId: string, ids: string[]): Promise<Row[]> {
  const { rows } = await reuse(db.raw(
    `with page as (select id, account_id, created_at from memberships where org_id = :org and id = any(:ids::uuid[])), ${memberDetails} select * from details`,
    { org: orgId, ids },
  ));
  return rows;
}

/** One member as the roster shows them. */
export async function getRosterMember(db: Knex, q: { orgId: string; memberId: string }): Promise<RosterEntry> {
  const missing = new NotFound(`no member ${q.memberId} in this organisation`, { field: 'memberId', rule: 'member_not_found' });
  if (!isUuid(q.memberId)) throw missing;
  const rows = await memberRows(db, q.orgId, [q.memberId]);
  if (!rows[0]) throw missing;
  return toEntry(rows[0]);
}
