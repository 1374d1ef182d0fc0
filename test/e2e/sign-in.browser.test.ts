// The sign-in pages in a real browser: headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core)
// signs a new owner in to a small relying party, end to end: e-mail, the temporary password, the forced
// change of password, TOTP enrolment (the organisation requires MFA), the recovery codes, and back to the
// application, whose /callback exchanges the code (openid-client, PKCE) and shows the ID token's e-mail.
//
// Every page is checked as a person meets it: axe-core finds no serious or critical violation (light and
// dark colour schemes), the first field has the focus on load, every field has a label, and nothing scrolls
// sideways at a phone's width (and on a real phone-sized, mobile-emulated page for the password step).
//
// A second walk signs a person in through the organisation's identity provider (upstream SSO): a second
// oidc-provider (test/sso/upstream-idp.ts, which signs in by login_hint, without a page of its own) answers at
// {ISSUER}/sso/callback, and the organisation's MFA by e-mail code is asked on the way back (the code read from
// the outbox).
//
// The pages' Content-Security-Policy allows no script: the browser context bypasses it so axe can be injected.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import * as client from 'openid-client';
import { generate } from 'otplib';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { createClient } from '../../src/directory/clients.ts';
import { createOrganization } from '../../src/directory/organizations.ts';
import { getOutboxMessage, listOutbox } from '../../src/directory/outbox.ts';
import { createSealer } from '../../src/directory/sealing.ts';
import { ensureSigningKey } from '../../src/directory/signing-keys.ts';
import { setSsoConnection } from '../../src/directory/sso.ts';
import { createApp } from '../../src/http/app.ts';
import { createOidcService, type OidcService } from '../../src/oidc/provider.ts';
import { clearDiscoveryCache } from '../../src/oidc/upstream.ts';
import { TEST_SECRET as SECRET, unique } from '../helpers.ts';
import { testDb } from '../setup.ts';
import { startUpstreamIdp, type UpstreamIdp } from '../sso/upstream-idp.ts';

// These run inside the page (the project's tsconfig has no DOM library).
declare const document: any;
declare const window: any;
declare const axe: any;

const CHROMIUM = '/usr/bin/chromium';
const AXE = fileURLToPath(new URL('../../node_modules/axe-core/axe.min.js', import.meta.url));
const actor = { type: 'system', id: 'test' } as const;
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 900 };
const WAIT = 60_000; // for each page to arrive; a slow, busy machine is fine, a stuck flow still fails

const listen = async (server: Server) => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
};
const closeServer = (server: Server | undefined) => new Promise<void>((resolve) => {
  if (!server?.listening) return resolve();
  server.closeAllConnections();
  server.close(() => resolve());
});
const escape = (s: unknown) => String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** A relying party: /callback exchanges the code (PKCE, state) and shows the ID token's e-mail. */
class RelyingParty {
  readonly server = createServer((req, res) => { void this.handle(req, res); });
  base = '';
  config?: client.Configuration;
  pending?: { verifier: string; state: string };
  claims?: client.IDToken;
  error?: unknown;

  async start() { this.base = await listen(this.server); }
  get redirectUri() { return `${this.base}/callback`; }

  async authorizationUrl(): Promise<string> {
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    this.pending = { verifier, state };
    return client.buildAuthorizationUrl(this.config!, {
      redirect_uri: this.redirectUri, scope: 'openid email profile', state,
      code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    }).toString();
  }

  private async handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', this.base);
    const send = (status: number, body: string) => res.writeHead(status, { 'content-type': 'text/html; charset=utf-8' })
      .end(`<!doctype html><html lang="en"><head><title>Relying party</title></head><body><main>${body}</main></body></html>`);
    if (url.pathname !== '/callback') return send(404, '<h1>Not found</h1>');
    try {
      if (!this.pending) throw new Error('no sign-in was started');
      const tokens = await client.authorizationCodeGrant(this.config!, url, { pkceCodeVerifier: this.pending.verifier, expectedState: this.pending.state });
      this.pending = undefined;
      this.claims = tokens.claims();
      send(200, `<h1>Signed in</h1><p>Signed in as <span id="email">${escape(this.claims?.email)}</span></p>`);
    } catch (err) {
      this.error = err;
      send(500, `<h1>Sign-in failed</h1><pre id="error">${escape(err instanceof Error ? `${err.name}: ${err.message}` : err)}</pre>`);
    }
  }
}

