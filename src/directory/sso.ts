// Upstream SSO connections: one OpenID Connect identity provider per organisation, the e-mail domains it
// claims (a domain belongs to one organisation at most), and its client secret, sealed at rest and bound to
// the organisation (a sealed value copied to another organisation's row does not open). Whether the issuer
// really is an OpenID provider (its discovery document) is checked by the door before saving: the directory
// makes no HTTP requests.
//
// A connection makes `sso` an allowed login provider of the organisation; removing it takes `sso` away (back
// to passwords when nothing else is left) and turns "SSO enforced" off, so that nobody is locked out.
import { domainToASCII } from 'node:url';
import type { Knex } from 'knex';
import { type Actor, recordAudit } from './audit.ts';
import { Conflict, Invalid, NotFound, uniqueViolation } from './errors.ts';
import { looksLikeEmail } from './person.ts';
import { isUuid } from './predicate.ts';
import type { Sealer } from './sealing.ts';

export const MAX_SSO_DOMAINS = 20;

/** A connection as anyone may see it: never its secret. */
export type SsoConnection = {
  orgId: string;
  issuer: string;
  clientId: string;
  /** Lower-cased ASCII (IDNA) domains, sorted. */
  domains: string[];
  /** A person with no membership is added as a member at first sign-in (otherwise refused). */
  jitProvisioning: boolean;
  createdAt: Date;
  updatedAt: Date;
};

/** What the sign-in needs to talk to the upstream: the connection with its secret opened. Never shown. */
export type SsoConnectionWithSecret = SsoConnection & { clientSecret: string };

export type SsoConnectionInput = {
  orgId: string;
  actor: Actor;
  issuer: string;
  clientId: string;
  /** Required for a new connection, or when the issuer or client id change; otherwise the stored one is kept. */
  clientSecret?: string;
  domains: string[];
  /** Default true. */
  jitProvisioning?: boolean;
};

const sealContext = (orgId: string) => `sso_connections.client_secret_sealed:${orgId}`;
const loopbackHosts = new Set(['localhost', '127.0.0.1', '[::1]']);

/** An https URL with no query, fragment or credentials (plain http only to the loopback: a developer's machine). */
export function checkIssuerUrl(issuer: string): void {
  const bad = (message: string, rule: string) => new Invalid(message, { field: 'issuer', rule });
  if (typeof issuer !== 'string' || issuer.length > 2000) throw bad('the issuer is a URL of at most 2,000 characters', 'too_long');
  let url: URL;
  try {
    url = new URL(issuer);
  } catch {
    throw bad(`the issuer "${issuer}" is not an absolute URL`, 'not_absolute');
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopbackHosts.has(url.hostname))) {
    throw bad(`the issuer must use https (plain http only to localhost): "${issuer}"`, 'not_https');
  }
  if (url.search || url.hash || url.username || url.password) throw bad(`the issuer cannot have a query, a fragment or credentials: "${issuer}"`, 'malformed');
}

/** The domain as stored (lower-cased ASCII, no trailing dot), or null when it does not look like a domain. */
export function normalizeDomain(raw: string): string | null {
  if (typeof raw !== 'string') return null;
  const trimmed = raw.trim().replace(/\.$/, '').toLowerCase();
  if (trimmed === '' || trimmed.length > 253 || /[\s@/:]/.test(trimmed)) return null;
  const ascii = domainToASCII(trimmed);
  if (!ascii || ascii.length > 253) return null;
  const labels = ascii.split('.');
  if (labels.length < 2 || !labels.every((l) => /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/.test(l))) return null;
  return /^(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})$/.test(labels[labels.length - 1]) ? ascii : null;
}

/** The normalised domain of an e-mail address, or null. */
export function emailDomain(email: string): string | null {
  if (typeof email !== 'string' || !looksLikeEmail(email)) return null;
  return normalizeDomain(email.slice(email.lastIndexOf('@') + 1));
}

function checkDomains(domains: string[]): string[] {
  if (!Array.isArray(domains) || domains.length === 0 || domains.length > MAX_SSO_DOMAINS) {
    throw new Invalid(`a connection claims 1 to ${MAX_SSO_DOMAINS} e-mail domains`, { field: 'domains', rule: 'count' });
  }
  const normalized = domains.map((d) => {
    const n = normalizeDomain(d);
    if (!n) throw new Invalid(`"${d}" is not a domain name (such as example.com)`, { field: 'domains', rule: 'malformed' });
    return n;
  });
  return [...new Set(normalized)].sort();
}

function checkText(field: 'clientId' | 'clientSecret', value: unknown, max: number): string {
  if (typeof value !== 'string' || value.trim() === '') throw new Invalid(`${field} is required`, { field, rule: 'required' });
  if (value.length > max) throw new Invalid(`${field} must be at most ${max} characters`, { field, rule: 'too_long' });
  if (/[\u0000-\u001f\u007f]/.test(value)) throw new Invalid(`${field} cannot contain control characters`, { field, rule: 'control_characters' });
  return value.trim();
}

