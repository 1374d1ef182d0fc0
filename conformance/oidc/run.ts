// Black-box OpenID Connect suite for a Roster deployment, driven by openid-client (a real relying party) and a
// minimal browser (browser.ts) that walks the sign-in pages.
//
//   node conformance/oidc/run.ts --issuer https://id.example.com --client-id <id> --client-secret <secret> \
//     --email <test account> --password <its password> [--new-password <pw>] [--redirect-uri <uri>] [--totp-secret <base32>] \
//     [--outbox-command "<shell command prefix>"] \
//     [--mfa-client-id <id> --mfa-client-secret <secret> --mfa-email <account> --mfa-password <pw> [--mfa-new-password <pw>]]
//
// Without a test account it walks what needs none (discovery, JWKS, the client credentials grant,
// introspection, revocation, refusals). With one (--email, --password) it also signs in through the pages with
// the authorization code flow and S256 PKCE, and checks the ID token, refused sign-ins, userinfo, refresh
// rotation and replay, introspection and revocation of the person's tokens, RP-initiated logout and a PKCE
// verifier that does not match. Every sign-in case starts from a new browser (no cookies).
//
// --redirect-uri is one the client registered (default https://conformance.invalid/callback; never fetched:
// the browser stops when it is sent there). --new-password is used only if the deployment asks the account to
// replace a temporary password at its first sign-in; from then on the suite signs in with it (and on a later
// run, when --password is refused, it tries --new-password). --totp-secret is needed only if the account has
// an authenticator app (the organisation requires a second step).
//
// The e-mail cases read what the deployment sends from its outbox: --outbox-command is a shell command prefix
// that runs Roster's CLI against the deployment (e.g. `DATA_DIR=/srv/roster npm run --silent cli --`, or
// `ssh id.example.com roster-cli`); the suite appends `outbox list --json` and `outbox show <id> --json`.
// Without it those cases are skipped. With it and a test account: "Forgot your password?" (the same answer for
// an address with no account), the e-mailed link (under the issuer) that sets a new password once, then the
// old password refused and the new one accepted. The new password is --new-password (or --password when there
// is none) followed by "-reset", or, when the account has that one already (set by an earlier run), the plain
// one again: the account keeps a password the operator knows, and a later run finds it. A reset link is sent at
// most once a minute per account.
// With --mfa-client-id/--mfa-client-secret (a confidential client, same redirect URI, of an organisation that
// requires MFA and allows e-mail codes) and --mfa-email/--mfa-password (a member of it, e.g. its owner with the
// temporary password; --mfa-new-password replaces it at the first sign-in, as for the main account): the
// second step by a code sent by e-mail, a wrong code refused, the ID token's amr (otp, mfa), and the used
// code refused a second time.
//
// Prints "ok - name" / "not ok - name: reason" (or "skip - name: why") per case, then "N passed, N failed";
// exits 1 when anything failed. It creates nothing but tokens, sign-in sessions and e-mails (codes and a reset
// link), and revokes or logs out tokens and sessions where a case is about that; a first run changes a
// temporary password to --new-password (and --mfa-password to --mfa-new-password); the forgot-password case
// changes the account's password as above.
import assert from 'node:assert/strict';
import { exec } from 'node:child_process';
import { createPublicKey, randomBytes, verify as verifySignature, type JsonWebKey } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify, parseArgs } from 'node:util';
import * as client from 'openid-client';
import { generate as totpCode } from 'otplib';
import { alertsOf, Browser, formActions, formOf, headingOf, type PageResult } from './browser.ts';

const usage = `usage: node conformance/oidc/run.ts --issuer <URL> --client-id <id> --client-secret <secret> (a confidential client of the deployment)
  [--email <e-mail> --password <password>]   a test account (a member of the client's organisation) for the sign-in cases
  [--new-password <password>]                 its new password, if the deployment asks it to replace a temporary one
  [--redirect-uri <URI>]                      a redirect URI the client registered (default https://conformance.invalid/callback)
  [--totp-secret <base32>]                    the account's authenticator key, if the sign-in asks for a second step
  [--outbox-command "<command prefix>"]       runs the deployment's CLI (e.g. "DATA_DIR=/x npm run --silent cli --"): the suite
                                              appends "outbox list --json" / "outbox show <id> --json" to read the e-mails it sent
  [--mfa-client-id <id> --mfa-client-secret <secret> --mfa-email <e-mail> --mfa-password <password> [--mfa-new-password <password>]]
                                              a client of an organisation that requires MFA with e-mail codes, and a member of it
                                              (needs --outbox-command)`;

let values;
try {
  ({ values } = parseArgs({
    options: {
      issuer: { type: 'string' }, 'client-id': { type: 'string' }, 'client-secret': { type: 'string' },
      email: { type: 'string' }, password: { type: 'string' }, 'new-password': { type: 'string' },
      'redirect-uri': { type: 'string' }, 'totp-secret': { type: 'string' }, 'outbox-command': { type: 'string' },
      'mfa-client-id': { type: 'string' }, 'mfa-client-secret': { type: 'string' }, 'mfa-email': { type: 'string' },
      'mfa-password': { type: 'string' }, 'mfa-new-password': { type: 'string' },
    },
    strict: true,
  }));
} catch (err) {
  console.error(`${(err as Error).message}\n${usage}`);
  process.exit(2);
}
const issuer = values.issuer?.replace(/\/+$/, '');
const clientId = values['client-id'];
const secret = values['client-secret'] ?? process.env.OIDC_CLIENT_SECRET;
const email = values.email;
const newPassword = values['new-password'];
const totpSecret = values['totp-secret']?.replace(/\s+/g, '');
const redirectUri = values['redirect-uri'] ?? 'https://conformance.invalid/callback';
const outboxCommand = values['outbox-command']?.trim() || undefined;
const mfaOptions = ['mfa-client-id', 'mfa-client-secret', 'mfa-email', 'mfa-password'] as const;
const mfaGiven = mfaOptions.filter((o) => values[o] !== undefined);
if (!issuer || !/^https?:\/\//.test(issuer) || !clientId || !secret || Boolean(email) !== Boolean(values.password) || !URL.canParse(redirectUri)) {
  console.error(usage);
  process.exit(2);
}
if ((mfaGiven.length > 0 && mfaGiven.length < mfaOptions.length) || (values['mfa-new-password'] !== undefined && mfaGiven.length === 0)) {
  console.error(`the MFA cases need all of ${mfaOptions.map((o) => `--${o}`).join(', ')} (missing: ${mfaOptions.filter((o) => !mfaGiven.includes(o)).map((o) => `--${o}`).join(', ')})\n${usage}`);
  process.exit(2);
}
const insecure = issuer.startsWith('http:') ? { execute: [client.allowInsecureRequests] } : undefined;

