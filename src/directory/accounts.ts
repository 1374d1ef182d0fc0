// Global accounts: one per person, unique by e-mail (case-insensitive). Only the managing organisation
// changes an account's credentials, e-mail or profile claims.
import type { Knex } from 'knex';
import { Conflict, Forbidden, Invalid, uniqueViolation } from './errors.ts';
import { hashPassword } from './passwords.ts';

/** What sign-in and the profile claims need; derived by the protocol from the managing org's view. */
export type AccountProfile = {
  email: string;
  givenName: string | null;
  familyName: string | null;
  displayName: string | null;
  phone: string | null;
};

export type AccountRow = {
  id: string;
  email: string;
  status: 'active' | 'deactivated';
  managed_by_org_id: string | null;
};

const emailPattern = /^[^\s@]+@[^\s@]+$/;
export const looksLikeEmail = (s: string): boolean => emailPattern.test(s) && s.length <= 320;

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

/** Creates an account managed by `orgId`; the e-mail must be free. */
export async function insertAccount(
  trx: Knex,
  orgId: string,
  profile: AccountProfile,
  credentials: { password?: string; mustChangePassword?: boolean },
): Promise<AccountRow> {
  if (!looksLikeEmail(profile.email)) throw new Invalid(`"${profile.email}" is not an e-mail address`);
  const passwordHash = credentials.password === undefined ? null : await hashPassword(credentials.password);
  try {
    const [row] = await trx('accounts')
      .insert({
        email: profile.email,
        given_name: profile.givenName,
        family_name: profile.familyName,
        display_name: profile.displayName,
        phone: profile.phone,
        password_hash: passwordHash,
        must_change_password: credentials.mustChangePassword ?? false,
        managed_by_org_id: orgId,
      })
      .returning(['id', 'email', 'status', 'managed_by_org_id']);
    return row;
  } catch (err) {
    if (uniqueViolation(err) === 'accounts_email_key') throw new Conflict('email', 'an account with this e-mail address already exists');
    throw err;
  }
}

/** The managing organisation's view of a person flows into the account. Others' views never do. */
export async function updateManagedAccount(
  trx: Knex,
  orgId: string,
  account: AccountRow,
  profile: AccountProfile,
  password: string | undefined,
): Promise<void> {
  if (account.managed_by_org_id !== orgId) {
    if (password !== undefined) throw new Forbidden('this account is managed by another organisation; its password cannot be set here');
    return;
  }
  if (!looksLikeEmail(profile.email)) throw new Invalid(`"${profile.email}" is not an e-mail address`);
  const changes: Record<string, unknown> = {
    email: profile.email,
    given_name: profile.givenName,
    family_name: profile.familyName,
    display_name: profile.displayName,
    phone: profile.phone,
    updated_at: trx.fn.now(),
  };
  if (password !== undefined) {
    changes.password_hash = await hashPassword(password);
    changes.must_change_password = false;
  }
  try {
    await trx('accounts').where({ id: account.id }).update(changes);
  } catch (err) {
    if (uniqueViolation(err) === 'accounts_email_key') throw new Conflict('email', 'another account already uses this e-mail address');
    throw err;
  }
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