type Row = { org_id: string; issuer: string; client_id: string; client_secret_sealed: string; jit_provisioning: boolean; created_at: Date; updated_at: Date; domains: string[] | null };

const toConnection = (r: Row): SsoConnection => ({
  orgId: r.org_id, issuer: r.issuer, clientId: r.client_id, domains: [...(r.domains ?? [])].sort(), jitProvisioning: r.jit_provisioning,
  createdAt: new Date(r.created_at), updatedAt: new Date(r.updated_at),
});

/** The connection rows with their domains, in one statement. */
const connections = (db: Knex) => db('sso_connections as c').select('c.*',
  db.raw('array(select d.domain from sso_domains d where d.org_id = c.org_id order by d.domain) as domains'));

const orgNotFound = (orgId: string) => new NotFound(`no organisation ${orgId}`, { field: 'orgId', rule: 'org_not_found' });

/**
 * Sets the organisation's connection, replacing the one it had (and its domains). A domain claimed by another
 * organisation is a Conflict. Identities linked through the previous issuer are unlinked when the issuer changes.
 */
export async function setSsoConnection(db: Knex, sealer: Sealer, input: SsoConnectionInput): Promise<SsoConnection> {
  const { orgId, actor } = input;
  if (!isUuid(orgId)) throw orgNotFound(orgId);
  checkIssuerUrl(input.issuer);
  const clientId = checkText('clientId', input.clientId, 1000);
  const clientSecret = input.clientSecret === undefined ? undefined : checkText('clientSecret', input.clientSecret, 4096);
  const domains = checkDomains(input.domains);
  const jitProvisioning = input.jitProvisioning ?? true;
  await db.transaction(async (trx) => {
    // The organisation's row serialises two changes of its connection.
    if (!(await trx('organizations').where({ id: orgId }).forUpdate().first('id'))) throw orgNotFound(orgId);
    const previous = (await connections(trx).where('c.org_id', orgId).first()) as Row | undefined;
    const sameClient = previous && previous.issuer === input.issuer && previous.client_id === clientId;
    if (clientSecret === undefined && !sameClient) {
      throw new Invalid('clientSecret is required for a new connection, or a new issuer or client id', { field: 'clientSecret', rule: 'required' });
    }
    const sealed = clientSecret === undefined ? previous!.client_secret_sealed : sealer.seal(clientSecret, sealContext(orgId));
    const claimed = await trx('sso_domains').whereIn('domain', domains).whereNot({ org_id: orgId }).orderBy('domain').pluck('domain');
    if (claimed.length) throw domainConflict(claimed);
    await trx('sso_connections')
      .insert({ org_id: orgId, issuer: input.issuer, client_id: clientId, client_secret_sealed: sealed, jit_provisioning: jitProvisioning })
      .onConflict('org_id').merge({ issuer: input.issuer, client_id: clientId, client_secret_sealed: sealed, jit_provisioning: jitProvisioning, updated_at: trx.fn.now() });
    await trx('sso_domains').where({ org_id: orgId }).whereNotIn('domain', domains).delete();
    const kept = new Set(previous?.domains ?? []);
    const added = domains.filter((d) => !kept.has(d));
    try {
      if (added.length) await trx('sso_domains').insert(added.map((domain) => ({ domain, org_id: orgId })));
    } catch (err) {
      if (uniqueViolation(err) === 'sso_domains_pkey') throw domainConflict(added); // another organisation claimed it meanwhile
      throw err;
    }
    const unlinked = previous && previous.issuer !== input.issuer ? await trx('identities').where({ org_id: orgId }).whereNot({ provider: input.issuer }).delete() : 0;
    await trx('organizations').where({ id: orgId }).whereRaw("not ('sso' = any(login_providers))")
      .update({ login_providers: trx.raw("array_append(login_providers, 'sso')"), updated_at: trx.fn.now() });
    await recordAudit(trx, {
      orgId, actor, action: previous ? 'sso_connection.updated' : 'sso_connection.created', targetType: 'sso_connection', targetId: orgId,
      details: {
        issuer: input.issuer, clientId, domains, jitProvisioning, secretChanged: clientSecret !== undefined,
        ...(previous ? { previous: { issuer: previous.issuer, clientId: previous.client_id, domains: previous.domains ?? [], jitProvisioning: previous.jit_provisioning } } : {}),
        ...(unlinked ? { identitiesUnlinked: unlinked } : {}),
      },
    });
  });
  return (await getSsoConnection(db, { orgId }))!;
}

/** Which organisation claims a domain is not said: that would tell one tenant about another. */
function domainConflict(domains: string[]): Conflict {
  const list = domains.join(', ');
  return new Conflict('domains', `${domains.length === 1 ? `the domain ${list} is` : `the domains ${list} are`} already claimed by another organisation; a domain belongs to one organisation's connection at most`, 'domain_claimed');
}

