// Second factors of an account: TOTP (RFC 6238, with otplib) and recovery codes. Accounts are global, so
// are their factors: a person enrols once and every organisation's MFA rule is met by it.
// - The TOTP secret is sealed at rest (SECRET), bound to its factor's id.
// - A code is accepted once: the factor keeps the last accepted time step, and a code is accepted only for a
//   later step, in one conditional UPDATE (two instances given the same code at once: one wins).
// - Ten recovery codes at enrolment, shown once, stored as keyed hashes (HMAC under a key from SECRET, bound
//   to the account: each has 50 random bits, too few to leave to an offline search), each usable once.
import { randomInt } from 'node:crypto';
import type { Knex } from 'knex';
import { generateSecret, generateURI, verify } from 'otplib';
import { type AuthEventReason, type EventContext, eventFields, recordAuthEvent } from './auth-events.ts';
import { Conflict, Invalid, NotFound } from './errors.ts';
import type { Sealer } from './sealing.ts';
import { revokeSessions } from './sessions.ts';
import { type Actor, recordAudit } from './audit.ts';
import { countCredentialAttempt, type Throttle } from './throttle.ts';

const sealContext = (factorId: string) => `mfa_factors.secret_sealed:${factorId}`;
/** Codes from one step before or after the current one are accepted (clock drift of up to 30 s). */
const TOLERANCE_SECONDS = 30;
export const RECOVERY_CODE_COUNT = 10;

/** Whether the account has a confirmed TOTP factor. */
export async function hasTotp(db: Knex, accountId: string): Promise<boolean> {
  return Boolean(await db('mfa_factors').where({ account_id: accountId, kind: 'totp' }).whereNotNull('confirmed_at').first('id'));
}

export type TotpEnrolment = { factorId: string; secret: string; uri: string };

/**
 * Starts a TOTP enrolment: a new secret, sealed, not yet confirmed (it does not count until a code from it is
 * confirmed). Earlier unconfirmed enrolments of the account are dropped.
 */
export async function startTotpEnrolment(db: Knex, sealer: Sealer, input: { accountId: string; label: string; issuer: string }): Promise<TotpEnrolment> {
  if (await hasTotp(db, input.accountId)) throw new Conflict('code', 'an authenticator app is already set up for this account', 'already_enrolled');
  const secret = generateSecret();
  return db.transaction(async (trx) => {
    await trx('mfa_factors').where({ account_id: input.accountId, kind: 'totp' }).whereNull('confirmed_at').delete();
    const [row] = await trx('mfa_factors').insert({ account_id: input.accountId, kind: 'totp', secret_sealed: 'pending' }).returning('id');
    await trx('mfa_factors').where({ id: row.id }).update({ secret_sealed: sealer.seal(secret, sealContext(row.id)) });
    return { factorId: row.id as string, secret, uri: generateURI({ issuer: input.issuer, label: input.label, secret }) };
  });
}

/** The secret of an enrolment in progress (to show its QR code again), or undefined. */
export async function pendingTotpEnrolment(db: Knex, sealer: Sealer, input: { accountId: string; label: string; issuer: string }): Promise<TotpEnrolment | undefined> {
  const row = await db('mfa_factors').where({ account_id: input.accountId, kind: 'totp' }).whereNull('confirmed_at').orderBy('created_at', 'desc').first('id', 'secret_sealed');
  if (!row) return undefined;
  const secret = sealer.open(row.secret_sealed, sealContext(row.id));
  return { factorId: row.id, secret, uri: generateURI({ issuer: input.issuer, label: input.label, secret }) };
}

/** Accepts `code` for the factor if it is right and of a later time step than any accepted before. */
async function acceptCode(db: Knex, sealer: Sealer, factor: { id: string; secret_sealed: string; last_used_step: string | number | null }, code: string): Promise<boolean> {
  const token = code.replace(/\s+/g, '');
  if (!/^\d{6}$/.test(token)) return false;
  const result = await verify({ secret: sealer.open(factor.secret_sealed, sealContext(factor.id)), token, epochTolerance: TOLERANCE_SECONDS });
  if (!result.valid || !('timeStep' in result)) return false;
  // Once: only a step later than the last accepted one, decided by the database (instances race here).
  const updated = await db('mfa_factors').where({ id: factor.id })
    .where((q) => q.whereNull('last_used_step').orWhere('last_used_step', '<', result.timeStep))
    .update({ last_used_step: result.timeStep });
  return updated === 1;
}

