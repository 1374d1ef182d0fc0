// What the real-browser suites (test/e2e/*.browser.test.ts) share: headless Chromium (Debian's /usr/bin/chromium,
// driven by playwright-core) and its contexts, a page's checks as a person meets it (axe-core in light and dark
// colour schemes, focus on load, labels, no sideways scrolling at a phone's width), Roster's form pages, a small
// relying party that signs people in through Roster, servers of our own, and mail read from the outbox.
//
// The pages' Content-Security-Policy allows no script (the console's, only its own): the browser contexts made
// here bypass it so axe can be injected.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import * as client from 'openid-client';
import { chromium, type Browser, type BrowserContext, type BrowserContextOptions, type Page } from 'playwright-core';
import { createClient } from '../../src/directory/clients.ts';
import { getOutboxMessage, listOutbox } from '../../src/directory/outbox.ts';
import { testDb } from '../setup.ts';

// These run inside the page (the project's tsconfig has no DOM library).
declare const document: any;
declare const window: any;
declare const axe: any;

/** Debian's Chromium (apt-get install -y chromium). */
export const CHROMIUM = '/usr/bin/chromium';
/** axe-core's browser build, injected into the pages. */
export const AXE = fileURLToPath(new URL('../../node_modules/axe-core/axe.min.js', import.meta.url));
/** A phone's screen (the width the pages must fit without scrolling sideways). */
export const PHONE = { width: 390, height: 844 };
/** The desktop window every browser context starts with. */
export const DESKTOP = { width: 1280, height: 900 };
/** For each page (or change on a page) to arrive: a slow, busy machine is fine, a stuck flow still fails. */
export const WAIT = 60_000;
/** Who the tests' own directory changes are made by. */
export const actor = { type: 'system', id: 'test' } as const;

// ---------------------------------------------------------------------------------------------------------
// Servers of our own.

/** Starts `server` on a free port of 127.0.0.1; its base URL. */
export async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Closes `server` (its open connections too), if it is listening. */
export function closeServer(server: Server | undefined): Promise<void> {
  return new Promise<void>((resolve) => {
    if (!server?.listening) return resolve();
    server.closeAllConnections();
    server.close(() => resolve());
  });
}

const escapeHtml = (s: unknown) => String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * A relying party: an OIDC client of an organisation whose /callback exchanges the code (openid-client, PKCE,
 * state) and shows the ID token's e-mail (#email), or what went wrong (#error).
 */
export class RelyingParty {
  readonly server = createServer((req, res) => { void this.handle(req, res); });
  base = '';
  config?: client.Configuration;
  pending?: { verifier: string; state: string };
  claims?: client.IDToken;
  error?: unknown;

  async start() { this.base = await listen(this.server); }
  /** Forgets the last sign-in's outcome. */
  reset() { this.claims = undefined; this.error = undefined; this.pending = undefined; }
  get redirectUri() { return `${this.base}/callback`; }

  /** Registers this party as a confidential client of the organisation `orgId`, and discovers `issuer` for it. */
  async register(issuer: string, orgId: string) {
    const { clientId, clientSecret } = await createClient(testDb(), { orgId, actor, redirectUris: [this.redirectUri], public: false });
    this.config = await client.discovery(new URL(issuer), clientId, undefined, client.ClientSecretBasic(clientSecret!), { execute: [client.allowInsecureRequests] });
  }

  /** Where a sign-in starts: the issuer's authorisation endpoint (PKCE, a fresh state). */
  async authorizationUrl(): Promise<string> {
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    this.pending = { verifier, state };
    return client.buildAuthorizationUrl(this.config!, {
      redirect_uri: this.redirectUri, scope: 'openid email profile', state,
      code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    }).toString();
  }

