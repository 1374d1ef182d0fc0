// Groups and their members. Membership changes touch only the rows named: their cost does not grow
// with the size of the group, and concurrent changes to one group all take effect.
import { isDeepStrictEqual } from 'node:util';
import type { Knex } from 'knex';
import { type Actor, recordAudit } from './audit.ts';
import { checkLength, checkName, checkVersion, Conflict, Forbidden, Invalid, limits, NotFound, uniqueViolation } from './errors.ts';
import { mayGrant, type Permission, rolePermissions } from './roles.ts';
import { compilePredicate, compileSort, isSingleComparison, isUuid, type Predicate, reuse, type Sort, type TableMap, totalOf } from './predicate.ts';

export type GroupInput = { displayName: string; externalId: string | null };
export type GroupMember = { id: string; userName: string; displayName: string | null };
/** Which door owns a group: SCIM (the identity provider would overwrite any other change) or the admin API. */
export type GroupOwner = 'scim' | 'admin';
export type Group = GroupInput & {
  id: string; orgId: string; version: number; createdAt: Date; updatedAt: Date;
  managedBy: GroupOwner;
  /** The role the group grants its members (besides their own), or null. */
  role: string | null;
  members?: GroupMember[];
};

/** A change to a group: new attributes and/or member ids to add, remove, or replace the whole list with. */
export type GroupChange = {
  /** The new attributes, or how to compute them from the current ones (under the row lock). */
  attributes?: GroupInput | ((current: GroupInput) => GroupInput);
  add?: string[];
  remove?: string[];
  removeAll?: boolean;
};

export const groupTable = (knex: Knex): TableMap => ({
  alias: 'g',
  columns: { id: 'id', displayName: 'display_name', externalId: 'external_id', created: 'created_at', lastModified: 'updated_at' },
  relations: {
    member: (id) => knex.raw('exists (select 1 from group_members gm where gm.org_id = g.org_id and gm.group_id = g.id and gm.membership_id = ?)', [id]),
  },
  relationPresent: {
    member: () => knex.raw('exists (select 1 from group_members gm where gm.org_id = g.org_id and gm.group_id = g.id)'),
  },
});

type Row = { id: string; org_id: string; display_name: string; external_id: string | null; version: number; created_at: Date; updated_at: Date; managed_by: GroupOwner; role: string | null };

function toGroup(r: Row): Group {
  return {
    id: r.id, orgId: r.org_id, displayName: r.display_name, externalId: r.external_id, version: r.version,
    createdAt: new Date(r.created_at), updatedAt: new Date(r.updated_at), managedBy: r.managed_by, role: r.role,
  };
}

const groupColumns = ['g.id', 'g.org_id', 'g.display_name', 'g.external_id', 'g.version', 'g.created_at', 'g.updated_at', 'g.managed_by', 'g.role'];

/** Who changes who is in a group that gives a role must be able to hand out that role (joining it is getting it). */
async function checkGrantor(trx: Knex, orgId: string, role: string | null, grantor: ReadonlySet<Permission> | undefined,
  refusal = 'this group gives a role that can do more than you can: you cannot change who is in it'): Promise<void> {
  if (!grantor || role === null) return;
  if (!mayGrant(grantor, await rolePermissions(trx, { orgId, role }))) throw new Forbidden(refusal, { field: 'role', rule: 'escalation' });
}

/** The admin API edits only the groups it made: an identity provider would overwrite a change to one it provisioned. */
function checkDoor(door: GroupOwner | undefined, managedBy: GroupOwner): void {
  if (door === 'admin' && managedBy === 'scim') {
    throw new Conflict('group', 'this group is provisioned by SCIM: change it in the identity provider (its role can be set here)', 'managed_by_scim');
  }
}

