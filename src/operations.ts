// Operator commands, shared by the CLI (run directly against the database) and by the operator socket
// of a running server on the embedded database (which only one process may open): src/http/operator.ts.
import type { Knex } from 'knex';
import { z } from 'zod';
import { issueScimToken, listScimTokens, revokeScimToken } from './directory/credentials.ts';
import { Invalid, NotFound } from './directory/errors.ts';
import { createOrganization } from './directory/organizations.ts';
import { isUuid } from './directory/predicate.ts';

const commandSchema = z.discriminatedUnion('command', [
  z.object({ command: z.literal('org create'), name: z.string(), ownerEmail: z.string() }),
  z.object({ command: z.literal('scim-token create'), orgId: z.string(), name: z.string().min(1).max(200) }),
  z.object({ command: z.literal('scim-token list'), orgId: z.string() }),
  z.object({ command: z.literal('scim-token revoke'), orgId: z.string(), tokenId: z.string() }),
]);

export type OperatorCommand = z.infer<typeof commandSchema>;

export async function runOperatorCommand(db: Knex, input: unknown): Promise<Record<string, unknown>> {
  const parsed = commandSchema.safeParse(input);
  if (!parsed.success) throw new Invalid(`not an operator command: ${parsed.error.issues.map((i) => i.message).join('; ')}`);
  const c = parsed.data;
  if (c.command === 'org create') {
    const r = await createOrganization(db, { name: c.name, ownerEmail: c.ownerEmail });
    return {
      orgId: r.org.id,
      owner: { id: r.owner.id, email: r.owner.email, temporaryPassword: r.owner.temporaryPassword },
      scimToken: r.scimToken,
      apiKey: r.apiKey,
    };
  }
  if (!isUuid(c.orgId)) throw new Invalid('--org must be an organisation id (a UUID)');
  const exists = await db('organizations').where({ id: c.orgId }).first('id');
  if (!exists) throw new NotFound(`no organisation ${c.orgId}`);
  if (c.command === 'scim-token list') return { tokens: await listScimTokens(db, c.orgId) };
  if (c.command === 'scim-token revoke') {
    if (!(await revokeScimToken(db, c.orgId, c.tokenId))) throw new NotFound(`no active SCIM token ${c.tokenId} in this organisation`);
    return { revoked: c.tokenId };
  }
  const t = await issueScimToken(db, c.orgId, c.name);
  return { id: t.id, scimToken: t.secret };
}