  /**
   * The browser comes back to /callback, the code exchange succeeds, and the page and the ID token name `email`;
   * the ID token's claims.
   */
  async assertSignedIn(page: Page, email: string): Promise<client.IDToken | undefined> {
    await page.waitForURL((u) => u.href.startsWith(this.redirectUri), { timeout: WAIT, waitUntil: 'load' });
    await page.locator('#email, #error').first().waitFor({ timeout: WAIT });
    assert.equal(this.error, undefined, `the relying party's code exchange failed: ${await bodyText(page)}`);
    assert.equal(await page.locator('#email').innerText(), email);
    assert.equal(this.claims?.email, email);
    return this.claims;
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
      send(200, `<h1>Signed in</h1><p>Signed in as <span id="email">${escapeHtml(this.claims?.email)}</span></p>`);
    } catch (err) {
      this.error = err;
      send(500, `<h1>Sign-in failed</h1><pre id="error">${escapeHtml(err instanceof Error ? `${err.name}: ${err.message}` : err)}</pre>`);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// The browser.

/**
 * Headless Chromium and the browser contexts opened in it, all closed by `close` whatever happened. Each context
 * is fresh (no cookies, nobody signed in): desktop size, British English, the pages' CSP bypassed (for axe),
 * every wait and navigation up to WAIT.
 */
export class TestBrowser {
  browser?: Browser;
  readonly contexts: BrowserContext[] = [];

  /**
   * Starts Chromium, or fails saying what is missing: these checks are part of the suite, never skipped. `suite`
   * names the suite in the message ("sign-in": "the browser sign-in test needs it").
   */
  async launch(suite: string) {
    if (!existsSync(CHROMIUM)) throw new Error(`Chromium is not installed at ${CHROMIUM}: the browser ${suite} test needs it (on Debian: apt-get install -y chromium)`);
    try {
      this.browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'], timeout: WAIT });
    } catch (err) {
      throw new Error(`could not start Chromium (${CHROMIUM}): ${err instanceof Error ? err.message : err}`);
    }
  }

  /** A fresh context; `options` add to or override the defaults (a phone's viewport, say). */
  async newContext(options: BrowserContextOptions = {}): Promise<BrowserContext> {
    if (!this.browser) throw new Error('Chromium was not started (TestBrowser.launch)');
    const context = await this.browser.newContext({ bypassCSP: true, viewport: DESKTOP, locale: 'en-GB', ...options });
    this.contexts.push(context);
    context.setDefaultTimeout(WAIT);
    context.setDefaultNavigationTimeout(WAIT);
    return context;
  }

  /** A page in a fresh context. */
  async newPage(options: BrowserContextOptions = {}): Promise<Page> {
    return (await this.newContext(options)).newPage();
  }

  /** Closes every context, then the browser (for `after` hooks: it never throws). */
  async close() {
    for (const c of this.contexts) await c.close().catch(() => {});
    await this.browser?.close().catch(() => {});
  }
}

// ---------------------------------------------------------------------------------------------------------
// Roster's form pages (sign-in, invitation, account).

/** The page's text ('' when it cannot be read, e.g. between two documents). */
export const bodyText = (page: Page) => page.locator('body').innerText().catch(() => '');

/** The page's h1 is `title`; fails with what the page says when it is not. */
export async function assertHeading(page: Page, title: string) {
  const heading = (await page.locator('h1').first().textContent({ timeout: WAIT }))?.trim();
  if (heading !== title) assert.fail(`expected the page "${title}", got "${heading}" at ${page.url()}:\n${(await bodyText(page)).slice(0, 600)}`);
}

/**
 * Clicks the submit button named `button` and waits for the next document (the same URL after a 303, often) to
 * load; the HTTP status of that document (the last answer of the navigation, past any redirect).
 */
export async function submit(page: Page, button: string): Promise<number> {
  await page.evaluate(() => { window.__previousDocument = true; });
  const answered = page.waitForResponse((r) => r.request().isNavigationRequest() && r.frame() === page.mainFrame() && !(r.status() >= 300 && r.status() < 400), { timeout: WAIT });
  await page.getByRole('button', { name: button, exact: true }).click();
  const response = await answered;
  await page.waitForFunction(() => !window.__previousDocument && document.readyState === 'complete', undefined, { timeout: WAIT, polling: 100 });
  return response.status();
}

/** The message queued in the outbox for `to` (exactly one, of the organisation's last 50), with its bodies. */
export async function mailTo(orgId: string, to: string) {
  const queued = (await listOutbox(testDb(), { limit: 50, orgId })).filter((m) => m.to.toLowerCase() === to.toLowerCase());
  assert.equal(queued.length, 1, `one message to ${to}: ${JSON.stringify(queued)}`);
  return getOutboxMessage(testDb(), queued[0].id);
}

// ---------------------------------------------------------------------------------------------------------
// A page as a person meets it.

type AxeViolation = { id: string; impact: string | null; help: string; helpUrl: string; nodes: { target: unknown[]; failureSummary?: string }[] };

/** axe-core's serious and critical findings on the page as it is, in the light and the dark colour scheme. */
export async function axeFindings(page: Page, label: string): Promise<string[]> {
  const found: string[] = [];
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
      found.push(`${label} (${colorScheme} colour scheme): axe ${v.id} (${v.impact}): ${v.help} ${v.helpUrl}\n${v.nodes.map((n) =>
        `      ${JSON.stringify(n.target)}: ${(n.failureSummary ?? '').replace(/\s*\n\s*/g, ' ')}`).join('\n')}`);
    }
  }
  await page.emulateMedia({ colorScheme: null });
  return found;
}