/** The organisation's connection without its secret, or undefined. */
export async function getSsoConnection(db: Knex, input: { orgId: string }): Promise<SsoConnection | undefined> {
  if (!isUuid(input.orgId)) return undefined;
  const row = (await connections(db).where('c.org_id', input.orgId).first()) as Row | undefined;
  return row ? toConnection(row) : undefined;
}

/** For talking to the upstream only (the sign-in): the connection with its client secret opened. */
export async function getSsoConnectionForSignIn(db: Knex, sealer: Sealer, input: { orgId: string }): Promise<SsoConnectionWithSecret | undefined> {
  if (!isUuid(input.orgId)) return undefined;
  const row = (await connections(db).where('c.org_id', input.orgId).first()) as Row | undefined;
  return row ? { ...toConnection(row), clientSecret: sealer.open(row.client_secret_sealed, sealContext(row.org_id)) } : undefined;
}

/** The connection whose claimed domains include the e-mail's domain (exactly: a claim of example.com does not cover eng.example.com). */
export async function connectionForEmail(db: Knex, email: string): Promise<SsoConnection | undefined> {
  const domain = emailDomain(email);
  if (!domain) return undefined;
  const row = (await connections(db).whereIn('c.org_id', db('sso_domains').where({ domain }).select('org_id')).first()) as Row | undefined;
  return row ? toConnection(row) : undefined;
}

/** Whether the organisation's connection claims the e-mail's domain. */
export async function domainClaimedBy(db: Knex, input: { orgId: string; email: string }): Promise<boolean> {
  const domain = emailDomain(input.email);
  return domain !== null && isUuid(input.orgId) && (await db('sso_domains').where({ domain, org_id: input.orgId }).first('domain')) !== undefined;
}

/**
 * Removes the organisation's connection, its domains and the identities linked through it; `sso` is no longer
 * an allowed login provider (passwords are, when nothing else would be left) and SSO is no longer enforced.
 * False when it had none.
 */
export async function removeSsoConnection(db: Knex, input: { orgId: string; actor: Actor }): Promise<boolean> {
  const { orgId, actor } = input;
  if (!isUuid(orgId)) throw orgNotFound(orgId);
  return db.transaction(async (trx) => {
    const [removed] = await trx('sso_connections').where({ org_id: orgId }).delete().returning(['issuer', 'client_id']);
    if (!removed) return false;
    const unlinked = await trx('identities').where({ org_id: orgId }).delete();
    await trx('organizations').where({ id: orgId }).update({
      login_providers: trx.raw("case when login_providers = '{sso}' then '{password}'::text[] else array_remove(login_providers, 'sso') end"),
      sso_enforced: false,
      updated_at: trx.fn.now(),
    });
    await recordAudit(trx, { orgId, actor, action: 'sso_connection.removed', targetType: 'sso_connection', targetId: orgId, details: { issuer: removed.issuer, clientId: removed.client_id, identitiesUnlinked: unlinked } });
    return true;
  });
}

/**
 * Proof that an organisation controls a domain before its connection claims it: a TXT record at
 * `_roster-verification.<domain>` whose value is derived from the organisation and the domain (by the
 * server's secret), so nobody can claim a domain they do not control (and keep its owner from claiming it).
 */
export function domainVerificationRecord(sealer: Sealer, input: { orgId: string; domain: string }): { name: string; type: 'TXT'; value: string } {
  return { name: `_roster-verification.${input.domain}`, type: 'TXT', value: `roster-verification=${sealer.mac(`${input.orgId}:${input.domain}`, 'sso domain verification').slice(0, 32)}` };
}

/** The domains of `domains` (as given) this organisation's connection does not claim yet, normalised. */
async function unclaimedDomains(db: Knex, input: { orgId: string; domains: string[] }): Promise<string[]> {
  const normalized = checkDomains(input.domains);
  const mine = new Set<string>(await db('sso_domains').where({ org_id: input.orgId }).pluck('domain'));
  return normalized.filter((d) => !mine.has(d));
}

/**
 * The records still to publish before the organisation's connection may claim `domains`: for each domain it does
 * not claim yet, its verification record unless DNS already holds it (a lookup that fails proves nothing).
 * Domains it claims already stay without a new proof. Empty: every domain is proven.
 */
export async function unprovenDomains(
  db: Knex, sealer: Sealer, resolveTxt: (name: string) => Promise<string[][]>, input: { orgId: string; domains: string[] },
): Promise<ReturnType<typeof domainVerificationRecord>[]> {
  const unproven: ReturnType<typeof domainVerificationRecord>[] = [];
  for (const domain of await unclaimedDomains(db, input)) {
    const record = domainVerificationRecord(sealer, { orgId: input.orgId, domain });
    const published = await resolveTxt(record.name).then((rows) => rows.map((r) => r.join('')), () => [] as string[]);
    if (!published.includes(record.value)) unproven.push(record);
  }
  return unproven;
}
