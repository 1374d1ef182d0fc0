// /Users: the SCIM User is the organisation's membership. Each handler maps SCIM to one directory call.
import type { AccountProfile } from '../directory/accounts.ts';
import { createMember, deleteMember, getMember, listMembers, type Member, type MemberInput, updateMember } from '../directory/members.ts';
import { invalidValue, unauthorized } from './errors.ts';
import { listQueryOf, type StorageMap } from './filter.ts';
import { type ListParams, listResponse } from './list-params.ts';
import { type Doc, normalizeResource } from './normalize.ts';
import { applyPatch, type PatchOp, passwordIn } from './patch.ts';
import { project, type Projection, wants } from './projection.ts';
import { ENTERPRISE_SCHEMA, USER_SCHEMA, userType } from './schemas/resource-types.ts';
import { meta, type Precondition, type ScimContext, type ScimResult } from './context.ts';

export const userStorage: StorageMap = {
  columns: {
    id: { name: 'id', type: 'uuid' },
    userName: { name: 'userName', type: 'string' },
    externalId: { name: 'externalId', type: 'string' },
    displayName: { name: 'displayName', type: 'string' },
    active: { name: 'active', type: 'boolean' },
    'meta.created': { name: 'created', type: 'datetime' },
    'meta.lastModified': { name: 'lastModified', type: 'datetime' },
  },
  relation: { attribute: 'groups', name: 'group' },
  profile: true,
};

const promoted = new Set(['userName', 'externalId', 'displayName', 'active', 'password']);

type Entry = { value?: unknown; primary?: unknown };
function preferred(list: unknown): string | null {
  if (!Array.isArray(list) || list.length === 0) return null;
  const pick = (list as Entry[]).find((e) => e.primary === true) ?? (list[0] as Entry);
  return typeof pick?.value === 'string' ? pick.value : null;
}

/** The sign-in view of a person: login e-mail from the primary e-mail, else the first, else an e-mail userName. */
export function accountProfileOf(doc: Doc): AccountProfile {
  const email = preferred(doc.emails) ?? (String(doc.userName).includes('@') ? String(doc.userName) : null);
  if (!email) throw invalidValue('a user needs an e-mail address: give "emails", or a userName that is an e-mail address');
  const name = (doc.name ?? {}) as Record<string, string | undefined>;
  return {
    email,
    givenName: name.givenName ?? null,
    familyName: name.familyName ?? null,
    displayName: (doc.displayName as string | undefined) ?? name.formatted ?? null,
    phone: preferred(doc.phoneNumbers),
  };
}

/**
 * A normalised SCIM document -> what the directory stores. An absent `active` keeps the current state
 * (a new user is active): removing the attribute must not quietly reactivate a deactivated person.
 */
export function toMemberInput(doc: Doc, currentActive = true): MemberInput {
  const profile: Doc = {};
  for (const [k, v] of Object.entries(doc)) if (!promoted.has(k)) profile[k] = v;
  return {
    userName: doc.userName as string,
    externalId: (doc.externalId as string | undefined) ?? null,
    displayName: (doc.displayName as string | undefined) ?? null,
    active: doc.active === undefined ? currentActive : (doc.active as boolean),
    profile,
    account: accountProfileOf(doc),
  };
}

/** The write-only password of a document, handed to the directory apart from the stored attributes. */
const credentialsOf = (doc: Doc) => (typeof doc.password === 'string' ? { password: doc.password } : {});

/** The writable document of a member, the starting point of a PATCH. */
function toDoc(m: Member): Doc {
  return {
    ...structuredClone(m.profile),
    userName: m.userName,
    ...(m.externalId !== null ? { externalId: m.externalId } : {}),
    ...(m.displayName !== null ? { displayName: m.displayName } : {}),
    active: m.active,
  };
}

