// Pages a person reaches from an e-mail, outside any sign-in: setting a new password through a reset link,
// and answering an invitation (invitation-pages.ts).
// The link's token is single use and lives one hour; the form is bound to it (CSRF); the answer to a dead
// link says only that it is dead.
import { createHash } from 'node:crypto';
import type express from 'express';
import type { Knex } from 'knex';
import type { Throttle } from '../directory/throttle.ts';
import type { Logger } from 'pino';
import type { EmailCodes } from '../directory/email-codes.ts';
import { DirectoryError } from '../directory/errors.ts';
import type { PasswordHasher } from '../directory/passwords.ts';
import { passwordResetFor, resetPassword } from '../directory/sign-in.ts';
import { asSentence, csrfGuard, formApp, formValue, PageError, pageErrors, pageHeaders } from './forms.ts';
import { errorBox, field, form, page } from './pages.ts';
import { mountInvitationPages } from './invitation-pages.ts';

export const RESET_PASSWORD_PATH = '/account/reset-password';

export type AccountPagesDeps = {
  db: Knex; passwords: PasswordHasher; emailCodes: EmailCodes; secret: string; logger: Logger;
  trustProxy: boolean | number | string; passwordMinLength?: number;
  /** The sign-in pages' own throttle: a password typed on the invitation page counts as a sign-in attempt. */
  throttle: Throttle;
};

export function accountPagesApp(deps: AccountPagesDeps): express.Express {
  const app = formApp(deps.trustProxy);
  const csrf = csrfGuard(deps.secret, { cookie: 'roster_account_csrf', path: '/account' });
  const bindingOf = (token: string) => createHash('sha256').update(token).digest('base64url');
  const min = deps.passwordMinLength ?? 10;
  const dead = () => new PageError(400, 'This link no longer works', 'A password link works once, for one hour. Ask for a new one from the sign-in page.');

  const formPage = (req: express.Request, res: express.Response, token: string, email: string, error?: string, status = 200) => {
    const nonce = pageHeaders(res);
    res.status(status).type('html').send(page({
      title: 'Choose a new password', nonce, body: `
${errorBox(error)}
${form({ action: RESET_PASSWORD_PATH, csrf: csrf.token(req, res, bindingOf(token)), submit: 'Save password', body: `<input type="hidden" name="token" value="${token}">
<input type="hidden" name="email" value="${email.replace(/"/g, '&quot;')}" autocomplete="username">
${field({ name: 'password', label: 'New password', type: 'password', autocomplete: 'new-password', hint: `At least ${min} characters. A passphrase of a few words works well; common passwords are refused.`, error: Boolean(error), autofocus: true, extra: `minlength="${min}" maxlength="256"` })}` })}`,
    }));
  };

  app.get(RESET_PASSWORD_PATH, async (req, res, next) => {
    try {
      const token = typeof req.query.token === 'string' ? req.query.token : '';
      const holder = /^[\w-]{43}$/.test(token) ? await passwordResetFor(deps.db, deps.emailCodes, token) : null;
      if (!holder) throw dead();
      formPage(req, res, token, holder.email);
    } catch (err) {
      next(err);
    }
  });

  app.post(RESET_PASSWORD_PATH, async (req, res, next) => {
    try {
      const token = formValue(req, 'token');
      if (!/^[\w-]{43}$/.test(token)) throw dead();
      csrf.check(req, bindingOf(token));
      let outcome: 'changed' | 'invalid_token';
      try {
        outcome = await resetPassword(deps.db, deps.passwords, deps.emailCodes, {
          token, newPassword: formValue(req, 'password'), minLength: deps.passwordMinLength,
          event: { ip: req.ip ?? null, userAgent: req.get('user-agent') ?? null },
        });
      } catch (err) {
        if (err instanceof DirectoryError && err.field === 'password') {
          const holder = await passwordResetFor(deps.db, deps.emailCodes, token);
          if (!holder) throw dead();
          return formPage(req, res, token, holder.email, asSentence(err.message), 422);
        }
        throw err;
      }
      if (outcome === 'invalid_token') throw dead();
      const nonce = pageHeaders(res);
      res.type('html').send(page({ title: 'Your password is changed', nonce, body: '<p role="status">You were signed out everywhere. Go back to your application and sign in with the new password.</p>' }));
    } catch (err) {
      next(err);
    }
  });

  mountInvitationPages(app, deps);
  pageErrors(app, deps.logger);
  return app;
}
