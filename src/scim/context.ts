// What every SCIM handler receives: the database, the organisation the token decided, who acts, the public base URL.
import type { Knex } from 'knex';
import type { Actor } from '../directory/audit.ts';
import type { PasswordHasher } from '../directory/passwords.ts';

export type ScimContext = { db: Knex; orgId: string; actor: Actor; baseUrl: string; passwords: PasswordHasher };

/** A handler's answer; the router turns it into status, headers (ETag, Location) and a scim+json body. */
export type ScimResult = { status: number; body?: unknown; version?: number; location?: string };

export type Precondition = { ifMatch?: number };

export const etagOf = (version: number) => `W/"${version}"`;

export function meta(m: { resourceType: string; location: string; created: Date; lastModified: Date; version: number }) {
  return { resourceType: m.resourceType, created: m.created.toISOString(), lastModified: m.lastModified.toISOString(), location: m.location, version: etagOf(m.version) };
}
