// The admin console in a real browser: headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core)
// against an in-process Roster (test/oidc-server.ts: the admin API, the console at /console/{slug}, the OIDC
// service and the account pages), one organisation walked from its first sign-in:
//
// 1. The owner's first sign-in (createOrganization's temporary password): /console/{slug}/ sends the browser to
//    Roster's sign-in pages (e-mail, temporary password, the forced change of password) and back through
//    /console/{slug}/callback; the Overview names the organisation and counts the licences.
// 2. The owner invites a person from the Members page (the "Invite people" dialog: address, role Member, a
//    message whose character counter counts); the row shows "invited". The e-mail is read from the outbox; its
//    link, opened in a second browser, joins as a new person (name, password); that browser then signs in to
//    the console as the new member, who sees the roster read-only: no "Invite people", no row menus, no
//    Settings, Sessions, Sign-in activity or Audit log.
// 3. The owner makes the member an Admin (row menu, "Change role"); the member's next request (a reload) has
//    the role: "Invite people" appears.
// 4. The owner deactivates the member (the confirmation says what happens); the member's next request answers
//    401 and the console says "Your session has ended"; signing in again is refused.
// 5. The owner reactivates the member, then resets their password: the temporary password is shown once, with
//    a Copy button (the clipboard then holds it, and it is the account's password).
// 6. Settings: a SCIM token is created and shown once with a Copy button (and works at /scim/v2); the base URL
//    {ISSUER}/scim/v2 is on the page.
// 7. A member with the billing role (third browser) sees only the Overview (licences) and My account.
// 8. axe-core on every console page the owner reaches and on the open Invite dialog (light and dark colour
//    schemes): no serious or critical violation; at a phone's width (390px) the Members page does not scroll
//    sideways (the table may scroll inside its wrapper).
// 9. A screenshot of the Members page (owner, a few members and one invitation) at desktop width, for the
//    README: docs/console-members.png.
//
// The steps run in order on the same organisation and browsers; each is its own test, so a report says which
// step failed. The console's Content-Security-Policy allows only its own scripts: the browser contexts bypass it
// so axe can be injected.
//
// The browser, the sign-in pages' helpers, the page checks and the outbox are test/e2e/support.ts's.
import assert from 'node:assert/strict';
import { mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { createOrganization, type CreatedOrganization } from '../../src/directory/organizations.ts';
import { createPasswordHasher } from '../../src/directory/passwords.ts';
import { unique } from '../helpers.ts';
import { type Srv, startServer, stopServer } from '../oidc-server.ts';
import { testDb } from '../setup.ts';
import {
  assertHeading, bodyText, DESKTOP, mailTo, PageChecks, PHONE, submit, TestBrowser, WAIT,
} from './support.ts';

// These run inside the page (the project's tsconfig has no DOM library).
declare const document: any;
declare const window: any;
declare const navigator: any;

const SCREENSHOT = fileURLToPath(new URL('../../docs/console-members.png', import.meta.url));

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `probe` until `ok` holds (at most WAIT); fails with what was seen last. */
async function eventually<T>(what: string, probe: () => Promise<T>, ok: (value: T) => boolean, timeout = WAIT): Promise<T> {
  const end = Date.now() + timeout;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (ok(value)) return value;
      last = value;
    } catch (err) {
      last = err instanceof Error ? `${err.name}: ${err.message}` : err; // a page between two documents
    }
    if (Date.now() > end) assert.fail(`${what}: not after ${timeout / 1000} s; last seen: ${typeof last === 'string' ? last : JSON.stringify(last, null, 1)}`);
    await sleep(200);
  }
}