/** The OAuth error code of a refusal: in the body, or (a 401) in the WWW-Authenticate challenge. */
type OAuthFailure = { error?: string; cause?: { parameters?: { error?: string } }[] };
const oauthError = (e: OAuthFailure) => e.error ?? e.cause?.[0]?.parameters?.error;
/** A promise that must be refused with this OAuth error code. */
const refusedWith = (promise: Promise<unknown>, code: string, what: string) =>
  assert.rejects(promise, (e: OAuthFailure) => {
    assert.equal(oauthError(e), code, `${what}: expected ${code}, got ${oauthError(e) ?? (e as Error).message}`);
    return true;
  });

const config = await client.discovery(new URL(issuer), clientId, undefined, client.ClientSecretBasic(secret), insecure);
const meta = config.serverMetadata();

/** A relying party the suite signs in to: the main client, or the client of the organisation that requires MFA. */
type RelyingParty = { config: client.Configuration; clientId: string };
const mainRp: RelyingParty = { config, clientId };
const mfaRp: RelyingParty | undefined = mfaGiven.length === 0 ? undefined : {
  config: await client.discovery(new URL(issuer), values['mfa-client-id']!, undefined, client.ClientSecretBasic(values['mfa-client-secret']!), insecure),
  clientId: values['mfa-client-id']!,
};

// ---------------------------------------------------------------------------------------------------------
// The outbox: what the deployment sent, read through its CLI.

type OutboxEntry = { id: string; to: string; subject: string; createdAt: string };
const run = promisify(exec);

/** Runs `--outbox-command <args>` and parses the one JSON object it prints. */
async function outboxCli(args: string): Promise<Record<string, unknown>> {
  if (!outboxCommand) throw new Error('no --outbox-command');
  const command = `${outboxCommand} ${args}`;
  let stdout: string;
  try {
    ({ stdout } = await run(command, { timeout: 60_000, maxBuffer: 16 * 1024 * 1024, env: process.env }));
  } catch (err) {
    // Named by what the suite appended: the prefix may hold a secret (a database URL with its password).
    const e = err as { code?: number | string; signal?: string; killed?: boolean; stderr?: string };
    const how = e.killed ? 'timed out after 60 s' : e.signal ? `killed by ${e.signal}` : `exit ${e.code ?? '?'}`;
    const detail = (e.stderr ?? '').trim().split('\n').filter(Boolean).slice(-2).join(' / ');
    throw new Error(`--outbox-command failed on "${args}" (${how})${detail ? `: ${detail}` : ''}`);
  }
  try {
    return JSON.parse(stdout) as Record<string, unknown>;
  } catch {
    throw new Error(`--outbox-command printed no JSON for "${args}": ${stdout.trim().slice(0, 200) || 'nothing'}`);
  }
}

/** The newest messages of the outbox (the CLI lists the newest 50), newest first. */
async function outboxList(): Promise<OutboxEntry[]> {
  const out = await outboxCli('outbox list --json');
  assert.ok(Array.isArray(out.messages), `outbox list --json printed no "messages": ${JSON.stringify(out).slice(0, 200)}`);
  return out.messages as OutboxEntry[];
}
const outboxIds = async () => new Set((await outboxList()).map((m) => m.id));
const sameAddress = (a: string, b: string) => a.trim().toLowerCase() === b.trim().toLowerCase();

/**
 * The newest message to `to` that was not in the outbox before (`before`: its ids then): its text. The sender
 * writes it in the transaction of the request, so it is there when the page answers; the suite still waits a
 * few seconds for it.
 */
async function newMailTo(to: string, before: Set<string>, what: string): Promise<{ id: string; subject: string; text: string }> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const found = (await outboxList()).find((m) => sameAddress(m.to, to) && !before.has(m.id));
    if (found) {
      assert.ok(/^[\w-]+$/.test(found.id), `an outbox message id is not an id: ${JSON.stringify(found.id)}`);
      const shown = await outboxCli(`outbox show ${found.id} --json`);
      assert.equal(typeof shown.text, 'string', `outbox show ${found.id} --json printed no text`);
      return { id: found.id, subject: found.subject, text: shown.text as string };
    }
    if (Date.now() > deadline) throw new Error(`no new message to ${to} (${what}) reached the outbox within 15 seconds`);
    await sleep(500);
  }
}

/** The six-digit code of a message: on a line of its own, else the first six digits standing alone. */
function codeIn(text: string): string {
  const code = /^\s*(\d{6})\s*$/m.exec(text)?.[1] ?? /(?<!\d)(\d{6})(?!\d)/.exec(text)?.[1];
  assert.ok(code, `no six-digit code in the message: ${text.slice(0, 300)}`);
  return code;
}

// ---------------------------------------------------------------------------------------------------------
// Signing in through the pages.

