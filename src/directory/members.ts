// Members: an organisation's view of a person (the SCIM User). Every query is scoped by org_id.
import { isDeepStrictEqual } from 'node:util';
import type { Knex } from 'knex';
import {
  type AccountProfile,
  findOrCreateAccount,
  getAccountForUpdate,
  refreshAccountStatus,
  releaseAccount,
  updateManagedAccount,
} from './accounts.ts';
import { hashPassword } from './passwords.ts';
import { type Actor, recordAudit } from './audit.ts';
import { checkLength, checkName, Conflict, Forbidden, LimitReached, NotFound, PreconditionFailed, uniqueViolation } from './errors.ts';
import { compilePredicate, compileSort, isSingleComparison, isUuid, type Predicate, reuse, type Sort, type TableMap, totalOf } from './predicate.ts';
import { revokeSessions } from './sessions.ts';

export type MemberInput = {
  userName: string;
  externalId: string | null;
  displayName: string | null;
  active: boolean;
  /** Everything else the organisation keeps about the person (names, e-mails, extension attributes...). */
  profile: Record<string, unknown>;
  /** The sign-in view derived from the profile; it reaches the account only from its managing organisation. */
  account: AccountProfile;
};

/** Write-only credentials that come with a change: applied only to accounts this organisation manages. */
export type Credentials = { password?: string };

export type Member = Omit<MemberInput, 'account'> & {
  id: string;
  orgId: string;
  accountId: string;
  role: string;
  version: number;
  createdAt: Date;
  updatedAt: Date;
  groups?: { id: string; displayName: string }[];
};

export type ListQuery = {
  where?: Predicate; sort?: Sort; offset: number; limit: number; withGroups?: boolean;
  /** A credential id to re-check in the same statement: the page is only good if it is still active. */
  verifyToken?: string;
};
export type Precondition = { ifMatch?: number };

export const memberTable = (knex: Knex): TableMap => ({
  alias: 'm',
  columns: { id: 'id', userName: 'user_name', externalId: 'external_id', displayName: 'display_name', created: 'created_at', lastModified: 'updated_at' },
  statusBoolean: { active: 'status' },
  profile: 'profile',
  relations: {
    group: (id) => knex.raw('exists (select 1 from group_members gm where gm.org_id = m.org_id and gm.membership_id = m.id and gm.group_id = ?)', [id]),
  },
  relationPresent: {
    group: () => knex.raw('exists (select 1 from group_members gm where gm.org_id = m.org_id and gm.membership_id = m.id)'),
  },
});

type Row = {
  id: string; org_id: string; account_id: string; role: string; status: string; user_name: string;
  external_id: string | null; display_name: string | null; profile: Record<string, unknown>; version: number;
  created_at: Date; updated_at: Date;
};

const memberColumns = ['m.id', 'm.org_id', 'm.account_id', 'm.role', 'm.status', 'm.user_name', 'm.external_id', 'm.display_name',
  'm.profile', 'm.version', 'm.created_at', 'm.updated_at'];

function toMember(r: Row): Member {
  return {
    id: r.id, orgId: r.org_id, accountId: r.account_id, role: r.role, active: r.status === 'active',
    userName: r.user_name, externalId: r.external_id, displayName: r.display_name, profile: r.profile ?? {},
    version: r.version, createdAt: new Date(r.created_at), updatedAt: new Date(r.updated_at),
  };
}

/** The member's groups, as one correlated subquery of the same statement (one round trip per page). */
const groupsColumn = (db: Knex) => db.raw(`(select coalesce(json_agg(json_build_object('id', g.id, 'displayName', g.display_name) order by g.display_name), '[]'::json)
  from group_members gm join groups g on g.org_id = gm.org_id and g.id = gm.group_id
  where gm.org_id = m.org_id and gm.membership_id = m.id) as groups`);

type RowWithGroups = Row & { groups?: { id: string; displayName: string }[] };
const withGroupsOf = (r: RowWithGroups): Member => ({ ...toMember(r), ...(r.groups ? { groups: r.groups } : {}) });

export async function getMember(db: Knex, orgId: string, id: string, opts: { withGroups?: boolean } = {}): Promise<Member> {
  if (!isUuid(id)) throw new NotFound(`user ${id} not found`);
  const q = db('memberships as m').where({ 'm.org_id': orgId, 'm.id': id }).first(memberColumns);
  if (opts.withGroups) q.select(groupsColumn(db));
  const row = (await reuse(q)) as RowWithGroups | undefined;
  if (!row) throw new NotFound(`user ${id} not found`);
  return withGroupsOf(row);
}

