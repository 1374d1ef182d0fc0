// The admin API's routes, as data: method, path, the permissions it needs, its request schemas (zod) and
// what it does. The router serves them; the OpenAPI document describes them; nothing else lists them.
import type { Request } from 'express';
import type { Knex } from 'knex';
import type { z } from 'zod';
import { listAuditEvents } from '../directory/audit.ts';
import { listAuthEvents } from '../directory/auth-events.ts';
import { createClient, listClients, revokeClient } from '../directory/clients.ts';
import { createCredential, listCredentials, revokeCredentialBy } from '../directory/credentials.ts';
import { changeGroup, createGroup, deleteGroup, getGroup, listGroupSummaries, setGroupRole } from '../directory/groups.ts';
import { accountOfMember, seatsUsed } from '../directory/members.ts';
import { cancelInvitation, createInvitations, getInvitation, type InvitationMail, listInvitations, resendInvitation } from '../directory/invitations.ts';
import { getOrganizationSettings, updateLoginConfig, updateOrganizationSettings } from '../directory/organizations.ts';
import { enqueueMail } from '../directory/outbox.ts';
import { isUuid } from '../directory/predicate.ts';
import { createRole, deleteRole, listRoles, type Permission, updateRole } from '../directory/roles.ts';
import { encodeCursor, getRosterMember, isIsoInstant, listRoster } from '../directory/roster.ts';
import { countSessions, listSessions, revokeSession } from '../directory/sessions.ts';
import { domainVerificationRecord, getSsoConnection, normalizeDomain, removeSsoConnection, setSsoConnection, type SsoConnection, unprovenDomains } from '../directory/sso.ts';
import {
  addMember, type Caller, editMember, removeMember, resetMemberMfa, resetMemberPassword, setMemberActive, transferOwnership,
} from '../directory/team.ts';
import { invitationMessage } from '../mail/templates.ts';
import QRCode from 'qrcode';
import { confirmTotpEnrolment, regenerateRecoveryCodes, removeTotp, startTotpEnrolment, type TotpProof } from '../directory/mfa.ts';
import { changeOwnPassword, myAccount } from '../directory/my-account.ts';
import { createPasswordHasher } from '../directory/passwords.ts';
import type { AdminDeps } from './router.ts';
import { Problem } from './problems.ts';
import * as s from './schemas.ts';

export type AdminContext = {
  db: Knex; deps: AdminDeps; caller: Caller; params: Record<string, string>; query: Record<string, unknown>; body: unknown; req: Request;
};

export type AdminRoute = {
  method: 'get' | 'post' | 'patch' | 'put' | 'delete';
  path: string;
  summary: string;
  tag: string;
  /** Every one is needed (none: any member or key of the organisation). */
  permissions?: Permission[];
  query?: z.ZodObject;
  body?: z.ZodType;
  /** A person's own account: refused (403 user_only) to an API key before anything else is read. */
  self?: true;
  /** The status of a success with a body (200 unless given); a handler that returns nothing answers 204. */
  status?: number;
  handler: (ctx: AdminContext) => Promise<unknown>;
};

const ORG = '/orgs/{orgId}';

/** The invitation e-mail, queued in the transaction that creates (or resends) the invitation. */
const sendInvitation = (issuer: string) => async (trx: Knex, mail: InvitationMail) => {
  const link = `${issuer}/account/invitation?token=${encodeURIComponent(mail.token)}`;
  await enqueueMail(trx, { orgId: mail.orgId, to: mail.to, ...invitationMessage({ ...mail, link }) });
};

/** A member's account, for filters by member. */
async function accountOf(ctx: AdminContext, memberId: unknown): Promise<string | undefined> {
  if (memberId === undefined) return (ctx.query.accountId as string | undefined);
  return accountOfMember(ctx.db, { orgId: ctx.caller.orgId, memberId: memberId as string });
}

/** An event list's cursor: the nextCursor of the page before (an event id). */
function eventCursor(cursor: unknown): number | undefined {
  if (cursor === undefined) return undefined;
  if (typeof cursor !== 'string' || !/^\d{1,18}$/.test(cursor)) throw new Problem('invalid_request', 'cursor is the nextCursor of a previous page', { errors: [{ field: 'cursor', message: 'not a cursor this API gave' }] });
  return Number(cursor);
}

