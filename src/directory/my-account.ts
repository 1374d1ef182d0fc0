// A person's own account, as the console's "My account" page shows and changes it: who they are here, the
// organisations they belong to (to switch between them), their password (changed with the current one),
// their authenticator app and recovery codes (mfa.ts), their own sessions (sessions.ts).
import type { Knex } from 'knex';
import type { EventContext } from './auth-events.ts';
import { Invalid, NotFound } from './errors.ts';
import { remainingRecoveryCodes } from './mfa.ts';
import type { PasswordHasher } from './passwords.ts';
import { changePassword, checkPassword } from './sign-in.ts';
import { countCredentialAttempt, type Throttle } from './throttle.ts';

export type MyAccount = {
  accountId: string; email: string; name: string | null; hasPassword: boolean; hasTotp: boolean; recoveryCodesLeft: number;
  /** Managed by this organisation: its admins may reset its password and MFA. */
  managedHere: boolean;
  organizations: { id: string; name: string; slug: string; role: string }[];
};

export async function myAccount(db: Knex, input: { orgId: string; accountId: string }): Promise<MyAccount> {
  const row = await db('accounts as a').where('a.id', input.accountId)
    .first('a.id', 'a.email', 'a.display_name', 'a.managed_by_org_id', db.raw('a.password_hash is not null as has_password'),
      db.raw("exists (select 1 from mfa_factors f where f.account_id = a.id and f.kind = 'totp' and f.confirmed_at is not null) as has_totp"));
  if (!row) throw new NotFound('this account no longer exists', { rule: 'account_not_found' });
  const organizations = await db('memberships as m').join('organizations as o', 'o.id', 'm.org_id')
    .where({ 'm.account_id': input.accountId, 'm.status': 'active' }).orderByRaw('lower(o.name), o.id').select('o.id', 'o.name', 'o.slug', 'm.role');
  return {
    accountId: row.id, email: row.email, name: row.display_name, hasPassword: Boolean(row.has_password), hasTotp: Boolean(row.has_totp),
    recoveryCodesLeft: row.has_totp ? await remainingRecoveryCodes(db, input.accountId) : 0, managedHere: row.managed_by_org_id === input.orgId, organizations,
  };
}

/** The person changes their password, proving the current one; every session of theirs ends (as at any password change). */
export async function changeOwnPassword(
  db: Knex,
  passwords: PasswordHasher,
  input: { orgId: string; accountId: string; currentPassword: string; newPassword: string; minLength?: number; event?: EventContext; throttle?: Throttle },
): Promise<void> {
  await countCredentialAttempt(input.throttle, { accountId: input.accountId, ip: input.event?.ip });
  const row = await db('accounts').where({ id: input.accountId }).first('password_hash');
  const ok = await checkPassword(passwords, { accountId: input.accountId, member: true, passwordHash: row?.password_hash ?? null }, input.currentPassword);
  if (!ok) throw new Invalid('your current password is not right', { field: 'currentPassword', rule: 'wrong_password' });
  await changePassword(db, passwords, { accountId: input.accountId, orgId: input.orgId, newPassword: input.newPassword, minLength: input.minLength, event: input.event });
}
