// Global accounts: one per person, unique by e-mail (case-insensitive). Only the managing organisation
// changes an account's credentials, e-mail or profile claims.
import type { Knex } from 'knex';
import { Conflict, Invalid, uniqueViolation } from './errors.ts';
import { type AccountProfile, looksLikeEmail } from './person.ts';

/** How long a temporary password (from `org create`, "create member", "reset password") may be used. */
export const TEMPORARY_PASSWORD_DAYS = 7;

export type AccountRow = {
  id: string;
  email: string;
  status: 'active' | 'deactivated';
  managed_by_org_id: string | null;
};

export async function findAccountByEmail(trx: Knex, email: string): Promise<AccountRow | undefined> {
  return trx('accounts')
    .select('id', 'email', 'status', 'managed_by_org_id')
    .whereRaw('lower(email) = lower(?)', [email])
    .first();
}

export async function getAccountForUpdate(trx: Knex, id: string): Promise<AccountRow> {
  const row = await trx('accounts').select('id', 'email', 'status', 'managed_by_org_id').where({ id }).forUpdate().first();
  if (!row) throw new Error(`account ${id} vanished inside a transaction`);
  return row;
}

/**
 * The account of this e-mail, created (and managed by `orgId`) when there is none. Atomic: two organisations
 * adding the same new person at once both end up linked to one account. Passwords arrive hashed: argon2 runs
 * before the transaction, never while it holds a connection and locks.
 */
export async function findOrCreateAccount(
  trx: Knex,
  input: { orgId: string; profile: AccountProfile; passwordHash?: string | null; mustChangePassword?: boolean },
): Promise<{ account: AccountRow; created: boolean }> {
  const { orgId, profile } = input;
  if (!looksLikeEmail(profile.email)) throw new Invalid(`"${profile.email}" is not an e-mail address`, { field: 'email', rule: 'email_malformed' });
  const inserted = await trx.raw(
    `insert into accounts (email, given_name, family_name, display_name, phone, password_hash, must_change_password, managed_by_org_id,
       password_set_by_org_id, password_changed_at, temporary_password_expires_at)
     values (?, ?, ?, ?, ?, ?, ?, ?, ?, case when ?::boolean then now() end, case when ?::boolean then now() + make_interval(days => ?::int) end)
     on conflict ((lower(email))) do nothing
     returning id, email, status, managed_by_org_id`,
    [profile.email, profile.givenName, profile.familyName, profile.displayName, profile.phone,
      input.passwordHash ?? null, input.mustChangePassword ?? false, orgId, input.passwordHash ? orgId : null, Boolean(input.passwordHash),
      Boolean(input.passwordHash && input.mustChangePassword), TEMPORARY_PASSWORD_DAYS],
  );
  const row = (inserted.rows as AccountRow[])[0];
  if (row) return { account: row, created: true };
  const existing = await findAccountByEmail(trx, profile.email);
  if (!existing) throw new Error(`account ${profile.email} conflicted but cannot be found`);
  return { account: existing, created: false };
}

/**
 * The managing organisation's view of a person flows into the account; others' views never do, and a
 * password from an organisation that does not manage the account is not applied (as on create, where a
 * link changes nothing). A new login e-mail is not taken when another account already uses it, or when
 * another organisation shares the account: the organisation's own view still changes, and its answer does
 * not tell which.
 */
export async function updateManagedAccount(
  trx: Knex,
  change: { orgId: string; account: AccountRow; profile: AccountProfile; passwordHash: string | undefined },
): Promise<{ passwordApplied: boolean }> {
  const { orgId, account, profile, passwordHash } = change;
  if (account.managed_by_org_id !== orgId) return { passwordApplied: false };
  if (!looksLikeEmail(profile.email)) throw new Invalid(`"${profile.email}" is not an e-mail address`, { field: 'email', rule: 'email_malformed' });
  const moving = profile.email.toLowerCase() !== account.email.toLowerCase();
  const holder = moving ? await findAccountByEmail(trx, profile.email) : null;
  // The login e-mail is where codes and reset links go: while another organisation shares the account, the
  // managing organisation must not move it (it could then receive the proof of an address it chose, and sign
  // in to the other organisation's applications). Its own view of the person still changes.
  const shared = moving && !holder ? await trx('memberships').where({ account_id: account.id }).whereNot({ org_id: orgId }).first('org_id') : undefined;
  const keep = Boolean(holder || shared);
  const newAddress = moving && !keep;
  const changes: Record<string, unknown> = {
    ...(keep ? {} : { email: profile.email }),
    // A new address is not yet shown to be the person's: until then, credentials an organisation set stay its own.
    ...(newAddress ? { email_verified: false } : {}),
    given_name: profile.givenName,
    family_name: profile.familyName,
    display_name: profile.displayName,
    phone: profile.phone,
    updated_at: trx.fn.now(),
  };
  if (passwordHash !== undefined) {
    changes.password_hash = passwordHash;
    changes.must_change_password = false;
    changes.temporary_password_expires_at = null;
    changes.password_set_by_org_id = orgId;
    changes.password_changed_at = trx.fn.now();
  }
  try {
    await trx('accounts').where({ id: account.id }).update(changes);
  } catch (err) {
    if (uniqueViolation(err) === 'accounts_email_key') throw new Conflict('email', 'this e-mail address cannot be used now; try again', 'email_taken');
    throw err;
  }
  return { passwordApplied: passwordHash !== undefined };
}

/** An account is active while it has an active membership somewhere; otherwise nobody can sign in with it. */
export async function refreshAccountStatus(trx: Knex, accountId: string): Promise<void> {
  const active = await trx('memberships').where({ account_id: accountId, status: 'active' }).first('id');
  const status = active ? 'active' : 'deactivated';
  await trx('accounts').where({ id: accountId }).whereNot({ status }).update({ status, updated_at: trx.fn.now() });
}

/** Called after a membership is deleted: the last membership of a managed account takes the account with it. */
export async function releaseAccount(trx: Knex, orgId: string, account: AccountRow): Promise<'deleted' | 'kept'> {
  const other = await trx('memberships').where({ account_id: account.id }).first('org_id');
  if (!other && account.managed_by_org_id === orgId) {
    await trx('accounts').where({ id: account.id }).delete();
    return 'deleted';
  }
  if (account.managed_by_org_id === orgId) {
    await trx('accounts').where({ id: account.id }).update({ managed_by_org_id: null, updated_at: trx.fn.now() });
  }
  await refreshAccountStatus(trx, account.id);
  return 'kept';
}

/**
 * Trust across organisations: a password an organisation set (over SCIM, or a temporary password, and any
 * password changed from it) signs the person in only to that organisation's applications; elsewhere the
 * person must also show control of the e-mail address at that sign-in (a code sent there). A password the
 * person set through an e-mailed link is their own, and opens every organisation they belong to.
 * Otherwise organisation B could give a password to A's CEO's account and sign in to A's apps.
 */
export function passwordOpensOrg(account: { email_verified: boolean; password_set_by_org_id: string | null }, orgId: string): boolean {
  // A password an organisation set never opens another organisation, whatever the person verified before:
  // the managing organisation could otherwise wait until the person verified the address, then set a new
  // password over SCIM and use it at every other organisation.
  return account.password_set_by_org_id === orgId || (account.password_set_by_org_id === null && account.email_verified);
}

/** The person has shown control of the account's e-mail address: the rule above no longer binds a password. */
export async function markEmailVerified(trx: Knex, accountId: string): Promise<void> {
  await trx('accounts').where({ id: accountId }).update({ email_verified: true, updated_at: trx.fn.now() });
}