const date = (v: unknown) => (v === undefined ? undefined : new Date(v as string));

function invitationCursor(cursor: unknown): { at: string; id: string } | undefined {
  if (cursor === undefined) return undefined;
  const [at, id] = Buffer.from(String(cursor), 'base64url').toString().split('|');
  if (!id || !isUuid(id) || !isIsoInstant(at)) throw new Problem('invalid_request', 'cursor is the nextCursor of a previous page', { errors: [{ field: 'cursor', message: 'not a cursor this API gave' }] });
  return { at, id };
}

/** The organisation as its members see it: settings, licences in use, and what the caller may do there. */
async function orgView(ctx: AdminContext) {
  const settings = await getOrganizationSettings(ctx.db, { orgId: ctx.caller.orgId });
  return { ...settings, licencesUsed: await seatsUsed(ctx.db, ctx.caller.orgId), permissions: [...ctx.caller.permissions] };
}

const member = (ctx: AdminContext) => getRosterMember(ctx.db, { orgId: ctx.caller.orgId, memberId: ctx.params.memberId });

export const routes: AdminRoute[] = [
  // The organisation
  {
    method: 'get', path: ORG, tag: 'Organisation', summary: 'The organisation: name, login configuration, invitation lifetime, licences',
    handler: (ctx) => orgView(ctx),
  },
  {
    method: 'patch', path: ORG, tag: 'Organisation', body: s.orgPatch,
    summary: 'Change the name, login configuration, invitation lifetime (org.manage) or licence limit (billing.manage)',
    handler: async (ctx) => {
      const change = ctx.body as z.infer<typeof s.orgPatch>;
      const need = (p: Permission) => { if (!ctx.caller.permissions.has(p)) throw new Problem('forbidden', `this needs the ${p} permission`); };
      if (change.name !== undefined || change.loginConfiguration !== undefined || change.invitationLifetimeDays !== undefined) need('org.manage');
      if (change.licenceLimit !== undefined) need('billing.manage');
      const { orgId, actor } = ctx.caller;
      await ctx.db.transaction(async (trx) => {
        if (change.loginConfiguration && Object.keys(change.loginConfiguration).length) await updateLoginConfig(trx, { orgId, actor, change: change.loginConfiguration });
        await updateOrganizationSettings(trx, { orgId, actor, change: { name: change.name, invitationLifetimeDays: change.invitationLifetimeDays, licenceLimit: change.licenceLimit } });
      });
      return orgView(ctx);
    },
  },
  {
    method: 'post', path: `${ORG}/transfer-ownership`, tag: 'Organisation', permissions: ['org.own'], body: s.transfer,
    summary: 'Make an admin the owner; the owner becomes an admin',
    handler: async (ctx) => {
      await transferOwnership(ctx.db, { caller: ctx.caller, memberId: (ctx.body as z.infer<typeof s.transfer>).memberId });
      return getRosterMember(ctx.db, { orgId: ctx.caller.orgId, memberId: (ctx.body as z.infer<typeof s.transfer>).memberId });
    },
  },

  // Members
  {
    method: 'get', path: `${ORG}/members`, tag: 'Members', permissions: ['roster.view'], query: s.memberListQuery,
    summary: 'The roster: members and pending invitations; search by name or e-mail, filter by status and role',
    handler: async (ctx) => {
      const q = ctx.query as z.infer<typeof s.memberListQuery>;
      return listRoster(ctx.db, { orgId: ctx.caller.orgId, search: q.search, status: q.status, role: q.role, limit: q.limit, cursor: q.cursor });
    },
  },
  {
    method: 'post', path: `${ORG}/members`, tag: 'Members', permissions: ['members.manage'], body: s.memberCreate, status: 201,
    summary: 'Add a member directly; a new account gets a temporary password, returned once',
    handler: async (ctx) => {
      const b = ctx.body as z.infer<typeof s.memberCreate>;
      const added = await addMember(ctx.db, { caller: ctx.caller, name: b.name, email: b.email, role: b.role, groupIds: b.groupIds, passwords: ctx.deps.passwords });
      return { member: await getRosterMember(ctx.db, { orgId: ctx.caller.orgId, memberId: added.memberId }), temporaryPassword: added.temporaryPassword };
    },
  },
  { method: 'get', path: `${ORG}/members/{memberId}`, tag: 'Members', permissions: ['roster.view'], summary: 'One member', handler: member },
  {
    method: 'patch', path: `${ORG}/members/{memberId}`, tag: 'Members', permissions: ['members.manage'], body: s.memberPatch,
    summary: "Change a member's profile (accounts this organisation manages) or role (roles.manage)",
    handler: async (ctx) => {
      const b = ctx.body as z.infer<typeof s.memberPatch>;
      if (b.role !== undefined) {
        if (!ctx.caller.permissions.has('roles.manage')) throw new Problem('forbidden', 'this needs the roles.manage permission');
      }
      const { role, ...profile } = b;
      // Both or neither, and one audit event: a profile refused leaves the role as it was, and the other way round.
      await editMember(ctx.db, { caller: ctx.caller, memberId: ctx.params.memberId, profile, role });
      return member(ctx);
    },
  },
  {
    method: 'delete', path: `${ORG}/members/{memberId}`, tag: 'Members', permissions: ['members.manage'],
    summary: 'Remove a member from the organisation and its groups (their audit history stays)',
    handler: async (ctx) => { await removeMember(ctx.db, { caller: ctx.caller, memberId: ctx.params.memberId }); },
  },
  {
    method: 'post', path: `${ORG}/members/{memberId}/deactivate`, tag: 'Members', permissions: ['members.manage'], body: s.empty,
    summary: 'Deactivate: every session and refresh token for this organisation ends at once; data is kept',
    handler: async (ctx) => { await setMemberActive(ctx.db, { caller: ctx.caller, memberId: ctx.params.memberId, active: false }); return member(ctx); },
  },
  {
    method: 'post', path: `${ORG}/members/{memberId}/reactivate`, tag: 'Members', permissions: ['members.manage'], body: s.empty,
    summary: 'Reactivate a deactivated member (takes a licence seat)',
    handler: async (ctx) => { await setMemberActive(ctx.db, { caller: ctx.caller, memberId: ctx.params.memberId, active: true }); return member(ctx); },
  },
  {
    method: 'post', path: `${ORG}/members/{memberId}/reset-password`, tag: 'Members', permissions: ['members.manage'], body: s.empty,
    summary: 'A new temporary password (returned once); every session of the person ends',
    handler: async (ctx) => resetMemberPassword(ctx.db, { caller: ctx.caller, memberId: ctx.params.memberId, passwords: ctx.deps.passwords }),
  },
  {
    method: 'post', path: `${ORG}/members/{memberId}/reset-mfa`, tag: 'Members', permissions: ['members.manage'], body: s.empty,
    summary: "Clear the member's TOTP and recovery codes and end their sessions here",
    handler: async (ctx) => { await resetMemberMfa(ctx.db, { caller: ctx.caller, memberId: ctx.params.memberId }); return member(ctx); },
  },

  // Invitations
  {
    method: 'post', path: `${ORG}/invitations`, tag: 'Invitations', permissions: ['members.manage'], body: s.invitationCreate, status: 201,
    summary: 'Invite one or more people by e-mail with one role, groups and a message',
    handler: async (ctx) => {
      const b = ctx.body as z.infer<typeof s.invitationCreate>;
      const items = await createInvitations(ctx.db, { caller: ctx.caller, emails: b.emails, role: b.role, message: b.message, groupIds: b.groupIds, send: sendInvitation(ctx.deps.issuer) });
      return { items };
    },
  },
  {
    method: 'get', path: `${ORG}/invitations`, tag: 'Invitations', permissions: ['members.manage'], query: s.invitationListQuery,
    summary: 'Invitations, newest first, with status, inviter and expiry',
    handler: async (ctx) => {
      const q = ctx.query as z.infer<typeof s.invitationListQuery>;
      const page = await listInvitations(ctx.db, { orgId: ctx.caller.orgId, status: q.status, limit: q.limit, before: invitationCursor(q.cursor) });
      return { items: page.items, total: page.total, nextCursor: page.next ? encodeCursor(page.next.at, page.next.id) : null };
    },
  },
  {
    method: 'get', path: `${ORG}/invitations/{invitationId}`, tag: 'Invitations', permissions: ['members.manage'], summary: 'One invitation',
    handler: (ctx) => getInvitation(ctx.db, { orgId: ctx.caller.orgId, id: ctx.params.invitationId }),
  },
  {
    method: 'post', path: `${ORG}/invitations/{invitationId}/resend`, tag: 'Invitations', permissions: ['members.manage'], body: s.empty,
    summary: 'Send a new link (the old one stops working) with a fresh expiry',
    handler: (ctx) => resendInvitation(ctx.db, { caller: ctx.caller, id: ctx.params.invitationId, send: sendInvitation(ctx.deps.issuer) }),
  },
  {
    method: 'delete', path: `${ORG}/invitations/{invitationId}`, tag: 'Invitations', permissions: ['members.manage'], summary: 'Cancel a pending invitation',
    handler: async (ctx) => { await cancelInvitation(ctx.db, { caller: ctx.caller, id: ctx.params.invitationId }); },
  },

  // Roles
  {
    method: 'get', path: `${ORG}/roles`, tag: 'Roles', summary: 'Built-in and custom roles with their permissions',
    handler: async (ctx) => { const items = await listRoles(ctx.db, { orgId: ctx.caller.orgId }); return { items, total: items.length, nextCursor: null }; },
  },
  {
    method: 'post', path: `${ORG}/roles`, tag: 'Roles', permissions: ['roles.manage'], body: s.roleCreate, status: 201, summary: 'Create a custom role',
    handler: (ctx) => createRole(ctx.db, { orgId: ctx.caller.orgId, actor: ctx.caller.actor, grantor: ctx.caller.permissions, role: ctx.body as z.infer<typeof s.roleCreate> }),
  },
  {
    method: 'patch', path: `${ORG}/roles/{roleId}`, tag: 'Roles', permissions: ['roles.manage'], body: s.rolePatch, summary: 'Change a custom role',
    handler: (ctx) => updateRole(ctx.db, { orgId: ctx.caller.orgId, actor: ctx.caller.actor, grantor: ctx.caller.permissions, id: ctx.params.roleId, change: ctx.body as z.infer<typeof s.rolePatch> }),
  },
  {
    method: 'delete', path: `${ORG}/roles/{roleId}`, tag: 'Roles', permissions: ['roles.manage'], summary: 'Delete a custom role nobody holds',
    handler: async (ctx) => { await deleteRole(ctx.db, { orgId: ctx.caller.orgId, actor: ctx.caller.actor, grantor: ctx.caller.permissions, id: ctx.params.roleId }); },
  },

  // Groups
  {
    method: 'get', path: `${ORG}/groups`, tag: 'Groups', permissions: ['roster.view'], query: s.listQuery,
    summary: 'Groups by name, with who manages them (scim or admin), the role they grant and their size',
    handler: async (ctx) => {
      const q = ctx.query as z.infer<typeof s.listQuery>;
      const [name, id] = q.cursor ? Buffer.from(q.cursor, 'base64url').toString().split('\u0000') : [];
      const page = await listGroupSummaries(ctx.db, { orgId: ctx.caller.orgId, limit: q.limit, ...(q.cursor ? { after: { name: name ?? '', id: id ?? '' } } : {}) });
      return { items: page.items, total: page.total, nextCursor: page.next ? Buffer.from(`${page.next.name}\u0000${page.next.id}`).toString('base64url') : null };
    },
  },
  {
    method: 'post', path: `${ORG}/groups`, tag: 'Groups', permissions: ['roles.manage'], body: s.groupCreate, status: 201, summary: 'Create a group (edited here, not by SCIM)',
    handler: async (ctx) => {
      const b = ctx.body as z.infer<typeof s.groupCreate>;
      return groupView(await createGroup(ctx.db, { orgId: ctx.caller.orgId, actor: ctx.caller.actor, group: { displayName: b.name, externalId: null }, memberIds: b.memberIds, managedBy: 'admin' }));
    },
  },
  {
    method: 'get', path: `${ORG}/groups/{groupId}`, tag: 'Groups', permissions: ['roster.view'], summary: 'One group and its members',
    handler: async (ctx) => groupView(await getGroup(ctx.db, { orgId: ctx.caller.orgId, id: ctx.params.groupId, withMembers: true })),
  },
  {
    method: 'patch', path: `${ORG}/groups/{groupId}`, tag: 'Groups', permissions: ['roles.manage'], body: s.groupPatch, summary: 'Rename a group made here',
    handler: async (ctx) => groupView(await changeGroup(ctx.db, {
      orgId: ctx.caller.orgId, actor: ctx.caller.actor, id: ctx.params.groupId, door: 'admin',
      change: { attributes: (current) => ({ ...current, displayName: (ctx.body as z.infer<typeof s.groupPatch>).name }) },
    })),
  },
  {
    method: 'delete', path: `${ORG}/groups/{groupId}`, tag: 'Groups', permissions: ['roles.manage'], summary: 'Delete a group made here',
    handler: async (ctx) => { await deleteGroup(ctx.db, { orgId: ctx.caller.orgId, actor: ctx.caller.actor, id: ctx.params.groupId, door: 'admin', grantor: ctx.caller.permissions }); },
  },
  {
    method: 'get', path: `${ORG}/groups/{groupId}/members`, tag: 'Groups', permissions: ['roster.view'], summary: "A group's members",
    handler: async (ctx) => {
      const items = (await getGroup(ctx.db, { orgId: ctx.caller.orgId, id: ctx.params.groupId, withMembers: true })).members ?? [];
      return { items: items.map((m) => ({ id: m.id, name: m.displayName, userName: m.userName })), total: items.length, nextCursor: null };
    },
  },
  {
    method: 'post', path: `${ORG}/groups/{groupId}/members`, tag: 'Groups', permissions: ['roles.manage'], body: s.groupMembersAdd, summary: 'Add members to a group made here',
    handler: async (ctx) => groupView(await changeGroup(ctx.db, {
      orgId: ctx.caller.orgId, actor: ctx.caller.actor, id: ctx.params.groupId, door: 'admin', grantor: ctx.caller.permissions, change: { add: (ctx.body as z.infer<typeof s.groupMembersAdd>).memberIds },
    })),
  },
  {
    method: 'delete', path: `${ORG}/groups/{groupId}/members/{memberId}`, tag: 'Groups', permissions: ['roles.manage'], summary: 'Take a member out of a group made here',
    handler: async (ctx) => {
      await changeGroup(ctx.db, { orgId: ctx.caller.orgId, actor: ctx.caller.actor, id: ctx.params.groupId, door: 'admin', grantor: ctx.caller.permissions, change: { remove: [ctx.params.memberId] } });
    },
  },
  {
    method: 'put', path: `${ORG}/groups/{groupId}/role`, tag: 'Groups', permissions: ['roles.manage'], body: s.groupRole,
    summary: "The role a group (SCIM-provisioned ones too) grants its members besides their own; null for none",
    handler: async (ctx) => groupView(await setGroupRole(ctx.db, {
      orgId: ctx.caller.orgId, actor: ctx.caller.actor, id: ctx.params.groupId, role: (ctx.body as z.infer<typeof s.groupRole>).role,
      grantor: ctx.caller.permissions,
    })),
  },

  // Sessions and activity
  {
    method: 'get', path: `${ORG}/sessions`, tag: 'Activity', permissions: ['activity.view'], query: s.sessionListQuery, summary: 'Live sessions (all=true: ended ones too), newest first',
    handler: async (ctx) => {
      const q = ctx.query as z.infer<typeof s.sessionListQuery>;
      // The newest `limit` (at most 200) of `total`; narrow by member or time to see older ones.
      const query = { orgId: ctx.caller.orgId, accountId: await accountOf(ctx, q.memberId), all: q.all === 'true', since: date(q.since), until: date(q.until) };
      return { items: await listSessions(ctx.db, { ...query, limit: q.limit }), total: await countSessions(ctx.db, query), nextCursor: null };
    },
  },
  {
    method: 'delete', path: `${ORG}/sessions/{sessionId}`, tag: 'Activity', permissions: ['activity.view'], summary: 'End a session at once (and its refresh tokens)',
    handler: async (ctx) => { await revokeSession(ctx.db, { orgId: ctx.caller.orgId, sessionId: ctx.params.sessionId, by: ctx.caller.actor }); },
  },
  {
    method: 'get', path: `${ORG}/auth-events`, tag: 'Activity', permissions: ['activity.view'], query: s.authEventQuery, summary: 'Sign-in attempts and security events, newest first',
    handler: async (ctx) => {
      const q = ctx.query as z.infer<typeof s.authEventQuery>;
      const cursor = eventCursor(q.cursor);
      const page = await listAuthEvents(ctx.db, {
        orgId: ctx.caller.orgId, accountId: await accountOf(ctx, q.memberId), outcome: q.outcome, since: date(q.since), until: date(q.until), limit: q.limit,
        ...(cursor === undefined ? {} : { before: cursor }),
      });
      return { items: page.events, total: page.total, nextCursor: page.nextBefore === null ? null : String(page.nextBefore) };
    },
  },
  {
    method: 'get', path: `${ORG}/audit-events`, tag: 'Activity', permissions: ['activity.view'], query: s.auditEventQuery, summary: 'The audit log: every change, by whom, newest first',
    handler: async (ctx) => {
      const q = ctx.query as z.infer<typeof s.auditEventQuery>;
      const cursor = eventCursor(q.cursor);
      const page = await listAuditEvents(ctx.db, {
        orgId: ctx.caller.orgId, limit: q.limit, actorId: q.actor, action: q.action, targetId: q.target, since: date(q.since), ...(cursor === undefined ? {} : { before: cursor }),
      });
      return { items: page.events, total: page.total, nextCursor: page.nextBefore === null ? null : String(page.nextBefore) };
    },
  },

  // The SSO connection
  {
    method: 'get', path: `${ORG}/sso-connection`, tag: 'SSO', permissions: ['org.manage'],
    summary: 'The SSO connection (never its secret), the redirect URI to register at the identity provider, and its domains',
    handler: async (ctx) => {
      const sso = ssoOf(ctx);
      const connection = await getSsoConnection(ctx.db, { orgId: ctx.caller.orgId });
      if (!connection) throw new Problem('not_found', 'this organisation has no SSO connection', { redirectUri: sso.redirectUri });
      return { ...connectionView(connection), redirectUri: sso.redirectUri };
    },
  },
  {
    method: 'get', path: `${ORG}/sso-connection/domain-verification`, tag: 'SSO', permissions: ['org.manage'], query: s.domainQuery,
    summary: 'The DNS TXT record that proves the organisation controls a domain, to publish before the connection claims it',
    handler: async (ctx) => {
      const domain = normalizeDomain((ctx.query as z.infer<typeof s.domainQuery>).domain);
      if (!domain) throw new Problem('invalid_request', 'domain is a domain name (such as example.com)', { errors: [{ field: 'domain', message: 'not a domain name' }] });
      return domainVerificationRecord(ssoOf(ctx).sealer, { orgId: ctx.caller.orgId, domain });
    },
  },
  {
    method: 'put', path: `${ORG}/sso-connection`, tag: 'SSO', permissions: ['org.manage'], body: s.ssoConnectionPut,
    summary: "Set the connection: the issuer's discovery document is checked; each new domain needs its TXT record published",
    handler: async (ctx) => {
      const sso = ssoOf(ctx);
      const b = ctx.body as z.infer<typeof s.ssoConnectionPut>;
      const orgId = ctx.caller.orgId;
      // A domain is claimed only by an organisation that shows it controls it (its DNS); domains already claimed stay.
      const unproven = await unprovenDomains(ctx.db, sso.sealer, sso.resolveTxt, { orgId, domains: b.domains });
      if (unproven.length) {
        throw new Problem('domain_not_verified', `publish these DNS records first, then try again: ${unproven.map((r) => `${r.name} TXT "${r.value}"`).join('; ')}`, { records: unproven });
      }
      const { issuer } = await sso.checkIssuer(b.issuer);
      const connection = await setSsoConnection(ctx.db, sso.sealer, {
        orgId, actor: ctx.caller.actor, issuer, clientId: b.clientId, clientSecret: b.clientSecret, domains: b.domains, jitProvisioning: b.jitProvisioning,
      });
      return { ...connectionView(connection), redirectUri: sso.redirectUri };
    },
  },
  {
    method: 'delete', path: `${ORG}/sso-connection`, tag: 'SSO', permissions: ['org.manage'],
    summary: 'Remove the connection: its members sign in with passwords again, and SSO is no longer enforced',
    handler: async (ctx) => {
      ssoOf(ctx);
      if (!(await removeSsoConnection(ctx.db, { orgId: ctx.caller.orgId, actor: ctx.caller.actor }))) throw new Problem('not_found', 'this organisation has no SSO connection');
    },
  },

  // The caller's own account (a member's access token; not an API key): the console's "My account".
  {
    method: 'get', path: `${ORG}/me`, tag: 'My account', self: true, summary: 'Who I am here: my account, my permissions, and the organisations I belong to',
    handler: async (ctx) => {
      const accountId = me(ctx);
      return { ...(await myAccount(ctx.db, { orgId: ctx.caller.orgId, accountId })), permissions: [...ctx.caller.permissions] };
    },
  },
  {
    method: 'post', path: `${ORG}/me/password`, tag: 'My account', self: true, body: s.passwordChange, summary: 'Change my password (with the current one); my sessions end',
    handler: async (ctx) => {
      const b = ctx.body as z.infer<typeof s.passwordChange>;
      await changeOwnPassword(ctx.db, ctx.deps.passwords ?? defaultPasswords, {
        orgId: ctx.caller.orgId, accountId: me(ctx), currentPassword: b.currentPassword, newPassword: b.newPassword, minLength: ctx.deps.passwordMinLength, event: eventOf(ctx), throttle: ctx.deps.throttle,
      });
    },
  },
  {
    method: 'post', path: `${ORG}/me/totp`, tag: 'My account', self: true, body: s.empty, summary: 'Start setting up an authenticator app: the key and its QR code (SVG)',
    handler: async (ctx) => {
      const accountId = me(ctx);
      const account = await myAccount(ctx.db, { orgId: ctx.caller.orgId, accountId });
      const enrolment = await startTotpEnrolment(ctx.db, sealerOf(ctx), { accountId, label: account.email, issuer: new URL(ctx.deps.issuer).host });
      return { secret: enrolment.secret, uri: enrolment.uri, qrSvg: await QRCode.toString(enrolment.uri, { type: 'svg', margin: 1, errorCorrectionLevel: 'M' }) };
    },
  },
  {
    method: 'post', path: `${ORG}/me/totp/confirm`, tag: 'My account', self: true, body: s.totpCode, summary: 'Finish setting up the app with a code from it: ten recovery codes, shown once',
    handler: (ctx) => confirmTotpEnrolment(ctx.db, sealerOf(ctx), totpProof(ctx)),
  },
  {
    method: 'post', path: `${ORG}/me/totp/remove`, tag: 'My account', self: true, body: s.totpCode, summary: 'Remove my authenticator app (and recovery codes), with a current code',
    handler: async (ctx) => { await removeTotp(ctx.db, sealerOf(ctx), totpProof(ctx)); },
  },
  {
    method: 'post', path: `${ORG}/me/recovery-codes`, tag: 'My account', self: true, body: s.totpCode, summary: 'Ten new recovery codes (the old ones stop working), with a current code',
    handler: (ctx) => regenerateRecoveryCodes(ctx.db, sealerOf(ctx), totpProof(ctx)),
  },
  {
    method: 'get', path: `${ORG}/me/sessions`, tag: 'My account', self: true, summary: 'My live sessions in this organisation',
    handler: async (ctx) => {
      const query = { orgId: ctx.caller.orgId, accountId: me(ctx) };
      return { items: await listSessions(ctx.db, { ...query, limit: 200 }), total: await countSessions(ctx.db, query), nextCursor: null };
    },
  },
  {
    method: 'delete', path: `${ORG}/me/sessions/{sessionId}`, tag: 'My account', self: true, summary: 'End one of my sessions',
    handler: async (ctx) => { await revokeSession(ctx.db, { orgId: ctx.caller.orgId, sessionId: ctx.params.sessionId, by: ctx.caller.actor, accountId: me(ctx) }); },
  },

  // Credentials and clients
  ...(['scim-tokens', 'api-keys'] as const).flatMap((path): AdminRoute[] => {
    const kind = path === 'api-keys' ? 'api_key' : 'scim_token';
    const noun = kind === 'api_key' ? 'API key' : 'SCIM token';
    return [
      {
        method: 'get', path: `${ORG}/${path}`, tag: 'Credentials', permissions: ['org.manage'], summary: `${noun}s (never their secrets)`,
        handler: async (ctx) => { const items = await listCredentials(ctx.db, { orgId: ctx.caller.orgId, kind }); return { items, total: items.length, nextCursor: null }; },
      },
      {
        method: 'post', path: `${ORG}/${path}`, tag: 'Credentials', permissions: ['org.manage'], body: kind === 'api_key' ? s.apiKeyCreate : s.credentialCreate, status: 201,
        summary: `Issue a ${noun}: its secret is in this answer only`,
        handler: async (ctx) => {
          const input = ctx.body as { name: string; role?: string };
          const role = input.role ?? null;
          const issued = await createCredential(ctx.db, { orgId: ctx.caller.orgId, kind, name: input.name, role, actor: ctx.caller.actor, grantor: ctx.caller.permissions, madeBy: ctx.caller.madeBy });
          return { id: issued.id, name: input.name.trim(), ...(role ? { role } : {}), secret: issued.secret };
        },
      },
      {
        method: 'delete', path: `${ORG}/${path}/{id}`, tag: 'Credentials', permissions: ['org.manage'], summary: `Revoke a ${noun}`,
        handler: async (ctx) => {
          if (!(await revokeCredentialBy(ctx.db, { orgId: ctx.caller.orgId, kind, id: ctx.params.id, actor: ctx.caller.actor }))) {
            throw new Problem('not_found', `no active ${noun} ${ctx.params.id} in this organisation`);
          }
        },
      },
    ];
  }),
  {
    method: 'get', path: `${ORG}/clients`, tag: 'Credentials', permissions: ['org.manage'], summary: "The organisation's OIDC clients",
    handler: async (ctx) => { const items = await listClients(ctx.db, { orgId: ctx.caller.orgId }); return { items, total: items.length, nextCursor: null }; },
  },
  {
    method: 'post', path: `${ORG}/clients`, tag: 'Credentials', permissions: ['org.manage'], body: s.clientCreate, status: 201, summary: 'Register an OIDC client (its secret shown once)',
    handler: async (ctx) => {
      const input = ctx.body as z.infer<typeof s.clientCreate>;
      const created = await createClient(ctx.db, { orgId: ctx.caller.orgId, actor: ctx.caller.actor, name: input.name, redirectUris: input.redirectUris, public: input.public });
      return { client_id: created.clientId, ...(created.clientSecret ? { client_secret: created.clientSecret } : {}) };
    },
  },
  {
    method: 'delete', path: `${ORG}/clients/{clientId}`, tag: 'Credentials', permissions: ['org.manage'], summary: 'Revoke an OIDC client',
    handler: async (ctx) => {
      if (!(await revokeClient(ctx.db, { orgId: ctx.caller.orgId, actor: ctx.caller.actor, clientId: ctx.params.clientId }))) {
        throw new Problem('not_found', `no active client ${ctx.params.clientId} in this organisation`);
      }
    },
  },
];

