// SCIM bearer tokens. Every request is authenticated against the database; what this process remembers is
// only which organisation and credential a token named when it was last found active. That is never enough
// to answer: a request that uses it (the user list) re-checks the credential inside its own statement.
import type { Knex } from 'knex';
import { authenticateScimToken } from '../directory/credentials.ts';
import { hashSecret } from '../directory/tokens.ts';

type Auth = { orgId: string; tokenId: string };
const MAX_ENTRIES = 10_000;

export function createTokenDirectory(db: Knex) {
  const seen = new Map<string, Auth>();
  return {
    /** Which organisation and credential this token named when last found active, or null. Not a check. */
    known(token: string): Auth | null {
      return seen.get(hashSecret(token)) ?? null;
    },
    /** The full check: one indexed query. Remembers (or forgets) what it found. */
    async authenticate(token: string): Promise<Auth | null> {
      const key = hashSecret(token);
      const auth = await authenticateScimToken(db, token);
      if (!auth) {
        seen.delete(key);
        return null;
      }
      if (seen.size >= MAX_ENTRIES) seen.clear();
      seen.set(key, auth);
      return auth;
    },
  };
}
