// What every SCIM handler receives: the database, the organisation the token decided, who acts, the public base URL.
import type { Knex } from 'knex';
import type { Actor } from '../directory/audit.ts';

export type ScimContext = {
  db: Knex; orgId: string; actor: Actor; baseUrl: string;
  /**
   * Set when the token has not been checked yet on this request (see router.ts): the handler must verify it
   * in its own statement, or call `authenticate`, before answering with any data.
   */
  deferred?: { tokenId: string; authenticate: () => Promise<boolean>; confirmed: boolean };
};

/** A handler's answer; the router turns it into status, headers (ETag, Location) and a scim+json body. */
export type ScimResult = { status: number; body?: unknown; version?: number; location?: string };

export type Precondition = { ifMatch?: number };

export const etagOf = (version: number) => `W/"${version}"`;

export function meta(resourceType: string, location: string, created: Date, lastModified: Date, version: number) {
  return { resourceType, created: created.toISOString(), lastModified: lastModified.toISOString(), location, version: etagOf(version) };
}