/** The caller's account: these routes are a person's own, not an API key's. */
function me(ctx: AdminContext): string {
  if (ctx.caller.actor.type !== 'user' || !ctx.caller.actor.id) throw new Problem('user_only', 'this is a person\'s own account: call it with their access token, not an API key');
  return ctx.caller.actor.id;
}

const eventOf = (ctx: AdminContext) => ({ ip: ctx.req.ip ?? null, userAgent: ctx.req.get('user-agent') ?? null });
/** The caller proving their authenticator app with the code in the body (counted by the sign-in throttle). */
const totpProof = (ctx: AdminContext): TotpProof => ({
  accountId: me(ctx), orgId: ctx.caller.orgId, code: (ctx.body as z.infer<typeof s.totpCode>).code, event: eventOf(ctx), throttle: ctx.deps.throttle,
});
const defaultPasswords = createPasswordHasher();

/** The server's sealer (TOTP secrets are sealed with it), which comes with the sign-in door's SSO support. */
const sealerOf = (ctx: AdminContext) => ssoOf(ctx).sealer;

function ssoOf(ctx: AdminContext): NonNullable<AdminDeps['sso']> {
  if (!ctx.deps.sso) throw new Problem('not_found', 'SSO connections are not available on this server');
  return ctx.deps.sso;
}

const connectionView = (c: SsoConnection) => ({ issuer: c.issuer, clientId: c.clientId, domains: c.domains, jitProvisioning: c.jitProvisioning, createdAt: c.createdAt, updatedAt: c.updatedAt });

function groupView(g: Awaited<ReturnType<typeof getGroup>>) {
  return {
    id: g.id, name: g.displayName, managedBy: g.managedBy, role: g.role, createdAt: g.createdAt, updatedAt: g.updatedAt,
    ...(g.members ? { members: g.members.map((m) => ({ id: m.id, name: m.displayName, userName: m.userName })) } : {}),
  };
}
