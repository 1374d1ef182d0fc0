// Adversarial: the sign-in pages, walked as a browser would (conformance/oidc/browser.ts), with a real
// openid-client as the application. The cross-organisation attack on a shared account, user enumeration,
// brute force (throttling, never a lockout for good), CSRF, every denial of the login policy, TOTP replay and
// recovery codes, cookies and headers, hostile input, and a password change ending every other session.
//
// Each browser comes from its own address (X-Forwarded-For, believed: trustProxy), so the per-IP throttle
// of one test never counts another's failures.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import * as client from 'openid-client';
import { generate } from 'otplib';
import { Browser, headingOf, type PageResult } from '../../conformance/oidc/browser.ts';
import { markEmailVerified } from '../../src/directory/accounts.ts';
import { createClient } from '../../src/directory/clients.ts';
import { createPasswordHasher, type PasswordHasher } from '../../src/directory/passwords.ts';
import { createSealer } from '../../src/directory/sealing.ts';
import { ensureSigningKey } from '../../src/directory/signing-keys.ts';
import type { ThrottleLimits } from '../../src/directory/throttle.ts';
import { hashSecret } from '../../src/directory/tokens.ts';
import { createApp } from '../../src/http/app.ts';
import { createOidcService, type OidcService } from '../../src/oidc/provider.ts';
import { createUser, newOrg, TEST_SECRET as SECRET, type TestOrg, unique } from '../helpers.ts';
import { testDb } from '../setup.ts';

const actor = { type: 'system', id: 'test' } as const;
const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

// ---------------------------------------------------------------------------------------------------------
// An in-process server (the app with the OIDC service), as many as a test needs.

type Srv = { issuer: string; oidc: OidcService; server: Server };

async function startServer(opts: { throttle?: ThrottleLimits; passwords?: PasswordHasher } = {}): Promise<Srv> {
  const sealer = createSealer(SECRET);
  await ensureSigningKey(testDb(), sealer);
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const oidc = await createOidcService({ db: testDb(), issuer, sealer, secret: SECRET, trustProxy: true, logger, passwords: opts.passwords, throttle: opts.throttle });
  server.on('request', createApp({ db: testDb(), logger, issuer, oidc: oidc.handler, trustProxy: true }));
  return { issuer, oidc, server };
}

async function stopServer(srv: Srv | undefined): Promise<void> {
  if (!srv) return;
  await srv.oidc.stop();
  srv.server.closeAllConnections();
  await new Promise((resolve) => srv.server.close(resolve));
}

/** A PasswordHasher that counts its calls (a real argon2id hasher underneath). */
function countingHasher() {
  const real = createPasswordHasher();
  const counts = { hash: 0, verify: 0 };
  const hasher: PasswordHasher = {
    hash: (p) => { counts.hash++; return real.hash(p); },
    verify: (h, p) => { counts.verify++; return real.verify(h, p); },
  };
  return { hasher, counts };
}

// ---------------------------------------------------------------------------------------------------------
// A browser with its own address that remembers every response (statuses, redirects, cookies set).

const randomIp = () => `2001:db8:${[...randomBytes(12)].reduce((out, b, i) => out + (i % 2 === 0 ? (i ? ':' : '') : '') + b.toString(16).padStart(2, '0'), '')}`;

class TestBrowser extends Browser {
  readonly ip: string;
  readonly responses: PageResult[] = [];
  readonly downgrade: boolean;

  constructor(opts: { ip?: string; headers?: Record<string, string>; downgrade?: boolean } = {}) {
    const ip = opts.ip ?? randomIp();
    super({ headers: { 'x-forwarded-for': ip, ...opts.headers } });
    this.ip = ip;
    this.downgrade = opts.downgrade ?? false;
  }

  override async request(url: string, init: { method?: string; form?: Record<string, string> } = {}): Promise<PageResult> {
    // Behind a TLS-terminating proxy the provider's own absolute URLs are https: this browser talks to the
    // plain HTTP listener behind it.
    const target = this.downgrade ? url.replace(/^https:\/\/127\.0\.0\.1:/, 'http://127.0.0.1:') : url;
    const res = await super.request(target, init);
    this.responses.push(res);
    return res;
  }

  locations(): string[] {
    return this.responses.map((r) => r.location).filter((l): l is string => l !== null);
  }

  setCookies(): string[] {
    return this.responses.flatMap((r) => r.headers.getSetCookie());
  }

  cookiesFor(url: string): string {
    const u = new URL(url);
    const jar = this.cookies.get(u.host);
    if (!jar) return '';
    return [...jar.entries()].filter(([, c]) => u.pathname.startsWith(c.path)).map(([k, c]) => `${k}=${c.value}`).join('; ');
  }