/**
 * Confirms the TOTP enrolment with a code from the person's app: the factor counts from now on, replaces any
 * earlier one, and ten new recovery codes are returned (to show once). Invalid when the code is wrong.
 */
export async function confirmTotpEnrolment(db: Knex, sealer: Sealer, input: TotpProof): Promise<{ recoveryCodes: string[] }> {
  // A confirmed factor is replaced only after an MFA reset: enrolling is never a way around the factor one has.
  if (await hasTotp(db, input.accountId)) throw new Conflict('code', 'an authenticator app is already set up for this account', 'already_enrolled');
  const factor = await db('mfa_factors').where({ account_id: input.accountId, kind: 'totp' }).whereNull('confirmed_at').orderBy('created_at', 'desc')
    .first('id', 'secret_sealed', 'last_used_step');
  if (!factor) throw new NotFound('there is no authenticator app enrolment in progress', { field: 'code', rule: 'no_enrolment' });
  await countCredentialAttempt(input.throttle, { accountId: input.accountId, ip: input.event?.ip });
  if (!(await acceptCode(db, sealer, factor, input.code))) {
    await recordAuthEvent(db, { orgId: input.orgId, accountId: input.accountId, type: 'mfa_enrolment', outcome: 'failure', reason: 'mfa_failed', ...eventFields(input.event) });
    throw new Invalid('that code is not right: enter the 6-digit code your app shows now', { field: 'code', rule: 'mfa_failed' });
  }
  const codes = Array.from({ length: RECOVERY_CODE_COUNT }, () => newRecoveryCode());
  await db.transaction(async (trx) => {
    await trx('mfa_factors').where({ account_id: input.accountId, kind: 'totp' }).whereNot({ id: factor.id }).delete();
    await trx('mfa_factors').where({ id: factor.id }).update({ confirmed_at: trx.fn.now() });
    await trx('recovery_codes').where({ account_id: input.accountId }).delete();
    await trx('recovery_codes').insert(codes.map((c) => ({ account_id: input.accountId, code_hash: hashRecoveryCode(sealer, input.accountId, c) })));
    await recordAuthEvent(trx, { orgId: input.orgId, accountId: input.accountId, type: 'mfa_enrolment', outcome: 'success', ...eventFields(input.event) });
  });
  return { recoveryCodes: codes };
}

/**
 * A code of the person's authenticator app, to prove it on their own account page; `throttle` counts the
 * attempt with the account's sign-in attempts (guessing codes there is no way around the sign-in's limit).
 */
export type TotpProof = { accountId: string; code: string; orgId: string; event?: EventContext; throttle?: Throttle };

/** The person proves their app with a current code (counted by the throttle); `missing` when they have none. */
async function proveTotp(db: Knex, sealer: Sealer, input: TotpProof, missing: string): Promise<void> {
  if (!(await hasTotp(db, input.accountId))) throw new NotFound(missing, { field: 'code', rule: 'no_mfa' });
  await countCredentialAttempt(input.throttle, { accountId: input.accountId, ip: input.event?.ip });
  if (!(await verifyTotp(db, sealer, input))) throw new Invalid('that code is not right: enter the 6-digit code your app shows now', { field: 'code', rule: 'mfa_failed' });
}

/** Checks a TOTP code as a second factor (once per code). Records the attempt. */
export async function verifyTotp(db: Knex, sealer: Sealer, input: { accountId: string; code: string; orgId: string; event?: EventContext }): Promise<boolean> {
  const factor = await db('mfa_factors').where({ account_id: input.accountId, kind: 'totp' }).whereNotNull('confirmed_at').first('id', 'secret_sealed', 'last_used_step');
  const ok = Boolean(factor) && (await acceptCode(db, sealer, factor, input.code));
  await recordAuthEvent(db, {
    orgId: input.orgId, accountId: input.accountId, type: 'mfa_verification', outcome: ok ? 'success' : 'failure', ...(ok ? {} : { reason: 'mfa_failed' as AuthEventReason }), ...eventFields(input.event),
  });
  return ok;
}

