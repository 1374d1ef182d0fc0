// The admin API's request shapes, as zod schemas: they validate every request, and the OpenAPI document is
// generated from them (src/admin/openapi.ts). Unknown fields are refused (strict), so a typo is an error, not a no-op.
import { z } from 'zod';
import { permissions } from '../directory/roles.ts';

const email = z.string().trim().max(320).regex(/^[^\s@]+@[^\s@]+$/, 'not an e-mail address');
const id = z.uuid();
/** A role: a built-in one's name or a custom role's id. */
const role = z.string().min(1).max(100).describe('owner, admin, member, billing, or a custom role id')
  .transform((r) => (/^[0-9a-f-]{36}$/i.test(r) ? r.toLowerCase() : r)); // a custom role's id has one spelling

export const loginConfiguration = z.object({
  requireMfa: z.boolean(),
  mfaMethods: z.array(z.enum(['totp', 'email'])).min(1).max(2),
  loginProviders: z.array(z.enum(['password', 'sso'])).min(1).max(2),
  allowIdentityLinking: z.boolean(),
  ssoEnforced: z.boolean(),
}).partial().strict();

export const orgPatch = z.object({
  name: z.string().max(400),
  loginConfiguration,
  invitationLifetimeDays: z.number().int(),
  licenceLimit: z.number().int().nullable(),
}).partial().strict();

export const listQuery = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(200).optional(),
}).strict();

export const memberListQuery = listQuery.extend({
  search: z.string().max(200).optional(),
  status: z.enum(['active', 'deactivated', 'invited']).optional(),
  role: role.optional(),
}).strict();

export const memberCreate = z.object({
  name: z.string().trim().max(256).optional(),
  email,
  role,
  groupIds: z.array(id).max(100).optional(),
}).strict();

export const memberPatch = z.object({
  name: z.string().trim().max(256).nullable(),
  email,
  phone: z.string().trim().max(64).nullable(),
  role,
}).partial().strict();

export const transfer = z.object({ memberId: id }).strict();

export const invitationCreate = z.object({
  emails: z.array(z.string().max(320)).min(1).max(100),
  role,
  message: z.string().max(2500).nullable().optional(),
  groupIds: z.array(id).max(100).optional(),
}).strict();

export const invitationListQuery = listQuery.extend({
  status: z.enum(['pending', 'accepted', 'declined', 'expired', 'cancelled']).optional(),
}).strict();

const permission = z.enum(permissions);
export const roleCreate = z.object({
  name: z.string().trim().min(1).max(100),
  description: z.string().max(500).nullable().optional(),
  color: z.string().regex(/^#[0-9a-f]{6}$/, 'a colour is #rrggbb (lower-case hex)').nullable().optional(),
  permissions: z.array(permission).max(permissions.length),
}).strict();
export const rolePatch = roleCreate.partial().strict();

export const groupCreate = z.object({ name: z.string().trim().min(1).max(256), memberIds: z.array(id).max(1000).optional() }).strict();
export const groupPatch = z.object({ name: z.string().trim().min(1).max(256) }).strict();
export const groupMembersAdd = z.object({ memberIds: z.array(id).min(1).max(1000) }).strict();
export const groupRole = z.object({ role: role.nullable() }).strict();

/** Whose and when, for the activity lists (sessions and auth events). */
const activityFilters = {
  memberId: id.optional(),
  accountId: id.optional(),
  since: z.iso.datetime({ offset: true }).optional(),
  until: z.iso.datetime({ offset: true }).optional(),
};

export const sessionListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  all: z.enum(['true', 'false']).optional(),
  ...activityFilters,
}).strict();

export const authEventQuery = listQuery.extend({ outcome: z.enum(['success', 'failure']).optional(), ...activityFilters }).strict();

export const auditEventQuery = listQuery.extend({
  actor: z.string().max(200).optional(),
  action: z.string().max(100).optional(),
  target: z.string().max(200).optional(),
  since: z.iso.datetime({ offset: true }).optional(),
}).strict();

export const credentialCreate = z.object({ name: z.string().trim().min(1).max(200) }).strict();
export const apiKeyCreate = credentialCreate.extend({ role: z.enum(['owner', 'admin', 'member', 'billing']) }).strict();
export const clientCreate = z.object({
  name: z.string().min(1).max(200).optional(),
  redirectUris: z.array(z.string()).min(1).max(20),
  public: z.boolean().default(false),
}).strict();

export const empty = z.object({}).strict();

export const passwordChange = z.object({ currentPassword: z.string().min(1).max(1024), newPassword: z.string().min(1).max(1024) }).strict();
export const totpCode = z.object({ code: z.string().min(1).max(20) }).strict();

export const ssoConnectionPut = z.object({
  issuer: z.string().min(1).max(2000),
  clientId: z.string().min(1).max(1000),
  clientSecret: z.string().min(1).max(4096).optional(),
  domains: z.array(z.string().max(253)).min(1).max(20),
  jitProvisioning: z.boolean().optional(),
}).strict();

export const domainQuery = z.object({ domain: z.string().min(1).max(253) }).strict();