/**
 * The page checks that do not stop a flow: what they find is collected in `problems` (each prefixed by the
 * label of the page) and reported together by `assertNone`, so that one run lists every problem.
 */
export class PageChecks {
  readonly problems: string[] = [];

  /** Forgets what was found so far (at the start of a test). */
  clear() { this.problems.length = 0; }

  /** Fails when anything was found: "`what` N accessibility or layout problem(s)", each on a line. */
  assertNone(what: string) {
    if (this.problems.length) assert.fail(`${what} ${this.problems.length} accessibility or layout problem(s):\n- ${this.problems.join('\n- ')}`);
  }

  /** axe-core finds nothing serious or critical, in light and dark colour schemes. */
  async accessible(page: Page, label: string) {
    this.problems.push(...await axeFindings(page, label));
  }

  /** `id` has the focus once the page has loaded (autofocus); `subject` is how the problem names it. */
  async focused(page: Page, label: string, id: string, subject = `#${id}`) {
    const focused = await page.waitForFunction((want) => document.activeElement?.id === want, id, { timeout: 10_000, polling: 100 })
      .then(() => true, () => false);
    if (!focused) {
      const active = await page.evaluate(() => { const a = document.activeElement; return a ? `${a.tagName.toLowerCase()}${a.id ? `#${a.id}` : ''}` : 'nothing'; });
      this.problems.push(`${label}: ${subject} should have the focus on load (autofocus), but ${active} has it`);
    }
  }

  /** The first visible field is `id`, and it has the focus once the page has loaded (autofocus). */
  async firstFieldFocused(page: Page, label: string, id: string) {
    const first = await page.evaluate(() => document.querySelector('input:not([type=hidden]), select, textarea')?.id ?? null);
    if (first !== id) return void this.problems.push(`${label}: the first field is #${first}, not #${id}`);
    await this.focused(page, label, id, `the first field #${id}`);
  }

  /** Every field a person fills has a label with text (a <label for>, or aria-label/aria-labelledby). */
  async labelled(page: Page, label: string) {
    const unlabelled: string[] = await page.evaluate(() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
      .filter((el: any) => !([...(el.labels ?? [])].some((l: any) => l.textContent.trim()) || el.getAttribute('aria-label')?.trim()
        || (el.getAttribute('aria-labelledby') ?? '').split(/\s+/).some((ref: string) => document.getElementById(ref)?.textContent.trim())))
      .map((el: any) => el.outerHTML));
    if (unlabelled.length) this.problems.push(`${label}: fields without a label: ${unlabelled.join(' ')}`);
  }

  /** Nothing wider than the window: no horizontal scrolling (the culprits named). */
  async noHorizontalScroll(page: Page, label: string) {
    const m: { scrollWidth: number; innerWidth: number; wide: string[] } = await page.evaluate(() => new Promise((resolve) => window.requestAnimationFrame(() => {
      const root = document.documentElement;
      // The culprits: boxes past the window's right edge, and boxes whose own content (text) spills out of them.
      const spills = (el: any) => el.scrollWidth > el.clientWidth + 1 && ![...el.children].some((c: any) => c.scrollWidth > c.clientWidth + 1);
      const wide = [...document.body.querySelectorAll('*')].filter((el: any) => el.getBoundingClientRect().right > root.clientWidth + 1 || spills(el))
        .map((el: any) => `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''}${el.className && typeof el.className === 'string' ? `.${el.className}` : ''}`);
      resolve({ scrollWidth: root.scrollWidth, innerWidth: window.innerWidth, wide });
    })));
    if (m.scrollWidth > m.innerWidth) this.problems.push(`${label}: the page scrolls sideways (${m.scrollWidth}px of content in a ${m.innerWidth}px window); too wide: ${m.wide.join(', ')}`);
  }

  /** At a phone's width (390x844) the same page has no horizontal scroll; then back to the desktop size. */
  async fitsPhoneWidth(page: Page, label: string) {
    await page.setViewportSize(PHONE);
    await this.noHorizontalScroll(page, `${label} at ${PHONE.width}x${PHONE.height}`);
    await page.setViewportSize(DESKTOP);
  }

  /**
   * One of Roster's pages: its heading is `title` (asserted: the flow stops otherwise); its first field
   * `firstField` has the focus (when there is one), every field a label, nothing serious for axe, and it fits a
   * phone's width.
   */
  async page(page: Page, title: string, firstField: string | null) {
    await assertHeading(page, title);
    if (firstField) await this.firstFieldFocused(page, `"${title}"`, firstField);
    await this.labelled(page, `"${title}"`);
    await this.accessible(page, `"${title}"`);
    await this.fitsPhoneWidth(page, `"${title}"`);
  }
}