  /** A POST with any body and content type, with this browser's cookies and address. */
  async post(url: string, body: string | Buffer, contentType = 'application/x-www-form-urlencoded'): Promise<PageResult> {
    const res = await fetch(url, {
      method: 'POST', redirect: 'manual', body: typeof body === 'string' ? body : new Uint8Array(body),
      headers: { 'content-type': contentType, cookie: this.cookiesFor(url), 'x-forwarded-for': this.ip, 'user-agent': this.userAgent, accept: 'text/html' },
    });
    const location = res.headers.get('location');
    const result = { status: res.status, url, html: await res.text(), location: location ? new URL(location, url).toString() : null, headers: res.headers };
    this.responses.push(result);
    return result;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Organisations' applications and the steps of a sign-in.

type App = { org: TestOrg; clientId: string; redirect: string; config: client.Configuration };

async function registerApp(srv: Srv, org: TestOrg): Promise<App> {
  const redirect = `https://${unique('app-')}.example/callback`;
  const { clientId, clientSecret } = await createClient(testDb(), { orgId: org.org.id, actor, redirectUris: [redirect], public: false });
  const config = await client.discovery(new URL(srv.issuer), clientId, undefined, client.ClientSecretBasic(clientSecret!), { execute: [client.allowInsecureRequests] });
  return { org, clientId, redirect, config };
}

const toApp = (app: App) => ({ stopAt: (u: string) => u.startsWith(app.redirect) });

async function authorize(app: App, browser: Browser, scope = 'openid email profile offline_access') {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const url = client.buildAuthorizationUrl(app.config, {
    redirect_uri: app.redirect, scope, code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state,
  });
  const page = await browser.go(url.toString(), toApp(app));
  return { page, finish: (callback: string) => client.authorizationCodeGrant(app.config, new URL(callback), { pkceCodeVerifier: verifier, expectedState: state }) };
}

/** E-mail, then password: the page (or the redirect to the application) that follows. */
async function passwordSignIn(app: App, browser: Browser, email: string, password: string) {
  const { page, finish } = await authorize(app, browser);
  assert.equal(headingOf(page.html), 'Sign in', page.html.slice(0, 300));
  const pw = await browser.submit(page, '/email', { email });
  assert.equal(headingOf(pw.html), 'Enter your password', pw.html.slice(0, 300));
  const after = await browser.submit(pw, '/password', { password }, toApp(app));
  return { passwordPage: pw, page: after, finish };
}

/** A code reached the application's redirect URI. */
const codeReached = (app: App, browser: TestBrowser) => browser.locations().some((l) => l.startsWith(app.redirect) && new URL(l).searchParams.has('code'));

const uidOf = (p: PageResult) => /\/oidc\/interaction\/([^/?#]+)/.exec(p.url)![1];

const accountOf = (email: string) => testDb()('accounts').whereRaw('lower(email) = lower(?)', [email]).first();
const eventsOf = (orgId: string) => testDb()('auth_events').where({ org_id: orgId }).orderBy('id');
const sessionsOf = (orgId: string, accountId: string) => testDb()('sessions').where({ org_id: orgId, account_id: accountId }).orderBy('created_at');
const interactionPayload = async (uid: string) => (await testDb()('oidc_payloads').where({ model: 'Interaction', id: uid }).first('payload', 'consumed_at', 'expires_at')) ?? null;

/** The page with what changes from one response to the next (and the e-mail typed) taken out. */
function normalised(html: string, typed: string[] = []): string {
  let out = html
    .replace(/name="_csrf" value="[^"]*"/g, 'name="_csrf" value="CSRF"')
    .replace(/nonce="[^"]*"/g, 'nonce="NONCE"')
    .replace(/\/oidc\/interaction\/[\w-]+/g, '/oidc/interaction/UID');
  for (const t of typed) out = out.split(t).join('EMAIL');
  return out;
}

/** A 4xx HTML page that shows nothing of the server's insides. */
function assertCleanClientError(res: PageResult, what: string): void {
  assert.ok(res.status >= 400 && res.status < 500, `${what}: answered ${res.status} ${res.html.slice(0, 300)}`);
  assert.match(String(res.headers.get('content-type')), /^text\/html/, `${what}: content-type`);
  assert.match(res.html, /<h1>[^<]+<\/h1>/, `${what}: a page with a heading`);
  assert.doesNotMatch(res.html, /\bat [\w.<>]+ \(|node:internal|node_modules|\/work\/|\.ts:\d+|\w+Error\b|\bstack\b/i, `${what}: stack trace text: ${res.html.slice(0, 600)}`);
}

const B_PASSWORD = 'chosen by organisation B, 2024';

describe('security: sign-in through the pages', function () {
  this.timeout(60_000);
  let srv: Srv;
  const hashing = countingHasher();

  before(async () => { srv = await startServer({ passwords: hashing.hasher }); });
  after(async () => { await stopServer(srv); });

  describe('the cross-organisation attack on a shared account', () => {
    /** B creates A's CEO's account over SCIM with a password B chose; A's SCIM then provisions its CEO (a link). */
    async function attack() {
      const a = await newOrg();
      const b = await newOrg();
      const ceo = `ceo@${unique('a-domain-')}.test`;
      await createUser(b.scim, ceo, { password: B_PASSWORD });
      await createUser(a.scim, ceo);
      const account = await accountOf(ceo);
      assert.equal(account.managed_by_org_id, b.org.id);
      assert.equal(account.password_set_by_org_id, b.org.id);
      assert.equal(account.email_verified, false);
      return { a, b, ceo, account, appA: await registerApp(srv, a), appB: await registerApp(srv, b) };
    }

    it("B's password at A's application is refused (credential_not_trusted): a denial page, an auth event in A, no session in A, no code for A", async () => {
      const { a, ceo, account, appA } = await attack();
      const browser = new TestBrowser();
      const { page } = await passwordSignIn(appA, browser, ceo, B_PASSWORD);
      assert.equal(page.status, 403, page.html.slice(0, 400));
      assert.equal(headingOf(page.html), 'You cannot sign in here');
      const events = await eventsOf(a.org.id);
      const denied = events.filter((e) => e.reason === 'credential_not_trusted');
      assert.equal(denied.length, 1, JSON.stringify(events));
      assert.equal(denied[0].account_id, account.id);
      assert.equal(denied[0].outcome, 'failure');
      assert.equal(denied[0].type, 'sign_in');
      assert.equal(events.filter((e) => e.outcome === 'success').length, 0);
      assert.deepEqual(await sessionsOf(a.org.id, account.id), []);
      assert.equal(codeReached(appA, browser), false, browser.locations().join('\n'));

      // Reloading the page does not get further; returning to the application brings an error, never a code.
      const again = await browser.go(page.url, toApp(appA));
      assert.equal(headingOf(again.html), 'You cannot sign in here');
      const back = await browser.submit(again, '/abort', {}, toApp(appA));
      assert.ok(back.location?.startsWith(appA.redirect), String(back.location));
      assert.equal(new URL(back.location!).searchParams.get('error'), 'access_denied');
      assert.equal(codeReached(appA, browser), false);
      assert.deepEqual(await sessionsOf(a.org.id, account.id), []);
    });

    it("the same password at B's application (B set it) signs the person in to B", async () => {
      const { b, ceo, account, appB } = await attack();
      const browser = new TestBrowser();
      const { page, finish } = await passwordSignIn(appB, browser, ceo, B_PASSWORD);
      assert.ok(page.location?.startsWith(appB.redirect), `${page.status} ${page.html.slice(0, 400)}`);
      const claims = (await finish(page.location!)).claims()!;
      assert.equal(claims.sub, account.id);
      assert.equal(claims.org_id, b.org.id);
      assert.equal((await sessionsOf(b.org.id, account.id)).length, 1);
    });

    it("the rule: once the person has shown control of the e-mail address (email_verified), their password opens A's applications too", async () => {
      const { a, ceo, account, appA } = await attack();
      await markEmailVerified(testDb(), account.id);
      const browser = new TestBrowser();
      const { page, finish } = await passwordSignIn(appA, browser, ceo, B_PASSWORD);
      assert.ok(page.location?.startsWith(appA.redirect), `${page.status} ${page.html.slice(0, 400)}`);
      const claims = (await finish(page.location!)).claims()!;
      assert.equal(claims.org_id, a.org.id);
      assert.equal(claims.email_verified, true);
    });
  });

  describe('no user enumeration', () => {
    it('an unknown e-mail and a wrong password: the same status and page, one password verification each, recorded apart', async () => {
      const org = await newOrg();
      const app = await registerApp(srv, org);
      const known = `${unique('known')}@example.test`;
      await createUser(org.scim, known, { password: 'the right password 1' });
      const unknown = `${unique('nobody')}@example.test`;

      const attempt = async (email: string, password: string) => {
        const browser = new TestBrowser();
        const { page } = await authorize(app, browser);
        const pw = await browser.submit(page, '/email', { email });
        hashing.counts.verify = 0;
        const res = await browser.submit(pw, '/password', { password }, toApp(app));
        return { pw, res, verified: hashing.counts.verify };
      };
      const u = await attempt(unknown, 'some password 123');
      const k = await attempt(known, 'not the right one 1');

      assert.equal(u.verified, 1, 'an unknown e-mail runs one password verification');
      assert.equal(k.verified, 1, 'a known e-mail runs one password verification');
      assert.equal(u.res.status, 401);
      assert.equal(k.res.status, u.res.status);
      assert.equal(normalised(k.res.html, [known]), normalised(u.res.html, [unknown]));
      assert.equal(normalised(k.pw.html, [known]), normalised(u.pw.html, [unknown]), 'the password page, too, is the same');
      assert.equal(headingOf(u.res.html), 'Enter your password');

      const events = await eventsOf(org.org.id);
      const byEmail = (email: string) => events.filter((e) => e.email === email).map((e) => [e.type, e.outcome, e.reason]);
      assert.deepEqual(byEmail(unknown), [['sign_in', 'failure', 'unknown_account']]);
      assert.deepEqual(byEmail(known), [['sign_in', 'failure', 'wrong_password']]);
    });
  });

  describe('CSRF', () => {
    it('a POST without _csrf, or with the _csrf of another interaction, gets 403 and changes nothing', async () => {
      const org = await newOrg();
      const app = await registerApp(srv, org);
      const email = `${unique('csrf')}@example.test`;
      const password = 'the right password 2';
      await createUser(org.scim, email, { password });
      const account = await accountOf(email);

      const browser = new TestBrowser();
      const { page, finish } = await authorize(app, browser);
      const uid = uidOf(page);
      const emailAction = new URL(`/oidc/interaction/${uid}/email`, page.url).toString();
      const passwordAction = new URL(`/oidc/interaction/${uid}/password`, page.url).toString();

      // On the e-mail page: a forged e-mail is not taken.
      const before0 = await interactionPayload(uid);
      const noToken = await browser.request(emailAction, { form: { email } });
      assert.equal(noToken.status, 403);
      assert.deepEqual(await interactionPayload(uid), before0);
      assert.equal(headingOf((await browser.go(page.url)).html), 'Sign in');

      // The same CSRF cookie in another browser's interaction: its token is bound to that interaction.
      const other = new TestBrowser();
      const jar = browser.cookies.get(new URL(page.url).host)!;
      other.cookies.set(new URL(page.url).host, new Map([['roster_csrf', jar.get('roster_csrf')!]]));
      const { page: otherPage } = await authorize(app, other);
      assert.equal(other.cookies.get(new URL(page.url).host)!.get('roster_csrf')!.value, jar.get('roster_csrf')!.value);
      const otherToken = /name="_csrf" value="([^"]+)"/.exec(otherPage.html)![1];
      const ownToken = /name="_csrf" value="([^"]+)"/.exec(page.html)![1];
      assert.notEqual(otherToken, ownToken);

      const pw = await browser.submit(page, '/email', { email });
      assert.equal(headingOf(pw.html), 'Enter your password');
      const before = { interaction: await interactionPayload(uid), events: await eventsOf(org.org.id), sessions: await sessionsOf(org.org.id, account.id) };
      const attempts: [string, Record<string, string>][] = [
        ['no _csrf', { password }],
        ['an empty _csrf', { _csrf: '', password }],
        ["another interaction's _csrf", { _csrf: otherToken, password }],
        ['a _csrf one character off', { _csrf: `${ownToken.slice(0, -1)}${ownToken.endsWith('A') ? 'B' : 'A'}`, password }],
      ];
      for (const [what, form] of attempts) {
        const res = await browser.request(passwordAction, { form });
        assert.equal(res.status, 403, `${what}: ${res.status}`);
        assert.equal(res.location, null, what);
        assertCleanClientError(res, what);
      }
      const repeated = await browser.post(passwordAction, `_csrf=${encodeURIComponent(ownToken)}&_csrf=${encodeURIComponent(ownToken)}&password=${encodeURIComponent(password)}`);
      assert.equal(repeated.status, 403, 'a repeated _csrf');

      assert.deepEqual(await interactionPayload(uid), before.interaction, 'the pending state is unchanged');
      const events = await eventsOf(org.org.id);
      assert.deepEqual(events, before.events, 'no auth event');
      assert.equal(events.filter((e) => e.type === 'sign_in' && e.outcome === 'success').length, 0);
      assert.deepEqual(await sessionsOf(org.org.id, account.id), before.sessions);
      assert.equal(codeReached(app, browser), false);
      const same = await browser.go(page.url);
      assert.equal(headingOf(same.html), 'Enter your password');
      assert.equal(normalised(same.html), normalised(pw.html), 'the next GET shows the same page');

      // And with its own token the form works.
      const done = await browser.submit(same, '/password', { password }, toApp(app));
      assert.ok(done.location?.startsWith(app.redirect), `${done.status} ${done.html.slice(0, 300)}`);
      assert.equal((await finish(done.location!)).claims()!.sub, account.id);
    });
  });

  describe('every denial through the pages is recorded with its reason', () => {
    async function deniedWith(app: App, email: string, password: string, reason: string) {
      const account = await accountOf(email);
      const browser = new TestBrowser();
      const { page } = await passwordSignIn(app, browser, email, password);
      assert.equal(page.status, 403, `${reason}: ${page.status} ${page.html.slice(0, 400)}`);
      assert.equal(headingOf(page.html), 'You cannot sign in here', reason);
      const events = (await eventsOf(app.org.org.id)).filter((e) => e.account_id === account.id);
      assert.deepEqual(events.map((e) => [e.type, e.outcome, e.reason]), [['sign_in', 'failure', reason]]);
      assert.deepEqual(await sessionsOf(app.org.org.id, account.id), [], `${reason}: no session`);
      assert.equal(codeReached(app, browser), false, reason);
      return page;
    }

    it('not a member: the account exists only in another organisation', async () => {
      const a = await newOrg();
      const c = await newOrg();
      const email = `${unique('elsewhere')}@example.test`;
      await createUser(c.scim, email, { password: 'a password of org c' });
      await deniedWith(await registerApp(srv, a), email, 'a password of org c', 'not_a_member');
    });

    it('member deactivated', async () => {
      const a = await newOrg();
      const email = `${unique('gone')}@example.test`;
      const user = await createUser(a.scim, email, { password: 'a password of org a' });
      const res = await a.scim.patch(`/Users/${user.id}`, [{ op: 'replace', path: 'active', value: false }]);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      await deniedWith(await registerApp(srv, a), email, 'a password of org a', 'deactivated');
    });

    it('provider not allowed: the organisation allows only SSO', async () => {
      const a = await newOrg();
      const email = `${unique('sso-only')}@example.test`;
      await createUser(a.scim, email, { password: 'a password of org a' });
      await testDb()('organizations').where({ id: a.org.id }).update({ login_providers: testDb().raw("'{sso}'::text[]") });
      await deniedWith(await registerApp(srv, a), email, 'a password of org a', 'provider_not_allowed');
    });

    it('temporary password expired', async () => {
      const a = await newOrg();
      await testDb()('accounts').where({ id: a.owner.accountId }).update({ temporary_password_expires_at: testDb().raw("now() - interval '1 hour'") });
      const page = await deniedWith(await registerApp(srv, a), a.owner.email, a.owner.temporaryPassword!, 'temporary_password_expired');
      assert.doesNotMatch(page.html, /Choose a new password/);
    });

    it("MFA required but only 'email' allowed: no method can be set up here", async () => {
      const a = await newOrg();
      const email = `${unique('mfa-email')}@example.test`;
      await createUser(a.scim, email, { password: 'a password of org a' });
      await testDb()('organizations').where({ id: a.org.id }).update({ require_mfa: true, mfa_methods: testDb().raw("'{email}'::text[]") });
      await deniedWith(await registerApp(srv, a), email, 'a password of org a', 'mfa_method_not_available');
    });
  });

  describe('TOTP and recovery codes', () => {
    it('a TOTP code is accepted once (replay refused); a recovery code works once; the secret is sealed and the codes hashed', async () => {
      const org = await newOrg();
      await testDb()('organizations').where({ id: org.org.id }).update({ require_mfa: true });
      const app = await registerApp(srv, org);
      const email = `${unique('totp')}@example.test`;
      const password = 'the right password 3';
      await createUser(org.scim, email, { password });
      const account = await accountOf(email);

      // Enrolment: the secret shown is not what is stored.
      const first = new TestBrowser();
      let { page } = await passwordSignIn(app, first, email, password);
      assert.equal(headingOf(page.html), 'Set up an authenticator app');
      const secret = /id="totp-secret">([^<]+)</.exec(page.html)![1].replace(/\s+/g, '');
      assert.match(secret, /^[A-Z2-7]{16,}$/);
      const factors = await testDb()('mfa_factors').where({ account_id: account.id });
      assert.equal(factors.length, 1);
      const stored = JSON.stringify(factors[0]);
      for (const form of [secret, secret.toLowerCase(), Buffer.from(secret).toString('base64'), Buffer.from(secret).toString('hex')]) {
        assert.ok(!stored.includes(form), 'the base32 secret is not stored in clear');
      }
      const epoch = Math.floor(Date.now() / 1000);
      const enrolCode = await generate({ secret, epoch });
      page = await first.submit(page, '/totp-enrol', { code: enrolCode });
      assert.equal(headingOf(page.html), 'Save your recovery codes');
      const codes = [...page.html.matchAll(/<li>([a-z0-9-]+)<\/li>/g)].map((m) => m[1]);
      assert.equal(codes.length, 10);
      const rows = await testDb()('recovery_codes').where({ account_id: account.id });
      assert.equal(rows.length, 10);
      const rowText = JSON.stringify(rows);
      for (const c of codes) {
        assert.ok(!rowText.includes(c) && !rowText.includes(c.replace(/-/g, '')), `recovery code ${c} stored in clear`);
      }
      page = await first.submit(page, '/continue', {}, toApp(app));
      assert.ok(page.location?.startsWith(app.redirect), page.html.slice(0, 300));

      // The enrolment's code again, at the next sign-in: refused (replay). A code of the next time step: accepted.
      const second = new TestBrowser();
      let p = (await passwordSignIn(app, second, email, password)).page;
      assert.equal(headingOf(p.html), 'Two-step verification');
      p = await second.submit(p, '/totp', { code: enrolCode });
      assert.equal(p.status, 401, 'the code used at enrolment is refused');
      const nextCode = await generate({ secret, epoch: epoch + 30 });
      p = await second.submit(p, '/totp', { code: nextCode }, toApp(app));
      assert.ok(p.location?.startsWith(app.redirect), `${p.status} ${p.html.slice(0, 300)}`);

      // The same code at another sign-in: refused. A recovery code: once.
      const third = new TestBrowser();
      p = (await passwordSignIn(app, third, email, password)).page;
      p = await third.submit(p, '/totp', { code: nextCode });
      assert.equal(p.status, 401, 'a code already accepted is refused at another sign-in');
      assert.equal(codeReached(app, third), false);
      p = await third.submit(p, '/recovery', { recovery_code: codes[0] }, toApp(app));
      assert.ok(p.location?.startsWith(app.redirect), `${p.status} ${p.html.slice(0, 300)}`);

      const fourth = new TestBrowser();
      const signIn = await passwordSignIn(app, fourth, email, password);
      p = await fourth.submit(signIn.page, '/recovery', { recovery_code: codes[0] });
      assert.equal(p.status, 401, 'a used recovery code is refused');
      assert.equal(codeReached(app, fourth), false);
      p = await fourth.submit(p, '/recovery', { recovery_code: codes[1].toUpperCase() }, toApp(app));
      assert.ok(p.location?.startsWith(app.redirect), `${p.status} ${p.html.slice(0, 300)}`);
      assert.deepEqual((await signIn.finish(p.location!)).claims()!.amr, ['pwd', 'otp', 'mfa']);

      const used = await testDb()('recovery_codes').where({ account_id: account.id }).whereNotNull('used_at');
      assert.equal(used.length, 2);
      const failures = (await eventsOf(org.org.id)).filter((e) => e.account_id === account.id && e.outcome === 'failure').map((e) => [e.type, e.reason]);
      assert.deepEqual(failures, [['mfa_verification', 'mfa_failed'], ['mfa_verification', 'mfa_failed'], ['recovery_code_used', 'mfa_failed']]);
    });
  });

  describe('cookies and headers', () => {
    async function walk(browser: TestBrowser) {
      const org = await newOrg();
      const app = await registerApp(srv, org);
      const email = `${unique('cookies')}@example.test`;
      await createUser(org.scim, email, { password: 'the right password 4' });
      const { passwordPage, page } = await passwordSignIn(app, browser, email, 'the right password 4');
      assert.ok(page.location?.startsWith(app.redirect), `${page.status} ${page.html.slice(0, 300)}`);
      return { app, passwordPage };
    }

    it('the pages send a Content-Security-Policy; every cookie is HttpOnly and SameSite=Lax', async () => {
      const browser = new TestBrowser();
      await walk(browser);
      const pages = browser.responses.filter((r) => /\/oidc\/interaction\//.test(r.url) && r.status === 200);
      assert.ok(pages.length >= 2, `${pages.length} pages`);
      for (const p of pages) {
        const csp = p.headers.get('content-security-policy') ?? '';
        assert.match(csp, /default-src 'none'/, p.url);
        assert.match(csp, /frame-ancestors 'none'/, p.url);
        assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/, p.url);
        assert.match(p.headers.get('cache-control') ?? '', /no-store/, p.url);
      }
      const cookies = browser.setCookies();
      const names = new Set(cookies.map((c) => c.split('=')[0]));
      for (const name of ['roster_csrf', '_interaction', '_session']) assert.ok(names.has(name), `${name} among ${[...names].join(', ')}`);
      for (const c of cookies) {
        assert.match(c, /;\s*httponly/i, c);
        assert.match(c, /;\s*samesite=lax/i, c);
      }
    });

    it('behind a trusted proxy that says https (X-Forwarded-Proto), every cookie set is Secure', async () => {
      const browser = new TestBrowser({ headers: { 'x-forwarded-proto': 'https' }, downgrade: true });
      await walk(browser);
      const cookies = browser.setCookies().filter((c) => !/^[^=]+=;/.test(c));
      assert.ok(cookies.length >= 3, cookies.join('\n'));
      for (const c of cookies) {
        assert.match(c, /;\s*secure/i, c);
        assert.match(c, /;\s*httponly/i, c);
        assert.match(c, /;\s*samesite=lax/i, c);
      }
    });
  });

  describe('bad input never gets a 500', () => {
    it('repeated fields, a 20 kB password, a body that is not UTF-8, unknown paths: a 4xx page, no stack trace, nothing changed', async () => {
      const org = await newOrg();
      const app = await registerApp(srv, org);
      const email = `${unique('hostile')}@example.test`;
      const password = 'the right password 5';
      await createUser(org.scim, email, { password });
      const account = await accountOf(email);

      const browser = new TestBrowser();
      const { page, finish } = await authorize(app, browser);
      const uid = uidOf(page);
      const base = new URL(`/oidc/interaction/${uid}`, page.url).toString();
      const csrf = /name="_csrf" value="([^"]+)"/.exec(page.html)![1];
      const token = `_csrf=${encodeURIComponent(csrf)}`;
      const throttleKeys = [`email:${hashSecret(email)}`, `ip:${hashSecret(browser.ip)}`];
      const snapshot = async () => ({
        interaction: await interactionPayload(uid),
        events: await eventsOf(org.org.id),
        sessions: await sessionsOf(org.org.id, account.id),
        account: await testDb()('accounts').where({ id: account.id }).first(),
        throttle: await testDb()('sign_in_throttle').whereIn('key', throttleKeys).orderBy('key'),
      });

      // On the e-mail page.
      let before = await snapshot();
      const onEmail: [string, () => Promise<PageResult>][] = [
        ['email=a&email=b', () => browser.post(`${base}/email`, `${token}&email=${encodeURIComponent(email)}&email=other%40example.test`)],
        ['email[]=a (an array)', () => browser.post(`${base}/email`, `${token}&email[]=${encodeURIComponent(email)}`)],
        ['raw bytes that are not UTF-8', () => browser.post(`${base}/email`, Buffer.concat([Buffer.from(`${token}&email=`), Buffer.from([0xff, 0xfe, 0xc3, 0x28]), Buffer.from('%40example.test')]))],
        ['percent-encoded bytes that are not UTF-8', () => browser.post(`${base}/email`, `${token}&email=%FF%FE%C3%28%40example.test`)],
        ['a body declared ISO-8859-1 (the pages are UTF-8: no browser sends this)', () => browser.post(`${base}/email`, Buffer.from(`${token}&email=J\xf6rg%40example.test`, 'latin1'), 'application/x-www-form-urlencoded; charset=iso-8859-1')],
        ['a JSON body', () => browser.post(`${base}/email`, JSON.stringify({ _csrf: csrf, email }), 'application/json')],
      ];
      const problems: string[] = [];
      for (const [what, send] of onEmail) {
        const res = await send();
        try {
          assertCleanClientError(res, what);
          assert.equal(res.location, null, `${what}: redirected to ${res.location}`);
          assert.deepEqual(await snapshot(), before, `${what}: state changed`);
        } catch (err) {
          problems.push(`on the e-mail page, ${(err as Error).message.split('\n')[0]}`);
          before = await snapshot();
        }
      }
      let current = await browser.go(base);
      if (headingOf(current.html) !== 'Sign in') {
        problems.push(`on the e-mail page, the sign-in moved on to "${headingOf(current.html)}" (${/Signing in as <strong>([^<]*)</.exec(current.html)?.[1]})`);
        current = await browser.submit(current, '/restart');
      }

      // On the password page.
      const pw = await browser.submit(current, '/email', { email });
      assert.equal(headingOf(pw.html), 'Enter your password');
      before = await snapshot();
      const onPassword: [string, () => Promise<PageResult>][] = [
        ['a 20 kB password', () => browser.post(`${base}/password`, `${token}&password=${'x'.repeat(20_000)}`)],
        ['a 20 kB password of multi-byte characters', () => browser.post(`${base}/password`, `${token}&password=${encodeURIComponent('ü'.repeat(7_000))}`)],
        ['raw password bytes that are not UTF-8', () => browser.post(`${base}/password`, Buffer.concat([Buffer.from(`${token}&password=`), Buffer.from([0xff, 0xfe, 0xfd, 0x80])]))],
        ['too many fields', () => browser.post(`${base}/password`, `${token}&${Array.from({ length: 200 }, (_, i) => `f${i}=1`).join('&')}`)],
        ['email=a&email=b to the e-mail form', () => browser.post(`${base}/email`, `${token}&email=a%40example.test&email=b%40example.test`)],
        ['a GET of an unknown page of the interaction', () => browser.request(`${base}/nonexistent`)],
        ['a GET of a form action', () => browser.request(`${base}/password`)],
        ['a POST to an unknown page of the interaction', () => browser.post(`${base}/nonexistent`, `${token}&password=x`)],
        ['a GET of an unknown interaction', () => browser.request(new URL('/oidc/interaction/not-an-interaction-uid', page.url).toString())],
        ['a POST to an unknown interaction', () => browser.post(new URL('/oidc/interaction/not-an-interaction-uid/password', page.url).toString(), `${token}&password=x`)],
        ['a GET of a path with bad percent-encoding', () => browser.request(`${base}/%E0%A4%A`)],
      ];
      for (const [what, send] of onPassword) {
        const res = await send();
        try {
          assertCleanClientError(res, what);
          assert.equal(res.location, null, `${what}: redirected to ${res.location}`);
          assert.deepEqual(await snapshot(), before, `${what}: state changed`);
        } catch (err) {
          problems.push(`on the password page, ${(err as Error).message.split('\n')[0]}`);
          before = await snapshot();
        }
      }
      assert.deepEqual(problems, []);

      // The sign-in is where it was, and goes on.
      const same = await browser.go(base);
      assert.equal(normalised(same.html), normalised(pw.html));
      const done = await browser.submit(same, '/password', { password }, toApp(app));
      assert.ok(done.location?.startsWith(app.redirect), `${done.status} ${done.html.slice(0, 300)}`);
      assert.equal((await finish(done.location!)).claims()!.sub, account.id);
    });

    it('a long password that fits in the form (12 kB) is a wrong password like any other, not an error', async () => {
      const org = await newOrg();
      const app = await registerApp(srv, org);
      const email = `${unique('long')}@example.test`;
      await createUser(org.scim, email, { password: 'the right password 6' });
      const browser = new TestBrowser();
      const { page } = await passwordSignIn(app, browser, email, 'y'.repeat(12_000));
      assert.equal(page.status, 401, page.html.slice(0, 300));
      assert.equal(headingOf(page.html), 'Enter your password');
      assert.deepEqual((await eventsOf(org.org.id)).filter((e) => e.email === email).map((e) => e.reason), ['wrong_password']);
    });
  });