async function loadMembers(db: Knex, orgId: string, groupIds: string[]): Promise<Map<string, GroupMember[]>> {
  const byGroup = new Map<string, GroupMember[]>(groupIds.map((id) => [id, []]));
  if (groupIds.length === 0) return byGroup;
  const rows = await db('group_members as gm')
    .join('memberships as m', function () { this.on('m.org_id', 'gm.org_id').andOn('m.id', 'gm.membership_id'); })
    .where('gm.org_id', orgId).whereIn('gm.group_id', groupIds)
    .orderBy(['gm.group_id', 'gm.created_at', 'gm.membership_id'])
    .select('gm.group_id', 'm.id', 'm.user_name', 'm.display_name');
  for (const r of rows) byGroup.get(r.group_id)!.push({ id: r.id, userName: r.user_name, displayName: r.display_name });
  return byGroup;
}

const groupNotFound = (id: string) => new NotFound(`no group ${id} in this organisation`, { field: 'id', rule: 'group_not_found' });

export async function getGroup(db: Knex, key: { orgId: string; id: string; withMembers?: boolean }): Promise<Group> {
  const { orgId, id } = key;
  if (!isUuid(id)) throw groupNotFound(id);
  const row = await reuse(db('groups as g').where({ 'g.org_id': orgId, 'g.id': id }).first(groupColumns));
  if (!row) throw groupNotFound(id);
  const group = toGroup(row);
  if (key.withMembers) group.members = (await loadMembers(db, orgId, [id])).get(id);
  return group;
}

export async function listGroups(
  db: Knex,
  query: { orgId: string; where?: Predicate; sort?: Sort; offset: number; limit: number; withMembers?: boolean },
): Promise<{ total: number; groups: Group[] }> {
  const { orgId } = query;
  const map = groupTable(db);
  const where = query.where ? compilePredicate(map, query.where, db) : null;
  const bounded = !query.where || isSingleComparison(query.where); // see listMembers
  const sort = query.sort ? compileSort(map, query.sort, db) : null;
  const count = async () => {
    const q = db('groups as g').where('g.org_id', orgId).count({ n: '*' });
    if (where) q.whereRaw(where);
    return Number(((await (bounded ? reuse(q) : q)) as { n: number }[])[0].n);
  };
  if (query.limit === 0) return { total: await count(), groups: [] };
  const q = db('groups as g').where('g.org_id', orgId).select(groupColumns);
  if (where) q.whereRaw(where);
  if (sort) q.orderByRaw(sort);
  q.orderBy([{ column: 'g.created_at' }, { column: 'g.id' }]).offset(query.offset).limit(query.limit);
  const groups = ((await (bounded ? reuse(q) : q)) as Row[]).map(toGroup);
  const total = await totalOf(groups.length, query, count);
  if (query.withMembers) {
    const members = await loadMembers(db, orgId, groups.map((g) => g.id));
    for (const g of groups) g.members = members.get(g.id);
  }
  return { total, groups };
}

function mapUnique(err: unknown): never {
  if (uniqueViolation(err) === 'groups_display_name_key') throw new Conflict('displayName', 'a group with this name already exists in the organisation', 'group_name_taken');
  throw err;
}

/** Every id must be a member of this organisation; one query for the whole list. */
async function assertMembersExist(trx: Knex, orgId: string, ids: string[]): Promise<void> {
  const unique = [...new Set(ids)];
  const bad = unique.filter((id) => !isUuid(id));
  const found = new Set<string>();
  const valid = unique.filter(isUuid);
  for (let i = 0; i < valid.length; i += 1000) {
    // Key-share locks keep these members from being deleted before this transaction adds them.
    const rows = await trx('memberships').where('org_id', orgId).whereIn('id', valid.slice(i, i + 1000)).forKeyShare().select('id');
    for (const r of rows) found.add(r.id);
  }
  const missing = [...bad, ...valid.filter((id) => !found.has(id))];
  if (missing.length > 0) {
    throw new Invalid(`no such member in this organisation: ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', ...' : ''}`, { field: 'members', rule: 'member_not_found' });
  }
}