type AxeViolation = { id: string; impact: string | null; help: string; helpUrl: string; nodes: { target: unknown[]; failureSummary?: string }[] };

describe('Sign-in in a real browser (headless Chromium): accessible pages, MFA enrolment, back to the application', function () {
  this.timeout(120_000);
  let server: Server | undefined;
  let issuer: string;
  let oidc: OidcService | undefined;
  let browser: Browser | undefined;
  let context: BrowserContext | undefined;
  let idp: UpstreamIdp | undefined;
  /** Browser contexts a test opened for itself, closed at the end whatever happened. */
  const ownContexts: BrowserContext[] = [];
  const sealer = createSealer(SECRET);
  const rp = new RelyingParty();
  // What the page checks found, all reported together at the end (the flow itself is asserted as it goes).
  const problems: string[] = [];

  before(async function () {
    // Fail, never skip: these checks are part of the suite.
    if (!existsSync(CHROMIUM)) throw new Error(`Chromium is not installed at ${CHROMIUM}: the browser sign-in test needs it (on Debian: apt-get install -y chromium)`);
    await ensureSigningKey(testDb(), sealer);
    server = createServer();
    issuer = await listen(server);
    oidc = await createOidcService({ db: testDb(), issuer, sealer, secret: SECRET, trustProxy: false, logger: pino({ level: 'silent' }) });
    server.on('request', createApp({ db: testDb(), logger: pino({ level: 'silent' }), issuer, oidc: oidc.handler }));
    await rp.start();
    // The organisation's identity provider, with Roster's redirect URI registered as an admin would: {ISSUER}/sso/callback.
    idp = await startUpstreamIdp({ redirectUri: `${issuer}/sso/callback`, hostname: 'localhost' });
    try {
      browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'], timeout: WAIT });
    } catch (err) {
      throw new Error(`could not start Chromium (${CHROMIUM}): ${err instanceof Error ? err.message : err}`);
    }
    context = await browser.newContext({ bypassCSP: true, viewport: DESKTOP, locale: 'en-GB' });
    context.setDefaultTimeout(WAIT);
    context.setDefaultNavigationTimeout(WAIT);
  });

  after(async () => {
    for (const c of ownContexts) await c.close().catch(() => {});
    await context?.close().catch(() => {});
    await browser?.close().catch(() => {});
    await closeServer(rp.server);
    await idp?.stop();
    clearDiscoveryCache();
    await oidc?.stop();
    await closeServer(server);
  });

  /** The page's h1, with what the page says when it is not the one expected. */
  async function assertHeading(page: Page, title: string) {
    const heading = (await page.locator('h1').first().textContent({ timeout: WAIT }))?.trim();
    if (heading !== title) {
      const text = (await page.locator('body').innerText().catch(() => '')).slice(0, 600);
      assert.fail(`expected the page "${title}", got "${heading}" at ${page.url()}:\n${text}`);
    }
  }

  /** Clicks a submit button and waits for the next document (the same URL after a 303, often) to load. */
  async function submit(page: Page, button: string) {
    await page.evaluate(() => { window.__previousDocument = true; });
    await page.getByRole('button', { name: button, exact: true }).click();
    await page.waitForFunction(() => !window.__previousDocument && document.readyState === 'complete', undefined, { timeout: WAIT, polling: 100 });
  }

  /** axe-core on the page as it is, in light and dark colour schemes: nothing serious or critical. */
  async function assertAccessible(page: Page, label: string) {
    if (!(await page.evaluate(() => typeof axe !== 'undefined'))) {
      await page.addScriptTag({ path: AXE });
      // The pages leave the canvas to the browser (color-scheme: light dark): white, or dark in the dark scheme.
      // axe takes an unset background for white, so it is made explicit, as the browser paints it (Canvas).
      await page.addStyleTag({ content: 'html { background-color: Canvas; }' });
    }
    for (const colorScheme of ['light', 'dark'] as const) {
      await page.emulateMedia({ colorScheme });
      const violations: AxeViolation[] = await page.evaluate(async () => (await axe.run(document, { resultTypes: ['violations'] })).violations);
      for (const v of violations.filter((x) => x.impact === 'serious' || x.impact === 'critical')) {
        problems.push(`${label} (${colorScheme} colour scheme): axe ${v.id} (${v.impact}): ${v.help} ${v.helpUrl}\n${v.nodes.map((n) =>
          `      ${JSON.stringify(n.target)}: ${(n.failureSummary ?? '').replace(/\s*\n\s*/g, ' ')}`).join('\n')}`);
      }
    }
    await page.emulateMedia({ colorScheme: null });
  }

  /** The first visible field has the focus once the page has loaded (autofocus). */
  async function assertFirstFieldFocused(page: Page, label: string, id: string) {
    const first = await page.evaluate(() => document.querySelector('input:not([type=hidden]), select, textarea')?.id ?? null);
    if (first !== id) return void problems.push(`${label}: the first field is #${first}, not #${id}`);
    const focused = await page.waitForFunction((want) => document.activeElement?.id === want, id, { timeout: 10_000, polling: 100 })
      .then(() => true, () => false);
    if (!focused) {
      const active = await page.evaluate(() => { const a = document.activeElement; return a ? `${a.tagName.toLowerCase()}${a.id ? `#${a.id}` : ''}` : 'nothing'; });
      problems.push(`${label}: the first field #${id} should have the focus on load (autofocus), but ${active} has it`);
    }
  }

  /** Every field a person fills has a label with text (a <label for>, or aria-label/aria-labelledby). */
  async function assertLabelled(page: Page, label: string) {
    const unlabelled: string[] = await page.evaluate(() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
      .filter((el: any) => !([...(el.labels ?? [])].some((l: any) => l.textContent.trim()) || el.getAttribute('aria-label')?.trim()
        || (el.getAttribute('aria-labelledby') ?? '').split(/\s+/).some((ref: string) => document.getElementById(ref)?.textContent.trim())))
      .map((el: any) => el.outerHTML));
    if (unlabelled.length) problems.push(`${label}: fields without a label: ${unlabelled.join(' ')}`);
  }

  /** Nothing wider than the window: no horizontal scrolling. */
  async function assertNoHorizontalScroll(page: Page, label: string) {
    const m: { scrollWidth: number; innerWidth: number; wide: string[] } = await page.evaluate(() => new Promise((resolve) => window.requestAnimationFrame(() => {
      const root = document.documentElement;
      // The culprits: boxes past the window's right edge, and boxes whose own content (text) spills out of them.
      const spills = (el: any) => el.scrollWidth > el.clientWidth + 1 && ![...el.children].some((c: any) => c.scrollWidth > c.clientWidth + 1);
      const wide = [...document.body.querySelectorAll('*')].filter((el: any) => el.getBoundingClientRect().right > root.clientWidth + 1 || spills(el))
        .map((el: any) => `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''}${el.className && typeof el.className === 'string' ? `.${el.className}` : ''}`);
      resolve({ scrollWidth: root.scrollWidth, innerWidth: window.innerWidth, wide });
    })));
    if (m.scrollWidth > m.innerWidth) problems.push(`${label}: the page scrolls sideways (${m.scrollWidth}px of content in a ${m.innerWidth}px window); too wide: ${m.wide.join(', ')}`);
  }

  /** At a phone's width (390x844), the same page has no horizontal scroll; then back to the desktop size. */
  async function assertFitsPhoneWidth(page: Page, label: string) {
    await page.setViewportSize(PHONE);
    await assertNoHorizontalScroll(page, `${label} at ${PHONE.width}x${PHONE.height}`);
    await page.setViewportSize(DESKTOP);
  }

  /** One step's page: its heading, fields, focus, accessibility and narrow layout. */
  async function checkPage(page: Page, title: string, firstField: string | null) {
    await assertHeading(page, title);
    if (firstField) await assertFirstFieldFocused(page, `"${title}"`, firstField);
    await assertLabelled(page, `"${title}"`);
    await assertAccessible(page, `"${title}"`);
    await assertFitsPhoneWidth(page, `"${title}"`);
  }

  it('a new owner signs in to the application: temporary password, new password, authenticator app, recovery codes', async () => {
    const name = unique('browser-');
    const created = await createOrganization(testDb(), { name, ownerEmail: `owner@${name}.test` });
    await testDb()('organizations').where({ id: created.org.id }).update({ require_mfa: true, mfa_methods: testDb().raw("'{totp}'::text[]") });
    const { clientId, clientSecret } = await createClient(testDb(), { orgId: created.org.id, actor, redirectUris: [rp.redirectUri], public: false });
    rp.config = await client.discovery(new URL(issuer), clientId, undefined, client.ClientSecretBasic(clientSecret!), { execute: [client.allowInsecureRequests] });

    const page = await context!.newPage();
    await page.goto(await rp.authorizationUrl(), { waitUntil: 'load' });

    // E-mail.
    await checkPage(page, 'Sign in', 'email');
    assert.match(await page.locator('.org').innerText(), new RegExp(created.org.name), "the organisation's name is on the page");
    await page.locator('#email').fill(created.owner.email);
    await submit(page, 'Continue');

    // The temporary password; the same page on a phone (mobile emulation: the viewport meta tag is honoured).
    await checkPage(page, 'Enter your password', 'password');
    const phone = await browser!.newContext({ bypassCSP: true, viewport: PHONE, isMobile: true, hasTouch: true, deviceScaleFactor: 3, locale: 'en-GB' });
    try {
      phone.setDefaultTimeout(WAIT);
      await phone.addCookies(await context!.cookies());
      const onPhone = await phone.newPage();
      await onPhone.goto(page.url(), { waitUntil: 'load', timeout: WAIT });
      await assertHeading(onPhone, 'Enter your password');
      const width = await onPhone.evaluate(() => window.innerWidth);
      if (width !== PHONE.width) problems.push(`"Enter your password" on a phone: laid out ${width}px wide, not at the device width ${PHONE.width}px (a missing viewport meta tag, or content wider than the screen)`);
      await assertNoHorizontalScroll(onPhone, `"Enter your password" on a ${PHONE.width}x${PHONE.height} phone`);
      await assertAccessible(onPhone, '"Enter your password" on a phone');
    } finally {
      await phone.close();
    }
    await page.locator('#password').fill(created.owner.temporaryPassword!);
    await submit(page, 'Sign in');

    // The temporary password must be replaced.
    await checkPage(page, 'Choose a new password', 'password');
    await page.locator('#password').fill('a long enough passphrase for chromium');
    await submit(page, 'Save password and continue');

    // The organisation requires MFA: enrol an authenticator app with the key shown under the QR code.
    await checkPage(page, 'Set up an authenticator app', 'code');
    const secret = (await page.locator('#totp-secret').innerText()).replace(/\s+/g, '');
    assert.match(secret, /^[A-Z2-7]{16,}$/, 'a base32 key');
    await page.locator('#code').fill(await generate({ secret }));
    await submit(page, 'Confirm');

    // Recovery codes, shown once.
    await checkPage(page, 'Save your recovery codes', null);
    const codes = await page.locator('#recovery-codes li').allInnerTexts();
    assert.equal(codes.length, 10, `10 recovery codes: ${codes.join(', ')}`);
    assert.equal(new Set(codes).size, 10, 'all different');

    // Back to the application, which exchanges the code and shows who signed in.
    await page.getByRole('button', { name: 'I have saved them: continue', exact: true }).click();
    await page.waitForURL((u) => u.href.startsWith(rp.redirectUri), { timeout: WAIT, waitUntil: 'load' });
    await page.locator('#email, #error').first().waitFor({ timeout: WAIT });
    assert.equal(rp.error, undefined, `the relying party's code exchange failed: ${await page.locator('body').innerText()}`);
    assert.equal(await page.locator('#email').innerText(), created.owner.email);
    assert.equal(rp.claims?.email, created.owner.email);
    assert.deepEqual(rp.claims?.amr, ['pwd', 'otp', 'mfa']);
    assert.equal(rp.claims?.org_id, created.org.id);
    await page.close();

    if (problems.length) assert.fail(`the sign-in pages have ${problems.length} accessibility or layout problem(s):\n- ${problems.join('\n- ')}`);
  });

  it('a member signs in through the organisation\'s identity provider (upstream SSO), then gives the e-mail code the organisation requires', async () => {
    const from = problems.length;
    const name = unique('browser-sso-');
    const created = await createOrganization(testDb(), { name, ownerEmail: `owner@${name}.test` });
    const orgId = created.org.id;
    const domain = `sso-${name}.test`;
    await setSsoConnection(testDb(), sealer, { orgId, actor, issuer: idp!.issuer, clientId: idp!.clientId, clientSecret: idp!.clientSecret, domains: [domain] });
    // The identity provider reports no MFA: the organisation's own rule (an e-mail code) applies.
    await testDb()('organizations').where({ id: orgId }).update({ require_mfa: true, mfa_methods: testDb().raw("'{email}'::text[]") });
    const email = `grace@${domain}`;
    const person = idp!.addAccount({ email, emailVerified: true, givenName: 'Grace', familyName: 'Hopper', amr: ['pwd'] });
    const { clientId, clientSecret } = await createClient(testDb(), { orgId, actor, redirectUris: [rp.redirectUri], public: false });
    rp.config = await client.discovery(new URL(issuer), clientId, undefined, client.ClientSecretBasic(clientSecret!), { execute: [client.allowInsecureRequests] });

    // A browser of its own: nobody signed in to Roster in it yet.
    const own = await browser!.newContext({ bypassCSP: true, viewport: DESKTOP, locale: 'en-GB' });
    ownContexts.push(own);
    own.setDefaultTimeout(WAIT);
    own.setDefaultNavigationTimeout(WAIT);
    const page = await own.newPage();
    const visited: string[] = [];
    page.on('request', (request) => { if (request.isNavigationRequest() && request.frame() === page.mainFrame()) visited.push(request.url()); });
    await page.goto(await rp.authorizationUrl(), { waitUntil: 'load' });

    // E-mail: its domain is claimed by the organisation's connection, so Continue goes to the identity provider.
    await checkPage(page, 'Sign in', 'email');
    await page.locator('#email').fill(email);
    await submit(page, 'Continue');

    // Back from the identity provider (through {ISSUER}/sso/callback): the organisation requires a second factor.
    await checkPage(page, 'Two-step verification', null);
    assert.ok(page.url().startsWith(`${issuer}/oidc/interaction/`), page.url());
    assert.ok(visited.some((u) => u.startsWith(`${idp!.issuer}/auth?`)), `the browser went to the identity provider: ${visited.join(' ')}`);
    assert.ok(visited.some((u) => u.startsWith(`${issuer}/sso/callback?`)), `and came back through {ISSUER}/sso/callback: ${visited.join(' ')}`);
    await submit(page, `E-mail a code to ${email}`);
    await checkPage(page, 'Two-step verification', 'email_code');
    const [queued] = await listOutbox(testDb(), { limit: 5, orgId });
    assert.equal(queued?.to, email, 'the code was queued for the person');
    const code = /\b(\d{6})\b/.exec((await getOutboxMessage(testDb(), queued.id)).text)?.[1];
    assert.ok(code, 'a 6-digit code in the message');
    await page.locator('#email_code').fill(code);
    await page.getByRole('button', { name: 'Verify', exact: true }).click();

    // Back to the application.
    await page.waitForURL((u) => u.href.startsWith(rp.redirectUri), { timeout: WAIT, waitUntil: 'load' });
    await page.locator('#email, #error').first().waitFor({ timeout: WAIT });
    assert.equal(rp.error, undefined, `the relying party's code exchange failed: ${await page.locator('body').innerText()}`);
    assert.equal(await page.locator('#email').innerText(), email);
    assert.equal(rp.claims?.email, email);
    assert.equal(rp.claims?.org_id, orgId);
    assert.deepEqual(rp.claims?.amr, ['pwd', 'otp', 'mfa'], 'the identity provider\'s password, then the e-mail code');
    await own.close();
    ownContexts.splice(ownContexts.indexOf(own), 1);

    // Provisioned just in time, the upstream identity linked, every step an event.
    const account = await testDb()('accounts').whereRaw('lower(email) = lower(?)', [email]).first();
    assert.equal(rp.claims?.sub, account.id);
    assert.deepEqual(await testDb()('identities').where({ account_id: account.id }).select('provider', 'subject'), [{ provider: idp!.issuer, subject: person.sub }]);
    const types = (await testDb()('auth_events').where({ org_id: orgId }).orderBy('id').select('type', 'outcome')).map((e) => `${e.type}:${e.outcome}`);
    assert.deepEqual(types, ['sso_redirect:success', 'jit_provisioned:success', 'identity_linked:success', 'sso_sign_in:success', 'mfa_verification:success', 'sign_in:success']);

    const found = problems.slice(from);
    if (found.length) assert.fail(`the SSO sign-in pages have ${found.length} accessibility or layout problem(s):\n- ${found.join('\n- ')}`);
  });
});