  describe('a password change', () => {
    it("the forced change of a temporary password revokes the person's other sessions, in other organisations too", async () => {
      const o = await newOrg();
      const q = await newOrg();
      const email = o.owner.email;
      await createUser(q.scim, email); // Q's IdP provisions the same person: a membership of the same account
      await markEmailVerified(testDb(), o.owner.accountId); // so that the person's own password opens Q's applications
      const appO = await registerApp(srv, o);
      const appQ = await registerApp(srv, q);
      const accountId = o.owner.accountId;

      // A first sign-in to O (changing the temporary password), then one to Q in another browser.
      const b1 = new TestBrowser();
      let s1 = await passwordSignIn(appO, b1, email, o.owner.temporaryPassword!);
      assert.equal(headingOf(s1.page.html), 'Choose a new password');
      const done1 = await b1.submit(s1.page, '/change-password', { password: 'first chosen passphrase' }, toApp(appO));
      assert.ok(done1.location?.startsWith(appO.redirect), done1.html.slice(0, 300));
      const tokensO = await s1.finish(done1.location!);
      const b2 = new TestBrowser();
      const s2 = await passwordSignIn(appQ, b2, email, 'first chosen passphrase');
      assert.ok(s2.page.location?.startsWith(appQ.redirect), `${s2.page.status} ${s2.page.html.slice(0, 300)}`);
      const tokensQ = await s2.finish(s2.page.location!);
      const [liveO] = await sessionsOf(o.org.id, accountId);
      const [liveQ] = await sessionsOf(q.org.id, accountId);
      assert.equal(liveO.revoked_at, null);
      assert.equal(liveQ.revoked_at, null);

      // O's admin gives a new temporary password (as a reset does); the person signs in and must change it.
      const temporary = 'temporary again 7f3k';
      await testDb()('accounts').where({ id: accountId }).update({
        password_hash: await createPasswordHasher().hash(temporary), must_change_password: true, temporary_password_expires_at: testDb().raw("now() + interval '1 day'"),
      });
      const b3 = new TestBrowser();
      s1 = await passwordSignIn(appO, b3, email, temporary);
      assert.equal(headingOf(s1.page.html), 'Choose a new password');
      const done3 = await b3.submit(s1.page, '/change-password', { password: 'second chosen passphrase' }, toApp(appO));
      assert.ok(done3.location?.startsWith(appO.redirect), done3.html.slice(0, 300));
      const tokens3 = await s1.finish(done3.location!);

      const afterO = await sessionsOf(o.org.id, accountId);
      const afterQ = await sessionsOf(q.org.id, accountId);
      assert.equal(afterO.length, 2);
      const oldO = afterO.find((s) => s.id === liveO.id)!;
      assert.ok(oldO.revoked_at, 'the earlier session in O is revoked');
      assert.equal(oldO.revoked_reason, 'password_changed');
      assert.ok(afterQ[0].revoked_at, 'the session in Q is revoked');
      assert.equal(afterQ[0].revoked_reason, 'password_changed');
      assert.equal(afterO.find((s) => s.id !== liveO.id)!.revoked_at, null, 'the new session is live');
      const revokedEvents = (await eventsOf(q.org.id)).filter((e) => e.account_id === accountId && e.type === 'session_revoked');
      assert.deepEqual(revokedEvents.map((e) => e.reason), ['password_changed']);

      // What the applications held under the old sessions stops working; the new one works.
      const invalidGrant = (err: unknown) => (err as { error?: string }).error === 'invalid_grant';
      await assert.rejects(client.refreshTokenGrant(appO.config, tokensO.refresh_token!), invalidGrant);
      await assert.rejects(client.refreshTokenGrant(appQ.config, tokensQ.refresh_token!), invalidGrant);
      assert.ok((await client.refreshTokenGrant(appO.config, tokens3.refresh_token!)).access_token);
      // And the browser that was signed in to Q must sign in again.
      const again = await authorize(appQ, b2);
      assert.equal(headingOf(again.page.html), 'Sign in');
      assert.equal(b2.locations().filter((l) => l.startsWith(appQ.redirect)).length, 1, 'no new code for Q without signing in');
    });
  });
});

