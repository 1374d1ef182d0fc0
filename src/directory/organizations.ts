// Organisations: created with their owner, a SCIM token and an admin API key, all in one transaction.
import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { findOrCreateAccount, looksLikeEmail } from './accounts.ts';
import { hashPassword } from './passwords.ts';
import { type Actor, recordAudit } from './audit.ts';
import { issueApiKey, issueScimToken } from './credentials.ts';
import { Conflict, Invalid, uniqueViolation } from './errors.ts';
import { generateTemporaryPassword } from './tokens.ts';

export type Organization = { id: string; name: string; slug: string };

export type CreatedOrganization = {
  org: Organization;
  owner: { id: string; accountId: string; email: string; temporaryPassword: string | null };
  scimToken: string;
  apiKey: string;
};

export function slugify(name: string): string {
  const slug = name.normalize('NFKD').replace(/[\u0300-\u036f]/g, '').toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 60);
  return slug || 'org';
}

/**
 * Creates an organisation and its owner. A new owner account gets a temporary password it must change;
 * an existing account becomes the owner as it is (its credentials belong to the person, not to this org).
 */
export async function createOrganization(db: Knex, input: { name: string; ownerEmail: string; slug?: string }): Promise<CreatedOrganization> {
  const name = input.name.trim();
  if (name.length === 0 || name.length > 200) throw new Invalid('the organisation name must be 1 to 200 characters');
  if (!looksLikeEmail(input.ownerEmail)) throw new Invalid(`"${input.ownerEmail}" is not an e-mail address`);
  // A derived slug that is taken gets a short suffix: two organisations may share a name, never a slug.
  let slug = input.slug ?? slugify(name);
  if (!input.slug && (await db('organizations').where({ slug }).first('id'))) slug = `${slug}-${randomBytes(3).toString('hex')}`;
  const temporaryPassword = generateTemporaryPassword();
  const temporaryHash = await hashPassword(temporaryPassword); // before the transaction: argon2 takes a while
  return db.transaction(async (trx) => {
    let org: Organization;
    try {
      [org] = await trx('organizations').insert({ name, slug }).returning(['id', 'name', 'slug']);
    } catch (err) {
      if (uniqueViolation(err) === 'organizations_slug_key') throw new Conflict('slug', `an organisation with the slug "${slug}" already exists`);
      throw err;
    }
    const { account, created } = await findOrCreateAccount(trx, org.id,
      { email: input.ownerEmail, givenName: null, familyName: null, displayName: null, phone: null },
      { passwordHash: temporaryHash, mustChangePassword: true });
    const [membership] = await trx('memberships')
      .insert({ org_id: org.id, account_id: account.id, role: 'owner', user_name: account.email, profile: JSON.stringify({ emails: [{ value: account.email, primary: true, type: 'work' }] }) })
      .returning('id');
    const scim = await issueScimToken(trx, org.id, 'default');
    const key = await issueApiKey(trx, org.id, 'default');
    const actor: Actor = { type: 'system', id: 'cli' };
    await recordAudit(trx, org.id, actor, { action: 'organization.created', targetType: 'organization', targetId: org.id, details: { name, owner: account.email } });
    return {
      org,
      owner: { id: membership.id, accountId: account.id, email: account.email, temporaryPassword: created ? temporaryPassword : null },
      scimToken: scim.secret,
      apiKey: key.secret,
    };
  });
}
