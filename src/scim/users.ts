// /Users: the SCIM User is the organisation's member. Each handler maps SCIM to one directory call; the
// mapping between SCIM attributes and the directory's typed fields of a person is this file's.
import { createMember, deleteMember, getMember, listMembers, type Member, type MemberInput, updateMember } from '../directory/members.ts';
import type { ContactPoint, Person, PersonName, PostalAddress } from '../directory/person.ts';
import { listQueryOf, type StorageMap } from './filter.ts';
import { type ListParams, listResponse } from './list-params.ts';
import { type Doc, normalizeResource } from './normalize.ts';
import { applyPatch, type PatchOp, passwordIn } from './patch.ts';
import { project, type Projection, wants } from './projection.ts';
import { ENTERPRISE_SCHEMA, USER_SCHEMA, userType } from './schemas/resource-types.ts';
import { meta, type Precondition, type ScimContext, type ScimResult } from './context.ts';

/** Single-valued core attributes stored as the person's fields of the same name. */
const scalars = ['nickName', 'title', 'userType', 'preferredLanguage', 'locale', 'timezone', 'profileUrl'] as const;
/** Enterprise extension attributes stored as the person's fields of the same name. */
const enterprise = ['employeeNumber', 'costCenter', 'organization', 'division', 'department'] as const;
const nameParts = ['formatted', 'givenName', 'familyName', 'middleName', 'honorificPrefix', 'honorificSuffix'] as const;
const lists = { emails: 'emails', phoneNumbers: 'phoneNumbers', addresses: 'addresses' } as const;
/** Attributes the person's fields hold (the rest of a document is kept as this door's data). */
const mapped = new Set<string>(['userName', 'externalId', 'displayName', 'active', 'password', 'name', ...scalars, ...Object.keys(lists), ENTERPRISE_SCHEMA]);

const field = (name: string, type: 'string' | 'uuid' | 'boolean' | 'datetime' = 'string') => ({ name, type });
const nameField: Record<string, string> = { formatted: 'nameFormatted' };

export const userStorage: StorageMap = {
  columns: {
    id: field('id', 'uuid'),
    userName: field('userName'),
    externalId: field('externalId'),
    displayName: field('displayName'),
    active: field('active', 'boolean'),
    'meta.created': field('created', 'datetime'),
    'meta.lastModified': field('lastModified', 'datetime'),
    ...Object.fromEntries(nameParts.map((p) => [`name.${p}`, field(nameField[p] ?? p)])),
    ...Object.fromEntries(scalars.map((a) => [a, field(a)])),
    ...Object.fromEntries(enterprise.map((a) => [`${ENTERPRISE_SCHEMA}:${a}`, field(a)])),
    [`${ENTERPRISE_SCHEMA}:manager.value`]: field('managerId'),
  },
  lists,
  relation: { attribute: 'groups', name: 'group' },
  rest: 'protocolData',
};

const text = (v: unknown): string | null => (typeof v === 'string' ? v : null);

/**
 * A normalised SCIM document -> the directory's member. An absent `active` keeps the current state (a new
 * user is active): removing the attribute must not quietly reactivate a deactivated person.
 */
export function toMemberInput(doc: Doc, currentActive = true): MemberInput {
  const ext = (doc[ENTERPRISE_SCHEMA] ?? {}) as Doc;
  const protocolData: Doc = {};
  for (const [k, v] of Object.entries(doc)) if (!mapped.has(k)) protocolData[k] = v;
  const person: Person = {
    userName: doc.userName as string,
    externalId: text(doc.externalId),
    displayName: text(doc.displayName),
    name: (doc.name ?? {}) as PersonName,
    ...(Object.fromEntries(scalars.map((a) => [a, text(doc[a])])) as Record<(typeof scalars)[number], string | null>),
    emails: (doc.emails ?? []) as ContactPoint[],
    phoneNumbers: (doc.phoneNumbers ?? []) as ContactPoint[],
    addresses: (doc.addresses ?? []) as PostalAddress[],
    ...(Object.fromEntries(enterprise.map((a) => [a, text(ext[a])])) as Record<(typeof enterprise)[number], string | null>),
    managerId: text((ext.manager as Doc | undefined)?.value),
  };
  return { ...person, active: doc.active === undefined ? currentActive : (doc.active as boolean), protocolData };
}

/** The write-only password of a document, handed to the directory apart from the stored attributes. */
const passwordOf = (doc: Doc) => (typeof doc.password === 'string' ? { password: doc.password } : {});

/** Sets key to value when there is one (SCIM leaves unassigned attributes out). */
function put(doc: Doc, key: string, value: unknown): void {
  if (value === null || value === undefined || (Array.isArray(value) && value.length === 0)) return;
  if (typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length === 0) return;
  doc[key] = value;
}

/** The member's enterprise extension, or undefined when it has none of its attributes. */
function enterpriseOf(m: Member, manager: (id: string) => Doc): Doc | undefined {
  const ext: Doc = {};
  for (const a of enterprise) put(ext, a, m[a]);
  if (m.managerId !== null) ext.manager = manager(m.managerId);
  return Object.keys(ext).length ? ext : undefined;
}

