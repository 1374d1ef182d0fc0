// /Groups. Member changes become row-level adds and removes in the directory, never a rewrite of the list.
import { changeGroup, createGroup, deleteGroup, getGroup, type Group, type GroupChange, type GroupInput, listGroups } from '../directory/groups.ts';
import { meta, type Precondition, type ScimContext, type ScimResult } from './context.ts';
import { invalidFilter, invalidPath, invalidValue } from './errors.ts';
import { listQueryOf, type StorageMap } from './filter.ts';
import { type ListParams, listResponse } from './list-params.ts';
import { type Doc, normalizeResource } from './normalize.ts';
import { applyPatch, explodeValue, type PatchOp } from './patch.ts';
import { parsePatchPath } from './patch-path.ts';
import { resolvePath } from './attribute-path.ts';
import { project, type Projection, wants } from './projection.ts';
import { GROUP_SCHEMA, groupType } from './schemas/resource-types.ts';
import type { AttrExp, Filter } from 'scim2-parse-filter';

export const groupStorage: StorageMap = {
  columns: {
    id: { name: 'id', type: 'uuid' },
    displayName: { name: 'displayName', type: 'string' },
    externalId: { name: 'externalId', type: 'string' },
    'meta.created': { name: 'created', type: 'datetime' },
    'meta.lastModified': { name: 'lastModified', type: 'datetime' },
  },
  relation: { attribute: 'members', name: 'member' },
};

export function toScimGroup(g: Group, baseUrl: string): Record<string, unknown> {
  const location = `${baseUrl}/Groups/${g.id}`;
  return {
    schemas: [GROUP_SCHEMA],
    id: g.id,
    ...(g.externalId !== null ? { externalId: g.externalId } : {}),
    displayName: g.displayName,
    ...(g.members ? { members: g.members.map((m) => ({ value: m.id, $ref: `${baseUrl}/Users/${m.id}`, display: m.displayName ?? m.userName, type: 'User' })) } : {}),
    meta: meta({ resourceType: 'Group', location, created: g.createdAt, lastModified: g.updatedAt, version: g.version }),
  };
}

function one(ctx: ScimContext, g: Group, answer: { status: number; projection?: Projection }): ScimResult {
  const { status, projection } = answer;
  const body = toScimGroup(g, ctx.baseUrl);
  return { status, body: projection ? project(body, projection) : body, version: g.version, location: `${ctx.baseUrl}/Groups/${g.id}` };
}

/** Member ids from a members value: [{value, type?}], one such object, or (Entra) an array of them. */
export function memberIds(value: unknown): string[] {
  const items = Array.isArray(value) ? value : [value];
  return items.map((item, i) => {
    const v = typeof item === 'string' ? item : (item as Doc | null)?.value;
    if (typeof v !== 'string' || v === '') throw invalidValue(`members[${i}].value must be a user id`);
    const t = (item as Doc | null)?.type;
    if (typeof t === 'string' && t.toLowerCase() === 'group') throw invalidValue('nested groups are not supported: members must be Users');
    return v;
  });
}

function groupInput(doc: Doc) {
  return { displayName: doc.displayName as string, externalId: (doc.externalId as string | undefined) ?? null };
}

export async function createScimGroup(ctx: ScimContext, body: unknown): Promise<ScimResult> {
  const doc = normalizeResource(groupType, body);
  const g = await createGroup(ctx.db, { orgId: ctx.orgId, actor: ctx.actor, group: groupInput(doc), memberIds: doc.members ? memberIds(doc.members) : [] });
  return one(ctx, g, { status: 201 });
}

export async function getScimGroup(ctx: ScimContext, id: string, projection: Projection): Promise<ScimResult> {
  const g = await getGroup(ctx.db, { orgId: ctx.orgId, id, withMembers: wants(projection, 'members') });
  return one(ctx, g, { status: 200, projection });
}

export async function listScimGroups(ctx: ScimContext, params: ListParams): Promise<ScimResult> {
  const { projection, ...query } = listQueryOf(groupType, groupStorage, params);
  const { total, groups } = await listGroups(ctx.db, { orgId: ctx.orgId, ...query, withMembers: wants(projection, 'members') });
  return { status: 200, body: listResponse(total, params.startIndex, groups.map((g) => project(toScimGroup(g, ctx.baseUrl), projection))) };
}