describe('security: sign-in throttling', function () {
  this.timeout(60_000);

  describe('per e-mail', () => {
    let srv: Srv;
    before(async () => { srv = await startServer({ throttle: { perEmail: 3, perIp: 1000, windowSeconds: 8 } }); });
    after(async () => { await stopServer(srv); });

    /** Three wrong passwords, then a fourth attempt with `fourth`: the answer to the fourth. */
    async function failThreeTimes(app: App, browser: TestBrowser, email: string, fourth: string) {
      const { page, finish } = await authorize(app, browser);
      let p = await browser.submit(page, '/email', { email });
      for (let i = 1; i <= 3; i++) {
        p = await browser.submit(p, '/password', { password: `wrong password ${i}` });
        assert.equal(p.status, 401, `failure ${i}: ${p.status}`);
      }
      const throttled = await browser.submit(p, '/password', { password: fourth }, toApp(app));
      return { throttled, finish };
    }

    it('after 3 failures the 4th attempt, even with the right password, gets 429 and Retry-After; an unknown e-mail the same; after the window the right password works', async () => {
      const org = await newOrg();
      const app = await registerApp(srv, org);
      const email = `${unique('throttled')}@example.test`;
      const password = 'the right password 7';
      await createUser(org.scim, email, { password });
      const account = await accountOf(email);

      const browser = new TestBrowser();
      const { throttled, finish } = await failThreeTimes(app, browser, email, password);
      assert.equal(throttled.status, 429, throttled.html.slice(0, 300));
      const retryAfter = throttled.headers.get('retry-after');
      assert.match(String(retryAfter), /^[1-9]\d*$/, `Retry-After: ${retryAfter}`);
      assert.match(throttled.html, /Too many attempts/);
      assert.equal(codeReached(app, browser), false);
      assert.deepEqual(await sessionsOf(org.org.id, account.id), []);

      const nobody = `${unique('nobody')}@example.test`;
      const other = new TestBrowser();
      const unknown = (await failThreeTimes(app, other, nobody, 'any password at all')).throttled;
      assert.equal(unknown.status, 429);
      assert.match(String(unknown.headers.get('retry-after')), /^[1-9]\d*$/);
      assert.equal(normalised(unknown.html, [nobody]), normalised(throttled.html, [email]), 'the page does not tell whether the e-mail has an account');

      const events = await eventsOf(org.org.id);
      const reasons = (e: string) => events.filter((x) => x.email === e).map((x) => x.reason);
      assert.deepEqual(reasons(email), ['wrong_password', 'wrong_password', 'wrong_password', 'throttled']);
      assert.deepEqual(reasons(nobody), ['unknown_account', 'unknown_account', 'unknown_account', 'throttled']);

      // Never locked for good: once the window has passed, the right password works.
      let p = throttled;
      for (let tries = 0; p.status === 429 && tries < 600; tries++) {
        await new Promise((resolve) => setTimeout(resolve, 250));
        p = await browser.submit(p, '/password', { password }, toApp(app));
      }
      assert.ok(p.location?.startsWith(app.redirect), `${p.status} ${p.html.slice(0, 300)}`);
      assert.equal((await finish(p.location!)).claims()!.sub, account.id);
    });
  });

  describe('per IP', () => {
    let srv: Srv;
    before(async () => { srv = await startServer({ throttle: { perEmail: 1000, perIp: 2, windowSeconds: 60 } }); });
    after(async () => { await stopServer(srv); });

    it('failures on different e-mails from one address count together: that address is refused, another is not', async () => {
      const org = await newOrg();
      const app = await registerApp(srv, org);
      const email = `${unique('victim')}@example.test`;
      const password = 'the right password 8';
      await createUser(org.scim, email, { password });
      const ip = randomIp();

      for (const e of [`${unique('guess')}@example.test`, `${unique('guess')}@example.test`]) {
        const { page } = await passwordSignIn(app, new TestBrowser({ ip }), e, 'a guessed password');
        assert.equal(page.status, 401);
      }
      const attacker = new TestBrowser({ ip });
      const { page } = await passwordSignIn(app, attacker, email, password);
      assert.equal(page.status, 429, page.html.slice(0, 300));
      assert.match(String(page.headers.get('retry-after')), /^[1-9]\d*$/);
      assert.match(page.html, /Too many attempts/);
      assert.equal(codeReached(app, attacker), false);
      assert.deepEqual((await eventsOf(org.org.id)).filter((e) => e.email === email).map((e) => e.reason), ['throttled']);

      const person = new TestBrowser();
      const ok = await passwordSignIn(app, person, email, password);
      assert.ok(ok.page.location?.startsWith(app.redirect), `${ok.page.status} ${ok.page.html.slice(0, 300)}`);
    });
  });
});