/** Past this offset a page's ids are picked first, so that skipped rows are never built. */
const DEEP_OFFSET = 500;

/**
 * One filtered, sorted page and the exact total, in one statement when the page tells the total (it is not
 * full) and two when it cannot. Deep pages pick their ids first with an index walk past the offset, then
 * read only those rows.
 */
export async function listMembers(db: Knex, orgId: string, query: ListQuery): Promise<{ total: number; members: Member[]; tokenActive?: boolean }> {
  const map = memberTable(db);
  const where = query.where ? compilePredicate(map, query.where, db) : null;
  const sort = query.sort ? compileSort(map, query.sort, db) : null;
  const ordered = (q: Knex.QueryBuilder): Knex.QueryBuilder => {
    if (sort) q.orderByRaw(sort);
    return q.orderBy([{ column: 'm.created_at' }, { column: 'm.id' }]);
  };
  const filtered = (q: Knex.QueryBuilder): Knex.QueryBuilder => (where ? q.whereRaw(where) : q);
  // Statements from a bounded set of texts (no filter, or one comparison: every lookup and import page
  // Okta and Entra make) are prepared once per connection.
  const bounded = !query.where || isSingleComparison(query.where);
  const prepared = (q: Knex.QueryBuilder) => (bounded ? reuse(q) : q);
  const count = async () => Number(((await prepared(filtered(db('memberships as m').where('m.org_id', orgId).count({ n: '*' })))) as { n: number }[])[0].n);
  if (query.limit === 0) return { total: await count(), members: [] };
  const q = db('memberships as m').where('m.org_id', orgId).select(memberColumns);
  if (query.withGroups) q.select(groupsColumn(db));
  if (query.verifyToken) {
    q.select(db.raw('exists (select 1 from scim_tokens t where t.id = ? and t.org_id = m.org_id and t.revoked_at is null) as token_active', [query.verifyToken]));
  }
  if (query.offset < DEEP_OFFSET) {
    ordered(filtered(q)).offset(query.offset).limit(query.limit);
  } else {
    const ids = ordered(filtered(db('memberships as m').where('m.org_id', orgId).select('m.id'))).offset(query.offset).limit(query.limit);
    ordered(q.whereIn('m.id', ids));
  }
  const rows = (await prepared(q)) as (RowWithGroups & { token_active?: boolean })[];
  // With no row, the statement could not tell whether the credential is active: the caller must check.
  const tokenActive = query.verifyToken && rows.length > 0 ? rows[0].token_active === true : undefined;
  if (tokenActive === false) return { total: 0, members: [], tokenActive };
  return { total: await totalOf(rows.length, query, count), members: rows.map(withGroupsOf), ...(query.verifyToken ? { tokenActive } : {}) };
}

/** With a licence limit, the organisation row is locked first, so that concurrent adds cannot both take the last seat. */
async function assertSeatAvailable(trx: Knex, orgId: string, role: string): Promise<void> {
  if (role === 'billing') return;
  const unlocked = await trx('organizations').where({ id: orgId }).first('license_limit');
  if (unlocked?.license_limit === null || unlocked?.license_limit === undefined) return;
  const org = await trx('organizations').where({ id: orgId }).forUpdate().first('license_limit');
  const [{ n }] = await trx('memberships').where({ org_id: orgId, status: 'active' }).whereNot({ role: 'billing' }).count({ n: '*' });
  if (Number(n) >= org.license_limit) throw new LimitReached(`the organisation's licence limit of ${org.license_limit} active members is reached`);
}

function mapUnique(err: unknown): never {
  const constraint = uniqueViolation(err);
  if (constraint === 'memberships_user_name_key') throw new Conflict('userName', 'userName is already taken in this organisation');
  if (constraint === 'memberships_account_key') throw new Conflict('userName', 'this person is already a member of the organisation');
  throw err;
}

function checkMemberInput(input: MemberInput): void {
  checkName('userName', input.userName);
  checkLength('externalId', input.externalId);
}

/**
 * Adds a person to the organisation. When the e-mail already has an account, the membership links to it and
 * changes nothing of it; otherwise the account is created and managed by this organisation.
 */