/** Whether the browser is being sent to the client's redirect URI (the relying party's callback). */
const redirect = new URL(redirectUri);
const atRedirect = (url: string) => {
  const u = new URL(url);
  return u.origin === redirect.origin && u.pathname === redirect.pathname;
};
const offers = (page: PageResult, suffix: string) => formActions(page.html).some((a) => a.endsWith(suffix));
const where = (page: PageResult) => `"${headingOf(page.html)}" (${page.status})${alertsOf(page.html).length ? `: ${alertsOf(page.html).join(' / ')}` : ''}`;
const backAtClient = (page: PageResult) => Boolean(page.status >= 300 && page.status < 400 && page.location && atRedirect(page.location));

/**
 * A test account and its password as the suite knows it: the given one until it was replaced (a temporary
 * password by the new one, or by the forgot-password case). `earlier` are the passwords an earlier run may
 * have left it with, tried in order when `password` is refused.
 */
type TestAccount = { email: string; password: string; newPassword?: string; flags: Map<string, string>; earlier: string[]; usedEmailCode?: string };

function testAccount(address: string, password: string, replacement: string | undefined, names: { password: string; newPassword: string }, resettable: boolean): TestAccount {
  const flags = new Map<string, string>([[password, names.password]]);
  if (replacement !== undefined && !flags.has(replacement)) flags.set(replacement, names.newPassword);
  const earlier = [replacement];
  if (resettable) {
    const reset = resetPasswords({ password, newPassword: replacement })[1];
    if (!flags.has(reset)) flags.set(reset, `${replacement !== undefined ? names.newPassword : names.password} + "-reset"`);
    earlier.push(reset);
  }
  return { email: address, password, newPassword: replacement, flags, earlier: [...new Set(earlier.filter((p): p is string => p !== undefined && p !== password))] };
}

/** The two passwords the forgot-password case alternates between: --new-password (or --password), and it + "-reset". */
function resetPasswords(a: { password: string; newPassword?: string }): [string, string] {
  const base = a.newPassword ?? a.password;
  return [base, `${base}-reset`];
}

/** The test accounts: --email, and --mfa-email (a member of the organisation that requires e-mail codes). */
const account = testAccount(email ?? '', values.password ?? '', newPassword, { password: '--password', newPassword: '--new-password' }, true);
const mfaAccount = mfaRp ? testAccount(values['mfa-email']!, values['mfa-password']!, values['mfa-new-password'], { password: '--mfa-password', newPassword: '--mfa-new-password' }, false) : undefined;

type Authorization = { page: PageResult; verifier: string; state: string; nonce: string; rp: RelyingParty };

/** An authorization request (code, S256 PKCE, state, nonce) opened in `browser`: the page it lands on, or the redirect to the client. */
async function authorize(browser: Browser, scope = 'openid email profile offline_access', rp = mainRp): Promise<Authorization> {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(rp.config, {
    redirect_uri: redirectUri, scope, state, nonce, code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
  });
  const page = await browser.go(url.href, { stopAt: atRedirect });
  return { page, verifier, state, nonce, rp };
}

/** The e-mail step, then the password step with `password`: the page after it. */
async function enterCredentials(browser: Browser, page: PageResult, who: string, password: string): Promise<PageResult> {
  assert.ok(offers(page, '/email'), `expected the sign-in page (an e-mail form), got ${where(page)}`);
  const next = await browser.submit(page, '/email', { email: who });
  assert.ok(offers(next, '/password'), `after the e-mail, expected the password page, got ${where(next)}`);
  return browser.submit(next, '/password', { password }, { stopAt: atRedirect });
}

/** TOTP codes are accepted once per 30-second step: wait for a step not yet used by this run. */
let lastTotpStep = -1;
async function nextTotpCode(): Promise<string> {
  if (!totpSecret) throw new Error('the sign-in asks for a code from an authenticator app: pass --totp-secret');
  let step = Math.floor(Date.now() / 30_000);
  if (step <= lastTotpStep) {
    await sleep((lastTotpStep + 1) * 30_000 - Date.now() + 200);
    step = lastTotpStep + 1;
  }
  lastTotpStep = step;
  return totpCode({ secret: totpSecret, epoch: step * 30 + 1 });
}

/** A sign-in under way in its own browser: where it stands, and the steps it went through. */
type Walk = { browser: Browser; auth: Authorization; page: PageResult; who: TestAccount; steps: string[] };
type WalkOptions = {
  /** Stop at the second step (a page that offers a code), before answering it. */
  stopAtSecondFactor?: boolean;
  /** At the e-mail code, first type a wrong one (which must be refused), then the right one. */
  wrongEmailCodeFirst?: boolean;
};

/** Opens the sign-in in a new browser and enters `who`'s e-mail and password (trying the ones an earlier run may have left). */
async function startSignIn(who: TestAccount, rp: RelyingParty, scope?: string): Promise<Walk> {
  const browser = new Browser();
  const auth = await authorize(browser, scope, rp);
  let page = await enterCredentials(browser, auth.page, who.email, who.password);
  for (const other of who.earlier.filter((p) => p !== who.password)) {
    if (!(page.status === 401 && offers(page, '/password'))) break;
    // An earlier run replaced the password: one it set is the account's password now.
    const retry = await browser.submit(page, '/password', { password: other }, { stopAt: atRedirect });
    if (retry.status < 400) {
      console.log(`# ${who.flags.get(who.password)} was refused and ${who.flags.get(other)} accepted (set by an earlier run): signing in with it`);
      who.password = other;
    }
    page = retry;
  }
  return { browser, auth, page, who, steps: [] };
}

/**
 * Takes a sign-in on from where it stands, as far as the redirect back to the client (or, with
 * stopAtSecondFactor, the second step): a new password in place of a temporary one, a TOTP code, a code sent
 * by e-mail (read from the outbox).
 */