export function toScimUser(m: Member, baseUrl: string): Record<string, unknown> {
  const location = `${baseUrl}/Users/${m.id}`;
  const { [ENTERPRISE_SCHEMA]: enterprise, ...core } = m.profile as Doc;
  const ext = enterprise as Doc | undefined;
  const manager = ext?.manager as Doc | undefined;
  return {
    schemas: ext ? [USER_SCHEMA, ENTERPRISE_SCHEMA] : [USER_SCHEMA],
    id: m.id,
    ...(m.externalId !== null ? { externalId: m.externalId } : {}),
    userName: m.userName,
    ...(m.displayName !== null ? { displayName: m.displayName } : {}),
    active: m.active,
    ...core,
    ...(m.groups ? { groups: m.groups.map((g) => ({ value: g.id, $ref: `${baseUrl}/Groups/${g.id}`, display: g.displayName, type: 'direct' })) } : {}),
    ...(ext ? { [ENTERPRISE_SCHEMA]: manager?.value ? { ...ext, manager: { ...manager, $ref: `${baseUrl}/Users/${manager.value}` } } : ext } : {}),
    meta: meta('User', location, m.createdAt, m.updatedAt, m.version),
  };
}

function one(ctx: ScimContext, m: Member, status: number, projection?: Projection): ScimResult {
  const body = toScimUser(m, ctx.baseUrl);
  return { status, body: projection ? project(body, projection) : body, version: m.version, location: `${ctx.baseUrl}/Users/${m.id}` };
}

export async function createUser(ctx: ScimContext, body: unknown): Promise<ScimResult> {
  const doc = normalizeResource(userType, body);
  const m = await createMember(ctx.db, ctx.orgId, ctx.actor, toMemberInput(doc), credentialsOf(doc));
  return one(ctx, m, 201);
}

export async function getUser(ctx: ScimContext, id: string, projection: Projection): Promise<ScimResult> {
  const m = await getMember(ctx.db, ctx.orgId, id, { withGroups: wants(projection, 'groups') });
  return one(ctx, m, 200, projection);
}

export async function listUsers(ctx: ScimContext, params: ListParams): Promise<ScimResult> {
  const { projection, ...query } = listQueryOf(userType, userStorage, params);
  const { total, members, tokenActive } = await listMembers(ctx.db, ctx.orgId, {
    ...query, withGroups: wants(projection, 'groups'), verifyToken: ctx.deferred?.tokenId,
  });
  // A deferred token check: the page's own statement confirmed it, or (no row, or refused) the full check decides.
  if (ctx.deferred && tokenActive !== true && !(await ctx.deferred.authenticate())) throw unauthorized();
  if (ctx.deferred) ctx.deferred.confirmed = true;
  return { status: 200, body: listResponse(total, params.startIndex, members.map((m) => project(toScimUser(m, ctx.baseUrl), projection))) };
}

export async function replaceUser(ctx: ScimContext, id: string, body: unknown, pre: Precondition): Promise<ScimResult> {
  const doc = normalizeResource(userType, body);
  const m = await updateMember(ctx.db, ctx.orgId, ctx.actor, id, (current) => toMemberInput(doc, current.active), { ...pre, ...credentialsOf(doc) });
  return one(ctx, m, 200);
}

export async function patchUser(ctx: ScimContext, id: string, ops: PatchOp[], pre: Precondition): Promise<ScimResult> {
  // The password is hashed before the directory's transaction starts, so it is read from the operations first.
  const password = passwordIn(userType, ops);
  const m = await updateMember(ctx.db, ctx.orgId, ctx.actor, id, (current) => {
    const doc = toDoc(current);
    applyPatch(userType, doc, ops);
    const normalized = normalizeResource(userType, { ...doc, schemas: [USER_SCHEMA] });
    return toMemberInput(normalized, current.active);
  }, { ...pre, ...(password === undefined ? {} : { password }) });
  return one(ctx, m, 200);
}

export async function deleteUser(ctx: ScimContext, id: string, pre: Precondition): Promise<ScimResult> {
  await deleteMember(ctx.db, ctx.orgId, ctx.actor, id, pre);
  return { status: 204 };
}

