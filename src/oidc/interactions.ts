// The sign-in interaction: the pages oidc-provider sends a person to when an application asks them to sign
// in. E-mail first, then password; then what the organisation's login policy asks (change a temporary
// password, enrol an authenticator app, give the second factor); then back to the provider with the login.
//
// What the person has done so far lives in the provider's interaction (server-side, bound to the browser by
// the provider's interaction cookie), under `roster`. Every form carries a CSRF token bound to that
// interaction and to a cookie of its own.
import { isUtf8 } from 'node:buffer';
import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type Provider from 'oidc-provider';
import QRCode from 'qrcode';
import { findClient } from '../directory/clients.ts';
import { DirectoryError } from '../directory/errors.ts';
import { getOrganization } from '../directory/organizations.ts';
import { acrOf, amrOf, evaluateLogin, loadSignInState, type LoginCheck } from '../directory/login-policy.ts';
import { confirmTotpEnrolment, pendingTotpEnrolment, startTotpEnrolment, useRecoveryCode, verifyTotp } from '../directory/mfa.ts';
import type { PasswordHasher } from '../directory/passwords.ts';
import type { Sealer } from '../directory/sealing.ts';
import { changePassword, type Client, completeSignIn, recordSignInFailure, verifyPassword } from '../directory/sign-in.ts';
import type { Throttle } from '../directory/throttle.ts';
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
  /** Express's `trust proxy`: req.ip and req.secure behind a proxy. */
  trustProxy: boolean | number | string;
};

/** What the person has shown so far in this interaction. */
type Pending = { email?: string; accountId?: string; factors?: string[] };

type Details = Awaited<ReturnType<Provider['interactionDetails']>>;

type Ctx = {
  details: Details;
  pending: Pending;
  org: { id: string; name: string };
  clientId: string;
  csrf: string;
  nonce: string;
  base: string;
};

const CSRF_COOKIE = 'roster_csrf';