async function walkOn(walk: Walk, opts: WalkOptions = {}): Promise<Walk & { callback?: URL }> {
  const { browser, who, steps } = walk;
  let page = walk.page;
  for (let n = 0; n < 6; n++) {
    if (backAtClient(page)) return { ...walk, page, callback: new URL(page.location!) };
    const emailCode = offers(page, '/email-code/send') || offers(page, '/email-code');
    // The main account's authenticator app when the suite has its key, else a code by e-mail when offered.
    const totp = offers(page, '/totp') && (!emailCode || (who === account && totpSecret !== undefined));
    if (opts.stopAtSecondFactor && (emailCode || offers(page, '/totp'))) return { ...walk, page };
    if (offers(page, '/change-password')) {
      if (!who.newPassword) throw new Error(`the deployment asks ${who.email} to choose a new password: pass ${who === account ? '--new-password' : '--mfa-new-password'}`);
      steps.push('change-password');
      page = await browser.submit(page, '/change-password', { password: who.newPassword }, { stopAt: atRedirect });
      assert.ok(!offers(page, '/change-password'), `${who.flags.get(who.newPassword)} was refused: ${where(page)}`);
      who.password = who.newPassword;
    } else if (offers(page, '/totp-enrol')) {
      throw new Error('the deployment asks the account to set up an authenticator app first: sign in once by hand, then pass --totp-secret');
    } else if (totp) {
      steps.push('totp');
      page = await browser.submit(page, '/totp', { code: await nextTotpCode() }, { stopAt: atRedirect });
      // A step's code is accepted once: if an earlier run used this step's, once more with the next step's.
      if (page.status === 401 && offers(page, '/totp')) page = await browser.submit(page, '/totp', { code: await nextTotpCode() }, { stopAt: atRedirect });
      assert.ok(!(page.status === 401 && offers(page, '/totp')), `the TOTP code was refused (is --totp-secret the account's key?): ${where(page)}`);
    } else if (emailCode) {
      if (!outboxCommand) throw new Error('the sign-in asks for a code sent by e-mail: pass --outbox-command to read it from the outbox');
      steps.push('email-code');
      page = await answerWithEmailCode(browser, page, who, opts.wrongEmailCodeFirst ?? false);
    } else {
      throw new Error(`the sign-in stopped at ${where(page)}`);
    }
  }
  throw new Error(`the sign-in did not come back to the client: ${where(page)}`);
}

/** Asks for a code by e-mail, reads it from the outbox, and enters it (after a wrong one, with `wrongFirst`): the page after it. */
async function answerWithEmailCode(browser: Browser, page: PageResult, who: TestAccount, wrongFirst: boolean): Promise<PageResult> {
  const before = await outboxIds();
  let sent = await browser.submit(page, '/email-code/send', {}, { stopAt: atRedirect });
  if (sent.status === 429 && offers(sent, '/email-code/send')) {
    // A code was sent to this account moments ago (by an earlier case or run): wait as long as the page says.
    const wait = Number(sent.headers.get('retry-after') ?? 30);
    assert.ok(wait > 0 && wait <= 120, `asking for a code answered 429 with Retry-After ${sent.headers.get('retry-after')}`);
    console.log(`# a code was sent to ${who.email} moments ago: waiting ${wait} s to ask for a new one`);
    await sleep(wait * 1000 + 500);
    sent = await browser.submit(sent, '/email-code/send', {}, { stopAt: atRedirect });
  }
  assert.ok(offers(sent, '/email-code'), `after asking for a code by e-mail, expected a form for it (ending /email-code), got ${where(sent)}`);
  const code = codeIn((await newMailTo(who.email, before, 'the sign-in code')).text);
  if (wrongFirst) {
    const wrong = String((Number(code) + 1 + Math.floor(Math.random() * 999_998)) % 1_000_000).padStart(6, '0');
    const refused = await browser.submit(sent, '/email-code', { email_code: wrong }, { stopAt: atRedirect });
    assert.ok(!backAtClient(refused), `a wrong e-mail code went back to the client: ${refused.location}`);
    assert.ok(refused.status >= 400 && refused.status < 500, `a wrong e-mail code: expected a refusal (4xx), got ${where(refused)}`);
    assert.ok(offers(refused, '/email-code'), `after a wrong e-mail code, expected its form again, got ${where(refused)}`);
    assert.ok(alertsOf(refused.html).some((a) => a.length > 0), `a wrong e-mail code: no error message on ${where(refused)}`);
    sent = refused;
  }
  const next = await browser.submit(sent, '/email-code', { email_code: code }, { stopAt: atRedirect });
  assert.ok(!(next.status >= 400 && offers(next, '/email-code')), `the code from the e-mail was refused: ${where(next)}`);
  who.usedEmailCode = code;
  return next;
}

/**
 * Signs the account in through the pages in a new browser, as far as the redirect back to the client: e-mail,
 * password, then whatever the deployment asks (a new password in place of a temporary one, a second step).
 */
async function signInToCallback(scope?: string, who = account, rp = mainRp, opts: WalkOptions = {}): Promise<{ browser: Browser; auth: Authorization; callback: URL; steps: string[] }> {
  const walk = await walkOn(await startSignIn(who, rp, scope), opts);
  return { browser: walk.browser, auth: walk.auth, callback: walk.callback!, steps: walk.steps };
}

/** The code exchange (with the request's PKCE verifier, state and nonce checked by openid-client). */
const exchange = (auth: Authorization, callback: URL) =>
  client.authorizationCodeGrant(auth.rp.config, callback, { pkceCodeVerifier: auth.verifier, expectedState: auth.state, expectedNonce: auth.nonce, idTokenExpected: true });

