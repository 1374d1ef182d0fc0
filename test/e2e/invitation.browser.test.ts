// The invitation page in a real browser: headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core)
// against an in-process Roster (test/oidc-server.ts: the admin API, the OIDC service and the account pages).
//
// What this file proves, each step as a person meets it:
// - An owner's API key invites a new address (POST /api/v1/orgs/{orgId}/invitations, with a message); the
//   invitation e-mail is read from the outbox (its text body), and its link, under the server's issuer, opens
//   the page that names the organisation, the inviter and the role. The page is accessible: axe-core finds no
//   serious or critical violation (light and dark colour schemes), the first field has the focus, every field
//   has a label, nothing scrolls sideways at a phone's width (390px). A too-short password is refused on the
//   page (an error with role=alert, the field aria-invalid and described by it) and creates nothing; a good
//   password and a name then join: "You joined", the membership with the invited role, the account's e-mail
//   verified. The same person then signs in through Roster's sign-in pages to a relying party of the
//   organisation with that password and reaches its callback with an ID token for that e-mail.
// - An existing account (the owner of another organisation, with a known password) is invited: the page asks
//   for its password; a wrong one is refused (error, aria-invalid) and joins nothing; the right one joins.
// - An invitation declined from the page is declined; its link then shows "no longer works" (HTTP 410), an
//   accessible page.
// - An expired invitation's link shows the expired page (HTTP 410).
//
// The pages' Content-Security-Policy allows no script: the browser contexts bypass it so axe can be injected.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import * as client from 'openid-client';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { createClient } from '../../src/directory/clients.ts';
import { createOrganization } from '../../src/directory/organizations.ts';
import { getOutboxMessage, listOutbox } from '../../src/directory/outbox.ts';
import { createPasswordHasher } from '../../src/directory/passwords.ts';
import { unique } from '../helpers.ts';
import { type Srv, startServer, stopServer } from '../oidc-server.ts';
import { testDb } from '../setup.ts';

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
  /** Forgets the last sign-in's outcome. */
  reset() { this.claims = undefined; this.error = undefined; this.pending = undefined; }
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