async function addMembers(trx: Knex, to: { orgId: string; groupId: string }, ids: string[]): Promise<void> {
  const { orgId, groupId } = to;
  const unique = [...new Set(ids.map((id) => id.toLowerCase()))];
  for (let i = 0; i < unique.length; i += 1000) {
    const rows = unique.slice(i, i + 1000).map((membership_id) => ({ org_id: orgId, group_id: groupId, membership_id }));
    await trx('group_members').insert(rows).onConflict(['org_id', 'group_id', 'membership_id']).ignore();
  }
}

function checkGroupInput(input: GroupInput): void {
  checkName('displayName', input.displayName);
  checkLength('externalId', input.externalId, limits.externalId);
}

export async function createGroup(db: Knex, input: { orgId: string; actor: Actor; group: GroupInput; memberIds?: string[]; managedBy?: GroupOwner }): Promise<Group> {
  const { orgId, actor, group } = input;
  const memberIds = input.memberIds ?? [];
  checkGroupInput(group);
  const id = await db.transaction(async (trx) => {
    await assertMembersExist(trx, orgId, memberIds);
    let row: { id: string };
    try {
      [row] = await trx('groups').insert({ org_id: orgId, display_name: group.displayName, external_id: group.externalId, managed_by: input.managedBy ?? 'scim' }).returning('id');
    } catch (err) {
      return mapUnique(err);
    }
    await addMembers(trx, { orgId, groupId: row.id }, memberIds);
    await recordAudit(trx, { orgId, actor, action: 'group.created', targetType: 'group', targetId: row.id, details: { displayName: group.displayName, members: memberIds.length } });
    return row.id;
  });
  return getGroup(db, { orgId, id, withMembers: true });
}

/**
 * Applies one change as a whole. The group row is locked (so concurrent changes queue rather than fail),
 * and members are added or removed by id: no read of the existing member list.
 */
export async function changeGroup(db: Knex, input: { orgId: string; actor: Actor; id: string; change: GroupChange; ifVersion?: number; door?: GroupOwner; grantor?: ReadonlySet<Permission> }): Promise<Group> {
  const { orgId, actor, id, change } = input;
  if (!isUuid(id)) throw groupNotFound(id);
  await db.transaction(async (trx) => {
    const row = await trx('groups as g').where({ 'g.org_id': orgId, 'g.id': id }).forUpdate().first(groupColumns);
    if (!row) throw groupNotFound(id);
    const current = toGroup(row);
    checkDoor(input.door, current.managedBy);
    await checkGrantor(trx, orgId, current.role, input.grantor);
    checkVersion('group', { expected: input.ifVersion, actual: current.version });
    const add = change.add ?? [];
    const remove = (change.remove ?? []).filter(isUuid).map((x) => x.toLowerCase());
    await assertMembersExist(trx, orgId, add);
    const before: GroupInput = { displayName: current.displayName, externalId: current.externalId };
    const attributes = typeof change.attributes === 'function' ? change.attributes(before) : change.attributes;
    if (attributes) checkGroupInput(attributes);
    const attrsChanged = attributes !== undefined && !isDeepStrictEqual(attributes, before);
    if (change.removeAll) await trx('group_members').where({ org_id: orgId, group_id: id }).delete();
    for (let i = 0; i < remove.length; i += 1000) {
      await trx('group_members').where({ org_id: orgId, group_id: id }).whereIn('membership_id', remove.slice(i, i + 1000)).delete();
    }
    await addMembers(trx, { orgId, groupId: id }, add);
    if (!attrsChanged && !change.removeAll && add.length === 0 && remove.length === 0) return;
    try {
      await trx('groups').where({ org_id: orgId, id }).update({
        ...(attributes ? { display_name: attributes.displayName, external_id: attributes.externalId } : {}),
        version: trx.raw('version + 1'), updated_at: trx.fn.now(),
      });
    } catch (err) {
      mapUnique(err);
    }
    await recordAudit(trx, {
      orgId, actor, action: 'group.updated', targetType: 'group', targetId: id,
      details: { added: add.length, removed: remove.length, replacedMembers: Boolean(change.removeAll), renamed: attrsChanged },
    });
  });
  return getGroup(db, { orgId, id, withMembers: false });
}