export async function createMember(db: Knex, orgId: string, actor: Actor, input: MemberInput, credentials: Credentials = {}): Promise<Member> {
  checkMemberInput(input);
  const passwordHash = credentials.password === undefined ? undefined : await hashPassword(credentials.password);
  const id = await db.transaction(async (trx) => {
    if (input.active) await assertSeatAvailable(trx, orgId, 'member');
    const { account } = await findOrCreateAccount(trx, orgId, input.account, { passwordHash });
    try {
      const [row] = await trx('memberships')
        .insert({
          org_id: orgId, account_id: account.id, status: input.active ? 'active' : 'deactivated',
          user_name: input.userName, external_id: input.externalId, display_name: input.displayName,
          profile: JSON.stringify(input.profile),
        })
        .returning('id');
      await refreshAccountStatus(trx, account.id);
      await recordAudit(trx, orgId, actor, { action: 'member.created', targetType: 'member', targetId: row.id, details: { userName: input.userName } });
      return row.id as string;
    } catch (err) {
      return mapUnique(err);
    }
  });
  return getMember(db, orgId, id, { withGroups: true });
}

/** Loads the member under a row lock, lets `change` compute the whole new state, persists it once. */
export async function updateMember(
  db: Knex, orgId: string, actor: Actor, id: string,
  change: (current: Member) => MemberInput, pre: Precondition & Credentials = {},
): Promise<Member> {
  if (!isUuid(id)) throw new NotFound(`user ${id} not found`);
  const passwordHash = pre.password === undefined ? undefined : await hashPassword(pre.password);
  await db.transaction(async (trx) => {
    const row = await trx('memberships as m').where({ 'm.org_id': orgId, 'm.id': id }).forUpdate().first(memberColumns);
    if (!row) throw new NotFound(`user ${id} not found`);
    const current = toMember(row);
    if (pre.ifMatch !== undefined && pre.ifMatch !== current.version) throw new PreconditionFailed('the user has changed since the version given in If-Match');
    const next = change(current);
    checkMemberInput(next);
    const { account: accountProfile, ...rest } = next;
    const same = isDeepStrictEqual(rest, { userName: current.userName, externalId: current.externalId, displayName: current.displayName, active: current.active, profile: current.profile });
    if (same && passwordHash === undefined) return;
    if (current.role === 'owner' && !next.active) throw new Forbidden('the owner of the organisation cannot be deactivated');
    if (!current.active && next.active) await assertSeatAvailable(trx, orgId, current.role);
    try {
      await trx('memberships').where({ org_id: orgId, id }).update({
        user_name: next.userName, external_id: next.externalId, display_name: next.displayName,
        status: next.active ? 'active' : 'deactivated', profile: JSON.stringify(next.profile),
        version: trx.raw('version + 1'), updated_at: trx.fn.now(),
      });
    } catch (err) {
      mapUnique(err);
    }
    const account = await getAccountForUpdate(trx, current.accountId);
    const { passwordApplied } = await updateManagedAccount(trx, orgId, account, accountProfile, passwordHash);
    if (current.active !== next.active) {
      if (!next.active) await revokeSessions(trx, orgId, current.accountId);
      await refreshAccountStatus(trx, current.accountId);
    }
    const action = current.active === next.active ? 'member.updated' : next.active ? 'member.reactivated' : 'member.deactivated';
    await recordAudit(trx, orgId, actor, { action, targetType: 'member', targetId: id, details: { passwordChanged: passwordApplied } });
  });
  return getMember(db, orgId, id, { withGroups: true });
}

/** Removes the membership (and its group memberships); the last membership of a managed account deletes the account. */
export async function deleteMember(db: Knex, orgId: string, actor: Actor, id: string, pre: Precondition = {}): Promise<void> {
  if (!isUuid(id)) throw new NotFound(`user ${id} not found`);
  await db.transaction(async (trx) => {
    const row = await trx('memberships').where({ org_id: orgId, id }).forUpdate().first('account_id', 'role', 'version', 'user_name');
    if (!row) throw new NotFound(`user ${id} not found`);
    if (pre.ifMatch !== undefined && pre.ifMatch !== row.version) throw new PreconditionFailed('the user has changed since the version given in If-Match');
    if (row.role === 'owner') throw new Forbidden('the owner of the organisation cannot be removed');
    const account = await getAccountForUpdate(trx, row.account_id);
    await revokeSessions(trx, orgId, row.account_id);
    await trx('memberships').where({ org_id: orgId, id }).delete();
    const fate = await releaseAccount(trx, orgId, account);
    await recordAudit(trx, orgId, actor, { action: 'member.removed', targetType: 'member', targetId: id, details: { userName: row.user_name, account: fate } });
  });
}