export function interactionsApp(deps: InteractionDeps): express.Express {
  const { db } = deps;
  const csrfKey = Buffer.from(hkdfSync('sha256', deps.secret, 'roster', 'roster sign-in csrf v1', 32));
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('trust proxy', deps.trustProxy);
  // A form is UTF-8 (the pages say so); anything else is refused before it can change anything, rather than
  // read with replacement characters.
  app.use(express.urlencoded({
    extended: false, limit: '16kb', parameterLimit: 20,
    verify: (req, _res, buf) => {
      const charset = /charset=([^;]+)/i.exec(req.headers['content-type'] ?? '')?.[1]?.trim().toLowerCase();
      if ((charset && charset !== 'utf-8' && charset !== 'utf8') || !isUtf8(buf)) throw Object.assign(new Error('the form is not UTF-8'), { status: 400 });
    },
  }));

  const csrfToken = (cookie: string, uid: string) => createHmac('sha256', csrfKey).update(`${uid}.${cookie}`).digest('base64url');
  const cookieOf = (req: Request, name: string) => {
    for (const part of (req.headers.cookie ?? '').split(';')) {
      const [k, ...v] = part.trim().split('=');
      if (k === name) return v.join('=');
    }
    return undefined;
  };

  /** Loads the interaction, its client and organisation; sets the page headers and the CSRF cookie. */
  async function load(req: Request, res: Response): Promise<Ctx> {
    const details = await deps.provider().interactionDetails(req, res);
    const clientId = String(details.params.client_id ?? '');
    const client = await findClient(db, clientId);
    if (!client) throw new PageError(400, 'This application is not registered any more', 'Return to the application and try again later.');
    const org = await getOrganization(db, client.orgId);
    let cookie = cookieOf(req, CSRF_COOKIE);
    if (!cookie || !/^[\w-]{32,64}$/.test(cookie)) {
      cookie = randomBytes(24).toString('base64url');
      res.append('Set-Cookie', `${CSRF_COOKIE}=${cookie}; Path=/oidc/interaction; HttpOnly; SameSite=Lax${req.secure ? '; Secure' : ''}`);
    }
    const nonce = randomBytes(16).toString('base64url');
    res.set({
      'Cache-Control': 'no-store',
      'Content-Security-Policy': `default-src 'none'; style-src 'nonce-${nonce}'; frame-ancestors 'none'; base-uri 'none'`,
      'Referrer-Policy': 'no-referrer',
    });
    const pending = ((details.result as { roster?: Pending } | undefined)?.roster) ?? {};
    return { details, pending, org, clientId, csrf: csrfToken(cookie, details.uid), nonce, base: `/oidc/interaction/${details.uid}` };
  }

  function checkCsrf(req: Request, ctx: Ctx): void {
    const given = typeof req.body?._csrf === 'string' ? Buffer.from(req.body._csrf) : Buffer.alloc(0);
    const want = Buffer.from(ctx.csrf);
    if (given.length !== want.length || !timingSafeEqual(given, want)) {
      throw new PageError(403, 'This form has expired', 'Go back to the application and sign in again.');
    }
  }

  const savePending = (req: Request, res: Response, ctx: Ctx, pending: Pending) =>
    deps.provider().interactionResult(req, res, { ...(ctx.details.result ?? {}), roster: pending }, { mergeWithLastSubmission: false });

  const clientOf = (req: Request, ctx: Ctx): Client => ({ ip: req.ip ?? null, userAgent: req.get('user-agent') ?? null, clientId: ctx.clientId });
  const render = (res: Response, ctx: Ctx, title: string, body: string, status = 200) => {
    res.status(status).type('html').send(page({ title, orgName: ctx.org.name, nonce: ctx.nonce, body }));
  };
  const field_ = (req: Request, name: string) => (typeof req.body?.[name] === 'string' ? (req.body[name] as string) : '');

  // Each step's page.
  const emailPage = (res: Response, ctx: Ctx, opts: { error?: string; value?: string } = {}, status = 200) => render(res, ctx, 'Sign in', `
${errorBox(opts.error)}
${form({ action: `${ctx.base}/email`, csrf: ctx.csrf, submit: 'Continue', body: field({ name: 'email', label: 'E-mail address', type: 'email', autocomplete: 'username', value: opts.value ?? ctx.pending.email ?? String(ctx.details.params.login_hint ?? ''), error: Boolean(opts.error), autofocus: true }) })}`, status);

  const passwordPage = (res: Response, ctx: Ctx, opts: { error?: string } = {}, status = 200) => render(res, ctx, 'Enter your password', `
<p>Signing in as <strong>${escapeHtml(ctx.pending.email)}</strong>.</p>
${errorBox(opts.error)}
${form({ action: `${ctx.base}/password`, csrf: ctx.csrf, submit: 'Sign in', body: `<input type="hidden" name="email" value="${escapeHtml(ctx.pending.email)}" autocomplete="username">${field({ name: 'password', label: 'Password', type: 'password', autocomplete: 'current-password', error: Boolean(opts.error), autofocus: true })}` })}
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

  const secondFactorPage = (res: Response, ctx: Ctx, opts: { error?: string; recoveryError?: string } = {}, status = 200) => render(res, ctx, 'Two-step verification', `
<p>Enter the 6-digit code from your authenticator app.</p>
${errorBox(opts.error)}
${form({ action: `${ctx.base}/totp`, csrf: ctx.csrf, submit: 'Verify', body: field({ name: 'code', label: '6-digit code', type: 'text', inputmode: 'numeric', autocomplete: 'one-time-code', error: Boolean(opts.error), autofocus: !opts.recoveryError, extra: 'pattern="[0-9 ]*" maxlength="9"' }) })}
<details${opts.recoveryError ? ' open' : ''}>
<summary>Use a recovery code instead</summary>
${errorBox(opts.recoveryError, 'recovery-error')}
${form({ action: `${ctx.base}/recovery`, csrf: ctx.csrf, submit: 'Use recovery code', secondary: true, body: field({ name: 'recovery_code', label: 'Recovery code', type: 'text', autocomplete: 'off', error: Boolean(opts.recoveryError), autofocus: Boolean(opts.recoveryError), extra: 'spellcheck="false" maxlength="20"' }).replace('aria-describedby="error"', 'aria-describedby="recovery-error"') })}
</details>`, status);

  const deniedPage = (res: Response, ctx: Ctx, check: LoginCheck & { outcome: { deny: string; message: string } }) => render(res, ctx, 'You cannot sign in here', `
<div class="error" role="alert">${escapeHtml(check.outcome.message)}</div>
${form({ action: `${ctx.base}/abort`, csrf: ctx.csrf, submit: 'Return to the application', body: '' })}
${form({ action: `${ctx.base}/restart`, csrf: ctx.csrf, submit: 'Sign in as someone else', secondary: true, body: '' })}`, 403);

  const throttledPage = (res: Response, ctx: Ctx, seconds: number) => {
    res.set('Retry-After', String(seconds));
    passwordPageOrEmail(res, ctx, `Too many attempts. For your security, wait ${Math.ceil(seconds / 60)} minute${seconds > 60 ? 's' : ''} and try again.`, 429);
  };
  const passwordPageOrEmail = (res: Response, ctx: Ctx, error: string, status: number) =>
    (ctx.pending.accountId ? secondFactorPage(res, ctx, { error }, status) : ctx.pending.email ? passwordPage(res, ctx, { error }, status) : emailPage(res, ctx, { error }, status));

  /**
   * Where the person stands: asks the login policy and shows the next step's page, ends in a denial, or
   * completes the sign-in (a session row, then back to the provider with the login).
   */
  async function advance(req: Request, res: Response, ctx: Ctx): Promise<void> {
    const { accountId, factors = [] } = ctx.pending;
    if (!ctx.pending.email) return emailPage(res, ctx);
    if (!accountId) return passwordPage(res, ctx);
    const state = await loadSignInState(db, { orgId: ctx.org.id, accountId });
    if (!state) return restart(req, res, ctx);
    const failed = evaluateLogin(state, { provider: 'password', factors, now: new Date() });
    if (failed && 'deny' in failed.outcome) {
      await recordSignInFailure(db, { orgId: ctx.org.id, accountId, reason: failed.outcome.deny, client: clientOf(req, ctx) });
      return deniedPage(res, ctx, failed as LoginCheck & { outcome: { deny: string; message: string } });
    }
    if (failed && 'step' in failed.outcome) {
      if (failed.outcome.step === 'change_password') return changePasswordPage(res, ctx);
      if (failed.outcome.step === 'enrol_totp') return enrolPage(res, ctx);
      return secondFactorPage(res, ctx);
    }
    const sessionId = await completeSignIn(db, { orgId: ctx.org.id, accountId, provider: 'password', factors, client: clientOf(req, ctx) });
    await deps.throttle.succeed({ email: ctx.pending.email });
    await deps.provider().interactionFinished(req, res, {
      ...(ctx.details.result ?? {}),
      login: { accountId, amr: amrOf(factors), acr: acrOf(factors), remember: true },
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

  const route = (handler: (req: Request, res: Response, ctx: Ctx) => Promise<void>, opts: { post: boolean }) =>
    async (req: Request, res: Response, next: NextFunction) => {
      try {
        const ctx = await load(req, res);
        if (opts.post) checkCsrf(req, ctx);
        // The organisation's own applications need no consent screen (see the provider's offline_access note).
        if (ctx.details.prompt.name === 'consent' && !opts.post) {
          return await deps.provider().interactionFinished(req, res, { consent: {} }, { mergeWithLastSubmission: true });
        }
        if (ctx.details.prompt.name !== 'login') throw new PageError(400, 'Nothing to do here', 'Return to the application.');
        await handler(req, res, ctx);
      } catch (err) {
        next(err);
      }
    };

  app.get('/oidc/interaction/:uid', route(async (req, res, ctx) => advance(req, res, ctx), { post: false }));

  app.post('/oidc/interaction/:uid/email', route(async (req, res, ctx) => {
    const email = field_(req, 'email').trim();
    if (!/^[^\s@]+@[^\s@]+$/.test(email) || email.length > 320) return emailPage(res, ctx, { error: 'Enter your e-mail address, like name@example.com.', value: email }, 422);
    // Nothing is looked up here: the next page is the same whether or not the address has an account.
    await moveOn(req, res, ctx, { email });
  }, { post: true }));

  app.post('/oidc/interaction/:uid/password', route(async (req, res, ctx) => {
    const email = ctx.pending.email;
    if (!email) return restart(req, res, ctx);
    const ip = req.ip ?? null;
    const wait = await deps.throttle.retryAfter({ email, ip });
    if (wait > 0) {
      await recordSignInFailure(db, { orgId: ctx.org.id, email, reason: 'throttled', client: clientOf(req, ctx) });
      return throttledPage(res, ctx, wait);
    }
    const { accountId, known } = await verifyPassword(db, deps.passwords, { email, password: field_(req, 'password') });
    if (!accountId) {
      await deps.throttle.fail({ email, ip });
      await recordSignInFailure(db, { orgId: ctx.org.id, email, reason: known ? 'wrong_password' : 'unknown_account', client: clientOf(req, ctx) });
      return passwordPage(res, ctx, { error: 'That e-mail address and password do not match. Check them and try again.' }, 401);
    }
    await moveOn(req, res, ctx, { email, accountId, factors: ['pwd'] });
  }, { post: true }));

  app.post('/oidc/interaction/:uid/change-password', route(async (req, res, ctx) => {
    if (!ctx.pending.accountId) return restart(req, res, ctx);
    try {
      await changePassword(db, deps.passwords, { accountId: ctx.pending.accountId, orgId: ctx.org.id, newPassword: field_(req, 'password'), minLength: deps.passwordMinLength, event: clientOf(req, ctx) });
    } catch (err) {
      if (err instanceof DirectoryError && err.field === 'password') return changePasswordPage(res, ctx, { error: `${capitalise(err.message)}.` }, 422);
      throw err;
    }
    await moveOn(req, res, ctx, ctx.pending);
  }, { post: true }));

  /** A second-factor attempt: throttled like a password (per account e-mail and IP), refused with its page. */
  async function secondFactorAttempt(req: Request, res: Response, ctx: Ctx, attempt: () => Promise<boolean>, onFail: (wait: number) => void, factor: string): Promise<void> {
    const { accountId, email } = ctx.pending;
    if (!accountId || !email) return restart(req, res, ctx);
    const ip = req.ip ?? null;
    const wait = await deps.throttle.retryAfter({ email, ip });
    if (wait > 0) {
      await recordSignInFailure(db, { orgId: ctx.org.id, accountId, reason: 'throttled', type: 'mfa_verification', client: clientOf(req, ctx) });
      return onFail(wait);
    }
    if (!(await attempt())) {
      await deps.throttle.fail({ email, ip });
      return onFail(0);
    }
    await moveOn(req, res, ctx, { ...ctx.pending, factors: [...(ctx.pending.factors ?? []), factor] });
  }

  const waitMessage = (wait: number) => `Too many attempts. For your security, wait ${Math.ceil(wait / 60)} minute${wait > 60 ? 's' : ''} and try again.`;

  app.post('/oidc/interaction/:uid/totp', route(async (req, res, ctx) => {
    const event = clientOf(req, ctx);
    await secondFactorAttempt(req, res, ctx, () => verifyTotp(db, deps.sealer, { accountId: ctx.pending.accountId!, code: field_(req, 'code'), orgId: ctx.org.id, event }),
      (wait) => secondFactorPage(res, ctx, { error: wait ? waitMessage(wait) : 'That code is not right. Enter the code your app shows now.' }, wait ? 429 : 401), 'otp');
  }, { post: true }));

  app.post('/oidc/interaction/:uid/recovery', route(async (req, res, ctx) => {
    const event = clientOf(req, ctx);
    await secondFactorAttempt(req, res, ctx, () => useRecoveryCode(db, { accountId: ctx.pending.accountId!, code: field_(req, 'recovery_code'), orgId: ctx.org.id, event }),
      (wait) => secondFactorPage(res, ctx, { recoveryError: wait ? waitMessage(wait) : 'That recovery code is not right, or it was used already.' }, wait ? 429 : 401), 'recovery');
  }, { post: true }));

  app.post('/oidc/interaction/:uid/totp-enrol', route(async (req, res, ctx) => {
    const { accountId } = ctx.pending;
    if (!accountId) return restart(req, res, ctx);
    let codes: string[];
    try {
      ({ recoveryCodes: codes } = await confirmTotpEnrolment(db, deps.sealer, { accountId, code: field_(req, 'code'), orgId: ctx.org.id, event: clientOf(req, ctx) }));
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
  }, { post: true }));

  app.post('/oidc/interaction/:uid/continue', route(async (req, res, ctx) => advance(req, res, ctx), { post: true }));
  app.post('/oidc/interaction/:uid/restart', route(async (req, res, ctx) => restart(req, res, ctx), { post: true }));
  app.post('/oidc/interaction/:uid/abort', route(async (req, res, ctx) => {
    await deps.provider().interactionFinished(req, res, { error: 'access_denied', error_description: 'the person cannot sign in to this application' }, { mergeWithLastSubmission: false });
  }, { post: true }));

  app.use((req: Request, res: Response) => { sendPage(res, 404, 'Page not found', 'There is no sign-in page here. Return to the application and start again.'); });
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    if (err instanceof PageError) return sendPage(res, err.status, err.message, err.detail);
    const name = (err as { name?: string }).name;
    // The provider's own errors: no interaction (expired, finished, another browser), or its cookie missing.
    if (name === 'SessionNotFound' || name === 'InvalidRequest') {
      return sendPage(res, 400, 'This sign-in has expired', 'It took too long, or it was finished in another window. Return to the application and sign in again.');
    }
    const status = (err as { status?: number }).status;
    if (status && status >= 400 && status < 500) return sendPage(res, status, 'This request could not be read', 'Return to the application and sign in again.');
    (req as { log?: Logger }).log?.error({ err }, 'unexpected error on a sign-in page') ?? deps.logger.error({ err }, 'unexpected error on a sign-in page');
    sendPage(res, 500, 'Something went wrong', 'Sign-in failed on our side. Try again in a moment.');
  });
  return app;
}

function sendPage(res: Response, status: number, title: string, detail: string): void {
  if (res.headersSent) return;
  const nonce = randomBytes(16).toString('base64url');
  res.status(status).set({ 'Cache-Control': 'no-store', 'Content-Security-Policy': `default-src 'none'; style-src 'nonce-${nonce}'; frame-ancestors 'none'` })
    .type('html').send(page({ title, nonce, body: `<p role="alert">${escapeHtml(detail)}</p>` }));
}

const capitalise = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

class PageError extends Error {
  readonly status: number;
  readonly detail: string;
  constructor(status: number, message: string, detail: string) {
    super(message);
    this.status = status;
    this.detail = detail;
  }
}
