// Operator commands, shared by the CLI (run directly against the database) and by the operator socket
// of a running server on the embedded database (which only one process may open): src/http/operator.ts.
import type { Knex } from 'knex';
import { z } from 'zod';
import { createClient, listClients, revokeClient } from './directory/clients.ts';
import { issueCredential, listCredentials, revokeCredential } from './directory/credentials.ts';
import { Invalid, NotFound } from './directory/errors.ts';
import { createOrganization, getLoginConfig, getOrganization, updateLoginConfig } from './directory/organizations.ts';
import { getOutboxMessage, listOutbox } from './directory/outbox.ts';
import type { PasswordHasher } from './directory/passwords.ts';
import type { Sealer } from './directory/sealing.ts';
import { listSigningKeys, rotateSigningKey } from './directory/signing-keys.ts';
import { getSsoConnection, removeSsoConnection, setSsoConnection } from './directory/sso.ts';
import { checkIssuer, ssoRedirectUri } from './oidc/upstream.ts';

const commandSchema = z.discriminatedUnion('command', [
  z.object({ command: z.literal('org create'), name: z.string(), ownerEmail: z.string() }),
  z.object({ command: z.literal('scim-token create'), orgId: z.string(), name: z.string().min(1).max(200) }),
  z.object({ command: z.literal('scim-token list'), orgId: z.string() }),
  z.object({ command: z.literal('scim-token revoke'), orgId: z.string(), tokenId: z.string() }),
  z.object({ command: z.literal('keys rotate') }),
  z.object({ command: z.literal('client create'), orgId: z.string(), redirectUris: z.array(z.string()).min(1).max(20), public: z.boolean(), name: z.string().min(1).max(200).optional() }),
  z.object({ command: z.literal('client list'), orgId: z.string() }),
  z.object({ command: z.literal('client revoke'), orgId: z.string(), clientId: z.string() }),
  z.object({ command: z.literal('keys list') }),
  z.object({ command: z.literal('outbox list'), orgId: z.string().optional() }),
  z.object({ command: z.literal('outbox show'), id: z.string() }),
  z.object({
    command: z.literal('sso set'), orgId: z.string(), issuer: z.string(), clientId: z.string(), clientSecret: z.string(),
    domains: z.array(z.string()).min(1).max(20), jitProvisioning: z.boolean(),
  }),
  z.object({ command: z.literal('sso show'), orgId: z.string() }),
  z.object({
    command: z.literal('org login'), orgId: z.string(), requireMfa: z.boolean().optional(), mfaMethods: z.array(z.enum(['totp', 'email'])).optional(),
    loginProviders: z.array(z.enum(['password', 'sso'])).optional(), ssoEnforced: z.boolean().optional(), allowIdentityLinking: z.boolean().optional(),
  }),
  z.object({ command: z.literal('sso remove'), orgId: z.string() }),
]);

/** What operator commands work with: the database, the sealer of secrets at rest (from SECRET), the public base URL (ISSUER). */
export type OperatorDeps = { db: Knex; sealer: Sealer; passwords: PasswordHasher; issuer: string };

export type OperatorCommand = z.infer<typeof commandSchema>;

export async function runOperatorCommand(deps: OperatorDeps, input: unknown): Promise<Record<string, unknown>> {
  const { db } = deps;
  const parsed = commandSchema.safeParse(input);
  if (!parsed.success) throw new Invalid(`not an operator command: ${parsed.error.issues.map((i) => i.message).join('; ')}`);
  const c = parsed.data;
  if (c.command === 'keys rotate') return rotateSigningKey(db, deps.sealer);
  if (c.command === 'keys list') return { keys: await listSigningKeys(db) };
  if (c.command === 'outbox show') return getOutboxMessage(db, c.id);
  if (c.command === 'outbox list') {
    const orgId = c.orgId === undefined ? undefined : (await getOrganization(db, c.orgId)).id;
    return { messages: await listOutbox(db, { limit: 50, orgId }) }; // the newest 50
  }
  if (c.command === 'org create') {
    const r = await createOrganization(db, { name: c.name, ownerEmail: c.ownerEmail, passwords: deps.passwords });
    return {
      orgId: r.org.id,
      owner: { id: r.owner.id, email: r.owner.email, temporaryPassword: r.owner.temporaryPassword },
      scimToken: r.scimToken,
      apiKey: r.apiKey,
    };
  }
  const { id: orgId } = await getOrganization(db, c.orgId);
  const actor = { type: 'system', id: 'cli' } as const;
  if (c.command === 'client create') {
    const created = await createClient(db, { orgId, actor, redirectUris: c.redirectUris, public: c.public, name: c.name });
    return { client_id: created.clientId, ...(created.clientSecret ? { client_secret: created.clientSecret } : {}) };
  }
  if (c.command === 'client list') return { clients: await listClients(db, { orgId }) };
  if (c.command === 'client revoke') {
    if (!(await revokeClient(db, { orgId, actor, clientId: c.clientId }))) throw new NotFound(`no active client ${c.clientId} in this organisation`);
    return { revoked: c.clientId };
  }
  if (c.command === 'sso set' || c.command === 'sso show' || c.command === 'sso remove') return runSsoCommand(deps, orgId, c);
  if (c.command === 'org login') {
    const { command: _, orgId: __, ...change } = c;
    return { orgId, login: Object.keys(change).length ? await updateLoginConfig(db, { orgId, actor, change }) : await getLoginConfig(db, { orgId }) };
  }
  const kind = 'scim_token';
  if (c.command === 'scim-token list') return { tokens: await listCredentials(db, { orgId, kind }) };
  if (c.command === 'scim-token revoke') {
    if (!(await revokeCredential(db, { orgId, kind, id: c.tokenId }))) throw new NotFound(`no active SCIM token ${c.tokenId} in this organisation`);
    return { revoked: c.tokenId };
  }
  const t = await issueCredential(db, { orgId, kind, name: c.name });
  return { id: t.id, scimToken: t.secret };
}

/** `sso set` checks the issuer's discovery document first, and stores the issuer as that document spells it. */
async function runSsoCommand(deps: OperatorDeps, orgId: string, c: Extract<OperatorCommand, { command: `sso ${string}` }>): Promise<Record<string, unknown>> {
  const actor = { type: 'system', id: 'cli' } as const;
  const redirectUri = ssoRedirectUri(deps.issuer);
  if (c.command === 'sso remove') {
    if (!(await removeSsoConnection(deps.db, { orgId, actor }))) throw new NotFound('this organisation has no SSO connection');
    return { removed: orgId };
  }
  if (c.command === 'sso show') {
    const connection = await getSsoConnection(deps.db, { orgId });
    if (!connection) throw new NotFound('this organisation has no SSO connection');
    return { ...connection, redirectUri };
  }
  const { issuer } = await checkIssuer(c.issuer);
  const connection = await setSsoConnection(deps.db, deps.sealer, {
    orgId, actor, issuer, clientId: c.clientId, clientSecret: c.clientSecret, domains: c.domains, jitProvisioning: c.jitProvisioning,
  });
  return { ...connection, redirectUri };
}
