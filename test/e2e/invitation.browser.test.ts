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
//
// The browser, the page checks, the relying party and the outbox are test/e2e/support.ts's.
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { createOrganization } from '../../src/directory/organizations.ts';
import { createPasswordHasher } from '../../src/directory/passwords.ts';
import { unique } from '../helpers.ts';
import { type Srv, startServer, stopServer } from '../oidc-server.ts';
import { testDb } from '../setup.ts';
import {
  assertHeading, bodyText, closeServer, mailTo, PageChecks, RelyingParty, submit, TestBrowser, WAIT,
} from './support.ts';

describe('The invitation page in a real browser (headless Chromium): accessible, join as a new or existing person, decline, expired', function () {
  this.timeout(180_000);
  let srv: Srv | undefined;
  let issuer: string;
  /** Chromium; each test's browser context (nobody signed in, no cookies) is closed at the end whatever happened. */
  const chrome = new TestBrowser();
  const rp = new RelyingParty();
  const hasher = createPasswordHasher();
  // What the page checks found (accessibility, focus, labels, layout), reported together at the end of each test.
  const checks = new PageChecks();

  before(async function () {
    await chrome.launch('invitation');
    srv = await startServer();
    issuer = srv.issuer;
    await rp.start();
  });

  beforeEach(() => { checks.clear(); });

  after(async () => {
    await chrome.close();
    await closeServer(rp.server);
    await stopServer(srv);
  });

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
    const mail = await mailTo(orgId, to);
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
  // The pages.

  /** Opens a URL; the HTTP status of the document. */
  async function open(page: Page, url: string): Promise<number> {
    const response = await page.goto(url, { waitUntil: 'load', timeout: WAIT });
    assert.ok(response, `no answer for ${url}`);
    return response.status();
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
    await checks.focused(page, 'the refused form', field);
  }

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

    const page = await chrome.newPage();
    assert.equal(await open(page, mail.link), 200);
    await checks.page(page, `Join ${orgName}`, 'name');
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
    await checks.labelled(page, `"Join ${orgName}" with an error`);
    await checks.accessible(page, `"Join ${orgName}" with an error`);
    await checks.fitsPhoneWidth(page, `"Join ${orgName}" with an error`);
    assert.equal(await accountOf(email), undefined, 'no account was created');
    assert.equal((await invitationRow(invitationId)).status, 'pending', 'the invitation is still pending');

    // A good password (the name typed again if the page did not keep it): joined.
    if (!(await page.locator('#name').inputValue())) await page.locator('#name').fill('Ada Lovelace');
    const password = 'copper kettle on a windy hill';
    await page.locator('#password').fill(password);
    assert.equal(await submit(page, 'Create account and join'), 200);
    await checks.page(page, `You joined ${orgName}`, null);
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
    await rp.register(issuer, org.org.id);
    rp.reset();
    await open(page, await rp.authorizationUrl());
    await checks.page(page, 'Sign in', 'email');
    await page.locator('#email').fill(email);
    await submit(page, 'Continue');
    await checks.page(page, 'Enter your password', 'password');
    await page.locator('#password').fill(password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await rp.assertSignedIn(page, email);
    assert.equal(rp.claims?.email_verified, true);
    assert.equal(rp.claims?.sub, account.id);
    assert.equal(rp.claims?.org_id, org.org.id);
    await page.close();

    checks.assertNone('the invitation and sign-in pages have');
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

    const page = await chrome.newPage();
    assert.equal(await open(page, mail.link), 200);
    await checks.page(page, `Join ${orgName}`, 'password');
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
    await checks.labelled(page, `"Join ${orgName}" (existing account) with an error`);
    await checks.accessible(page, `"Join ${orgName}" (existing account) with an error`);
    await checks.fitsPhoneWidth(page, `"Join ${orgName}" (existing account) with an error`);
    assert.equal(await membershipOf(org.org.id, other.owner.accountId), undefined, 'no membership');
    assert.equal((await invitationRow(invitationId)).status, 'pending', 'the invitation is still pending');

    // The right one: joined, the same account.
    await page.locator('#password').fill(password);
    assert.equal(await submit(page, `Join ${orgName}`), 200);
    await checks.page(page, `You joined ${orgName}`, null);
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

    checks.assertNone('the invitation pages (existing account) have');
  });

  it('declined from the page: the invitation is declined, and its link then says it no longer works (410), an accessible page', async () => {
    const org = await newOrganization();
    const orgName = org.org.name;
    const email = `${unique('decline-')}@example.test`;
    const invitationId = await invite(org, email, 'member', 'Join us?');
    const mail = await invitationMail(org.org.id, email);

    const page = await chrome.newPage();
    assert.equal(await open(page, mail.link), 200);
    await assertHeading(page, `Join ${orgName}`);
    assert.equal(await submit(page, 'Decline the invitation'), 200);
    await checks.page(page, 'Invitation declined', null);
    assert.match(await page.locator('[role=status]').innerText(), new RegExp(`You declined the invitation to join ${orgName}`));
    const row = await invitationRow(invitationId);
    assert.equal(row.status, 'declined');
    assert.ok(row.responded_at);
    assert.equal(await accountOf(email), undefined, 'no account');

    // The link again: dead.
    assert.equal(await open(page, mail.link), 410);
    await checks.page(page, 'This invitation no longer works', null);
    assert.match(await page.locator('[role=alert]').innerText(), /used, declined or cancelled/);
    assert.equal(await page.locator('form').count(), 0, 'nothing to submit');
    assert.equal((await invitationRow(invitationId)).status, 'declined');
    await page.close();

    checks.assertNone('the declined invitation\'s pages have');
  });

  it('an expired invitation\'s link shows the expired page (410) and changes nothing', async () => {
    const org = await newOrganization();
    const orgName = org.org.name;
    const email = `${unique('expired-')}@example.test`;
    const invitationId = await invite(org, email, 'member');
    const mail = await invitationMail(org.org.id, email);
    await testDb()('invitations').where({ id: invitationId }).update({ expires_at: testDb().raw("now() - interval '1 hour'") });

    const page = await chrome.newPage();
    assert.equal(await open(page, mail.link), 410);
    await checks.page(page, 'This invitation has expired', null);
    assert.match(await page.locator('[role=alert]').innerText(), new RegExp(`at ${orgName} to send you a new one`));
    assert.equal(await page.locator('form').count(), 0, 'nothing to submit');
    const row = await invitationRow(invitationId);
    assert.equal(row.status, 'pending', 'the row is unchanged (it reads as expired)');
    assert.equal(row.responded_at, null);
    assert.equal(await accountOf(email), undefined, 'no account');
    await page.close();

    checks.assertNone('the expired invitation\'s page has');
  });
});