export async function deleteGroup(db: Knex, input: { orgId: string; actor: Actor; id: string; ifVersion?: number; door?: GroupOwner; grantor?: ReadonlySet<Permission> }): Promise<void> {
  const { orgId, actor, id } = input;
  if (!isUuid(id)) throw groupNotFound(id);
  await db.transaction(async (trx) => {
    const row = await trx('groups').where({ org_id: orgId, id }).forUpdate().first('version', 'display_name', 'managed_by', 'role');
    if (!row) throw groupNotFound(id);
    checkDoor(input.door, row.managed_by);
    await checkGrantor(trx, orgId, row.role, input.grantor);
    checkVersion('group', { expected: input.ifVersion, actual: row.version });
    await trx('groups').where({ org_id: orgId, id }).delete();
    await recordAudit(trx, { orgId, actor, action: 'group.deleted', targetType: 'group', targetId: id, details: { displayName: row.display_name } });
  });
}

export type GroupSummary = { id: string; name: string; managedBy: GroupOwner; role: string | null; memberCount: number; createdAt: Date };

/** The organisation's groups by name (case-insensitive), each with its size; `after` continues a page (the last name and id). */
export async function listGroupSummaries(
  db: Knex,
  q: { orgId: string; limit: number; after?: { name: string; id: string } },
): Promise<{ items: GroupSummary[]; total: number; next: { name: string; id: string } | null }> {
  const query = db('groups as g').where('g.org_id', q.orgId).orderByRaw('lower(g.display_name), g.id').limit(q.limit + 1)
    .select('g.id', 'g.display_name as name', 'g.managed_by as managedBy', 'g.role', 'g.created_at as createdAt',
      db.raw('(select count(*)::int from group_members gm where gm.org_id = g.org_id and gm.group_id = g.id) as "memberCount"'));
  if (q.after) {
    if (!isUuid(q.after.id)) throw new Invalid('cursor is the nextCursor of a previous page', { field: 'cursor', rule: 'malformed' });
    query.whereRaw('(lower(g.display_name), g.id) > (lower(?), ?::uuid)', [q.after.name, q.after.id]);
  }
  const rows = (await query) as GroupSummary[];
  const [{ n }] = await db('groups').where('org_id', q.orgId).count({ n: '*' });
  const items = rows.slice(0, q.limit);
  const last = items[items.length - 1];
  return { items, total: Number(n), next: rows.length > q.limit && last ? { name: last.name, id: last.id } : null };
}

/**
 * Maps a group (SCIM-provisioned ones included) to a role its members hold besides their own, or to none.
 * Never `owner`; a caller grants only a role that does no more than it may itself (the role given and the
 * one taken away).
 */
export async function setGroupRole(
  db: Knex,
  input: { orgId: string; actor: Actor; id: string; role: string | null; grantor: ReadonlySet<Permission> },
): Promise<Group> {
  const { orgId, actor, id, role } = input;
  if (!isUuid(id)) throw groupNotFound(id);
  if (role === 'owner') throw new Invalid('a group cannot make its members owners: ownership only moves by transfer', { field: 'role', rule: 'owner_by_transfer_only' });
  await db.transaction(async (trx) => {
    const row = await trx('groups').where({ org_id: orgId, id }).forUpdate().first('role');
    if (!row) throw groupNotFound(id);
    for (const r of [row.role, role]) await checkGrantor(trx, orgId, r, input.grantor, 'you cannot hand out a role that can do more than you can');
    if (row.role === role) return;
    await trx('groups').where({ org_id: orgId, id }).update({ role, version: trx.raw('version + 1'), updated_at: trx.fn.now() });
    await recordAudit(trx, { orgId, actor, action: 'group.role_changed', targetType: 'group', targetId: id, details: { from: row.role, to: role } });
  });
  return getGroup(db, { orgId, id });
}
