// Roles and what they may do. Built-in roles map to permissions once, here; custom roles are rows of the
// organisation (a name, a description, a colour and a set of the same permissions), named by their id.
// A member may do what their own role allows plus what the roles of their groups grant (never `owner`: a
// group does not make an owner). It is read on every request, so a role change, or a change of group in the
// identity provider, takes effect on the very next one.
import type { Knex } from 'knex';
import { type Actor, recordAudit } from './audit.ts';
import { Conflict, Forbidden, Invalid, NotFound, uniqueViolation } from './errors.ts';
import { isUuid } from './predicate.ts';

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
const builtIn: Record<string, { name: string; description: string; permissions: ReadonlySet<Permission> }> = {
  owner: { name: 'Owner', description: 'Everything, including transferring ownership. Exactly one per organisation.', permissions: everything },
  admin: {
    name: 'Admin', description: 'Runs the team: members, roles, groups, settings, sessions and activity.',
    permissions: new Set<Permission>(['roster.view', 'members.manage', 'roles.manage', 'org.manage', 'activity.view']),
  },
  member: { name: 'Member', description: 'Sees the roster.', permissions: new Set<Permission>(['roster.view']) },
  billing: { name: 'Billing', description: 'Billing and licences only; takes no licence seat.', permissions: new Set<Permission>(['billing.manage']) },
};

export const builtInRoles = Object.keys(builtIn);
/** The role that takes no licence seat. */
export const SEATLESS_ROLE = 'billing';

/** A built-in role's name as people read it ("Admin"); another string as it is. */
export const builtInRoleName = (role: string): string => builtIn[role]?.name ?? role;

/** Whether a caller with these permissions may hand out a role with `granted`: never more than it has. */
export function mayGrant(caller: ReadonlySet<Permission>, granted: ReadonlySet<Permission>): boolean {
  return [...granted].every((p) => caller.has(p));
}

/** What a built-in role may do; an unknown role may do nothing. (Custom roles: `rolePermissions`.) */
export function permissionsOf(role: string | null | undefined): ReadonlySet<Permission> {
  return (role && builtIn[role]?.permissions) || new Set();
}

export type Role = { id: string; name: string; description: string | null; color: string | null; permissions: Permission[]; builtIn: boolean; memberCount: number };

const roleNotFound = (id: string) => new NotFound(`no role ${id} in this organisation`, { field: 'role', rule: 'role_not_found' });

/** What a role of the organisation (built-in or custom) may do; Invalid when the organisation has no such role. */
export async function rolePermissions(db: Knex, input: { orgId: string; role: string }): Promise<ReadonlySet<Permission>> {
  if (builtIn[input.role]) return builtIn[input.role].permissions;
  const row = isUuid(input.role) ? await db('roles').where({ org_id: input.orgId, id: input.role }).first('permissions') : undefined;
  if (!row) throw new Invalid(`"${input.role}" is not a role of this organisation (${builtInRoles.join(', ')}, or a custom role's id)`, { field: 'role', rule: 'unknown_role' });
  return new Set(row.permissions as Permission[]);
}

/** The roles a member holds (own and granted by groups), and the permissions of the custom ones among them. */
type HeldRoles = { held: string[]; custom: string[] };

/** Everything the held roles allow: the built-in ones' permissions and the custom ones' (unknown names dropped). */
function permissionsHeld({ held, custom }: HeldRoles): Set<Permission> {
  const all = new Set<Permission>(custom.filter((p): p is Permission => (permissions as readonly string[]).includes(p)));
  for (const r of held) for (const p of permissionsOf(r)) all.add(p);
  return all;
}

/**
 * Who the account is in the organisation now: its own role and everything it may do (its role's permissions
 * and those of the roles its groups grant), or null when it has no active membership. One statement.
 */
export async function standingOf(db: Knex, input: { orgId: string; accountId: string }): Promise<{ memberId: string; role: string; permissions: ReadonlySet<Permission> } | null> {
  const { rows } = await db.raw(
    `with me as (
       select m.id, m.role from memberships m join accounts a on a.id = m.account_id
       where m.org_id = ? and m.account_id = ? and m.status = 'active' and a.status = 'active'
     ), held as (
       select role from me
       union
       select g.role from me join group_members gm on gm.org_id = ? and gm.membership_id = me.id
         join groups g on g.org_id = gm.org_id and g.id = gm.group_id
       where g.role is not null and g.role <> 'owner'
     )
     select me.id, me.role, array(select role from held) as held,
       array(select distinct unnest(r.permissions) from roles r where r.org_id = ? and r.id::text in (select role from held)) as custom
     from me`,
    [input.orgId, input.accountId, input.orgId, input.orgId],
  );
  const row = rows[0] as ({ id: string; role: string } & HeldRoles) | undefined;
  return row ? { memberId: row.id, role: row.role, permissions: permissionsHeld(row) } : null;
}

