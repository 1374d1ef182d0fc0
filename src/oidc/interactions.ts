// The sign-in interaction: the pages oidc-provider sends a person to when an application asks them to sign
// in. E-mail first, then password; then what the organisation's login policy asks (change a temporary
// password, enrol an authenticator app, give the second factor); then back to the provider with the login.
//
// What the person has done so far lives in the provider's interaction (server-side, bound to the browser by
// the provider's interaction cookie), under `roster`. Every form carries a CSRF token bound to that
// interaction and to a cookie of its own.
import { randomBytes } from 'node:crypto';
import type express from 'express';
import type { NextFunction, Request, Response } from 'express';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type Provider from 'oidc-provider';
import QRCode from 'qrcode';
import { findClient } from '../directory/clients.ts';
import { getSsoConnectionForSignIn } from '../directory/sso.ts';
import { resolveSsoAccount } from '../directory/sso-identities.ts';
import { finishUpstreamLogin, ssoRedirectUri, startUpstreamLogin, UpstreamError } from './upstream.ts';
import type { AuthEventReason, EventContext } from '../directory/auth-events.ts';
import { type EmailCodes, EMAIL_CODE_TTL_SECONDS, PASSWORD_RESET_TTL_SECONDS } from '../directory/email-codes.ts';
import { DirectoryError } from '../directory/errors.ts';
import { enqueueMail, mailable } from '../directory/outbox.ts';
import { emailCodeMessage, passwordResetMessage } from '../mail/templates.ts';
import { RESET_PASSWORD_PATH } from './account-pages.ts';
import { getOrganization } from '../directory/organizations.ts';
import { acrOf, amrOf, type Attempt, evaluateLogin, ssoConnectionFor, loadSignInState, type LoginCheck, secondFactorMethods, type SignInState, type Step } from '../directory/login-policy.ts';
import { confirmTotpEnrolment, pendingTotpEnrolment, startTotpEnrolment, useRecoveryCode, verifyTotp } from '../directory/mfa.ts';
import type { PasswordHasher } from '../directory/passwords.ts';
import type { Sealer } from '../directory/sealing.ts';
import { changePassword, checkPassword, completeSignIn, findSignInCandidate, passwordOutcome, recordAttempt, recordSignInFailure, requestPasswordReset } from '../directory/sign-in.ts';
import { type Throttle, throttleSubject } from '../directory/throttle.ts';
import { asSentence, csrfGuard, formApp, formValue, PageError, pageErrors, pageHeaders, waitMessage } from './forms.ts';
import { errorBox, escapeHtml, field, form, page } from './pages.ts';

export type InteractionDeps = {
  db: Knex;
  provider: () => Provider;
  sealer: Sealer;
  passwords: PasswordHasher;
  throttle: Throttle;
  secret: string;
  logger: Logger;
  issuerName: string;
  passwordMinLength?: number;
  emailCodes: EmailCodes;
  /** The public base URL, for links in e-mails. */
  issuer: string;
  /** Asks the mail sender to deliver what was just queued (it also runs on its own schedule). */
  wakeMail?: () => void;
  /** Express's `trust proxy`: req.ip and req.secure behind a proxy. */
  trustProxy: boolean | number | string;
};

/** What the person has shown so far in this interaction. */
type Pending = {
  email?: string; accountId?: string; factors?: string[]; emailCodeSent?: boolean; deniedBy?: string;
  /** How the person identified themselves: a password here, or the organisation's identity provider. */
  provider?: 'password' | 'sso';
  /** A sign-in at the organisation's identity provider in progress: what its answer must match. */
  sso?: { state: string; nonce: string; codeVerifier: string };
};

const attemptOf = (p: Pending): Attempt => ({ provider: p.provider ?? 'password', factors: p.factors ?? [], now: new Date() });

/** What the login policy reads of this sign-in, and the first of its checks that fails (null: none). */
type Standing = { state: SignInState; failed: LoginCheck | null };

/** Where a person stands in a sign-in: identifying themselves, a step of the login policy, denied, or done. */
type Stage = 'identify' | Step | 'denied' | 'done';

type Details = Awaited<ReturnType<Provider['interactionDetails']>>;

type Ctx = {
  /** The login policy's view of this sign-in, read once per request (see standingOf). */
  standing?: Promise<Standing | undefined>;
  details: Details;
  pending: Pending;
  org: { id: string; name: string };
  clientId: string;
  csrf: string;
  nonce: string;
  base: string;
};

