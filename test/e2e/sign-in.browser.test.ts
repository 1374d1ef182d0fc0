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
//
// The browser, the page checks, the relying party and the outbox are test/e2e/support.ts's.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { pino } from 'pino';
import { generate } from 'otplib';
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
import {
  actor, assertHeading, closeServer, listen, PageChecks, PHONE, RelyingParty, submit, TestBrowser, WAIT,
} from './support.ts';

// This runs inside the page (the project's tsconfig has no DOM library).
declare const window: any;

describe('Sign-in in a real browser (headless Chromium): accessible pages, MFA enrolment, back to the application', function () {
  this.timeout(120_000);
  let server: Server | undefined;
  let issuer: string;
  let oidc: OidcService | undefined;
  /** Chromium; its contexts are closed at the end whatever happened. */
  const chrome = new TestBrowser();
  let idp: UpstreamIdp | undefined;
  const sealer = createSealer(SECRET);
  const rp = new RelyingParty();
  // What the page checks found, all reported together at the end of each test (the flow itself is asserted as it goes).
  const checks = new PageChecks();

  before(async function () {
    await chrome.launch('sign-in');
    await ensureSigningKey(testDb(), sealer);
    server = createServer();
    issuer = await listen(server);
    oidc = await createOidcService({ db: testDb(), issuer, sealer, secret: SECRET, trustProxy: false, logger: pino({ level: 'silent' }) });
    server.on('request', createApp({ db: testDb(), logger: pino({ level: 'silent' }), issuer, oidc: oidc.handler }));
    await rp.start();
    // The organisation's identity provider, with Roster's redirect URI registered as an admin would: {ISSUER}/sso/callback.
    idp = await startUpstreamIdp({ redirectUri: `${issuer}/sso/callback`, hostname: 'localhost' });
  });

  beforeEach(() => { checks.clear(); });

  after(async () => {
    await chrome.close();
    await closeServer(rp.server);
    await idp?.stop();
    clearDiscoveryCache();
    await oidc?.stop();
    await closeServer(server);
  });

  it('a new owner signs in to the application: temporary password, new password, authenticator app, recovery codes', async () => {
    const name = unique('browser-');
    const created = await createOrganization(testDb(), { name, ownerEmail: `owner@${name}.test` });
    await testDb()('organizations').where({ id: created.org.id }).update({ require_mfa: true, mfa_methods: testDb().raw("'{totp}'::text[]") });
    await rp.register(issuer, created.org.id);

    const context = await chrome.newContext();
    const page = await context.newPage();
    await page.goto(await rp.authorizationUrl(), { waitUntil: 'load' });

    // E-mail.
    await checks.page(page, 'Sign in', 'email');
    assert.match(await page.locator('.org').innerText(), new RegExp(created.org.name), "the organisation's name is on the page");
    await page.locator('#email').fill(created.owner.email);
    await submit(page, 'Continue');

    // The temporary password; the same page on a phone (mobile emulation: the viewport meta tag is honoured).
    await checks.page(page, 'Enter your password', 'password');
    const phone = await chrome.newContext({ viewport: PHONE, isMobile: true, hasTouch: true, deviceScaleFactor: 3 });
    try {
      await phone.addCookies(await context.cookies());
      const onPhone = await phone.newPage();
      await onPhone.goto(page.url(), { waitUntil: 'load', timeout: WAIT });
      await assertHeading(onPhone, 'Enter your password');
      const width = await onPhone.evaluate(() => window.innerWidth);
      if (width !== PHONE.width) checks.problems.push(`"Enter your password" on a phone: laid out ${width}px wide, not at the device width ${PHONE.width}px (a missing viewport meta tag, or content wider than the screen)`);
      await checks.noHorizontalScroll(onPhone, `"Enter your password" on a ${PHONE.width}x${PHONE.height} phone`);
      await checks.accessible(onPhone, '"Enter your password" on a phone');
    } finally {
      await phone.close();
    }
    await page.locator('#password').fill(created.owner.temporaryPassword!);
    await submit(page, 'Sign in');

    // The temporary password must be replaced.
    await checks.page(page, 'Choose a new password', 'password');
    await page.locator('#password').fill('a long enough passphrase for chromium');
    await submit(page, 'Save password and continue');

    // The organisation requires MFA: enrol an authenticator app with the key shown under the QR code.
    await checks.page(page, 'Set up an authenticator app', 'code');
    const secret = (await page.locator('#totp-secret').innerText()).replace(/\s+/g, '');
    assert.match(secret, /^[A-Z2-7]{16,}$/, 'a base32 key');
    await page.locator('#code').fill(await generate({ secret }));
    await submit(page, 'Confirm');

    // Recovery codes, shown once.
    await checks.page(page, 'Save your recovery codes', null);
    const codes = await page.locator('#recovery-codes li').allInnerTexts();
    assert.equal(codes.length, 10, `10 recovery codes: ${codes.join(', ')}`);
    assert.equal(new Set(codes).size, 10, 'all different');

    // Back to the application, which exchanges the code and shows who signed in.
    await page.getByRole('button', { name: 'I have saved them: continue', exact: true }).click();
    await rp.assertSignedIn(page, created.owner.email);
    assert.deepEqual(rp.claims?.amr, ['pwd', 'otp', 'mfa']);
    assert.equal(rp.claims?.org_id, created.org.id);
    await page.close();

    checks.assertNone('the sign-in pages have');
  });

  it('a member signs in through the organisation\'s identity provider (upstream SSO), then gives the e-mail code the organisation requires', async () => {
    const name = unique('browser-sso-');
    const created = await createOrganization(testDb(), { name, ownerEmail: `owner@${name}.test` });
    const orgId = created.org.id;
    const domain = `sso-${name}.test`;
    await setSsoConnection(testDb(), sealer, { orgId, actor, issuer: idp!.issuer, clientId: idp!.clientId, clientSecret: idp!.clientSecret, domains: [domain] });
    // The identity provider reports no MFA: the organisation's own rule (an e-mail code) applies.
    await testDb()('organizations').where({ id: orgId }).update({ require_mfa: true, mfa_methods: testDb().raw("'{email}'::text[]") });
    const email = `grace@${domain}`;
    const person = idp!.addAccount({ email, emailVerified: true, givenName: 'Grace', familyName: 'Hopper', amr: ['pwd'] });
    await rp.register(issuer, orgId);

    // A browser of its own: nobody signed in to Roster in it yet.
    const own = await chrome.newContext();
    const page = await own.newPage();
    const visited: string[] = [];
    page.on('request', (request) => { if (request.isNavigationRequest() && request.frame() === page.mainFrame()) visited.push(request.url()); });
    await page.goto(await rp.authorizationUrl(), { waitUntil: 'load' });

    // E-mail: its domain is claimed by the organisation's connection, so Continue goes to the identity provider.
    await checks.page(page, 'Sign in', 'email');
    await page.locator('#email').fill(email);
    await submit(page, 'Continue');

    // Back from the identity provider (through {ISSUER}/sso/callback): the organisation requires a second factor.
    await checks.page(page, 'Two-step verification', null);
    assert.ok(page.url().startsWith(`${issuer}/oidc/interaction/`), page.url());
    assert.ok(visited.some((u) => u.startsWith(`${idp!.issuer}/auth?`)), `the browser went to the identity provider: ${visited.join(' ')}`);
    assert.ok(visited.some((u) => u.startsWith(`${issuer}/sso/callback?`)), `and came back through {ISSUER}/sso/callback: ${visited.join(' ')}`);
    await submit(page, `E-mail a code to ${email}`);
    await checks.page(page, 'Two-step verification', 'email_code');
    const [queued] = await listOutbox(testDb(), { limit: 5, orgId });
    assert.equal(queued?.to, email, 'the code was queued for the person');
    const code = /\b(\d{6})\b/.exec((await getOutboxMessage(testDb(), queued.id)).text)?.[1];
    assert.ok(code, 'a 6-digit code in the message');
    await page.locator('#email_code').fill(code);
    await page.getByRole('button', { name: 'Verify', exact: true }).click();

    // Back to the application.
    await rp.assertSignedIn(page, email);
    assert.equal(rp.claims?.org_id, orgId);
    assert.deepEqual(rp.claims?.amr, ['pwd', 'otp', 'mfa'], 'the identity provider\'s password, then the e-mail code');
    await own.close();

    // Provisioned just in time, the upstream identity linked, every step an event.
    const account = await testDb()('accounts').whereRaw('lower(email) = lower(?)', [email]).first();
    assert.equal(rp.claims?.sub, account.id);
    assert.deepEqual(await testDb()('identities').where({ account_id: account.id }).select('provider', 'subject'), [{ provider: idp!.issuer, subject: person.sub }]);
    const types = (await testDb()('auth_events').where({ org_id: orgId }).orderBy('id').select('type', 'outcome')).map((e) => `${e.type}:${e.outcome}`);
    assert.deepEqual(types, ['sso_redirect:success', 'jit_provisioned:success', 'identity_linked:success', 'sso_sign_in:success', 'mfa_verification:success', 'sign_in:success']);

    checks.assertNone('the SSO sign-in pages have');
  });
});