/**
 * Everything a member may do (own role and their groups' roles), whatever their status: what a caller acting on
 * them must be able to do itself (nobody takes over, resets or removes someone who can do more than they can).
 */
export async function memberPermissions(db: Knex, input: { orgId: string; memberId: string }): Promise<ReadonlySet<Permission>> {
  const { rows } = await db.raw(
    `with held as (
       select role from memberships where org_id = ? and id = ?
       union
       select g.role from group_members gm join groups g on g.org_id = gm.org_id and g.id = gm.group_id
       where gm.org_id = ? and gm.membership_id = ? and g.role is not null and g.role <> 'owner'
     )
     select array(select role from held) as held,
       array(select distinct unnest(r.permissions) from roles r where r.org_id = ? and r.id::text in (select role from held)) as custom`,
    [input.orgId, input.memberId, input.orgId, input.memberId, input.orgId],
  );
  return permissionsHeld(rows[0] as HeldRoles);
}

/** The organisation's roles: the built-in ones, then its custom roles by name; each with how many members hold it as their own. */
export async function listRoles(db: Knex, input: { orgId: string }): Promise<Role[]> {
  const counts = new Map<string, number>(
    ((await db('memberships').where({ org_id: input.orgId }).groupBy('role').select('role').count({ n: '*' })) as { role: string; n: string }[])
      .map((r) => [r.role, Number(r.n)]),
  );
  const custom = await db('roles').where({ org_id: input.orgId }).orderByRaw('lower(name), id').select('id', 'name', 'description', 'color', 'permissions');
  return [
    ...Object.entries(builtIn).map(([id, r]) => ({ id, name: r.name, description: r.description, color: null, permissions: [...r.permissions], builtIn: true, memberCount: counts.get(id) ?? 0 })),
    ...custom.map((r) => ({ id: r.id, name: r.name, description: r.description, color: r.color, permissions: r.permissions, builtIn: false, memberCount: counts.get(r.id) ?? 0 })),
  ];
}

export type RoleInput = { name: string; description?: string | null; color?: string | null; permissions: Permission[] };

