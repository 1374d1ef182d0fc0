// Members: an organisation's view of a person, with typed fields (see person.ts). Every query is scoped by org_id.
import { isDeepStrictEqual } from 'node:util';
import type { Knex } from 'knex';
import { findOrCreateAccount, getAccountForUpdate, refreshAccountStatus, releaseAccount, updateManagedAccount } from './accounts.ts';
import { createPasswordHasher, type PasswordHasher } from './passwords.ts';
import { type Actor, recordAudit } from './audit.ts';
import { checkVersion, Conflict, Forbidden, LimitReached, NotFound, uniqueViolation } from './errors.ts';
import { accountProfileOf, checkPerson, type Person, personColumns, personDocuments, personFieldColumns, personOf, personRow } from './person.ts';
import { compilePredicate, compileSort, isSingleComparison, isUuid, type Predicate, reuse, type Sort, type TableMap, totalOf } from './predicate.ts';
import { SEATLESS_ROLE } from './roles.ts';
import { revokeSessions, revokeAllSessions } from './sessions.ts';

export type MemberInput = Person & {
  active: boolean;
  /** What one door alone understands about the person, kept for it as it is (the directory never reads it). */
  protocolData?: Record<string, unknown>;
};

export type Member = Person & {
  id: string;
  orgId: string;
  accountId: string;
  role: string;
  active: boolean;
  protocolData: Record<string, unknown>;
  version: number;
  createdAt: Date;
  updatedAt: Date;
  groups?: { id: string; displayName: string }[];
};

export type ListQuery = { orgId: string; where?: Predicate; sort?: Sort; offset: number; limit: number; withGroups?: boolean };

/** Fields a predicate or sort over members may name: the person's fields, the member's own, and `protocolData`. */
export const memberTable = (knex: Knex): TableMap => ({
  alias: 'm',
  columns: { ...personFieldColumns, id: 'id', role: 'role', created: 'created_at', lastModified: 'updated_at' },
  statusBoolean: { active: 'status' },
  documents: { ...personDocuments, protocolData: 'protocol_data' },
  relations: {
    group: (id) => knex.raw('exists (select 1 from group_members gm where gm.org_id = m.org_id and gm.membership_id = m.id and gm.group_id = ?)', [id]),
  },
  relationPresent: {
    group: () => knex.raw('exists (select 1 from group_members gm where gm.org_id = m.org_id and gm.membership_id = m.id)'),
  },
});

type Row = Record<string, unknown> & {
  id: string; org_id: string; account_id: string; role: string; status: string;
  protocol_data: Record<string, unknown>; version: number; created_at: Date; updated_at: Date;
};

const memberColumns = ['m.id', 'm.org_id', 'm.account_id', 'm.role', 'm.status', 'm.protocol_data', 'm.version', 'm.created_at', 'm.updated_at',
  ...personColumns.map((c) => `m.${c}`)];

function toMember(r: Row): Member {
  return {
    ...personOf(r),
    id: r.id, orgId: r.org_id, accountId: r.account_id, role: r.role, active: r.status === 'active',
    protocolData: r.protocol_data ?? {}, version: r.version, createdAt: new Date(r.created_at), updatedAt: new Date(r.updated_at),
  };
}

/** A member's stored state, for telling whether a change changes anything. */
function stateOf(m: MemberInput): unknown {
  const { active, protocolData, ...person } = m;
  return { person: personRow(person), active, protocolData: protocolData ?? {} };
}

/** The member's groups, as one correlated subquery of the same statement (one round trip per page). */
const groupsColumn = (db: Knex) => db.raw(`(select coalesce(json_agg(json_build_object('id', g.id, 'displayName', g.display_name) order by g.display_name), '[]'::json)
  from group_members gm join groups g on g.org_id = gm.org_id and g.id = gm.group_id
  where gm.org_id = m.org_id and gm.membership_id = m.id) as groups`);

type RowWithGroups = Row & { groups?: { id: string; displayName: string }[] };
const withGroupsOf = (r: RowWithGroups): Member => ({ ...toMember(r), ...(r.groups ? { groups: r.groups } : {}) });

const memberNotFound = (id: string) => new NotFound(`no member ${id} in this organisation`, { field: 'id', rule: 'member_not_found' });

export async function getMember(db: Knex, key: { orgId: string; id: string; withGroups?: boolean }): Promise<Member> {
  const { orgId, id } = key;
  if (!isUuid(id)) throw memberNotFound(id);
  const q = db('memberships as m').where({ 'm.org_id': orgId, 'm.id': id }).first(memberColumns);
  if (key.withGroups) q.select(groupsColumn(db));
  const row = (await reuse(q)) as RowWithGroups | undefined;
  if (!row) throw memberNotFound(id);
  return withGroupsOf(row);
}

/** Past this offset a page's ids are picked first, so that skipped rows are never built. */
const DEEP_OFFSET = 500;

/**
 * One filtered, sorted page and the exact total, in one statement when the page tells the total (it is not
 * full) and two when it cannot. Deep pages pick their ids first with an index walk past the offset, then
 * read only those rows.
 */