/** The writable document of a member, the starting point of a PATCH. */
function toDoc(m: Member): Doc {
  const doc: Doc = { ...structuredClone(m.protocolData), userName: m.userName };
  put(doc, 'externalId', m.externalId);
  put(doc, 'displayName', m.displayName);
  put(doc, 'name', structuredClone(m.name));
  for (const a of scalars) put(doc, a, m[a]);
  for (const a of Object.keys(lists) as (keyof typeof lists)[]) put(doc, a, structuredClone(m[a]));
  put(doc, ENTERPRISE_SCHEMA, enterpriseOf(m, (value) => ({ value })));
  doc.active = m.active;
  return doc;
}

export function toScimUser(m: Member, baseUrl: string): Record<string, unknown> {
  const location = `${baseUrl}/Users/${m.id}`;
  const ext = enterpriseOf(m, (value) => ({ value, $ref: `${baseUrl}/Users/${value}` }));
  const body: Doc = { schemas: ext ? [USER_SCHEMA, ENTERPRISE_SCHEMA] : [USER_SCHEMA], id: m.id };
  put(body, 'externalId', m.externalId);
  body.userName = m.userName;
  put(body, 'displayName', m.displayName);
  body.active = m.active;
  put(body, 'name', m.name);
  for (const a of scalars) put(body, a, m[a]);
  for (const a of Object.keys(lists) as (keyof typeof lists)[]) put(body, a, m[a]);
  Object.assign(body, m.protocolData);
  if (m.groups) body.groups = m.groups.map((g) => ({ value: g.id, $ref: `${baseUrl}/Groups/${g.id}`, display: g.displayName, type: 'direct' }));
  put(body, ENTERPRISE_SCHEMA, ext);
  body.meta = meta({ resourceType: 'User', location, created: m.createdAt, lastModified: m.updatedAt, version: m.version });
  return body;
}

function one(ctx: ScimContext, m: Member, answer: { status: number; projection?: Projection }): ScimResult {
  const { status, projection } = answer;
  const body = toScimUser(m, ctx.baseUrl);
  return { status, body: projection ? project(body, projection) : body, version: m.version, location: `${ctx.baseUrl}/Users/${m.id}` };
}

export async function createUser(ctx: ScimContext, body: unknown): Promise<ScimResult> {
  const doc = normalizeResource(userType, body);
  const m = await createMember(ctx.db, { orgId: ctx.orgId, actor: ctx.actor, member: toMemberInput(doc), ...passwordOf(doc), passwords: ctx.passwords });
  return one(ctx, m, { status: 201 });
}

export async function getUser(ctx: ScimContext, id: string, projection: Projection): Promise<ScimResult> {
  const m = await getMember(ctx.db, { orgId: ctx.orgId, id, withGroups: wants(projection, 'groups') });
  return one(ctx, m, { status: 200, projection });
}

export async function listUsers(ctx: ScimContext, params: ListParams): Promise<ScimResult> {
  const { projection, ...query } = listQueryOf(userType, userStorage, params);
  const { total, members } = await listMembers(ctx.db, { orgId: ctx.orgId, ...query, withGroups: wants(projection, 'groups') });
  return { status: 200, body: listResponse(total, params.startIndex, members.map((m) => project(toScimUser(m, ctx.baseUrl), projection))) };
}

export async function replaceUser(ctx: ScimContext, { id, body, pre }: { id: string; body: unknown; pre: Precondition }): Promise<ScimResult> {
  const doc = normalizeResource(userType, body);
  const m = await updateMember(ctx.db, {
    orgId: ctx.orgId, actor: ctx.actor, id, change: (current) => toMemberInput(doc, current.active), ifVersion: pre.ifMatch, ...passwordOf(doc), passwords: ctx.passwords,
  });
  return one(ctx, m, { status: 200 });
}

export async function patchUser(ctx: ScimContext, { id, ops, pre }: { id: string; ops: PatchOp[]; pre: Precondition }): Promise<ScimResult> {
  // The password is hashed before the directory's transaction starts, so it is read from the operations first.
  const password = passwordIn(userType, ops);
  const m = await updateMember(ctx.db, {
    orgId: ctx.orgId, actor: ctx.actor, id, ifVersion: pre.ifMatch, ...(password === undefined ? {} : { password }), passwords: ctx.passwords,
    change: (current) => {
      const doc = toDoc(current);
      applyPatch(userType, doc, ops);
      return toMemberInput(normalizeResource(userType, { ...doc, schemas: [USER_SCHEMA] }), current.active);
    },
  });
  return one(ctx, m, { status: 200 });
}

export async function deleteUser(ctx: ScimContext, id: string, pre: Precondition): Promise<ScimResult> {
  await deleteMember(ctx.db, { orgId: ctx.orgId, actor: ctx.actor, id, ifVersion: pre.ifMatch });
  return { status: 204 };
}