describe('The invitation page in a real browser (headless Chromium): accessible, join as a new or existing person, decline, expired', function () {
  this.timeout(180_000);
  let srv: Srv | undefined;
  let issuer: string;
  let browser: Browser | undefined;
  /** Each test's browser (nobody signed in, no cookies), closed at the end whatever happened. */
  const contexts: BrowserContext[] = [];
  const rp = new RelyingParty();
  const hasher = createPasswordHasher();
  // What the page checks found (accessibility, focus, labels, layout), reported together at the end of each test.
  let problems: string[] = [];

  before(async function () {
    // Fail, never skip: these checks are part of the suite.
    if (!existsSync(CHROMIUM)) throw new Error(`Chromium is not installed at ${CHROMIUM}: the browser invitation test needs it (on Debian: apt-get install -y chromium)`);
    srv = await startServer();
    issuer = srv.issuer;
    await rp.start();
    try {
      browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'], timeout: WAIT });
    } catch (err) {
      throw new Error(`could not start Chromium (${CHROMIUM}): ${err instanceof Error ? err.message : err}`);
    }
  });

  beforeEach(() => { problems = []; });

  after(async () => {
    for (const c of contexts) await c.close().catch(() => {});
    await browser?.close().catch(() => {});
    await closeServer(rp.server);
    await stopServer(srv);
  });

  function reportProblems(what: string) {
    if (problems.length) assert.fail(`${what} ${problems.length} accessibility or layout problem(s):\n- ${problems.join('\n- ')}`);
  }

  /** A fresh browser: no cookies, nobody signed in. */
  async function newBrowserPage(): Promise<Page> {
    const context = await browser!.newContext({ bypassCSP: true, viewport: DESKTOP, locale: 'en-GB' });
    contexts.push(context);
    context.setDefaultTimeout(WAIT);
    context.setDefaultNavigationTimeout(WAIT);
    return context.newPage();
  }

  // ---------------------------------------------------------------------------------------------------------
  // The organisation's side: invitations through the admin API, the e-mail from the outbox.

  /** An organisation, its owner's API key, and a relying party (an OIDC client) of its own. */
  async function newOrganization() {
    const name = unique('Invite Co ');
    return createOrganization(testDb(), { name, ownerEmail: `owner@${name.replace(/\s+/g, '-').toLowerCase()}.test` });
  }

  /** POST /invitations with the owner's API key: one address, a role, a message; the invitation's id. */
  async function invite(org: { org: { id: string }; apiKey: string }, email: string, role: string, message: string | null = null): Promise<string> {
    const res = await fetch(`${issuer}/api/v1/orgs/${org.org.id}/invitations`, {
      method: 'POST', headers: { authorization: `Bearer ${org.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ emails: [email], role, ...(message === null ? {} : { message }) }),
    });
    const body = await res.json() as any;
    assert.equal(res.status, 201, `POST invitations: ${JSON.stringify(body)}`);
    assert.equal(body.items?.length, 1, JSON.stringify(body));
    assert.equal(body.items[0].status, 'pending');
    return body.items[0].id as string;
  }

  /** The invitation e-mail to `to` (text body), from the outbox, and the link in it (which must be under the issuer). */
  async function invitationMail(orgId: string, to: string): Promise<{ subject: string; text: string; link: string }> {
    const queued = (await listOutbox(testDb(), { limit: 50, orgId })).filter((m) => m.to.toLowerCase() === to.toLowerCase());
    assert.equal(queued.length, 1, `one message to ${to}: ${JSON.stringify(queued)}`);
    const mail = await getOutboxMessage(testDb(), queued[0].id);
    const links = mail.text.match(/https?:\/\/\S+/g) ?? [];
    assert.equal(links.length, 1, `one link in the message: ${mail.text}`);
    const [link] = links;
    assert.ok(link.startsWith(`${issuer}/account/invitation?token=`), `the link ${link} is under the issuer ${issuer}: ${mail.text}`);
    assert.match(new URL(link).searchParams.get('token') ?? '', /^rst_inv_[A-Za-z0-9_-]{43}$/, link);
    return { subject: mail.subject, text: mail.text, link };
  }

  const invitationRow = (id: string) => testDb()('invitations').where({ id }).first('status', 'membership_id', 'responded_at');
  const accountOf = (email: string) => testDb()('accounts').whereRaw('lower(email) = lower(?)', [email]).first();
  const membershipOf = (orgId: string, accountId: string) => testDb()('memberships').where({ org_id: orgId, account_id: accountId }).first();

  // ---------------------------------------------------------------------------------------------------------
  // The page checks (as in sign-in.browser.test.ts).

  /** The page's h1, with what the page says when it is not the one expected. */
  async function assertHeading(page: Page, title: string) {
    const heading = (await page.locator('h1').first().textContent({ timeout: WAIT }))?.trim();
    if (heading !== title) {
      const text = (await page.locator('body').innerText().catch(() => '')).slice(0, 600);
      assert.fail(`expected the page "${title}", got "${heading}" at ${page.url()}:\n${text}`);
    }
  }

  /**
   * Clicks a submit button and waits for the next document to load; the HTTP status of that document (the
   * last answer of the navigation, past any redirect).
   */
  async function submit(page: Page, button: string): Promise<number> {
    await page.evaluate(() => { window.__previousDocument = true; });
    const answered = page.waitForResponse((r) => r.request().isNavigationRequest() && r.frame() === page.mainFrame() && !(r.status() >= 300 && r.status() < 400), { timeout: WAIT });
    await page.getByRole('button', { name: button, exact: true }).click();
    const response = await answered;
    await page.waitForFunction(() => !window.__previousDocument && document.readyState === 'complete', undefined, { timeout: WAIT, polling: 100 });
    return response.status();
  }

  /** Opens a URL; the HTTP status of the document. */
  async function open(page: Page, url: string): Promise<number> {
    const response = await page.goto(url, { waitUntil: 'load', timeout: WAIT });
    assert.ok(response, `no answer for ${url}`);
    return response.status();
  }

  /** axe-core findings on the page as it is, in light and dark colour schemes: the serious and critical ones. */
  async function axeFindings(page: Page, label: string): Promise<string[]> {
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

  async function assertAccessible(page: Page, label: string) {
    problems.push(...await axeFindings(page, label));
  }

  /** `id` has the focus once the page has loaded (autofocus). */
  async function assertFocused(page: Page, label: string, id: string) {
    const focused = await page.waitForFunction((want) => document.activeElement?.id === want, id, { timeout: 10_000, polling: 100 })
      .then(() => true, () => false);
    if (!focused) {
      const active = await page.evaluate(() => { const a = document.activeElement; return a ? `${a.tagName.toLowerCase()}${a.id ? `#${a.id}` : ''}` : 'nothing'; });
      problems.push(`${label}: #${id} should have the focus on load (autofocus), but ${active} has it`);
    }
  }

  /** The first visible field is `id`, and it has the focus on load. */
  async function assertFirstFieldFocused(page: Page, label: string, id: string) {
    const first = await page.evaluate(() => document.querySelector('input:not([type=hidden]), select, textarea')?.id ?? null);
    if (first !== id) return void problems.push(`${label}: the first field is #${first}, not #${id}`);
    await assertFocused(page, label, id);
  }

  /** Every field a person fills has a label with text (a <label for>, or aria-label/aria-labelledby). */
  async function assertLabelled(page: Page, label: string) {
    const unlabelled: string[] = await page.evaluate(() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
      .filter((el: any) => !([...(el.labels ?? [])].some((l: any) => l.textContent.trim()) || el.getAttribute('aria-label')?.trim()
        || (el.getAttribute('aria-labelledby') ?? '').split(/\s+/).some((ref: string) => document.getElementById(ref)?.textContent.trim())))
      .map((el: any) => el.outerHTML));
    if (unlabelled.length) problems.push(`${label}: fields without a label: ${unlabelled.join(' ')}`);
  }

  /** At a phone's width (390x844) nothing is wider than the window (no horizontal scrolling); then back to the desktop size. */
  async function assertFitsPhoneWidth(page: Page, label: string) {
    await page.setViewportSize(PHONE);
    const m: { scrollWidth: number; innerWidth: number; wide: string[] } = await page.evaluate(() => new Promise((resolve) => window.requestAnimationFrame(() => {
      const root = document.documentElement;
      // The culprits: boxes past the window's right edge, and boxes whose own content (text) spills out of them.
      const spills = (el: any) => el.scrollWidth > el.clientWidth + 1 && ![...el.children].some((c: any) => c.scrollWidth > c.clientWidth + 1);
      const wide = [...document.body.querySelectorAll('*')].filter((el: any) => el.getBoundingClientRect().right > root.clientWidth + 1 || spills(el))
        .map((el: any) => `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''}${el.className && typeof el.className === 'string' ? `.${el.className}` : ''}`);
      resolve({ scrollWidth: root.scrollWidth, innerWidth: window.innerWidth, wide });
    })));
    if (m.scrollWidth > m.innerWidth) problems.push(`${label} at ${PHONE.width}x${PHONE.height}: the page scrolls sideways (${m.scrollWidth}px of content in a ${m.innerWidth}px window); too wide: ${m.wide.join(', ')}`);
    await page.setViewportSize(DESKTOP);
  }

  /** One page: its heading, fields, focus, accessibility and narrow layout. */
  async function checkPage(page: Page, title: string, firstField: string | null) {
    await assertHeading(page, title);
    if (firstField) await assertFirstFieldFocused(page, `"${title}"`, firstField);
    await assertLabelled(page, `"${title}"`);
    await assertAccessible(page, `"${title}"`);
    await assertFitsPhoneWidth(page, `"${title}"`);
  }

  /** The page refused the form: an error announced (role=alert), the field aria-invalid and described by the error. */
  async function assertFieldError(page: Page, field: string, message: RegExp) {
    const alert = page.locator('[role=alert]');
    assert.equal(await alert.count(), 1, `one error on the page: ${await page.locator('body').innerText()}`);
    assert.match(await alert.innerText(), message);
    const input = page.locator(`#${field}`);
    assert.equal(await input.getAttribute('aria-invalid'), 'true', `#${field} is aria-invalid`);
    const errorId = await alert.getAttribute('id');
    assert.ok(errorId, 'the error has an id, for the field to point to');
    assert.ok((await input.getAttribute('aria-describedby') ?? '').split(/\s+/).includes(errorId), `#${field} is described by the error #${errorId}`);
    await assertFocused(page, 'the refused form', field);
  }

  /** The page's text. */
  const bodyText = (page: Page) => page.locator('body').innerText();

  // ---------------------------------------------------------------------------------------------------------

  it('a new person follows the e-mailed link, chooses a password (a too-short one refused), joins, and signs in to the organisation\'s application with it', async () => {
    const org = await newOrganization();
    const orgName = org.org.name;
    const email = `${unique('new-')}@example.test`;
    const message = 'Welcome aboard: we use Roster for every app.';
    const invitationId = await invite(org, email, 'admin', message);

    // The e-mail: the organisation, the role, the message, and the link under the issuer.
    const mail = await invitationMail(org.org.id, email);
    assert.match(mail.subject, new RegExp(orgName));
    assert.ok(mail.text.includes(message), `the message is in the e-mail: ${mail.text}`);
    assert.ok(mail.text.includes('with the role Admin'), mail.text);

    const page = await newBrowserPage();
    assert.equal(await open(page, mail.link), 200);
    await checkPage(page, `Join ${orgName}`, 'name');
    assert.equal(await page.locator('.org').innerText(), orgName, "the organisation's name is on the page");
    const intro = await bodyText(page);
    // Invited with an API key: no person to name, so "An administrator".
    assert.ok(intro.includes(`An administrator invited ${email} to join ${orgName} with the role Admin.`), `the page names the inviter, the address, the organisation and the role:\n${intro}`);
    assert.equal(await page.locator('#password').getAttribute('autocomplete'), 'new-password');
    assert.equal(await page.locator('#name').getAttribute('autocomplete'), 'name');
    assert.equal(await page.getByRole('button', { name: 'Create account and join', exact: true }).count(), 1);
    assert.equal(await page.getByRole('button', { name: 'Decline the invitation', exact: true }).count(), 1);

    // A too-short password: refused on the page; nothing is created.
    await page.locator('#name').fill('Ada Lovelace');
    await page.locator('#password').fill('short pw');
    assert.equal(await submit(page, 'Create account and join'), 422);
    await assertHeading(page, `Join ${orgName}`);
    await assertFieldError(page, 'password', /at least 10 characters/);
    await assertLabelled(page, `"Join ${orgName}" with an error`);
    await assertAccessible(page, `"Join ${orgName}" with an error`);
    await assertFitsPhoneWidth(page, `"Join ${orgName}" with an error`);
    assert.equal(await accountOf(email), undefined, 'no account was created');
    assert.equal((await invitationRow(invitationId)).status, 'pending', 'the invitation is still pending');

    // A good password (the name typed again if the page did not keep it): joined.
    if (!(await page.locator('#name').inputValue())) await page.locator('#name').fill('Ada Lovelace');
    const password = 'copper kettle on a windy hill';
    await page.locator('#password').fill(password);
    assert.equal(await submit(page, 'Create account and join'), 200);
    await checkPage(page, `You joined ${orgName}`, null);
    assert.match(await page.locator('[role=status]').innerText(), new RegExp(`Sign in to .*${orgName}.* with ${email.replace(/[.]/g, '\\.')} and the password you chose`));

    // The account (its address verified: the person followed the mailed link) and the membership with the invited role.
    const account = await accountOf(email);
    assert.ok(account, 'the account exists');
    assert.equal(account.email_verified, true, 'the e-mail address is verified');
    assert.equal(account.display_name, 'Ada Lovelace');
    assert.equal(account.must_change_password, false);
    const membership = await membershipOf(org.org.id, account.id);
    assert.ok(membership, 'the membership exists');
    assert.equal(membership.role, 'admin', 'with the invited role');
    const row = await invitationRow(invitationId);
    assert.equal(row.status, 'accepted');
    assert.equal(row.membership_id, membership.id);

    // The link works once.
    assert.equal(await open(page, mail.link), 410);
    await assertHeading(page, 'This invitation no longer works');

    // The same person signs in to the organisation's application with the password just chosen.
    const { clientId, clientSecret } = await createClient(testDb(), { orgId: org.org.id, actor, redirectUris: [rp.redirectUri], public: false });
    rp.config = await client.discovery(new URL(issuer), clientId, undefined, client.ClientSecretBasic(clientSecret!), { execute: [client.allowInsecureRequests] });
    rp.reset();
    await open(page, await rp.authorizationUrl());
    await checkPage(page, 'Sign in', 'email');
    await page.locator('#email').fill(email);
    await submit(page, 'Continue');
    await checkPage(page, 'Enter your password', 'password');
    await page.locator('#password').fill(password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForURL((u) => u.href.startsWith(rp.redirectUri), { timeout: WAIT, waitUntil: 'load' });
    await page.locator('#email, #error').first().waitFor({ timeout: WAIT });
    assert.equal(rp.error, undefined, `the relying party's code exchange failed: ${await bodyText(page)}`);
    assert.equal(await page.locator('#email').innerText(), email);
    assert.equal(rp.claims?.email, email);
    assert.equal(rp.claims?.email_verified, true);
    assert.equal(rp.claims?.sub, account.id);
    assert.equal(rp.claims?.org_id, org.org.id);
    await page.close();

    reportProblems('the invitation and sign-in pages have');
  });

  it('an existing account is asked for its password: a wrong one is refused and joins nothing, the right one joins', async () => {
    // The owner of another organisation, with a password of their own.
    const other = await newOrganization();
    const email = other.owner.email;
    const password = 'tangerine harbour lighthouse';
    await testDb()('accounts').where({ id: other.owner.accountId })
      .update({ password_hash: await hasher.hash(password), must_change_password: false, temporary_password_expires_at: null });

    const org = await newOrganization();
    const orgName = org.org.name;
    const invitationId = await invite(org, email, 'member');
    const mail = await invitationMail(org.org.id, email);

    const page = await newBrowserPage();
    assert.equal(await open(page, mail.link), 200);
    await checkPage(page, `Join ${orgName}`, 'password');
    const text = await bodyText(page);
    assert.ok(text.includes(`An administrator invited ${email} to join ${orgName} with the role Member.`), text);
    assert.ok(text.includes('You already have an account. Type its password to join.'), text);
    assert.equal(await page.locator('#name').count(), 0, 'no name to choose: the account has one');
    assert.equal(await page.locator('#password').getAttribute('autocomplete'), 'current-password');

    // A wrong password: refused, nothing joined.
    await page.locator('#password').fill('not the password at all');
    assert.equal(await submit(page, `Join ${orgName}`), 401);
    await assertHeading(page, `Join ${orgName}`);
    await assertFieldError(page, 'password', /That password is not right/);
    await assertLabelled(page, `"Join ${orgName}" (existing account) with an error`);
    await assertAccessible(page, `"Join ${orgName}" (existing account) with an error`);
    await assertFitsPhoneWidth(page, `"Join ${orgName}" (existing account) with an error`);
    assert.equal(await membershipOf(org.org.id, other.owner.accountId), undefined, 'no membership');
    assert.equal((await invitationRow(invitationId)).status, 'pending', 'the invitation is still pending');

    // The right one: joined, the same account.
    await page.locator('#password').fill(password);
    assert.equal(await submit(page, `Join ${orgName}`), 200);
    await checkPage(page, `You joined ${orgName}`, null);
    const membership = await membershipOf(org.org.id, other.owner.accountId);
    assert.ok(membership, 'the membership exists');
    assert.equal(membership.role, 'member');
    assert.equal((await invitationRow(invitationId)).status, 'accepted');
    assert.equal(Number((await testDb()('accounts').whereRaw('lower(email) = lower(?)', [email]).count({ n: '*' }))[0].n), 1, 'no second account');
    const account = await accountOf(email);
    assert.equal(account.email_verified, true);
    assert.ok(await hasher.verify(account.password_hash, password), 'the password is unchanged');
    assert.equal((await membershipOf(other.org.id, other.owner.accountId))?.role, 'owner', 'still the owner of the other organisation');
    await page.close();

    reportProblems('the invitation pages (existing account) have');
  });

  it('declined from the page: the invitation is declined, and its link then says it no longer works (410), an accessible page', async () => {
    const org = await newOrganization();
    const orgName = org.org.name;
    const email = `${unique('decline-')}@example.test`;
    const invitationId = await invite(org, email, 'member', 'Join us?');
    const mail = await invitationMail(org.org.id, email);

    const page = await newBrowserPage();
    assert.equal(await open(page, mail.link), 200);
    await assertHeading(page, `Join ${orgName}`);
    assert.equal(await submit(page, 'Decline the invitation'), 200);
    await checkPage(page, 'Invitation declined', null);
    assert.match(await page.locator('[role=status]').innerText(), new RegExp(`You declined the invitation to join ${orgName}`));
    const row = await invitationRow(invitationId);
    assert.equal(row.status, 'declined');
    assert.ok(row.responded_at);
    assert.equal(await accountOf(email), undefined, 'no account');

    // The link again: dead.
    assert.equal(await open(page, mail.link), 410);
    await checkPage(page, 'This invitation no longer works', null);
    assert.match(await page.locator('[role=alert]').innerText(), /used, declined or cancelled/);
    assert.equal(await page.locator('form').count(), 0, 'nothing to submit');
    assert.equal((await invitationRow(invitationId)).status, 'declined');
    await page.close();

    reportProblems('the declined invitation\'s pages have');
  });

  it('an expired invitation\'s link shows the expired page (410) and changes nothing', async () => {
    const org = await newOrganization();
    const orgName = org.org.name;
    const email = `${unique('expired-')}@example.test`;
    const invitationId = await invite(org, email, 'member');
    const mail = await invitationMail(org.org.id, email);
    await testDb()('invitations').where({ id: invitationId }).update({ expires_at: testDb().raw("now() - interval '1 hour'") });

    const page = await newBrowserPage();
    assert.equal(await open(page, mail.link), 410);
    await checkPage(page, 'This invitation has expired', null);
    assert.match(await page.locator('[role=alert]').innerText(), new RegExp(`at ${orgName} to send you a new one`));
    assert.equal(await page.locator('form').count(), 0, 'nothing to submit');
    const row = await invitationRow(invitationId);
    assert.equal(row.status, 'pending', 'the row is unchanged (it reads as expired)');
    assert.equal(row.responded_at, null);
    assert.equal(await accountOf(email), undefined, 'no account');
    await page.close();

    reportProblems('the expired invitation\'s page has');
  });
});
