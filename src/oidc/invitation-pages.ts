// The page an invitation e-mail links to (/account/invitation?token=...): it names the organisation, the
// inviter and the role; a person with an account types its password and joins; a new person chooses a
// password (and a name) and joins; either may decline. Following the link proves control of the address.
// A dead link (expired, cancelled, used, unknown) shows a page that says so and changes nothing.
import { createHash } from 'node:crypto';
import type express from 'express';
import { acceptInvitation, declineInvitation, InvitationUnusable, type InvitationView, InvitationWithdrawn, viewInvitation } from '../directory/invitations.ts';
import { DirectoryError } from '../directory/errors.ts';
import { checkChosenPassword } from '../directory/passwords.ts';
import { checkPassword, findSignInCandidate } from '../directory/sign-in.ts';
import { throttleSubject } from '../directory/throttle.ts';
import type { AccountPagesDeps } from './account-pages.ts';
import { asSentence, csrfGuard, formValue, PageError, pageHeaders, waitMessage } from './forms.ts';
import { errorBox, escapeHtml, field, form, page } from './pages.ts';

export const INVITATION_PATH = '/account/invitation';

const tokenPattern = /^rst_inv_[A-Za-z0-9_-]{43}$/;

export function mountInvitationPages(app: express.Express, deps: AccountPagesDeps): void {
  const csrf = csrfGuard(deps.secret, { cookie: 'roster_invitation_csrf', path: '/account' });
  const bindingOf = (token: string) => createHash('sha256').update(`invitation:${token}`).digest('base64url');
  const min = deps.passwordMinLength ?? 10;

  const deadPage = (view: InvitationView) => (view.state === 'expired'
    ? new PageError(410, 'This invitation has expired', `Ask ${view.inviterName ?? 'an administrator'} at ${view.orgName} to send you a new one.`)
    : view.state === 'withdrawn'
      ? new PageError(410, 'This invitation no longer works', `Whoever sent it can no longer give this access. If you still want to join ${view.orgName}, ask an administrator there for a new invitation.`)
      : new PageError(410, 'This invitation no longer works', 'It has been used, declined or cancelled. If you still want to join, ask the organisation for a new invitation.'));

  const load = async (token: string) => {
    const view = tokenPattern.test(token) ? await viewInvitation(deps.db, token) : ({ state: 'unknown' } as InvitationView);
    if (view.state !== 'pending') throw deadPage(view);
    return view;
  };

  const show = (req: express.Request, res: express.Response, token: string, view: InvitationView, error?: string, status = 200, typedName = '') => {
    const nonce = pageHeaders(res);
    const token_ = csrf.token(req, res, bindingOf(token));
    const hidden = `<input type="hidden" name="token" value="${escapeHtml(token)}">`;
    const account = view.account!;
    const intro = `<p>${escapeHtml(view.inviterName ?? 'An administrator')} invited <strong>${escapeHtml(view.email)}</strong> to join ${escapeHtml(view.orgName)} with the role ${escapeHtml(view.roleName)}.</p>
${view.message ? `<blockquote class="notice"><p>${escapeHtml(view.message)}</p></blockquote>` : ''}
<p class="hint">This invitation works until ${escapeHtml(view.expiresAt!.toUTCString())}.</p>`;
    const acceptBody = !account.exists
      ? `${hidden}
<input type="hidden" name="email" value="${escapeHtml(view.email)}" autocomplete="username">
${field({ name: 'name', label: 'Your name', type: 'text', value: typedName, autocomplete: 'name', autofocus: !error, extra: 'maxlength="256"' }).replace(' required', '')}
${field({ name: 'password', label: 'Choose a password', type: 'password', autocomplete: 'new-password', hint: `At least ${min} characters. A passphrase of a few words works well; common passwords are refused.`, error: Boolean(error), autofocus: Boolean(error), extra: `minlength="${min}" maxlength="256"` })}`
      : account.hasPassword
        ? `${hidden}
<p>You already have an account. Type its password to join.</p>
<input type="hidden" name="email" value="${escapeHtml(account.email ?? view.email)}" autocomplete="username">
${field({ name: 'password', label: 'Password', type: 'password', autocomplete: 'current-password', error: Boolean(error), autofocus: true, extra: 'maxlength="1024"' })}`
        : `${hidden}<p>You already have an account: joining adds ${escapeHtml(view.orgName)} to it.</p>`;
    res.status(status).type('html').send(page({
      title: `Join ${view.orgName}`, orgName: view.orgName, nonce, body: `
${errorBox(error)}
${intro}
${form({ action: INVITATION_PATH, csrf: token_, submit: account.exists ? `Join ${view.orgName}` : 'Create account and join', body: acceptBody })}
${form({ action: `${INVITATION_PATH}/decline`, csrf: token_, submit: 'Decline the invitation', secondary: true, body: hidden })}`,
    }));
  };

  app.get(INVITATION_PATH, async (req, res, next) => {
    try {
      const token = typeof req.query.token === 'string' ? req.query.token : '';
      show(req, res, token, await load(token));
    } catch (err) {
      next(err);
    }
  });

  app.post(INVITATION_PATH, async (req, res, next) => {
    try {
      const token = formValue(req, 'token');
      if (!tokenPattern.test(token)) throw deadPage({ state: 'unknown' });
      csrf.check(req, bindingOf(token));
      const view = await load(token);
      const account = view.account!;
      const password = formValue(req, 'password');
      let newPasswordHash: string | undefined;
      if (!account.exists) {
        try {
          await checkChosenPassword(password, { email: view.email!, minLength: deps.passwordMinLength });
        } catch (err) {
          if (err instanceof DirectoryError) return show(req, res, token, view, asSentence(err.message), 422, formValue(req, 'name'));
          throw err;
        }
        newPasswordHash = await deps.passwords.hash(password);
      } else if (account.hasPassword) {
        const candidate = await findSignInCandidate(deps.db, { orgId: view.orgId!, email: view.email! });
        // A password guessed here is a sign-in attempt: counted with the sign-in pages' (per account and network),
        // and never counted again from zero here (a right password is not a sign-in: the same count limits the
        // guesses at the account's second factor).
        const wait = await deps.throttle.attempt({ subject: throttleSubject({ accountId: candidate.accountId, email: view.email! }), ip: req.ip ?? null });
        if (wait > 0) {
          res.set('Retry-After', String(wait));
          return show(req, res, token, view, waitMessage(wait), 429);
        }
        const ok = await checkPassword(deps.passwords, candidate, password);
        if (!ok) return show(req, res, token, view, 'That password is not right. Type the password of your account, or use "Forgot password" on a sign-in page first.', 401);
      }
      try {
        await acceptInvitation(deps.db, { token, name: formValue(req, 'name') || null, newPasswordHash, ip: req.ip ?? null });
      } catch (err) {
        if (err instanceof InvitationWithdrawn) throw deadPage({ ...view, state: 'withdrawn' });
        if (err instanceof InvitationUnusable) throw deadPage({ state: 'used' });
        if (err instanceof DirectoryError && err.rule === 'already_member') throw new PageError(409, 'You are already a member', `Your account already belongs to ${view.orgName}: sign in to its applications.`);
        if (err instanceof DirectoryError && err.code === 'invalid') return show(req, res, token, view, asSentence(err.message), 422, formValue(req, 'name'));
        throw err;
      }
      const nonce = pageHeaders(res);
      res.type('html').send(page({
        title: `You joined ${view.orgName}`, orgName: view.orgName, nonce,
        body: `<p role="status">Welcome. Sign in to ${escapeHtml(view.orgName)}'s applications with ${escapeHtml(view.email)}${account.exists ? '' : ' and the password you chose'}. If the organisation asks for a second factor, you set it up at your first sign-in.</p>`,
      }));
    } catch (err) {
      next(err);
    }
  });

  app.post(`${INVITATION_PATH}/decline`, async (req, res, next) => {
    try {
      const token = formValue(req, 'token');
      if (!tokenPattern.test(token)) throw deadPage({ state: 'unknown' });
      csrf.check(req, bindingOf(token));
      const view = await load(token);
      try {
        await declineInvitation(deps.db, { token, ip: req.ip ?? null });
      } catch (err) {
        if (err instanceof InvitationUnusable) throw deadPage({ state: 'used' });
        throw err;
      }
      const nonce = pageHeaders(res);
      res.type('html').send(page({ title: 'Invitation declined', orgName: view.orgName, nonce, body: `<p role="status">You declined the invitation to join ${escapeHtml(view.orgName)}. Nothing else changes.</p>` }));
    } catch (err) {
      next(err);
    }
  });
}
