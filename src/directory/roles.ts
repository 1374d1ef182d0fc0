// Roles and what they may do. Built-in roles map to permissions once, here; every door asks `can()`.
// A caller's role is read on every request (an API key's at issue, a member's from the membership), so a
// role change takes effect on the very next request.
import type { Knex } from 'knex';

export const permissions = [
  'roster.view', // members and groups
  'members.manage', // invite, create, edit, deactivate, reactivate, remove members
  'roles.manage', // change roles, custom roles, groups
  'org.manage', // organisation settings, login configuration, SSO, SCIM tokens, API keys, clients
  'activity.view', // sessions and auth activity, revoking sessions
  'billing.manage', // billing and licences
  'org.own', // transfer ownership, delete the organisation
] as const;
export type Permission = (typeof permissions)[number];

const everything = new Set<Permission>(permissions);
const builtIn: Record<string, ReadonlySet<Permission>> = {
  owner: everything,
  admin: new Set<Permission>(['roster.view', 'members.manage', 'roles.manage', 'org.manage', 'activity.view']),
  member: new Set<Permission>(['roster.view']),
  billing: new Set<Permission>(['billing.manage']),
};

export const builtInRoles = Object.keys(builtIn);

/** Whether a caller with these permissions may hand out `role` (to a key, or a person): never more than it has. */
export function mayGrant(caller: ReadonlySet<Permission>, role: string): boolean {
  return builtInRoles.includes(role) && [...permissionsOf(role)].every((p) => caller.has(p));
}

/** What a role may do; an unknown role may do nothing. */
export function permissionsOf(role: string | null | undefined): ReadonlySet<Permission> {
  return (role && builtIn[role]) || new Set();
}

/** The role of the account's active membership in the organisation, or null (no membership, or deactivated). */
export async function activeRoleOf(db: Knex, input: { orgId: string; accountId: string }): Promise<string | null> {
  const row = await db('memberships as m').join('accounts as a', 'a.id', 'm.account_id')
    .where({ 'm.org_id': input.orgId, 'm.account_id': input.accountId, 'm.status': 'active', 'a.status': 'active' }).first('m.role');
  return row?.role ?? null;
}