/** Signs in through the pages in a new browser and exchanges the code: the tokens, and the browser (signed in). */
async function signIn(scope?: string, who = account, rp = mainRp) {
  const { browser, auth, callback } = await signInToCallback(scope, who, rp);
  return { browser, tokens: await exchange(auth, callback) };
}

/** A refused sign-in of `who` with `password` in a new browser: the page shown, which must not lead to a code. */
async function refusedSignIn(who: string, password: string) {
  const browser = new Browser();
  const auth = await authorize(browser);
  const page = await enterCredentials(browser, auth.page, who, password);
  assert.ok(!(page.location && atRedirect(page.location)), `the sign-in went back to the client: ${page.location}`);
  assert.ok(page.status >= 400 && page.status < 500, `expected a refusal (4xx), got ${where(page)}`);
  assert.ok(offers(page, '/password'), `expected the password form again, got ${where(page)}`);
  assert.ok(!offers(page, '/change-password') && !offers(page, '/totp'), `a wrong password moved the sign-in on: ${where(page)}`);
  const alerts = alertsOf(page.html);
  assert.ok(alerts.length > 0 && alerts.every((a) => a.length > 0), `no error message on ${where(page)}`);
  assert.ok(!/[?&#]code=/.test(page.html), 'the page carries an authorization code');
  return { status: page.status, heading: headingOf(page.html), alerts };
}
let wrongPasswordPage: ReturnType<typeof refusedSignIn> | undefined;
const wrongPassword = () => (wrongPasswordPage ??= refusedSignIn(email!, `${account.password}-not-${randomBytes(4).toString('hex')}`));

/** Checks the ID token's RS256 signature against the provider's JWKS (openid-client leaves this to the RP over TLS). */
async function assertSignedByProvider(idToken: string): Promise<void> {
  const [h, p, s] = idToken.split('.');
  const header = JSON.parse(Buffer.from(h, 'base64url').toString()) as { alg?: string; kid?: string };
  assert.equal(header.alg, 'RS256', `the ID token is signed with ${header.alg}`);
  const { keys } = (await (await fetch(meta.jwks_uri!)).json()) as { keys: (JsonWebKey & { kid?: string })[] };
  const jwk = keys.find((k) => k.kid === header.kid);
  assert.ok(jwk, `the ID token's key ${header.kid} is not in the JWKS`);
  assert.ok(verifySignature('sha256', Buffer.from(`${h}.${p}`), createPublicKey({ key: jwk, format: 'jwk' }), Buffer.from(s, 'base64url')), 'the ID token signature does not verify');
}

/** The text a person reads on a page (no tags, scripts or styles), whitespace collapsed. */
const visibleText = (html: string) =>
  html.replace(/<(script|style|title)\b[\s\S]*?<\/\1>/gi, ' ').replace(/<[^>]*>/g, ' ')
    .replace(/&#(\d+);/g, (_m, n) => String.fromCharCode(Number(n))).replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&')
    .replace(/\s+/g, ' ').trim();

// ---------------------------------------------------------------------------------------------------------
// The cases.

type Case = [string, () => Promise<void>, { needsAccount?: boolean; needsOutbox?: boolean; needsMfa?: boolean }?];
const withAccount = { needsAccount: true };

const cases: Case[] = [
  ['discovery: the issuer is the URL asked, every endpoint is under it, only the code flow with S256 PKCE', async () => {
    assert.equal(meta.issuer, issuer);
    for (const key of ['authorization_endpoint', 'token_endpoint', 'jwks_uri', 'introspection_endpoint', 'revocation_endpoint'] as const) {
      assert.ok(String(meta[key]).startsWith(`${issuer}/`), `${key} ${meta[key]} is not under the issuer`);
    }
    assert.deepEqual(meta.response_types_supported, ['code']);
    assert.ok(meta.code_challenge_methods_supported?.includes('S256'));
    assert.ok(meta.token_endpoint_auth_methods_supported?.includes('client_secret_basic'));
  }],
  ['discovery: the code flow for people: authorization_code and refresh_token grants, S256 PKCE (not plain), userinfo and end_session, the ID token claims', async () => {
    for (const grant of ['authorization_code', 'refresh_token']) assert.ok(meta.grant_types_supported?.includes(grant), `grant_types_supported lacks ${grant}`);
    assert.ok(meta.code_challenge_methods_supported?.includes('S256'), 'no S256 PKCE');
    assert.ok(!meta.code_challenge_methods_supported?.includes('plain'), 'plain PKCE is offered');
    for (const key of ['userinfo_endpoint', 'end_session_endpoint'] as const) {
      assert.ok(String(meta[key]).startsWith(`${issuer}/`), `${key} ${meta[key]} is not under the issuer`);
    }
    for (const scope of ['openid', 'email', 'offline_access']) assert.ok(meta.scopes_supported?.includes(scope), `scopes_supported lacks ${scope}`);
    for (const claim of ['sub', 'email', 'org_id', 'amr']) assert.ok(meta.claims_supported?.includes(claim), `claims_supported lacks ${claim}`);
    assert.ok(meta.id_token_signing_alg_values_supported?.includes('RS256'), 'no RS256 ID tokens');
  }],
  ['discovery: every endpoint advertised is served (none answers 404 or 5xx)', async () => {
    const endpoints = Object.entries(meta).filter(([key, value]) => (key.endsWith('_endpoint') || key === 'jwks_uri') && typeof value === 'string') as [string, string][];
    const missing: string[] = [];
    for (const [key, url] of endpoints) {
      // A browser's GET for the pages, an empty (unauthenticated) POST for the back-channel endpoints.
      const get = ['authorization_endpoint', 'end_session_endpoint', 'jwks_uri', 'userinfo_endpoint'].includes(key);
      const res = await fetch(url, get ? { redirect: 'manual' } : { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: '' });
      await res.arrayBuffer();
      if (res.status === 404 || res.status >= 500) missing.push(`${key} ${url} answers ${res.status}`);
    }
    assert.deepEqual(missing, [], missing.join('; '));
  }],
  ['JWKS: at least one RS256 signing key, and no private part of any key', async () => {
    const res = await fetch(meta.jwks_uri!);
    assert.equal(res.status, 200);
    const { keys } = (await res.json()) as { keys: Record<string, unknown>[] };
    assert.ok(keys.some((k) => k.kty === 'RSA' && (k.alg === undefined || k.alg === 'RS256') && typeof k.kid === 'string'));
    for (const k of keys) for (const part of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']) assert.equal(k[part], undefined, `a key publishes "${part}"`);
  }],
  ['client credentials: a bearer token that introspects as active for this client, until revoked', async () => {
    const token = await client.clientCredentialsGrant(config);
    assert.equal(token.token_type.toLowerCase(), 'bearer');
    assert.ok((token.expires_in ?? 0) > 0);
    const seen = await client.tokenIntrospection(config, token.access_token);
    assert.deepEqual([seen.active, seen.client_id, seen.iss], [true, clientId, issuer]);
    await client.tokenRevocation(config, token.access_token);
    assert.equal((await client.tokenIntrospection(config, token.access_token)).active, false);
  }],
  ['introspection: a token the provider never issued is inactive', async () => {
    assert.equal((await client.tokenIntrospection(config, 'not-a-token-of-this-provider')).active, false);
  }],
  ['refusals: a wrong client secret is invalid_client; an implicit response type is refused', async () => {
    const wrong = await client.discovery(new URL(issuer), clientId, undefined, client.ClientSecretBasic(`${secret}-wrong`), insecure);
    await assert.rejects(client.clientCredentialsGrant(wrong), (e: OAuthFailure) => oauthError(e) === 'invalid_client');
    const url = new URL(meta.authorization_endpoint!);
    url.search = new URLSearchParams({ client_id: clientId, response_type: 'token', scope: 'openid', redirect_uri: 'https://invalid.example/cb', nonce: 'n' }).toString();
    const res = await fetch(url, { redirect: 'manual' });
    assert.ok(res.status >= 400 || /error=/.test(res.headers.get('location') ?? ''), `an implicit request answered ${res.status}`);
  }],

  // With the test account.
  ['sign-in: code + S256 PKCE through the pages; the ID token (RS256, from the JWKS) has sub, email, org_id and amr', async () => {
    const { tokens } = await signIn();
    assert.equal(tokens.token_type.toLowerCase(), 'bearer');
    assert.ok(tokens.access_token && (tokens.expires_in ?? 0) > 0, 'no access token with a lifetime');
    assert.ok(tokens.refresh_token, 'offline_access gave no refresh token');
    const claims = tokens.claims()!;
    assert.equal(claims.iss, issuer);
    assert.ok([claims.aud].flat().includes(clientId), `aud ${claims.aud} lacks the client`);
    assert.ok(typeof claims.sub === 'string' && claims.sub.length > 0, 'no sub');
    assert.equal(String(claims.email).toLowerCase(), email!.toLowerCase());
    assert.ok(typeof claims.org_id === 'string' && claims.org_id.length > 0, `org_id is ${JSON.stringify(claims.org_id)}`);
    assert.ok(Array.isArray(claims.amr) && claims.amr.includes('pwd'), `amr is ${JSON.stringify(claims.amr)}`);
    await assertSignedByProvider(tokens.id_token!);
  }, withAccount],
  ['sign-in refused: a wrong password gives the password page again with an error, and no code', async () => {
    await wrongPassword();
  }, withAccount],
  ['sign-in refused: an unknown e-mail gives the same page, status and error as a wrong password', async () => {
    const unknown = `conformance-${randomBytes(6).toString('hex')}@${email!.split('@').pop()}`;
    const [known, nobody] = [await wrongPassword(), await refusedSignIn(unknown, `Not-a-password-${randomBytes(6).toString('hex')}`)];
    assert.deepEqual(nobody, known, 'an unknown e-mail is told apart from a wrong password');
  }, withAccount],
  ['userinfo: the signed-in person\'s claims for the access token (same sub, e-mail, org_id); no token or a bad one is refused', async () => {
    const { tokens } = await signIn();
    const claims = tokens.claims()!;
    const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
    assert.equal(String(info.email).toLowerCase(), email!.toLowerCase());
    assert.equal(info.org_id, claims.org_id);
    for (const auth of [undefined, 'Bearer not-a-token-of-this-provider']) {
      const res = await fetch(meta.userinfo_endpoint!, { headers: auth ? { authorization: auth } : {} });
      await res.arrayBuffer();
      assert.equal(res.status, 401, `userinfo ${auth ? 'with a bad token' : 'without a token'} answered ${res.status}`);
    }
  }, withAccount],
  ['refresh: each use rotates the refresh token; replaying a used one is invalid_grant and revokes its successor', async () => {
    const { tokens } = await signIn();
    const first = tokens.refresh_token!;
    assert.ok(first, 'no refresh token');
    const second = await client.refreshTokenGrant(config, first);
    assert.ok(second.refresh_token && second.refresh_token !== first, 'the refresh token did not rotate');
    assert.ok(second.access_token && second.access_token !== tokens.access_token, 'no new access token');
    assert.equal(second.claims()?.sub, tokens.claims()!.sub, 'the refreshed ID token is for someone else');
    assert.equal((await client.fetchUserInfo(config, second.access_token, tokens.claims()!.sub)).sub, tokens.claims()!.sub);
    await refusedWith(client.refreshTokenGrant(config, first), 'invalid_grant', 'a replayed refresh token');
    await refusedWith(client.refreshTokenGrant(config, second.refresh_token), 'invalid_grant', 'the successor of a replayed refresh token');
    assert.equal((await client.tokenIntrospection(config, second.access_token)).active, false, 'the successor\'s access token is still active after the replay');
  }, withAccount],
  ['introspection and revocation of the person\'s tokens: active for this client and person until revoked, then refused', async () => {
    const { tokens } = await signIn();
    const sub = tokens.claims()!.sub;
    const access = await client.tokenIntrospection(config, tokens.access_token);
    assert.deepEqual([access.active, access.client_id, access.sub, access.iss], [true, clientId, sub, issuer]);
    assert.ok(String(access.scope).split(' ').includes('openid'), `scope ${access.scope}`);
    const refresh = await client.tokenIntrospection(config, tokens.refresh_token!);
    assert.deepEqual([refresh.active, refresh.client_id, refresh.sub], [true, clientId, sub]);
    await client.tokenRevocation(config, tokens.access_token);
    assert.equal((await client.tokenIntrospection(config, tokens.access_token)).active, false, 'a revoked access token is active');
    await assert.rejects(client.fetchUserInfo(config, tokens.access_token, sub), (e: OAuthFailure) => oauthError(e) === 'invalid_token');
    await client.tokenRevocation(config, tokens.refresh_token!);
    assert.equal((await client.tokenIntrospection(config, tokens.refresh_token!)).active, false, 'a revoked refresh token is active');
    await refusedWith(client.refreshTokenGrant(config, tokens.refresh_token!), 'invalid_grant', 'a revoked refresh token');
  }, withAccount],
  ['logout: RP-initiated logout (id_token_hint, post_logout_redirect_uri, confirmed) returns to the client; the next request shows the sign-in page', async () => {
    const { browser, tokens } = await signIn();
    // Signed in: another request from this browser comes straight back with a code.
    const again = await authorize(browser);
    assert.ok(again.page.location && atRedirect(again.page.location) && new URL(again.page.location).searchParams.has('code'), `a signed-in browser was not sent back with a code: ${where(again.page)}`);
    const state = client.randomState();
    const url = client.buildEndSessionUrl(config, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: redirectUri, state });
    const confirm = await browser.go(url.href, { stopAt: atRedirect });
    assert.equal(confirm.status, 200, `the logout confirmation: ${where(confirm)}`);
    const action = formActions(confirm.html).find((a) => new URL(a, confirm.url).href.startsWith(meta.end_session_endpoint!));
    assert.ok(action, `no logout form on ${where(confirm)}`);
    const done = await browser.submit(confirm, action, { logout: 'yes' }, { stopAt: atRedirect });
    assert.ok(done.location && atRedirect(done.location), `the logout did not return to the client: ${where(done)} ${done.location ?? ''}`);
    assert.equal(new URL(done.location).searchParams.get('state'), state, 'the logout lost the state');
    const after = await authorize(browser);
    assert.ok(!(after.page.location && atRedirect(after.page.location)), 'after logout, the browser was sent back to the client without signing in');
    assert.ok(offers(after.page, '/email'), `after logout, expected the sign-in page, got ${where(after.page)}`);
  }, withAccount],
  ['PKCE: a code verifier that does not match the challenge is refused at the token endpoint (invalid_grant)', async () => {
    const { auth, callback } = await signInToCallback();
    const other = { ...auth, verifier: client.randomPKCECodeVerifier() };
    await refusedWith(exchange(other, callback), 'invalid_grant', 'a mismatched PKCE verifier');
  }, withAccount],

  // With the outbox (--outbox-command): what the deployment sends by e-mail.
  ['forgot password: "Forgot your password?" answers "Check your e-mail", the same for an address with no account; the e-mailed link (under the issuer) sets a new password once; then the old password is refused and the new one signs in', async () => {
    /** The password page's "Forgot your password?" for `who`, in a new browser: the answer, the address blanked out. */
    const forgot = async (who: string) => {
      const browser = new Browser();
      const auth = await authorize(browser);
      assert.ok(offers(auth.page, '/email'), `expected the sign-in page (an e-mail form), got ${where(auth.page)}`);
      const passwordPage = await browser.submit(auth.page, '/email', { email: who });
      assert.ok(offers(passwordPage, '/forgot'), `the password page offers no "Forgot your password?" (a form ending /forgot): ${where(passwordPage)}`);
      const page = await browser.submit(passwordPage, '/forgot', {}, { stopAt: atRedirect });
      assert.ok(!backAtClient(page), `"Forgot your password?" went back to the client: ${page.location}`);
      return { status: page.status, heading: headingOf(page.html), text: visibleText(page.html).split(who).join('<address>') };
    };
    const before = await outboxIds();
    const nobody = `conformance-${randomBytes(6).toString('hex')}@${email!.split('@').pop()}`;
    const unknownAnswer = await forgot(nobody);
    const answer = await forgot(email!);
    assert.equal(answer.status, 200, `"Forgot your password?" answered ${answer.status} "${answer.heading}"`);
    assert.match(answer.heading, /check your e-?mail/i, `"Forgot your password?" answered "${answer.heading}"`);
    assert.deepEqual(unknownAnswer, answer, 'an address with no account gets another answer than the account');
    const mail = await newMailTo(email!, before, 'the password-reset link; a reset link is sent at most once a minute per account: if a run asked one moments ago, wait a minute');
    assert.ok(!(await outboxList()).some((m) => sameAddress(m.to, nobody) && !before.has(m.id)), `a message went to ${nobody}, an address with no account`);
    const links = [...mail.text.matchAll(/https?:\/\/[^\s<>"]+/g)].map((m) => m[0]);
    const link = links.find((l) => URL.canParse(l) && new URL(l).searchParams.has('token'));
    assert.ok(link, `no link with a token in the message "${mail.subject}": ${links.join(' ') || 'no link at all'}`);
    assert.ok(link.startsWith(`${issuer}/`), `the reset link ${new URL(link).origin}${new URL(link).pathname} is not under the issuer`);

    const [plain, reset] = resetPasswords(account);
    const target = account.password === reset ? plain : reset;
    const old = account.password;
    const browser = new Browser(); // the link opened from the e-mail: no sign-in cookies
    const form = await browser.go(link, { stopAt: atRedirect });
    assert.equal(form.status, 200, `the reset link answered ${where(form)}`);
    const action = formActions(form.html).find((a) => new URL(a, form.url).pathname === new URL(link).pathname);
    assert.ok(action, `the reset link shows no form that posts to ${new URL(link).pathname}: ${where(form)}`);
    const done = await browser.submit(form, new URL(action, form.url).pathname, { password: target }, { stopAt: atRedirect });
    assert.ok(done.status === 200 && !offers(done, action), `the new password was not set: ${where(done)}`);
    account.password = target;
    console.log(`# the account's password is now ${account.flags.get(target)}`);

    const again = await new Browser().go(link, { stopAt: atRedirect });
    assert.ok(again.status >= 400 && again.status < 500 && !offers(again, action), `the reset link works a second time: ${where(again)}`);
    const replayed = await browser.submit(form, new URL(action, form.url).pathname, { password: `${target}-again` }, { stopAt: atRedirect });
    assert.ok(replayed.status >= 400 && replayed.status < 500, `the reset form was accepted a second time: ${where(replayed)}`);

    await refusedSignIn(email!, old);
    const { tokens } = await signIn();
    assert.equal(String(tokens.claims()!.email).toLowerCase(), email!.toLowerCase());
  }, { needsAccount: true, needsOutbox: true }],

  // With the organisation that requires MFA with e-mail codes (--mfa-*).
  ['e-mail code: the sign-in asks for a second step and offers a code by e-mail; a wrong code is refused; the code from the outbox lets it through; the ID token\'s amr has pwd, otp and mfa', async () => {
    const walk = await walkOn(await startSignIn(mfaAccount!, mfaRp!), { stopAtSecondFactor: true });
    const page = walk.page;
    assert.ok(offers(page, '/email-code/send'), `expected the second step to offer a code by e-mail (a form ending /email-code/send), got ${where(page)}`);
    assert.ok(page.html.includes(mfaAccount!.email), `the second step does not say where the code goes (${mfaAccount!.email}): ${where(page)}`);
    const done = await walkOn(walk, { wrongEmailCodeFirst: true });
    assert.ok(done.steps.includes('email-code') && done.callback, `the sign-in did not go through the e-mail code: ${done.steps.join(', ')}`);
    const tokens = await exchange(done.auth, done.callback);
    const claims = tokens.claims()!;
    assert.equal(String(claims.email).toLowerCase(), mfaAccount!.email.toLowerCase());
    assert.ok([claims.aud].flat().includes(mfaRp!.clientId), `aud ${claims.aud} lacks the MFA client`);
    for (const m of ['pwd', 'otp', 'mfa']) assert.ok(Array.isArray(claims.amr) && claims.amr.includes(m), `amr is ${JSON.stringify(claims.amr)}: no "${m}"`);
    await assertSignedByProvider(tokens.id_token!);
  }, { needsMfa: true }],
  ['e-mail code: a code that signed in once is refused a second time (no new code asked for: it is still the newest the account has)', async () => {
    const used = mfaAccount!.usedEmailCode;
    if (!used) throw new Error('the previous case signed in with no e-mail code: nothing to replay');
    const walk = await walkOn(await startSignIn(mfaAccount!, mfaRp!), { stopAtSecondFactor: true });
    assert.ok(offers(walk.page, '/email-code/send'), `expected the second step to offer a code by e-mail, got ${where(walk.page)}`);
    // The form the code goes in (the page shows it once a code was sent), posted as the browser would.
    const { action: sendAction, fields } = formOf(walk.page, '/email-code/send');
    const page = await walk.browser.go(sendAction.replace(/\/send$/, ''), { form: { ...fields, email_code: used }, stopAt: atRedirect });
    assert.ok(!backAtClient(page), `the used code signed in again: ${page.location}`);
    assert.ok(page.status >= 400 && page.status < 500, `the used code: expected a refusal (4xx), got ${where(page)}`);
    assert.ok(offers(page, '/email-code') || offers(page, '/email-code/send'), `after the used code, expected the second step again, got ${where(page)}`);
    assert.ok(alertsOf(page.html).some((a) => a.length > 0), `the used code: no error message on ${where(page)}`);
  }, { needsMfa: true }],
];

let passed = 0;
let failed = 0;
let skipped = 0;
const noOutbox = 'no --outbox-command (the suite reads the e-mails the deployment sends from its outbox)';
for (const [name, fn, opts] of cases) {
  const missing = [
    opts?.needsAccount && !email ? 'no test account (--email, --password)' : '',
    (opts?.needsOutbox || opts?.needsMfa) && !outboxCommand ? noOutbox : '',
    opts?.needsMfa && !mfaRp ? 'no client of an organisation that requires e-mail codes, and a member of it (--mfa-client-id, --mfa-client-secret, --mfa-email, --mfa-password)' : '',
  ].filter(Boolean);
  const skip = missing.length ? missing.join('; ') : undefined;
  if (skip) {
    skipped++;
    console.log(`skip - ${name}: ${skip}`);
    continue;
  }
  try {
    await fn();
    passed++;
    console.log(`ok - ${name}`);
  } catch (err) {
    failed++;
    const cause = (err as { cause?: { message?: string; code?: string } }).cause;
    console.log(`not ok - ${name}: ${(err as Error).message.split('\n')[0]}${cause?.message ? ` (${cause.code ?? cause.message})` : ''}`);
  }
}
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exitCode = failed > 0 ? 1 : 0;