export function interactionsApp(deps: InteractionDeps): express.Express {
  const { db } = deps;
  const app = formApp(deps.trustProxy);
  const csrf = csrfGuard(deps.secret, { cookie: 'roster_csrf', path: '/oidc/interaction' });

  /** Loads the interaction, its client and organisation; sets the page headers and the CSRF cookie. */
  async function load(req: Request, res: Response): Promise<Ctx> {
    const details = await deps.provider().interactionDetails(req, res);
    const clientId = String(details.params.client_id ?? '');
    const client = await findClient(db, clientId);
    if (!client) throw new PageError(400, 'This application is not registered any more', 'Return to the application and try again later.');
    const org = await getOrganization(db, client.orgId).catch((err: unknown) => {
      if (err instanceof DirectoryError) throw new PageError(400, 'This application is not available', 'Its organisation no longer exists.');
      throw err;
    });
    const nonce = pageHeaders(res);
    const pending = ((details.result as { roster?: Pending } | undefined)?.roster) ?? {};
    return { details, pending, org, clientId, csrf: csrf.token(req, res, details.uid), nonce, base: `/oidc/interaction/${details.uid}` };
  }

  const savePending = (req: Request, res: Response, ctx: Ctx, pending: Pending) =>
    deps.provider().interactionResult(req, res, { ...(ctx.details.result ?? {}), roster: pending }, { mergeWithLastSubmission: false });

  /** The policy's view of the person who showed a password (or came back from SSO), once per request. */
  const standingOf = (ctx: Ctx): Promise<Standing | undefined> => {
    const accountId = ctx.pending.accountId;
    if (!accountId) return Promise.resolve(undefined);
    ctx.standing ??= loadSignInState(db, { orgId: ctx.org.id, accountId })
      .then((state) => (state ? { state, failed: evaluateLogin(state, attemptOf(ctx.pending)) } : undefined));
    return ctx.standing;
  };
  const stepOf = (standing: Standing | undefined) => (standing?.failed && 'step' in standing.failed.outcome ? standing.failed.outcome.step : null);

  const clientOf = (req: Request, ctx: Ctx): EventContext => ({ ip: req.ip ?? null, userAgent: req.get('user-agent') ?? null, clientId: ctx.clientId });
  const render = (res: Response, ctx: Ctx, title: string, body: string, status = 200) => {
    res.status(status).type('html').send(page({ title, orgName: ctx.org.name, nonce: ctx.nonce, body }));
  };

  // Each step's page.
  const emailPage = (res: Response, ctx: Ctx, opts: { error?: string; value?: string } = {}, status = 200) => render(res, ctx, 'Sign in', `
${errorBox(opts.error)}
${form({ action: `${ctx.base}/email`, csrf: ctx.csrf, submit: 'Continue', body: field({ name: 'email', label: 'E-mail address', type: 'email', autocomplete: 'username', value: opts.value ?? ctx.pending.email ?? String(ctx.details.params.login_hint ?? ''), error: Boolean(opts.error), autofocus: true }) })}`, status);

  const passwordPage = (res: Response, ctx: Ctx, opts: { error?: string } = {}, status = 200) => render(res, ctx, 'Enter your password', `
<p>Signing in as <strong>${escapeHtml(ctx.pending.email)}</strong>.</p>
${errorBox(opts.error)}
${form({ action: `${ctx.base}/password`, csrf: ctx.csrf, submit: 'Sign in', body: `<input type="hidden" name="email" value="${escapeHtml(ctx.pending.email)}" autocomplete="username">${field({ name: 'password', label: 'Password', type: 'password', autocomplete: 'current-password', error: Boolean(opts.error), autofocus: true })}` })}
${form({ action: `${ctx.base}/forgot`, csrf: ctx.csrf, submit: 'Forgot your password?', secondary: true, body: '' })}
${form({ action: `${ctx.base}/restart`, csrf: ctx.csrf, submit: 'Use a different e-mail address', secondary: true, body: '' })}`, status);

  const min = deps.passwordMinLength ?? 10;
  const changePasswordPage = (res: Response, ctx: Ctx, opts: { error?: string } = {}, status = 200) => render(res, ctx, 'Choose a new password', `
<p class="notice">You signed in with a temporary password. Choose your own password to continue.</p>
${errorBox(opts.error)}
${form({ action: `${ctx.base}/change-password`, csrf: ctx.csrf, submit: 'Save password and continue', body: `<input type="hidden" name="email" value="${escapeHtml(ctx.pending.email)}" autocomplete="username">${field({ name: 'password', label: 'New password', type: 'password', autocomplete: 'new-password', hint: `At least ${min} characters. A passphrase of a few words works well; common passwords are refused.`, error: Boolean(opts.error), autofocus: true, extra: `minlength="${min}" maxlength="256"` })}` })}`, status);

  async function enrolPage(res: Response, ctx: Ctx, opts: { error?: string } = {}, status = 200) {
    const accountId = ctx.pending.accountId!;
    const label = ctx.pending.email ?? 'account';
    const enrolment = (await pendingTotpEnrolment(db, deps.sealer, { accountId, label, issuer: deps.issuerName }))
      ?? (await startTotpEnrolment(db, deps.sealer, { accountId, label, issuer: deps.issuerName }));
    const svg = await QRCode.toString(enrolment.uri, { type: 'svg', margin: 1, errorCorrectionLevel: 'M' });
    const grouped = enrolment.secret.replace(/(.{4})/g, '$1 ').trim();
    render(res, ctx, 'Set up an authenticator app', `
<p>${escapeHtml(ctx.org.name)} requires a second step when you sign in. Scan this code with an authenticator app (such as Google Authenticator, Microsoft Authenticator or 1Password), then enter the 6-digit code it shows.</p>
<div class="qr" role="img" aria-label="QR code of your authenticator key">${svg.replace(/<svg/, '<svg aria-hidden="true" focusable="false"')}</div>
<p>Cannot scan it? Enter this key in the app instead:</p>
<p><code id="totp-secret">${escapeHtml(grouped)}</code></p>
${errorBox(opts.error)}
${form({ action: `${ctx.base}/totp-enrol`, csrf: ctx.csrf, submit: 'Confirm', body: field({ name: 'code', label: '6-digit code from the app', type: 'text', inputmode: 'numeric', autocomplete: 'one-time-code', error: Boolean(opts.error), autofocus: true, extra: 'pattern="[0-9 ]*" maxlength="9"' }) })}`, status);
  }

  type CodeOpts = { error?: string; recoveryError?: string; emailError?: string };

  /**
   * The second factor, or the proof of e-mail control (a code sent to the address), with the methods the
   * organisation allows for this person: their authenticator app (and its recovery codes), a code by e-mail.
   */
  async function codePage(res: Response, ctx: Ctx, opts: CodeOpts = {}, status = 200): Promise<void> {
    const standing = await standingOf(ctx);
    if (!standing) throw new PageError(400, 'This sign-in has expired', 'Return to the application and sign in again.');
    const { state } = standing;
    const verifying = stepOf(standing) === 'verify_email';
    const methods = verifying ? ['email' as const] : secondFactorMethods(state);
    const totp = methods.includes('totp');
    const codeField = (name: string, label: string, error: boolean, autofocus: boolean) =>
      field({ name, label, type: 'text', inputmode: 'numeric', autocomplete: 'one-time-code', error, autofocus, extra: 'pattern="[0-9 ]*" maxlength="9"' });
    const emailPart = !methods.includes('email') ? '' : ctx.pending.emailCodeSent
      ? `<p>We sent a 6-digit code to <strong>${escapeHtml(state.account.email)}</strong>. It works once, for 10 minutes.</p>
${errorBox(opts.emailError, 'email-error')}
${form({ action: `${ctx.base}/email-code`, csrf: ctx.csrf, submit: 'Verify', body: codeField('email_code', 'Code from the e-mail', Boolean(opts.emailError), !totp || Boolean(opts.emailError)).replace('aria-describedby="error"', 'aria-describedby="email-error"') })}
${form({ action: `${ctx.base}/email-code/send`, csrf: ctx.csrf, submit: 'Send a new code', secondary: true, body: '' })}`
      : `${errorBox(opts.emailError, 'email-error')}
${form({ action: `${ctx.base}/email-code/send`, csrf: ctx.csrf, submit: `E-mail a code to ${state.account.email}`, secondary: totp, body: '' })}`;
    const body = verifying
      ? `<p>To use this password with ${escapeHtml(ctx.org.name)}, first show that <strong>${escapeHtml(state.account.email)}</strong> is your address: we send it a code.</p>
${emailPart}`
      : `${totp ? `<p>Enter the 6-digit code from your authenticator app.</p>
${errorBox(opts.error)}
${form({ action: `${ctx.base}/totp`, csrf: ctx.csrf, submit: 'Verify', body: codeField('code', '6-digit code', Boolean(opts.error), !opts.recoveryError && !opts.emailError && !ctx.pending.emailCodeSent) })}` : ''}
${methods.includes('email') ? (totp ? `<h2>Or use a code by e-mail</h2>
${emailPart}` : emailPart) : ''}
${totp ? `<details${opts.recoveryError ? ' open' : ''}>
<summary>Use a recovery code instead</summary>
${errorBox(opts.recoveryError, 'recovery-error')}
${form({ action: `${ctx.base}/recovery`, csrf: ctx.csrf, submit: 'Use recovery code', secondary: true, body: field({ name: 'recovery_code', label: 'Recovery code', type: 'text', autocomplete: 'off', error: Boolean(opts.recoveryError), autofocus: Boolean(opts.recoveryError), extra: 'spellcheck="false" maxlength="20"' }).replace('aria-describedby="error"', 'aria-describedby="recovery-error"') })}
</details>` : ''}`;
    render(res, ctx, verifying ? 'Confirm your e-mail address' : 'Two-step verification', body, status);
  }

  const deniedPage = (res: Response, ctx: Ctx, check: LoginCheck & { outcome: { deny: string; message: string } }) => render(res, ctx, 'You cannot sign in here', `
<div class="error" role="alert">${escapeHtml(check.outcome.message)}</div>
${form({ action: `${ctx.base}/abort`, csrf: ctx.csrf, submit: 'Return to the application', body: '' })}
${form({ action: `${ctx.base}/restart`, csrf: ctx.csrf, submit: 'Sign in as someone else', secondary: true, body: '' })}`, 403);

  const throttledPage = (res: Response, ctx: Ctx, seconds: number) => {
    res.set('Retry-After', String(seconds));
    return passwordPageOrEmail(res, ctx, waitMessage(seconds), 429);
  };
  const passwordPageOrEmail = (res: Response, ctx: Ctx, error: string, status: number) =>
    (ctx.pending.accountId ? codePage(res, ctx, { error }, status) : ctx.pending.email ? passwordPage(res, ctx, { error }, status) : emailPage(res, ctx, { error }, status));

  /**
   * Where the person stands: asks the login policy and shows the next step's page, ends in a denial, or
   * completes the sign-in (a session row, then back to the provider with the login).
   */
  async function advance(req: Request, res: Response, ctx: Ctx): Promise<void> {
    const { accountId, factors = [] } = ctx.pending;
    if (!ctx.pending.email) return emailPage(res, ctx);
    // An address that belongs to the organisation's identity provider never gets a password page here.
    if (!accountId) return (await ssoConnectionFor(db, deps.sealer, { orgId: ctx.org.id, email: ctx.pending.email })) ? emailPage(res, ctx) : passwordPage(res, ctx);
    const standing = await standingOf(ctx);
    if (!standing) return restart(req, res, ctx);
    const { failed } = standing;
    if (failed && 'deny' in failed.outcome) {
      // Recorded once per sign-in, not at every reload of the page.
      if (ctx.pending.deniedBy !== failed.name) {
        await recordSignInFailure(db, { orgId: ctx.org.id, accountId, reason: failed.outcome.deny, client: clientOf(req, ctx) });
        await savePending(req, res, ctx, { ...ctx.pending, deniedBy: failed.name });
      }
      return deniedPage(res, ctx, failed as LoginCheck & { outcome: { deny: string; message: string } });
    }
    if (failed && 'step' in failed.outcome) {
      if (failed.outcome.step === 'change_password') return changePasswordPage(res, ctx);
      if (failed.outcome.step === 'enrol_totp') return enrolPage(res, ctx);
      return codePage(res, ctx);
    }
    const sessionId = await completeSignIn(db, { orgId: ctx.org.id, accountId, provider: ctx.pending.provider ?? 'password', factors, client: clientOf(req, ctx) });
    await deps.throttle.succeed({ subject: subjectFor(req, { accountId, email: ctx.pending.email }), ip: req.ip ?? null });
    rememberDevice(req, res, accountId);
    await deps.provider().interactionFinished(req, res, {
      ...(ctx.details.result ?? {}),
      login: { accountId, amr: amrOf(factors), acr: acrOf(factors), remember: true },
      // The organisation's own application: no consent screen, and no round trip through it either.
      consent: {},
      roster: { ...ctx.pending, sessionId },
    }, { mergeWithLastSubmission: false });
  }

  async function restart(req: Request, res: Response, ctx: Ctx): Promise<void> {
    await savePending(req, res, ctx, {});
    res.redirect(303, ctx.base);
  }

  /** After a step changed what the person has shown: store it, and show the next step (Post/Redirect/Get). */
  async function moveOn(req: Request, res: Response, ctx: Ctx, pending: Pending): Promise<void> {
    await savePending(req, res, ctx, pending);
    res.redirect(303, ctx.base);
  }

  // A browser where the person has signed in before carries a device cookie (signed, bound to the account):
  // its attempts count on a counter of their own, so an attacker hammering the account elsewhere cannot shut
  // the person out of their own browser (OWASP's device cookies). Everyone else shares the account's counter.
  const DEVICE_COOKIE = 'roster_device';
  const deviceMac = (accountId: string, nonce: string) => deps.sealer.mac(`${accountId}.${nonce}`, 'sign-in device cookie').slice(0, 43);
  function deviceOf(req: Request, accountId: string): string | undefined {
    const raw = (req.headers.cookie ?? '').split(';').map((c) => c.trim()).find((c) => c.startsWith(`${DEVICE_COOKIE}=`))?.slice(DEVICE_COOKIE.length + 1);
    const [nonce, mac] = (raw ?? '').split('.');
    return nonce && mac && /^[\w-]{16,64}$/.test(nonce) && mac === deviceMac(accountId, nonce) ? nonce : undefined;
  }
  function rememberDevice(req: Request, res: Response, accountId: string): void {
    const nonce = deviceOf(req, accountId) ?? randomBytes(16).toString('base64url');
    res.append('Set-Cookie', `${DEVICE_COOKIE}=${nonce}.${deviceMac(accountId, nonce)}; Path=/oidc/interaction; Max-Age=${180 * 24 * 3600}; HttpOnly; SameSite=Lax${req.secure ? '; Secure' : ''}`);
  }
  const subjectFor = (req: Request, found: { accountId: string | null; email: string }) => {
    const device = found.accountId ? deviceOf(req, found.accountId) : undefined;
    return device ? `device:${found.accountId}:${device}` : throttleSubject(found);
  };

  /**
   * Where the person stands in the login policy: identifying themselves (no password accepted yet), one of
   * the policy's steps, denied, or done. A POST acts only in the stage it belongs to, so no form can be used
   * to skip a step (posting an enrolment while the second factor is asked for, a password change at a denial).
   */
  async function stageOf(ctx: Ctx): Promise<Stage> {
    const standing = await standingOf(ctx);
    if (!standing) return 'identify';
    const { failed } = standing;
    if (!failed) return 'done';
    return 'deny' in failed.outcome ? 'denied' : failed.outcome.step;
  }

  const route = (handler: (req: Request, res: Response, ctx: Ctx) => Promise<void>, opts: { post: boolean; stages?: readonly Stage[] }) =>
    async (req: Request, res: Response, next: NextFunction) => {
      try {
        const ctx = await load(req, res);
        if (opts.post) csrf.check(req, ctx.details.uid);
        // The organisation's own applications need no consent screen (see the provider's offline_access note).
        if (ctx.details.prompt.name === 'consent' && !opts.post) {
          return await deps.provider().interactionFinished(req, res, { consent: {} }, { mergeWithLastSubmission: true });
        }
        if (ctx.details.prompt.name !== 'login') throw new PageError(400, 'Nothing to do here', 'Return to the application.');
        // A form of another stage (an old tab, a replayed or forged POST): show where the person stands instead.
        if (opts.stages && !opts.stages.includes(await stageOf(ctx))) return res.redirect(303, ctx.base);
        await handler(req, res, ctx);
      } catch (err) {
        next(err);
      }
    };

  app.get('/oidc/interaction/:uid', route(async (req, res, ctx) => advance(req, res, ctx), { post: false }));

  app.post('/oidc/interaction/:uid/email', route(async (req, res, ctx) => {
    const email = formValue(req, 'email').trim();
    if (!/^[^\s@]+@[^\s@]+$/.test(email) || email.length > 320) return emailPage(res, ctx, { error: 'Enter your e-mail address, like name@example.com.', value: email }, 422);
    // An address whose domain this organisation's identity provider claims (or any address, where the
    // organisation enforces SSO) signs in there. Nothing about accounts is looked up: the next page is the
    // same whether or not the address has an account.
    const connection = await ssoConnectionFor(db, deps.sealer, { orgId: ctx.org.id, email });
    if (connection) {
      const start = await startUpstreamLogin({ connection, redirectUri: ssoRedirectUri(deps.issuer), loginHint: email, statePrefix: ctx.details.uid });
      await savePending(req, res, ctx, { email, provider: 'sso', sso: { state: start.state, nonce: start.nonce, codeVerifier: start.codeVerifier } });
      await recordAttempt(db, { orgId: ctx.org.id, accountId: null, email, type: 'sso_redirect', outcome: 'success', client: clientOf(req, ctx) });
      return res.redirect(303, start.url);
    }
    await moveOn(req, res, ctx, { email });
  }, { post: true, stages: ['identify'] }));

  // Back from the organisation's identity provider (through /sso/callback, which only finds this interaction):
  // the answer must match what was sent; the person is linked or provisioned, then the login policy goes on.
  app.get('/oidc/interaction/:uid/sso', route(async (req, res, ctx) => {
    const expected = ctx.pending.sso;
    const state = typeof req.query.state === 'string' ? req.query.state : '';
    if (!expected || ctx.pending.provider !== 'sso' || state !== expected.state) {
      throw new PageError(400, 'This sign-in has expired', 'The answer from your company sign-in does not belong to this sign-in. Return to the application and sign in again.');
    }
    const connection = await getSsoConnectionForSignIn(db, deps.sealer, { orgId: ctx.org.id });
    if (!connection) throw new PageError(400, 'Company sign-in is not set up', 'This organisation no longer has a company sign-in. Ask your administrator.');
    const callbackUrl = new URL(`${ssoRedirectUri(deps.issuer)}?${new URLSearchParams(req.query as Record<string, string>)}`);
    const event = clientOf(req, ctx);
    try {
      const person = await finishUpstreamLogin({ connection, callbackUrl, expected });
      const { accountId } = await resolveSsoAccount(db, {
        orgId: ctx.org.id, provider: person.issuer, subject: person.subject, email: person.email, givenName: person.givenName, familyName: person.familyName, context: event,
      });
      await recordAttempt(db, { orgId: ctx.org.id, accountId, type: 'sso_sign_in', outcome: 'success', client: event });
      const upstream = (person.amr ?? []).filter((m) => /^[a-z]{2,8}$/.test(m)).map((m) => `upstream:${m}`);
      await moveOn(req, res, ctx, { email: person.email, accountId, provider: 'sso', factors: ['sso', ...upstream] });
    } catch (err) {
      const reason = err instanceof UpstreamError ? err.code : err instanceof DirectoryError ? err.rule : undefined;
      if (!reason) throw err;
      const detail = err instanceof UpstreamError ? [err.upstreamError, err.upstreamDescription].filter(Boolean).join(': ') || err.message : err instanceof Error ? err.message : null;
      await recordAttempt(db, { orgId: ctx.org.id, accountId: null, email: ctx.pending.email ?? null, type: 'sso_sign_in', outcome: 'failure', reason: reason as AuthEventReason, detail, client: event });
      await savePending(req, res, ctx, { email: ctx.pending.email });
      throw new PageError(403, 'Company sign-in did not work', ssoRefusal(reason));
    }
  }, { post: false, stages: ['identify'] }));

  app.post('/oidc/interaction/:uid/password', route(async (req, res, ctx) => {
    const email = ctx.pending.email;
    if (!email) return restart(req, res, ctx);
    if (await ssoConnectionFor(db, deps.sealer, { orgId: ctx.org.id, email })) return restart(req, res, ctx);
    const candidate = await findSignInCandidate(db, { orgId: ctx.org.id, email });
    const wait = await deps.throttle.attempt({ subject: subjectFor(req, { accountId: candidate.accountId, email }), ip: req.ip ?? null });
    if (wait > 0) {
      await recordSignInFailure(db, { orgId: ctx.org.id, email, reason: 'throttled', client: clientOf(req, ctx) });
      return throttledPage(res, ctx, wait);
    }
    const outcome = passwordOutcome(candidate, await checkPassword(deps.passwords, candidate, formValue(req, 'password')));
    if ('reason' in outcome) {
      await recordSignInFailure(db, { orgId: ctx.org.id, email, accountId: outcome.accountId, reason: outcome.reason, client: clientOf(req, ctx) });
      return passwordPage(res, ctx, { error: 'That e-mail address and password do not match. Check them and try again.' }, 401);
    }
    const { accountId } = outcome;
    await moveOn(req, res, ctx, { email, accountId, factors: ['pwd'] });
  }, { post: true, stages: ['identify'] }));

  // "Forgot password": the same page whether or not the address has an account (or may use a password).
  app.post('/oidc/interaction/:uid/forgot', route(async (req, res, ctx) => {
    const email = ctx.pending.email;
    if (!email) return restart(req, res, ctx);
    await requestPasswordReset(db, deps.emailCodes, {
      email,
      send: async (trx, to, token) => {
        if (!mailable(to)) return; // an address mail cannot carry: nothing is sent, and the page is the same
        const link = `${deps.issuer}${RESET_PASSWORD_PATH}?${new URLSearchParams({ token })}`;
        // Not filed under the organisation whose page asked for it: the person may not be one of its members,
        // and its admins must never be able to read a link to someone else's account.
        await enqueueMail(trx, { orgId: null, to, ...passwordResetMessage({ orgName: ctx.org.name, link, minutes: PASSWORD_RESET_TTL_SECONDS / 60 }) });
      },
    });
    deps.wakeMail?.();
    render(res, ctx, 'Check your e-mail', `
<p role="status">If <strong>${escapeHtml(email)}</strong> can sign in here with a password, we sent it a link to choose a new one. The link works once, for one hour.</p>
${form({ action: `${ctx.base}/restart`, csrf: ctx.csrf, submit: 'Back to sign in', body: '' })}`);
  }, { post: true, stages: ['identify'] }));

  app.post('/oidc/interaction/:uid/change-password', route(async (req, res, ctx) => {
    if (!ctx.pending.accountId) return restart(req, res, ctx);
    try {
      await changePassword(db, deps.passwords, { forced: true, accountId: ctx.pending.accountId, orgId: ctx.org.id, newPassword: formValue(req, 'password'), minLength: deps.passwordMinLength, event: clientOf(req, ctx) });
    } catch (err) {
      if (err instanceof DirectoryError && err.field === 'password') return changePasswordPage(res, ctx, { error: asSentence(err.message) }, 422);
      throw err;
    }
    await moveOn(req, res, ctx, ctx.pending);
  }, { post: true, stages: ['change_password'] }));

  /** A second-factor attempt: throttled like a password (per account e-mail and IP), refused with its page. */
  async function secondFactorAttempt(req: Request, res: Response, ctx: Ctx, attempt: () => Promise<boolean>, onFail: (wait: number) => void | Promise<void>, factor: string): Promise<void> {
    const { accountId, email } = ctx.pending;
    if (!accountId || !email) return restart(req, res, ctx);
    const wait = await deps.throttle.attempt({ subject: subjectFor(req, { accountId, email }), ip: req.ip ?? null });
    if (wait > 0) {
      await recordSignInFailure(db, { orgId: ctx.org.id, accountId, reason: 'throttled', type: 'mfa_verification', client: clientOf(req, ctx) });
      return onFail(wait);
    }
    if (!(await attempt())) return onFail(0);
    await moveOn(req, res, ctx, { ...ctx.pending, factors: [...(ctx.pending.factors ?? []), factor] });
  }

  app.post('/oidc/interaction/:uid/totp', route(async (req, res, ctx) => {
    const event = clientOf(req, ctx);
    await secondFactorAttempt(req, res, ctx, () => verifyTotp(db, deps.sealer, { accountId: ctx.pending.accountId!, code: formValue(req, 'code'), orgId: ctx.org.id, event }),
      (wait) => codePage(res, ctx, { error: wait ? waitMessage(wait) : 'That code is not right. Enter the code your app shows now.' }, wait ? 429 : 401), 'otp');
  }, { post: true, stages: ['second_factor'] }));

  app.post('/oidc/interaction/:uid/recovery', route(async (req, res, ctx) => {
    const event = clientOf(req, ctx);
    await secondFactorAttempt(req, res, ctx, () => useRecoveryCode(db, deps.sealer, { accountId: ctx.pending.accountId!, code: formValue(req, 'recovery_code'), orgId: ctx.org.id, event }),
      (wait) => codePage(res, ctx, { recoveryError: wait ? waitMessage(wait) : 'That recovery code is not right, or it was used already.' }, wait ? 429 : 401), 'recovery');
  }, { post: true, stages: ['second_factor'] }));

  // A code by e-mail: sent in the transaction that issues it (the outbox), then checked like any second factor.
  app.post('/oidc/interaction/:uid/email-code/send', route(async (req, res, ctx) => {
    const { accountId } = ctx.pending;
    if (!accountId) return restart(req, res, ctx);
    const standing = await standingOf(ctx);
    if (!standing) return restart(req, res, ctx);
    const { state } = standing;
    // Only where a code is what the step asks for: the organisation's e-mail codes, or proof of the address.
    if (stepOf(standing) !== 'verify_email' && !secondFactorMethods(state).includes('email')) return res.redirect(303, ctx.base);
    if (!mailable(state.account.email)) return codePage(res, ctx, { emailError: 'We cannot send e-mail to this address. Ask your administrator.' }, 422);
    const issued = await db.transaction(async (trx) => {
      const code = await deps.emailCodes.issueSignInCode(trx, accountId);
      if ('code' in code) {
        await enqueueMail(trx, { orgId: ctx.org.id, to: state.account.email, ...emailCodeMessage({ orgName: ctx.org.name, code: code.code, minutes: EMAIL_CODE_TTL_SECONDS / 60 }) });
      }
      return code;
    });
    if ('retryAfter' in issued) {
      res.set('Retry-After', String(issued.retryAfter));
      return codePage(res, ctx, { emailError: `A code was sent a moment ago. Wait ${issued.retryAfter} seconds before asking for another.` }, 429);
    }
    deps.wakeMail?.();
    await moveOn(req, res, ctx, { ...ctx.pending, emailCodeSent: true });
  }, { post: true, stages: ['second_factor', 'verify_email'] }));

  app.post('/oidc/interaction/:uid/email-code', route(async (req, res, ctx) => {
    const accountId = ctx.pending.accountId!;
    const check = async () => {
      const ok = await deps.emailCodes.verifySignInCode(db, { accountId, code: formValue(req, 'email_code') });
      await recordAttempt(db, { orgId: ctx.org.id, accountId, type: 'mfa_verification', outcome: ok ? 'success' : 'failure', ...(ok ? {} : { reason: 'mfa_failed' as const }), client: clientOf(req, ctx) });
      return ok;
    };
    await secondFactorAttempt(req, res, ctx, check,
      (wait) => codePage(res, ctx, { emailError: wait ? waitMessage(wait) : 'That code is not right, has expired or was tried too often. Check the latest e-mail, or send a new code.' }, wait ? 429 : 401), 'email');
  }, { post: true, stages: ['second_factor', 'verify_email'] }));

  app.post('/oidc/interaction/:uid/totp-enrol', route(async (req, res, ctx) => {
    const { accountId } = ctx.pending;
    if (!accountId) return restart(req, res, ctx);
    let codes: string[];
    try {
      ({ recoveryCodes: codes } = await confirmTotpEnrolment(db, deps.sealer, { accountId, code: formValue(req, 'code'), orgId: ctx.org.id, event: clientOf(req, ctx) }));
    } catch (err) {
      if (err instanceof DirectoryError && err.field === 'code') return enrolPage(res, ctx, { error: 'That code is not right. Enter the 6-digit code your app shows now.' }, 422);
      throw err;
    }
    await savePending(req, res, ctx, { ...ctx.pending, factors: [...(ctx.pending.factors ?? []), 'otp'] });
    // Shown this once: the codes are stored only as hashes.
    render(res, ctx, 'Save your recovery codes', `
<p class="notice">Your authenticator app is set up.</p>
<p>If you lose your phone, each of these codes signs you in once instead of the app. Keep them somewhere safe, such as a password manager: they are shown only this once.</p>
<ol class="codes" id="recovery-codes">${codes.map((c) => `<li>${escapeHtml(c)}</li>`).join('')}</ol>
${form({ action: `${ctx.base}/continue`, csrf: ctx.csrf, submit: 'I have saved them: continue', body: '' })}`);
  }, { post: true, stages: ['enrol_totp'] }));

  app.post('/oidc/interaction/:uid/continue', route(async (req, res, ctx) => advance(req, res, ctx), { post: true }));
  app.post('/oidc/interaction/:uid/restart', route(async (req, res, ctx) => restart(req, res, ctx), { post: true }));
  app.post('/oidc/interaction/:uid/abort', route(async (req, res, ctx) => {
    await deps.provider().interactionFinished(req, res, { error: 'access_denied', error_description: 'the person cannot sign in to this application' }, { mergeWithLastSubmission: false });
  }, { post: true }));

  // The provider's own errors: no interaction (expired, finished, another browser), or its cookie missing.
  pageErrors(app, deps.logger, (err) => {
    const name = (err as { name?: string }).name;
    return name === 'SessionNotFound' || name === 'InvalidRequest'
      ? new PageError(400, 'This sign-in has expired', 'It took too long, or it was finished in another window. Return to the application and sign in again.')
      : undefined;
  });
  return app;
}


/** What a person is told when the company sign-in did not let them in (the reason is in the auth event). */
function ssoRefusal(reason: string): string {
  const messages: Record<string, string> = {
    email_not_verified: 'Your company sign-in did not confirm your e-mail address. Ask your administrator.',
    email_outside_domains: 'Your company sign-in gave an e-mail address this organisation does not sign in with.',
    jit_disabled: 'You do not have access to this application yet. Ask your administrator to add you.',
    identity_linking_off: 'Your account already signs in another way, and this organisation allows only one. Ask your administrator.',
    identity_taken: 'This company sign-in is already linked to another account. Ask your administrator.',
    account_elsewhere: 'This address already has an account with another organisation. Ask your administrator to add you here.',
    upstream_unreachable: 'Your company sign-in could not be reached. Try again in a moment.',
  };
  return messages[reason] ?? 'Your company sign-in refused or could not complete the sign-in. Return to the application and try again.';
}