function checkRole(input: Partial<RoleInput>): void {
  if (input.name !== undefined) {
    const name = input.name.trim();
    if (name.length === 0 || name.length > 100) throw new Invalid('a role name is 1 to 100 characters', { field: 'name', rule: 'length' });
    if (builtInRoles.includes(name.toLowerCase())) throw new Conflict('name', `"${name}" is the name of a built-in role`, 'role_name_taken');
  }
  if (input.description != null && input.description.length > 500) throw new Invalid('a description is at most 500 characters', { field: 'description', rule: 'length' });
  if (input.color != null && !/^#[0-9a-f]{6}$/.test(input.color)) throw new Invalid('a colour is written #rrggbb (lower-case hex)', { field: 'color', rule: 'malformed' });
  if (input.permissions?.includes('org.own')) throw new Invalid('org.own belongs to the owner alone: no custom role carries it', { field: 'permissions', rule: 'owner_permission' });
  const unknown = input.permissions?.find((p) => !(permissions as readonly string[]).includes(p));
  if (unknown) throw new Invalid(`"${unknown}" is not a permission (${permissions.join(', ')})`, { field: 'permissions', rule: 'unknown_value' });
}

function mapRoleUnique(err: unknown): never {
  if (uniqueViolation(err) === 'roles_name_key') throw new Conflict('name', 'the organisation already has a role with this name', 'role_name_taken');
  throw err;
}

/** A custom role; the caller may create only a role that does no more than it may itself. */
export async function createRole(db: Knex, input: { orgId: string; actor: Actor; grantor: ReadonlySet<Permission>; role: RoleInput }): Promise<Role> {
  checkRole(input.role);
  const perms = [...new Set(input.role.permissions)];
  if (!mayGrant(input.grantor, new Set(perms))) throw new Forbidden('a role cannot carry a permission you do not have', { field: 'permissions', rule: 'escalation' });
  return db.transaction(async (trx) => {
    let row;
    try {
      [row] = await trx('roles').insert({
        org_id: input.orgId, name: input.role.name.trim(), description: input.role.description ?? null, color: input.role.color ?? null,
        permissions: trx.raw('?::text[]', [`{${perms.join(',')}}`]),
      }).returning(['id', 'name', 'description', 'color', 'permissions']);
    } catch (err) {
      mapRoleUnique(err);
    }
    await recordAudit(trx, { orgId: input.orgId, actor: input.actor, action: 'role.created', targetType: 'role', targetId: row.id, details: { name: row.name, permissions: perms } });
    return { ...row, builtIn: false, memberCount: 0 };
  });
}

/** Changes a custom role (built-in roles are fixed); who holds it gets the new permissions on their next request. */
export async function updateRole(db: Knex, input: { orgId: string; actor: Actor; grantor: ReadonlySet<Permission>; id: string; change: Partial<RoleInput> }): Promise<Role> {
  if (builtIn[input.id]) throw new Forbidden(`the built-in role ${input.id} cannot be changed`, { field: 'role', rule: 'built_in_role' });
  if (!isUuid(input.id)) throw roleNotFound(input.id);
  checkRole(input.change);
  return db.transaction(async (trx) => {
    const current = await trx('roles').where({ org_id: input.orgId, id: input.id }).forUpdate().first('permissions');
    if (!current) throw roleNotFound(input.id);
    // Neither what it did nor what it will do may exceed the caller's own permissions.
    const perms = input.change.permissions ? [...new Set(input.change.permissions)] : undefined;
    if (!mayGrant(input.grantor, new Set([...(current.permissions as Permission[]), ...(perms ?? [])]))) {
      throw new Forbidden('this role carries, or would carry, a permission you do not have', { field: 'permissions', rule: 'escalation' });
    }
    const row: Record<string, unknown> = { updated_at: trx.fn.now() };
    if (input.change.name !== undefined) row.name = input.change.name.trim();
    if (input.change.description !== undefined) row.description = input.change.description;
    if (input.change.color !== undefined) row.color = input.change.color;
    if (perms) row.permissions = trx.raw('?::text[]', [`{${perms.join(',')}}`]);
    try {
      await trx('roles').where({ org_id: input.orgId, id: input.id }).update(row);
    } catch (err) {
      mapRoleUnique(err);
    }
    await recordAudit(trx, { orgId: input.orgId, actor: input.actor, action: 'role.updated', targetType: 'role', targetId: input.id, details: { ...input.change } });
    return (await listRoles(trx, { orgId: input.orgId })).find((r) => r.id === input.id)!;
  });
}

/** Deletes a custom role that nobody holds: no member, group, or pending invitation names it. */
export async function deleteRole(db: Knex, input: { orgId: string; actor: Actor; grantor: ReadonlySet<Permission>; id: string }): Promise<void> {
  if (builtIn[input.id]) throw new Forbidden(`the built-in role ${input.id} cannot be deleted`, { field: 'role', rule: 'built_in_role' });
  if (!isUuid(input.id)) throw roleNotFound(input.id);
  await db.transaction(async (trx) => {
    const current = await trx('roles').where({ org_id: input.orgId, id: input.id }).forUpdate().first('name', 'permissions');
    if (!current) throw roleNotFound(input.id);
    if (!mayGrant(input.grantor, new Set(current.permissions as Permission[]))) throw new Forbidden('this role carries a permission you do not have', { field: 'role', rule: 'escalation' });
    const inUse = await trx.raw(
      `select exists (select 1 from memberships where org_id = ? and role = ?) or exists (select 1 from groups where org_id = ? and role = ?)
         or exists (select 1 from invitations where org_id = ? and role = ? and status = 'pending') as used`,
      [input.orgId, input.id, input.orgId, input.id, input.orgId, input.id],
    );
    if (inUse.rows[0].used) throw new Conflict('role', 'the role is in use (by a member, a group or a pending invitation): give them another role first', 'role_in_use');
    await trx('roles').where({ org_id: input.orgId, id: input.id }).delete();
    await recordAudit(trx, { orgId: input.orgId, actor: input.actor, action: 'role.deleted', targetType: 'role', targetId: input.id, details: { name: current.name } });
  });
}