export async function listMembers(db: Knex, query: ListQuery): Promise<{ total: number; members: Member[] }> {
  const { orgId } = query;
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
  if (query.offset < DEEP_OFFSET) {
    ordered(filtered(q)).offset(query.offset).limit(query.limit);
  } else {
    const ids = ordered(filtered(db('memberships as m').where('m.org_id', orgId).select('m.id'))).offset(query.offset).limit(query.limit);
    ordered(q.whereIn('m.id', ids));
  }
  const rows = (await prepared(q)) as RowWithGroups[];
  return { total: await totalOf(rows.length, query, count), members: rows.map(withGroupsOf) };
}

/**
 * Licences: active members plus pending invitations, the billing role excepted, never exceed the limit.
 * With a limit, the organisation row is locked first, so that concurrent adds cannot both take the last
 * seat. `seats`: how many the change takes (a batch of invitations takes one each).
 */
export async function assertSeatAvailable(trx: Knex, orgId: string, role: string, seats = 1): Promise<void> {
  if (role === SEATLESS_ROLE || seats === 0) return;
  const unlocked = await trx('organizations').where({ id: orgId }).first('license_limit');
  if (unlocked?.license_limit === null || unlocked?.license_limit === undefined) return;
  const org = await trx('organizations').where({ id: orgId }).forUpdate().first('license_limit');
  if (org.license_limit === null) return;
  const used = await seatsUsed(trx, orgId);
  if (used + seats > org.license_limit) {
    throw new LimitReached(
      `the organisation's licence limit of ${org.license_limit} is reached (${used} in use by active members and pending invitations)`,
      { rule: 'licence_limit_reached' },
    );
  }
}

/** Licences in use: active members and pending invitations that have not lapsed, the billing role excepted. */
export async function seatsUsed(db: Knex, orgId: string): Promise<number> {
  const { rows } = await db.raw(
    `select (select count(*) from memberships where org_id = ? and status = 'active' and role <> ?)
          + (select count(*) from invitations where org_id = ? and status = 'pending' and expires_at > now() and role <> ?) as used`,
    [orgId, SEATLESS_ROLE, orgId, SEATLESS_ROLE],
  );
  return Number(rows[0].used);
}

/** The account of a member of this organisation (for filtering activity by member), or NotFound. */
export async function accountOfMember(db: Knex, input: { orgId: string; memberId: string }): Promise<string> {
  const row = isUuid(input.memberId) ? await db('memberships').where({ org_id: input.orgId, id: input.memberId }).first('account_id') : undefined;
  if (!row) throw memberNotFound(input.memberId);
  return row.account_id;
}

function mapUnique(err: unknown): never {
  const constraint = uniqueViolation(err);
  if (constraint === 'memberships_user_name_key') throw new Conflict('userName', 'this user name is already taken in the organisation', 'user_name_taken');
  if (constraint === 'memberships_account_key') throw new Conflict('emails', 'this person is already a member of the organisation', 'already_member');
  throw err;
}

/** The membership row of a person, as createMember and createOrganization insert it. */
export async function insertMembership(
  trx: Knex,
  input: { orgId: string; accountId: string; role?: string; member: MemberInput },
): Promise<string> {
  const { active, protocolData, ...person } = input.member;
  try {
    const [row] = await trx('memberships')
      .insert({
        org_id: input.orgId, account_id: input.accountId, role: input.role ?? 'member', status: active ? 'active' : 'deactivated',
        ...personRow(person), protocol_data: JSON.stringify(protocolData ?? {}),
      })
      .returning('id');
    return row.id as string;
  } catch (err) {
    return mapUnique(err);
  }
}

/** The hasher of passwords given without one: OWASP's minimum cost. */
const defaultHasher = createPasswordHasher();

/**
 * Adds a person to the organisation. When their login e-mail already has an account, the membership links to
 * it and changes nothing of it; otherwise the account is created and managed by this organisation.
 * A password arrives in clear and is hashed before the transaction (argon2 never runs inside one).
 */
export async function createMember(
  db: Knex,
  input: { orgId: string; actor: Actor; member: MemberInput; password?: string; passwords?: PasswordHasher },
): Promise<Member> {
  const { orgId, actor, member } = input;
  checkPerson(member);
  const profile = accountProfileOf(member);
  const passwordHash = input.password === undefined ? undefined : await (input.passwords ?? defaultHasher).hash(input.password);
  const id = await db.transaction(async (trx) => {
    if (member.active) await assertSeatAvailable(trx, orgId, 'member');
    const { account } = await findOrCreateAccount(trx, { orgId, profile, passwordHash });
    const id = await insertMembership(trx, { orgId, accountId: account.id, member });
    await refreshAccountStatus(trx, account.id);
    await recordAudit(trx, { orgId, actor, action: 'member.created', targetType: 'member', targetId: id, details: { userName: member.userName } });
    return id;
  });
  return getMember(db, { orgId, id, withGroups: true });
}

