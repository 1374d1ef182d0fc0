// SCIM bearer tokens: every request is authenticated against the database (one indexed statement through the
// directory's one credential path); the token alone decides the organisation.
import type { Knex } from 'knex';
import type { ScimContext } from './context.ts';
import { verifyCredential } from '../directory/credentials.ts';
import type { PasswordHasher } from '../directory/passwords.ts';

const bearer = /^Bearer\s+(\S+)\s*$/i;

/** The request's context for an active SCIM token in the Authorization header, or null. */
export async function authenticate(deps: { db: Knex; baseUrl: string; passwords: PasswordHasher }, authorization: string | undefined, ip?: string): Promise<ScimContext | null> {
  const token = bearer.exec(authorization ?? '')?.[1];
  if (!token) return null;
  const credential = await verifyCredential(deps.db, { kind: 'scim_token', secret: token });
  if (!credential) return null;
  return { db: deps.db, baseUrl: deps.baseUrl, passwords: deps.passwords, orgId: credential.orgId, actor: { type: 'scim_token', id: credential.id, ip: ip ?? null } };
}