const recoveryAlphabet = 'abcdefghjkmnpqrstuvwxyz23456789';
/** "xxxxx-xxxxx": 10 characters of 31 (about 50 bits). */
function newRecoveryCode(): string {
  let out = '';
  for (let i = 0; i < 10; i++) out += recoveryAlphabet[randomInt(recoveryAlphabet.length)];
  return `${out.slice(0, 5)}-${out.slice(5)}`;
}
/** Keyed by SECRET and bound to the account: a leaked table gives no way to try the 50-bit codes offline. */
const hashRecoveryCode = (sealer: Sealer, accountId: string, code: string) => sealer.mac(code.toLowerCase().replace(/[^a-z0-9]/g, ''), `recovery_codes:${accountId}`);

/** Uses one recovery code (once): true when it was one of the account's unused codes. Records the attempt. */
export async function useRecoveryCode(db: Knex, sealer: Sealer, input: { accountId: string; code: string; orgId: string; event?: EventContext }): Promise<boolean> {
  const used = await db('recovery_codes').where({ account_id: input.accountId, code_hash: hashRecoveryCode(sealer, input.accountId, input.code) }).whereNull('used_at').update({ used_at: db.fn.now() });
  const ok = used === 1;
  await recordAuthEvent(db, {
    orgId: input.orgId, accountId: input.accountId, type: 'recovery_code_used', outcome: ok ? 'success' : 'failure', ...(ok ? {} : { reason: 'mfa_failed' as AuthEventReason }), ...eventFields(input.event),
  });
  return ok;
}

/** How many unused recovery codes the account has. */
export async function remainingRecoveryCodes(db: Knex, accountId: string): Promise<number> {
  const [{ count }] = await db('recovery_codes').where({ account_id: accountId }).whereNull('used_at').count({ count: '*' });
  return Number(count);
}

/**
 * An organisation resets a member's MFA: only the organisation that manages the account may (the factor is
 * the person's, across organisations). Their factors and recovery codes are deleted and their sessions in
 * this organisation revoked.
 */
export async function resetMfa(db: Knex, input: { orgId: string; accountId: string; by: Actor }): Promise<void> {
  await db.transaction(async (trx) => {
    const account = await trx('accounts').where({ id: input.accountId, managed_by_org_id: input.orgId }).forUpdate().first('id');
    if (!account) throw new NotFound('no account this organisation manages with that id', { field: 'accountId', rule: 'not_managed' });
    await trx('mfa_factors').where({ account_id: input.accountId }).delete();
    await trx('recovery_codes').where({ account_id: input.accountId }).delete();
    await revokeSessions(trx, { orgId: input.orgId, accountId: input.accountId, reason: 'mfa_reset', by: input.by });
    await recordAudit(trx, { orgId: input.orgId, actor: input.by, action: 'member.mfa_reset', targetType: 'account', targetId: input.accountId, details: {} });
  });
}

/**
 * The person removes their authenticator app (from their own account page), proving it with a current code:
 * the factor and the recovery codes go. Where the organisation requires MFA, the next sign-in asks for a
 * new enrolment (or an e-mail code).
 */
export async function removeTotp(db: Knex, sealer: Sealer, input: TotpProof): Promise<void> {
  await proveTotp(db, sealer, input, 'no authenticator app is set up for this account');
  await db.transaction(async (trx) => {
    await trx('mfa_factors').where({ account_id: input.accountId, kind: 'totp' }).delete();
    await trx('recovery_codes').where({ account_id: input.accountId }).delete();
    await recordAudit(trx, { orgId: input.orgId, actor: { type: 'user', id: input.accountId, ip: input.event?.ip ?? null }, action: 'account.totp_removed', targetType: 'account', targetId: input.accountId, details: {} });
  });
}

/** Ten new recovery codes (the old ones stop working), for a person who proves their authenticator app with a current code. */
export async function regenerateRecoveryCodes(db: Knex, sealer: Sealer, input: TotpProof): Promise<{ recoveryCodes: string[] }> {
  await proveTotp(db, sealer, input, 'recovery codes come with an authenticator app: set one up first');
  const codes = Array.from({ length: RECOVERY_CODE_COUNT }, () => newRecoveryCode());
  await db.transaction(async (trx) => {
    await trx('recovery_codes').where({ account_id: input.accountId }).delete();
    await trx('recovery_codes').insert(codes.map((c) => ({ account_id: input.accountId, code_hash: hashRecoveryCode(sealer, input.accountId, c) })));
    await recordAudit(trx, { orgId: input.orgId, actor: { type: 'user', id: input.accountId, ip: input.event?.ip ?? null }, action: 'account.recovery_codes_renewed', targetType: 'account', targetId: input.accountId, details: {} });
  });
  return { recoveryCodes: codes };
}
