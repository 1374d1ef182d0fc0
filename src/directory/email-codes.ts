// Codes and links sent by e-mail. A sign-in code is six digits, valid ten minutes, single use, with at most
// five tries; a new one may be asked for every 30 seconds. A password-reset link carries 256 random bits,
// valid one hour, single use. Only an HMAC of each is stored, keyed from SECRET (a six-digit code's plain
// SHA-256 would be reversed by trying a million values). Entering a code or following a link proves control of
// the address: the account's e-mail becomes verified.
import { createHmac, hkdfSync, randomBytes, randomInt, randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { markEmailVerified } from './accounts.ts';

export const EMAIL_CODE_TTL_SECONDS = 10 * 60;
export const EMAIL_CODE_MAX_TRIES = 5;
export const EMAIL_CODE_RESEND_SECONDS = 30;
export const PASSWORD_RESET_TTL_SECONDS = 60 * 60;

export type EmailCodes = {
  /**
   * A new sign-in code for the account (earlier ones stop working), or `retryAfter` seconds when one was sent
   * less than 30 seconds ago. The caller sends the code by e-mail in the same transaction (the outbox).
   */
  issueSignInCode(trx: Knex, accountId: string): Promise<{ code: string } | { retryAfter: number }>;
  /** Checks a sign-in code: true once, for the latest unexpired code with tries left; marks the e-mail verified. */
  verifySignInCode(db: Knex, input: { accountId: string; code: string }): Promise<boolean>;
  /** A new password-reset token for the account (earlier ones stop working). */
  issueResetToken(trx: Knex, accountId: string): Promise<string>;
  /** The account of an unexpired, unused reset token, consumed (single use); marks the e-mail verified. */
  consumeResetToken(trx: Knex, token: string): Promise<string | null>;
  /** The account of an unexpired, unused reset token, without consuming it (to show the form). */
  peekResetToken(db: Knex, token: string): Promise<string | null>;
};

export function createEmailCodes(secret: string): EmailCodes {
  const key = Buffer.from(hkdfSync('sha256', secret, 'roster', 'roster e-mail codes v1', 32));
  const mac = (purpose: string, accountId: string, value: string) => createHmac('sha256', key).update(`${purpose}\n${accountId}\n${value}`).digest('hex');
  const resetMac = (token: string) => createHmac('sha256', key).update(`password_reset\n${token}`).digest('hex');

  return {
    async issueSignInCode(trx, accountId) {
      // One request at a time per account: the 30-second rule must see the code a racing request just issued.
      await trx('accounts').where({ id: accountId }).forUpdate().first('id');
      const [recent] = await trx('email_challenges').where({ account_id: accountId, purpose: 'sign_in' })
        .where('created_at', '>', trx.raw(`now() - make_interval(secs => ?)`, [EMAIL_CODE_RESEND_SECONDS]))
        .select(trx.raw('ceil(extract(epoch from (created_at + make_interval(secs => ?) - now())))::int as wait', [EMAIL_CODE_RESEND_SECONDS]))
        .orderBy('created_at', 'desc').limit(1);
      if (recent) return { retryAfter: Math.max(1, Number(recent.wait)) };
      const code = String(randomInt(1_000_000)).padStart(6, '0');
      await trx('email_challenges').where({ account_id: accountId, purpose: 'sign_in' }).whereNull('consumed_at').update({ consumed_at: trx.fn.now() });
      // The stored hash binds the code to its challenge, so equal codes of two challenges hash differently.
      const id = randomUUID();
      await trx('email_challenges').insert({
        id, account_id: accountId, purpose: 'sign_in', secret_hash: mac('sign_in', accountId, `${code}.${id}`),
        expires_at: trx.raw(`now() + make_interval(secs => ?)`, [EMAIL_CODE_TTL_SECONDS]),
      });
      return { code };
    },

    async verifySignInCode(db, { accountId, code }) {
      const typed = code.replace(/\s+/g, '');
      return db.transaction(async (trx) => {
        const challenge = await trx('email_challenges').where({ account_id: accountId, purpose: 'sign_in' }).whereNull('consumed_at')
          .where('expires_at', '>', trx.fn.now()).orderBy('created_at', 'desc').forUpdate().first('id', 'secret_hash', 'attempts');
        if (!challenge || challenge.attempts >= EMAIL_CODE_MAX_TRIES) return false;
        const ok = /^\d{6}$/.test(typed) && mac('sign_in', accountId, `${typed}.${challenge.id}`) === challenge.secret_hash;
        if (!ok) {
          await trx('email_challenges').where({ id: challenge.id }).update({ attempts: challenge.attempts + 1 });
          return false;
        }
        await trx('email_challenges').where({ id: challenge.id }).update({ consumed_at: trx.fn.now() });
        await markEmailVerified(trx, accountId);
        return true;
      });
    },

    async issueResetToken(trx, accountId) {
      const token = randomBytes(32).toString('base64url');
      await trx('email_challenges').where({ account_id: accountId, purpose: 'password_reset' }).whereNull('consumed_at').update({ consumed_at: trx.fn.now() });
      await trx('email_challenges').insert({
        account_id: accountId, purpose: 'password_reset', secret_hash: resetMac(token),
        expires_at: trx.raw(`now() + make_interval(secs => ?)`, [PASSWORD_RESET_TTL_SECONDS]),
      });
      return token;
    },

    async consumeResetToken(trx, token) {
      if (!/^[\w-]{43}$/.test(token)) return null;
      const [row] = await trx('email_challenges').where({ purpose: 'password_reset', secret_hash: resetMac(token) }).whereNull('consumed_at')
        .where('expires_at', '>', trx.fn.now()).update({ consumed_at: trx.fn.now() }).returning('account_id');
      if (!row) return null;
      await markEmailVerified(trx, row.account_id);
      return row.account_id as string;
    },

    async peekResetToken(db, token) {
      if (!/^[\w-]{43}$/.test(token)) return null;
      const row = await db('email_challenges').where({ purpose: 'password_reset', secret_hash: resetMac(token) }).whereNull('consumed_at')
        .where('expires_at', '>', db.fn.now()).first('account_id');
      return row?.account_id ?? null;
    },
  };
}