export async function replaceScimGroup(ctx: ScimContext, { id, body, pre }: { id: string; body: unknown; pre: Precondition }): Promise<ScimResult> {
  const doc = normalizeResource(groupType, body);
  const change: GroupChange = { attributes: groupInput(doc), removeAll: true, add: doc.members ? memberIds(doc.members) : [] };
  const g = await changeGroup(ctx.db, { orgId: ctx.orgId, actor: ctx.actor, id, change, ifVersion: pre.ifMatch });
  return one(ctx, { ...g, members: (await getGroup(ctx.db, { orgId: ctx.orgId, id, withMembers: true })).members }, { status: 200 });
}

/** Ids named by members[value eq "a" or value eq "b"]; any other filter on members is refused. */
function idsFromFilter(f: Filter): string[] {
  if (f.op === 'or') return f.filters.flatMap(idsFromFilter);
  const c = f as AttrExp;
  if (c.op === 'eq' && c.attrPath.toLowerCase() === 'value' && typeof c.compValue === 'string') return [c.compValue];
  throw invalidFilter('members can be selected only by value eq "<id>" (joined by or)');
}

/** Folds member operations, in order, into one change: later operations win over earlier ones. */
function foldMemberOp(change: Required<Pick<GroupChange, 'add' | 'remove'>> & GroupChange, op: PatchOp['op'], ids: string[] | null): void {
  const add = new Set(change.add);
  const remove = new Set(change.remove);
  if (op === 'replace' || (op === 'remove' && ids === null)) {
    change.removeAll = true;
    add.clear();
    remove.clear();
  }
  for (const id of ids ?? []) {
    if (op === 'remove') { remove.add(id); add.delete(id); } else { add.add(id); remove.delete(id); }
  }
  change.add = [...add];
  change.remove = [...remove];
}

/** Splits a PatchOp list into member operations (folded) and attribute operations (patched on a copy). */
export function planGroupPatch(ops: PatchOp[]): { attributeOps: PatchOp[]; members: GroupChange & { add: string[]; remove: string[] } } {
  const members = { add: [] as string[], remove: [] as string[] } as GroupChange & { add: string[]; remove: string[] };
  const attributeOps: PatchOp[] = [];
  for (const op of ops) {
    if (op.path === undefined) {
      if (op.op === 'remove') { attributeOps.push(op); continue; }
      const rest: Doc = {};
      for (const part of explodeValue(groupType, op.value)) {
        const target = resolvePath(groupType, part.path);
        if (target?.attribute.name === 'members' && !target.sub) foldMemberOp(members, op.op, memberIds(part.value));
        else rest[part.path] = part.value;
      }
      if (Object.keys(rest).length) attributeOps.push({ ...op, value: rest });
      continue;
    }
    const p = parsePatchPath(groupType, op.path);
    if (p.attribute.name !== 'members') { attributeOps.push(op); continue; }
    if (p.sub) throw invalidPath(`${op.path}: members are added or removed whole`);
    if (p.filter) {
      if (op.op !== 'remove') throw invalidPath(`${op.path}: a filtered members path can only be removed`);
      foldMemberOp(members, 'remove', idsFromFilter(p.filter));
    } else {
      // Only a remove without any value empties the group; an empty list removes (or adds) nobody.
      const none = op.value === undefined || op.value === null;
      const ids = none ? null : Array.isArray(op.value) && op.value.length === 0 ? [] : memberIds(op.value);
      foldMemberOp(members, op.op, op.op === 'replace' && ids === null ? [] : ids);
    }
  }
  return { attributeOps, members };
}

/** Answers 204: the group may hold many thousands of members, and Okta and Entra expect no body here. */
export async function patchScimGroup(
  ctx: ScimContext, { id, ops, pre, projection }: { id: string; ops: PatchOp[]; pre: Precondition; projection: Projection | null },
): Promise<ScimResult> {
  const { attributeOps, members } = planGroupPatch(ops);
  const attributes = attributeOps.length === 0 ? undefined : (current: GroupInput) => {
    const doc: Doc = { displayName: current.displayName, ...(current.externalId !== null ? { externalId: current.externalId } : {}) };
    applyPatch(groupType, doc, attributeOps);
    return groupInput(normalizeResource(groupType, { ...doc, schemas: [GROUP_SCHEMA] }));
  };
  const g = await changeGroup(ctx.db, { orgId: ctx.orgId, actor: ctx.actor, id, change: { ...members, attributes }, ifVersion: pre.ifMatch });
  if (!projection) return { status: 204, version: g.version };
  return getScimGroup(ctx, id, projection);
}

export async function deleteScimGroup(ctx: ScimContext, id: string, pre: Precondition): Promise<ScimResult> {
  await deleteGroup(ctx.db, { orgId: ctx.orgId, actor: ctx.actor, id, ifVersion: pre.ifMatch });
  return { status: 204 };
}