describe('The admin console in a real browser (headless Chromium): first sign-in, invite, roles, deactivation, secrets, billing, accessibility', function () {
  this.timeout(300_000);
  let srv: Srv | undefined;
  let issuer: string;
  const chrome = new TestBrowser();
  const hasher = createPasswordHasher();

  let org: CreatedOrganization;
  let slug: string;
  let orgName: string;
  let domain: string;
  const ownerPassword = 'a long enough passphrase for the console';
  let owner: Page; // the owner's browser
  let member: Page; // the invited person's browser
  const memberName = 'Ada Lovelace';
  let memberEmail: string;
  const memberPassword = 'copper kettle on a windy hill';
  let memberId: string | undefined;
  let billingEmail: string;

  before(async function () {
    await chrome.launch('console');
    srv = await startServer();
    issuer = srv.issuer;
    // A short domain of its own (the addresses show in the screenshot): nothing else uses it.
    domain = `${unique('northwind-').slice(0, 14)}.example`;
    orgName = 'Northwind Traders';
    org = await createOrganization(testDb(), { name: orgName, ownerEmail: `owner@${domain}` });
    slug = org.org.slug;
    memberEmail = `ada@${domain}`;
    billingEmail = `billing@${domain}`;
  });

  after(async () => {
    await chrome.close();
    await stopServer(srv);
  });

  // ---------------------------------------------------------------------------------------------------------
  // Browsers, Roster's sign-in pages and the console.

  /** A fresh browser: no cookies, nobody signed in; the clipboard may be written and read (Copy buttons). */
  async function newBrowserPage(): Promise<Page> {
    const context = await chrome.newContext();
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: issuer });
    return context.newPage();
  }

  /** The console's page `title` is shown (its h1), everything on it loaded; fails at once on the console's error page. */
  async function consolePage(page: Page, title: string) {
    const seen = await eventually(`the console page "${title}" (at ${page.url()})`, () => page.evaluate(() => ({
      url: window.location.href,
      h1: document.querySelector('main h1')?.textContent?.trim() ?? null,
      loading: [...document.querySelectorAll('main [role=status], main [aria-live]')].some((e: any) => /loading/i.test(e.textContent)),
      text: document.body.innerText.slice(0, 800),
    })), (s) => (s.h1 === title && !s.loading) || s.h1 === 'The console could not start');
    if (seen.h1 !== title) assert.fail(`expected the console page "${title}", got "${seen.h1}" at ${seen.url}:\n${seen.text}`);
  }

  /** From /console/{slug}/: Roster's sign-in pages (and the forced change of a temporary password), back to the console's Overview. */
  async function signInToConsole(page: Page, email: string, password: string, newPassword?: string) {
    await page.goto(`${issuer}/console/${slug}/`, { waitUntil: 'load' });
    await page.waitForURL((u) => u.pathname.startsWith('/oidc/interaction/'), { timeout: WAIT, waitUntil: 'load' });
    await assertHeading(page, 'Sign in');
    assert.match(await page.locator('.org').innerText(), new RegExp(orgName), "the sign-in page names the organisation");
    await page.locator('#email').fill(email);
    await submit(page, 'Continue');
    await assertHeading(page, 'Enter your password');
    await page.locator('#password').fill(password);
    if (newPassword) {
      assert.equal(await submit(page, 'Sign in'), 200);
      await assertHeading(page, 'Choose a new password');
      await page.locator('#password').fill(newPassword);
      await page.getByRole('button', { name: 'Save password and continue', exact: true }).click();
    } else {
      await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    }
    // Through /console/{slug}/callback (the code exchanged in the page), then the Overview.
    await page.waitForURL((u) => u.href.startsWith(`${issuer}/console/${slug}/`) && u.pathname !== `/console/${slug}/callback`, { timeout: WAIT });
    await consolePage(page, 'Overview');
  }

  const consoleNav = (page: Page) => page.getByRole('navigation', { name: 'Console', exact: true });
  const navEntries = async (page: Page) => (await consoleNav(page).getByRole('link').allInnerTexts()).map((t) => t.trim());

  /** Follows an entry of the console's navigation; the page it shows. */
  async function go(page: Page, entry: string, heading = entry) {
    await consoleNav(page).getByRole('link', { name: entry, exact: true }).click();
    await consolePage(page, heading);
  }

  /** The cells of the Members table's row that mentions `email` (text), or null. */
  const rowCells = (page: Page, email: string): Promise<string[] | null> => page.evaluate((want: string) => {
    const tr = [...document.querySelectorAll('main table tbody tr')].find((r: any) => r.textContent.includes(want));
    return tr ? [...tr.cells].map((c: any) => c.innerText.trim()) : null;
  }, email);
  const row = (page: Page, email: string) => page.locator('main table tbody tr').filter({ hasText: email });

  /** Waits for the row of `email` to satisfy `ok` (cells: name, role, status, sign-in, last sign-in, joined[, actions]). */
  const waitForRow = async (page: Page, email: string, what: string, ok: (cells: string[]) => boolean): Promise<string[]> =>
    (await eventually(`the row of ${email} ${what}`, () => rowCells(page, email), (cells) => cells !== null && ok(cells)))!;

  /** The open modal dialog titled `title`. */
  async function openDialog(page: Page, title: string) {
    await eventually(`the dialog "${title}"`, () => page.evaluate(() => [...document.querySelectorAll('dialog[open] h2')].map((h: any) => h.textContent.trim())),
      (titles) => titles.includes(title));
    return page.locator('dialog[open]').filter({ has: page.locator('h2', { hasText: title }) });
  }

  const noDialogOpen = (page: Page, what: string) => eventually(what, () => page.locator('dialog[open]').count(), (n) => n === 0);

  /** The row's "Actions" menu, then one of its items. */
  async function rowAction(page: Page, email: string, name: string, action: string) {
    const r = row(page, email);
    await r.locator('details.row-menu').waitFor({ timeout: WAIT });
    await r.locator('summary', { hasText: 'Actions' }).click();
    assert.equal(await r.locator('summary').getAttribute('aria-label'), `Actions for ${name}`, 'the menu button names the person');
    await r.getByRole('button', { name: action, exact: true }).click();
  }

  /** A secret shown once: its value, and its Copy button puts it on the clipboard (the button then says Copied). */
  async function copySecret(page: Page, dialog: ReturnType<Page['locator']>): Promise<string> {
    const value = (await dialog.locator('.secret-value').innerText()).trim();
    assert.ok(value.length > 0, 'a secret is shown');
    assert.match(await dialog.locator('.secret').innerText(), /shown only now/, 'the dialog says it is shown once');
    const copy = dialog.getByRole('button', { name: 'Copy', exact: true });
    assert.equal(await copy.count(), 1, 'a Copy button');
    await copy.click();
    await dialog.getByRole('button', { name: 'Copied', exact: true }).waitFor({ timeout: WAIT });
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), value, 'the clipboard holds the secret');
    return value;
  }

  // ---------------------------------------------------------------------------------------------------------
  // Accessibility and layout: support.ts's checks, collected in `checks`, and a phone-width check of the console's own.

  const checks = new PageChecks();

  /**
   * At a phone's width the page does not scroll sideways (a table may scroll inside its .table-wrap); then back to
   * the desktop size. Unlike PageChecks.fitsPhoneWidth (the form pages), boxes inside a table's wrapper may run past
   * the window, and the culprits are named with their positions.
   */
  async function assertFitsPhoneWidth(page: Page, label: string) {
    await page.setViewportSize(PHONE);
    const m: { scrollWidth: number; innerWidth: number; wide: string[] } = await page.evaluate(() => new Promise((resolve) => window.requestAnimationFrame(() => {
      const root = document.documentElement;
      const scrollWidth = Math.max(root.scrollWidth, document.body.scrollWidth);
      const describe = (el: any) => {
        const r = el.getBoundingClientRect();
        return `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''}${el.className && typeof el.className === 'string' ? `.${el.className.trim().replace(/\s+/g, '.')}` : ''}`
          + ` (${Math.round(r.left)}px to ${Math.round(r.right)}px, ${window.getComputedStyle(el).position}${el.closest('.table-wrap') ? ', inside .table-wrap' : ''}: "${el.textContent.trim().slice(0, 30)}")`;
      };
      // The culprits: boxes outside a table's scrolling wrapper past the window's right edge, and any box
      // (inside the wrapper too: one not clipped by it) whose right edge is where the page's scrolling ends.
      const wide = [...document.body.querySelectorAll('*')].filter((el: any) => {
        const right = el.getBoundingClientRect().right;
        return (!el.closest('.table-wrap') && right > root.clientWidth + 1) || (scrollWidth > root.clientWidth && Math.abs(right - scrollWidth) <= 1);
      }).map(describe);
      resolve({ scrollWidth, innerWidth: window.innerWidth, wide });
    })));
    await page.setViewportSize(DESKTOP);
    if (m.scrollWidth > m.innerWidth) checks.problems.push(`${label} at ${PHONE.width}x${PHONE.height}: the page scrolls sideways (${m.scrollWidth}px of content in a ${m.innerWidth}px window); too wide: ${m.wide.join(', ')}`);
  }

  // ---------------------------------------------------------------------------------------------------------

  it('1. the owner\'s first sign-in: /console/{slug}/ -> e-mail, temporary password, a new password -> the Overview with the organisation and its licences', async () => {
    assert.ok(org.owner.temporaryPassword, 'a new owner has a temporary password');
    owner = await newBrowserPage();
    await signInToConsole(owner, org.owner.email, org.owner.temporaryPassword, ownerPassword);
    assert.equal(new URL(owner.url()).pathname, `/console/${slug}/`, 'back at the console\'s root, past the callback');
    assert.equal(await owner.locator('header .org-name').innerText(), orgName, 'the header names the organisation');
    assert.equal(await owner.locator('header .who').innerText(), org.owner.email, 'and who is signed in');
    assert.equal(await owner.locator('#org-name').inputValue(), orgName, 'the owner may rename it: the name field holds it');
    const licences = owner.locator('section[aria-labelledby="lic-h"]');
    assert.equal((await licences.locator('h2').innerText()).trim(), 'Licences');
    assert.equal((await licences.locator('.big').innerText()).trim(), '1 used (no limit)', 'the owner takes the one licence in use');
    assert.equal(await owner.title(), `Overview · ${orgName} · Roster`);
    assert.deepEqual(await navEntries(owner), ['Overview', 'Members', 'Groups', 'Roles', 'Sessions', 'Sign-in activity', 'Audit log', 'Settings', 'My account'],
      'the owner sees every page');
    // The temporary password is gone: the account has the new one.
    const account = await testDb()('accounts').where({ id: org.owner.accountId }).first('password_hash', 'must_change_password');
    assert.equal(account.must_change_password, false);
    assert.ok(await hasher.verify(account.password_hash, ownerPassword), 'the new password is the account\'s');
  });

  it('2. the owner invites a person from Members (message counted); the e-mailed link joins in a second browser, which signs in to a read-only console', async () => {
    assert.ok(owner, 'step 1 signed the owner in');
    await go(owner, 'Members');
    await owner.getByRole('button', { name: 'Invite people', exact: true }).click();
    const dialog = await openDialog(owner, 'Invite people');
    await dialog.locator('#invite-emails').fill(memberEmail);
    // The role list is there once the roles have loaded; Member is the default, chosen explicitly all the same.
    await eventually('the role "Member" among the choices', () => dialog.locator('#invite-role option').allInnerTexts(), (o) => o.includes('Member'));
    await dialog.locator('#invite-role').selectOption('member');
    assert.deepEqual(await dialog.locator('#invite-role option').allInnerTexts(), ['Admin', 'Member', 'Billing'], 'every role but the owner\'s');
    assert.equal((await dialog.locator('#invite-count').innerText()).trim(), '0 of 2,500 characters');
    const message = 'Welcome aboard, Ada: we use Roster for every app. 🚀';
    await dialog.locator('#invite-message').fill(message);
    assert.equal((await dialog.locator('#invite-count').innerText()).trim(), `${[...message].length} of 2,500 characters`, 'the counter counts characters as typed');
    await dialog.getByRole('button', { name: 'Send invitation', exact: true }).click();
    await noDialogOpen(owner, 'the Invite dialog closes once sent');
    await eventually('the notice "1 invitation sent."', () => owner.locator('main .notice').innerText(), (t) => t.trim() === '1 invitation sent.');
    const invited = await waitForRow(owner, memberEmail, 'with the status invited', (c) => /^invited\b/.test(c[2]));
    assert.equal(invited[1], 'Member', 'the invited role');
    assert.match(invited[2], /until /, 'with its expiry');

    // The e-mail (from the outbox): the message, and a link under the issuer.
    const mail = await mailTo(org.org.id, memberEmail);
    assert.ok(mail.text.includes(message), `the message is in the e-mail: ${mail.text}`);
    const link = /https?:\/\/\S+/.exec(mail.text)?.[0];
    if (!link?.startsWith(`${issuer}/account/invitation?token=`)) assert.fail(`the e-mail has a link under the issuer: ${mail.text}`);

    // A second browser: the person joins, with a name and a password of their own.
    member = await newBrowserPage();
    await member.goto(link, { waitUntil: 'load' });
    await assertHeading(member, `Join ${orgName}`);
    assert.ok((await bodyText(member)).includes(`to join ${orgName} with the role Member`), await bodyText(member));
    await member.locator('#name').fill(memberName);
    await member.locator('#password').fill(memberPassword);
    assert.equal(await submit(member, 'Create account and join'), 200);
    await assertHeading(member, `You joined ${orgName}`);

    // ... and signs in to the console with that password.
    await signInToConsole(member, memberEmail, memberPassword);
    assert.equal(await member.locator('header .who').innerText(), memberEmail);
    const entries = await navEntries(member);
    assert.deepEqual(entries, ['Overview', 'Members', 'Groups', 'Roles', 'My account'], 'a member sees the roster\'s pages and their own account');
    for (const hidden of ['Settings', 'Sessions', 'Sign-in activity', 'Audit log']) assert.ok(!entries.includes(hidden), `no ${hidden} in a member's navigation`);
    await go(member, 'Members');
    await waitForRow(member, memberEmail, 'on the member\'s roster, active', (c) => c[0].includes(memberName) && /^active\b/.test(c[2]));
    await waitForRow(member, org.owner.email, 'on the member\'s roster (the owner)', (c) => c[1] === 'Owner');
    assert.equal(await member.getByRole('button', { name: 'Invite people', exact: true }).count(), 0, 'no "Invite people" for a member');
    assert.equal(await member.getByRole('button', { name: 'Create member', exact: true }).count(), 0, 'no "Create member" for a member');
    assert.equal(await member.locator('main details.row-menu, main summary').count(), 0, 'no row "Actions" menus for a member');
    assert.equal(await member.locator('main table thead th').count(), 6, 'no Actions column');

    // The owner's roster: the invitation became an active member with the Member role.
    await owner.reload({ waitUntil: 'load' });
    await consolePage(owner, 'Members');
    const joined = await waitForRow(owner, memberEmail, 'active, a member', (c) => /^active\b/.test(c[2]) && c[1] === 'Member');
    assert.ok(joined[0].includes(memberName), `the row has the chosen name: ${joined.join(' | ')}`);
    const account = await testDb()('accounts').whereRaw('lower(email) = lower(?)', [memberEmail]).first('id');
    memberId = (await testDb()('memberships').where({ org_id: org.org.id, account_id: account.id }).first('id')).id;
  });

  it('3. the owner makes the member an Admin (row menu, "Change role"); the member\'s next request has the role: "Invite people" appears', async () => {
    assert.ok(owner && member && memberId, 'step 2 made the member');
    await consolePage(owner, 'Members');
    await rowAction(owner, memberEmail, memberName, 'Change role');
    const dialog = await openDialog(owner, `Role of ${memberName}`);
    assert.equal(await dialog.locator('#new-role').inputValue(), 'member', 'the current role is chosen');
    await dialog.locator('#new-role').selectOption('admin');
    await dialog.getByRole('button', { name: 'Save role', exact: true }).click();
    await noDialogOpen(owner, 'the role dialog closes once saved');
    await waitForRow(owner, memberEmail, 'with the role Admin', (c) => c[1] === 'Admin');
    assert.match(await owner.locator('main .notice').innerText(), /is now Admin/);

    // The member's browser: the next request (a reload of the Members page) has the new role.
    await member.reload({ waitUntil: 'load' });
    await consolePage(member, 'Members');
    await member.getByRole('button', { name: 'Invite people', exact: true }).waitFor({ timeout: WAIT });
    const entries = await navEntries(member);
    for (const shown of ['Settings', 'Sessions', 'Sign-in activity', 'Audit log']) assert.ok(entries.includes(shown), `an admin sees ${shown}: ${entries.join(', ')}`);
  });

  it('4. the owner deactivates the member (the confirmation says what happens); the member\'s next request is 401: "Your session has ended", and signing in again is refused', async () => {
    assert.ok(owner && member && memberId, 'step 2 made the member');
    await rowAction(owner, memberEmail, memberName, 'Deactivate');
    const dialog = await openDialog(owner, `Deactivate ${memberName}?`);
    const says = await dialog.innerText();
    assert.match(says, /signed out of this organisation's applications at once/, `the confirmation says what happens: ${says}`);
    assert.match(says, /cannot sign in here until reactivated/, says);
    assert.match(says, /the API keys they made and the invitations they sent stop working/, says);
    await dialog.getByRole('button', { name: 'Deactivate', exact: true }).click();
    await noDialogOpen(owner, 'the confirmation closes');
    await waitForRow(owner, memberEmail, 'deactivated', (c) => /^deactivated\b/.test(c[2]));

    // The member, still on the console: the next thing they do asks the API, which answers 401.
    const answers: { url: string; status: number }[] = [];
    member.on('response', (r) => { if (new URL(r.url()).pathname.startsWith('/api/v1/')) answers.push({ url: r.url(), status: r.status() }); });
    await consoleNav(member).getByRole('link', { name: 'Groups', exact: true }).click();
    const banner = member.locator('main .banner[role=alert]');
    await banner.waitFor({ timeout: WAIT });
    assert.match(await banner.innerText(), /^Your session has ended/, 'the console says the session has ended');
    assert.ok(answers.some((a) => a.status === 401 && a.url.includes('/groups')), `the API refused the member's token (401): ${JSON.stringify(answers)}`);
    assert.ok(!answers.some((a) => a.status === 200), `nothing was answered to a deactivated member: ${JSON.stringify(answers)}`);

    // "Sign in again": Roster's sign-in pages, which refuse them.
    await banner.getByRole('button', { name: 'Sign in again', exact: true }).click();
    await member.waitForURL((u) => u.pathname.startsWith('/oidc/interaction/'), { timeout: WAIT, waitUntil: 'load' });
    await assertHeading(member, 'Sign in');
    await member.locator('#email').fill(memberEmail);
    await submit(member, 'Continue');
    await assertHeading(member, 'Enter your password');
    await member.locator('#password').fill(memberPassword);
    const status = await submit(member, 'Sign in');
    assert.ok(new URL(member.url()).pathname.startsWith('/oidc/'), `still on Roster's pages, not back in the console: ${member.url()}`);
    assert.equal(status, 403, `the sign-in of a deactivated member is refused (403): ${await bodyText(member)}`);
    await assertHeading(member, 'You cannot sign in here');
    assert.match(await bodyText(member), /Your access to this organisation has been turned off\. Ask your administrator\./);
    const accountId = (await testDb()('memberships').where({ id: memberId }).first('account_id')).account_id;
    const [{ n: live }] = await testDb()('sessions').where({ org_id: org.org.id, account_id: accountId }).whereNull('revoked_at').count({ n: '*' });
    assert.equal(Number(live), 0, 'no live session of the deactivated member');
  });

  it('5. the owner reactivates the member, then resets their password: a dialog shows the temporary password once, with a Copy button', async () => {
    assert.ok(owner && memberId, 'step 2 made the member');
    await rowAction(owner, memberEmail, memberName, 'Reactivate');
    const confirm = await openDialog(owner, `Reactivate ${memberName}?`);
    assert.match(await confirm.innerText(), /They can sign in again/);
    await confirm.getByRole('button', { name: 'Reactivate', exact: true }).click();
    await noDialogOpen(owner, 'the confirmation closes');
    await waitForRow(owner, memberEmail, 'active again', (c) => /^active\b/.test(c[2]));

    await rowAction(owner, memberEmail, memberName, 'Reset password');
    const reset = await openDialog(owner, 'Reset the password?');
    assert.match(await reset.innerText(), /gets a new temporary password, to change at the next sign-in; they are signed out everywhere/);
    const answered = owner.waitForResponse((r) => r.request().method() === 'POST' && r.url().endsWith(`/members/${memberId}/reset-password`), { timeout: WAIT });
    await reset.getByRole('button', { name: 'Reset password', exact: true }).click();
    // The password was reset (the API answered with it) ...
    const response = await answered;
    assert.equal(response.status(), 200, `POST reset-password: ${await response.text()}`);
    assert.ok((await response.json()).temporaryPassword, 'the API answered with the temporary password');
    const account = await testDb()('accounts').whereRaw('lower(email) = lower(?)', [memberEmail]).first('id', 'must_change_password');
    assert.equal(account.must_change_password, true, 'the account has a temporary password');
    // ... and the dialog shows it, once, with a Copy button.
    const shown = await openDialog(owner, 'New temporary password').catch(async (err) => assert.fail(`the API reset the password (200, with the temporary password) but the console shows no dialog with it; dialogs open: ${
      JSON.stringify(await owner.evaluate(() => [...document.querySelectorAll('dialog[open] h2')].map((h: any) => h.textContent)))}; the page's notice: "${
      await owner.locator('main .notice').innerText().catch(() => '')}" (${err instanceof Error ? err.message : err})`));
    assert.match(await shown.innerText(), new RegExp(`Give it to ${memberEmail.replace(/[.]/g, '\\.')} through a channel you trust`));
    const temporary = await copySecret(owner, shown);
    const hash = (await testDb()('accounts').where({ id: account.id }).first('password_hash')).password_hash;
    assert.ok(await hasher.verify(hash, temporary), 'the password shown is the account\'s new temporary password');
    await shown.getByRole('button', { name: 'Done', exact: true }).click();
    await noDialogOpen(owner, 'the secret dialog closes');
    assert.equal(await owner.locator('main').getByText(temporary).count(), 0, 'the temporary password is not on the page any more');
  });

  it('6. Settings: a SCIM token is created and shown once with a Copy button; the base URL {ISSUER}/scim/v2 is on the page', async () => {
    assert.ok(owner, 'step 1 signed the owner in');
    await go(owner, 'Settings');
    const scim = owner.locator('section[aria-labelledby="scimtokens-h"]');
    assert.equal((await scim.locator('h2').innerText()).trim(), 'SCIM tokens');
    assert.ok((await scim.locator('code').allInnerTexts()).includes(`${issuer}/scim/v2`), `the base URL ${issuer}/scim/v2 is shown: ${await scim.innerText()}`);
    await scim.locator('#scimtokens-name').fill('Okta');
    await scim.getByRole('button', { name: 'Create SCIM token', exact: true }).click();
    const dialog = await openDialog(owner, 'SCIM token created');
    const token = await copySecret(owner, dialog);
    assert.match(token, /^rst_scim_/, 'a SCIM token');
    await dialog.getByRole('button', { name: 'Done', exact: true }).click();
    await noDialogOpen(owner, 'the token dialog closes');
    assert.equal(await owner.locator('main').getByText(token).count(), 0, 'the token is not on the page any more');
    await eventually('the token "Okta" listed', () => scim.locator('li strong').allInnerTexts(), (names) => names.includes('Okta'));
    // It works at the base URL shown.
    const res = await fetch(`${issuer}/scim/v2/Users?count=1`, { headers: { authorization: `Bearer ${token}`, accept: 'application/scim+json' } });
    assert.equal(res.status, 200, `the new token is accepted at /scim/v2: ${await res.text()}`);
  });

  it('7. a member with the billing role (a third browser) sees only the Overview (licences) and My account', async () => {
    const res = await fetch(`${issuer}/api/v1/orgs/${org.org.id}/members`, {
      method: 'POST', headers: { authorization: `Bearer ${org.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Brenda Billing', email: billingEmail, role: 'billing' }),
    });
    const created = await res.json() as any;
    assert.equal(res.status, 201, `POST members: ${JSON.stringify(created)}`);
    const billingPassword = 'ledger lamp under the stairs';
    await testDb()('accounts').where({ id: created.member.accountId })
      .update({ password_hash: await hasher.hash(billingPassword), must_change_password: false, temporary_password_expires_at: null });

    const billing = await newBrowserPage();
    await signInToConsole(billing, billingEmail, billingPassword);
    assert.deepEqual(await navEntries(billing), ['Overview', 'My account'], 'billing: the Overview and their own account only');
    const licences = billing.locator('section[aria-labelledby="lic-h"]');
    assert.match(await licences.locator('.big').innerText(), /^\d+ used \(no limit\)$/, 'the licences');
    assert.equal(await billing.locator('#lic-limit').count(), 1, 'billing may change the licence limit');
    assert.equal(await billing.locator('#org-name, section[aria-labelledby="login-h"]').count(), 0, 'nothing else of the organisation');
    await go(billing, 'My account');
    assert.ok((await billing.locator('main').innerText()).includes(billingEmail));
    await billing.close();
  });

  it('8. axe-core on every console page the owner reaches and on the open Invite dialog: no serious or critical violation; Members fits a phone\'s width', async () => {
    assert.ok(owner, 'step 1 signed the owner in');
    checks.clear();
    await go(owner, 'Overview');
    await checks.accessible(owner, 'Overview');
    await go(owner, 'Members');
    await waitForRow(owner, memberEmail, 'listed', () => true);
    await checks.accessible(owner, 'Members');
    await assertFitsPhoneWidth(owner, 'Members');

    // The Invite dialog, open.
    await owner.getByRole('button', { name: 'Invite people', exact: true }).click();
    const dialog = await openDialog(owner, 'Invite people');
    await eventually('the roles in the Invite dialog', () => dialog.locator('#invite-role option').count(), (n) => n > 0);
    await dialog.locator('#invite-message').fill('A message, to see the counter.');
    await checks.accessible(owner, 'the Invite dialog (open)');
    await assertFitsPhoneWidth(owner, 'the Invite dialog (open)');
    await dialog.getByRole('button', { name: 'Cancel', exact: true }).click();
    await noDialogOpen(owner, 'the Invite dialog closes on Cancel');

    // A member's page, from their name in the table.
    await row(owner, memberEmail).getByRole('link', { name: memberName, exact: true }).click();
    await consolePage(owner, memberName);
    assert.equal(new URL(owner.url()).pathname, `/console/${slug}/members/${memberId}`);
    await checks.accessible(owner, 'Member detail');

    for (const [entry, heading] of [['Groups'], ['Roles'], ['Sessions'], ['Sign-in activity'], ['Audit log'], ['Settings'], ['My account']] as [string, string?][]) {
      await go(owner, entry, heading);
      await checks.accessible(owner, entry);
    }
    checks.assertNone('the console has');
  });

  it('9. a screenshot of the Members page (the owner, a few members and one invitation) at desktop width: docs/console-members.png', async () => {
    assert.ok(owner, 'step 1 signed the owner in');
    const api = (path: string, body: unknown) => fetch(`${issuer}/api/v1/orgs/${org.org.id}${path}`, {
      method: 'POST', headers: { authorization: `Bearer ${org.apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify(body),
    }).then(async (r) => { const b = await r.json(); assert.equal(r.status, 201, `POST ${path}: ${JSON.stringify(b)}`); return b as any; });
    for (const [name, local, role] of [['Grace Hopper', 'grace', 'member'], ['Alan Turing', 'alan', 'member'], ['Katherine Johnson', 'katherine', 'admin']]) {
      await api('/members', { name, email: `${local}@${domain}`, role });
    }
    const pending = `linus@${domain}`;
    await api('/invitations', { emails: [pending], role: 'member', message: 'Join us on Roster.' });

    await owner.setViewportSize(DESKTOP);
    await owner.emulateMedia({ colorScheme: 'light' });
    await go(owner, 'Members');
    await owner.reload({ waitUntil: 'load' }); // everything fresh
    await consolePage(owner, 'Members');
    await waitForRow(owner, pending, 'invited', (c) => /^invited\b/.test(c[2]));
    await waitForRow(owner, memberEmail, 'an admin (roles loaded)', (c) => c[1] === 'Admin');
    const rows = await owner.locator('main table tbody tr').count();
    assert.ok(rows >= 6, `a few members and one invitation: ${rows} rows`);
    mkdirSync(dirname(SCREENSHOT), { recursive: true });
    await owner.screenshot({ path: SCREENSHOT, fullPage: true });
    await owner.emulateMedia({ colorScheme: null });
    assert.ok(statSync(SCREENSHOT).size > 10_000, `${SCREENSHOT} is a picture`);
  });
});