export type MemberUpdate = {
  orgId: string;
  actor: Actor;
  id: string;
  /** Computes the whole new state from the current one, under the row lock. */
  change: (current: Member) => MemberInput;
  /** The version the caller last saw; a stale one is refused. */
  ifVersion?: number;
  /** A new password: applied only where this organisation manages the account. */
  password?: string;
  /** How it is hashed (the configured cost); OWASP's minimum when not given. */
  passwords?: PasswordHasher;
  /** false: the caller's own write (one transaction around this one) records the one audit event of the change. */
  audit?: false;
};

/** Loads the member under a row lock, lets `change` compute the whole new state, persists it once. */
export async function updateMember(db: Knex, update: MemberUpdate): Promise<Member> {
  const { orgId, actor, id } = update;
  if (!isUuid(id)) throw memberNotFound(id);
  const passwordHash = update.password === undefined ? undefined : await (update.passwords ?? defaultHasher).hash(update.password);
  await db.transaction(async (trx) => {
    const row = await trx('memberships as m').where({ 'm.org_id': orgId, 'm.id': id }).forUpdate().first(memberColumns);
    if (!row) throw memberNotFound(id);
    const current = toMember(row);
    checkVersion('member', { expected: update.ifVersion, actual: current.version });
    const next = update.change(current);
    checkPerson(next, current);
    const profile = accountProfileOf(next);
    if (isDeepStrictEqual(stateOf(next), stateOf(current)) && passwordHash === undefined) return;
    if (current.role === 'owner' && !next.active) throw new Forbidden('the owner of the organisation cannot be deactivated', { rule: 'owner_protected' });
    // The owner's credentials are the owner's: no door (a SCIM token an admin minted included) sets the
    // owner's password or moves their login e-mail, only the owner themselves.
    if (current.role === 'owner' && !(actor.type === 'user' && actor.id === current.accountId)) {
      const account = await trx('accounts').where({ id: current.accountId }).first('email');
      if (passwordHash !== undefined || profile.email.toLowerCase() !== String(account?.email).toLowerCase()) {
        throw new Forbidden("the owner's password and login e-mail are changed by the owner only", { field: passwordHash !== undefined ? 'password' : 'emails', rule: 'owner_protected' });
      }
    }
    if (!current.active && next.active) await assertSeatAvailable(trx, orgId, current.role);
    const { active, protocolData, ...person } = next;
    try {
      await trx('memberships').where({ org_id: orgId, id }).update({
        ...personRow(person), status: active ? 'active' : 'deactivated', protocol_data: JSON.stringify(protocolData ?? current.protocolData),
        ...(current.active === active ? {} : deactivationColumns(active, actor, trx)),
        version: trx.raw('version + 1'), updated_at: trx.fn.now(),
      });
    } catch (err) {
      mapUnique(err);
    }
    const account = await getAccountForUpdate(trx, current.accountId);
    const { passwordApplied } = await updateManagedAccount(trx, { orgId, account, profile, passwordHash });
    // A new password ends every session of the account (it is one password, wherever the person signs in).
    if (passwordApplied) await revokeAllSessions(trx, { accountId: current.accountId, reason: 'password_changed', by: actor });
    if (current.active !== active) {
      if (!active) await revokeSessions(trx, { orgId, accountId: current.accountId, reason: 'member_deactivated', by: actor });
      await refreshAccountStatus(trx, current.accountId);
    }
    const action = current.active === active ? 'member.updated' : active ? 'member.reactivated' : 'member.deactivated';
    if (update.audit !== false) await recordAudit(trx, { orgId, actor, action, targetType: 'member', targetId: id, details: { passwordChanged: passwordApplied } });
  });
  return getMember(db, { orgId, id, withGroups: true });
}

/** Who deactivated a member and when (cleared on reactivation). */
export function deactivationColumns(active: boolean, actor: Actor, db: Knex): Record<string, unknown> {
  return active
    ? { deactivated_at: null, deactivated_by_type: null, deactivated_by_id: null }
    : { deactivated_at: db.fn.now(), deactivated_by_type: actor.type, deactivated_by_id: actor.id };
}

/** Removes the membership (and its group memberships); the last membership of a managed account deletes the account. */
export async function deleteMember(db: Knex, input: { orgId: string; actor: Actor; id: string; ifVersion?: number }): Promise<void> {
  const { orgId, actor, id } = input;
  if (!isUuid(id)) throw memberNotFound(id);
  await db.transaction(async (trx) => {
    const row = await trx('memberships').where({ org_id: orgId, id }).forUpdate().first('account_id', 'role', 'version', 'user_name');
    if (!row) throw memberNotFound(id);
    checkVersion('member', { expected: input.ifVersion, actual: row.version });
    if (row.role === 'owner') throw new Forbidden('the owner of the organisation cannot be removed', { rule: 'owner_protected' });
    const account = await getAccountForUpdate(trx, row.account_id);
    await revokeSessions(trx, { orgId, accountId: row.account_id, reason: 'member_removed', by: actor });
    await trx('memberships').where({ org_id: orgId, id }).delete();
    const fate = await releaseAccount(trx, orgId, account);
    await recordAudit(trx, { orgId, actor, action: 'member.removed', targetType: 'member', targetId: id, details: { userName: row.user_name, account: fate } });
  });
}
