// Shared pieces of the sign-in suites (sign-in.test.ts, sign-in-review.test.ts): an in-process server, a
// browser with its own address that remembers every response, the steps of a sign-in with a real
// openid-client as the application, the mail the pages queue (the outbox), and database views.
//
// Each browser comes from its own address (X-Forwarded-For, believed: trustProxy), so the per-IP throttle
// of one test never counts another's failures.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as client from 'openid-client';
import { Browser, headingOf, type PageResult } from '../../conformance/oidc/browser.ts';
import { createClient } from '../../src/directory/clients.ts';
import { createPasswordHasher, type PasswordHasher } from '../../src/directory/passwords.ts';
import { createUser, newOrg, type TestOrg, unique } from '../helpers.ts';
import { type Srv, startServer as startTestServer, stopServer, testLogger } from '../oidc-server.ts';
import { testDb } from '../setup.ts';

export const actor = { type: 'system', id: 'test' } as const;
export const logger = testLogger;

// ---------------------------------------------------------------------------------------------------------
// An in-process server (the app with the OIDC service), as many as a test needs.

export type { Srv };
export { stopServer };

/** trustProxy (default true here): every browser of these suites comes from its own X-Forwarded-For address. */
export const startServer = (opts: Parameters<typeof startTestServer>[0] = {}): Promise<Srv> => startTestServer({ ...opts, trustProxy: opts.trustProxy ?? true });

/** A member of a new organisation with a password the organisation set, and an application of that organisation. */
export async function personAt(srv: Srv, label: string, password: string) {
  const org = await newOrg();
  const app = await registerApp(srv, org);
  const email = `${unique(label)}@example.test`;
  await createUser(org.scim, email, { password });
  return { org, app, email, password, account: await accountOf(email) };
}

/** A PasswordHasher that counts its calls (a real argon2id hasher underneath). */
export function countingHasher() {
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

/** An IPv6 address of a /64 of its own (the per-network throttle counts a /64 as one). */
export const randomIp = () => `2001:db8:${[...randomBytes(12)].reduce((out, b, i) => out + (i % 2 === 0 ? (i ? ':' : '') : '') + b.toString(16).padStart(2, '0'), '')}`;

export class TestBrowser extends Browser {
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

export type App = { org: TestOrg; clientId: string; redirect: string; config: client.Configuration };

export async function registerApp(srv: Srv, org: TestOrg): Promise<App> {
  const redirect = `https://${unique('app-')}.example/callback`;
  const { clientId, clientSecret } = await createClient(testDb(), { orgId: org.org.id, actor, redirectUris: [redirect], public: false });
  const config = await client.discovery(new URL(srv.issuer), clientId, undefined, client.ClientSecretBasic(clientSecret!), { execute: [client.allowInsecureRequests] });
  return { org, clientId, redirect, config };
}

export const toApp = (app: { redirect: string }) => ({ stopAt: (u: string) => u.startsWith(app.redirect) });

export async function authorize(app: App, browser: Browser, opts: { scope?: string; prompt?: string } = {}) {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const url = client.buildAuthorizationUrl(app.config, {
    redirect_uri: app.redirect, scope: opts.scope ?? 'openid email profile offline_access', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state,
    ...(opts.prompt ? { prompt: opts.prompt } : {}),
  });
  const page = await browser.go(url.toString(), toApp(app));
  return { page, finish: (callback: string) => client.authorizationCodeGrant(app.config, new URL(callback), { pkceCodeVerifier: verifier, expectedState: state }) };
}

/** E-mail, then password: the page (or the redirect to the application) that follows. */
export async function passwordSignIn(app: App, browser: Browser, email: string, password: string, opts: { prompt?: string } = {}) {
  const { page, finish } = await authorize(app, browser, opts);
  assert.equal(headingOf(page.html), 'Sign in', page.html.slice(0, 300));
  const pw = await browser.submit(page, '/email', { email });
  assert.equal(headingOf(pw.html), 'Enter your password', pw.html.slice(0, 300));
  const after = await browser.submit(pw, '/password', { password }, toApp(app));
  return { passwordPage: pw, page: after, finish };
}

/** A code reached the application's redirect URI. */
export const codeReached = (app: { redirect: string }, browser: TestBrowser) => browser.locations().some((l) => l.startsWith(app.redirect) && new URL(l).searchParams.has('code'));

export const uidOf = (p: PageResult) => /\/oidc\/interaction\/([^/?#]+)/.exec(p.url)![1];

/** The CSRF token of the page's forms. */
export const csrfOf = (p: PageResult) => /name="_csrf" value="([^"]+)"/.exec(p.html)![1];

export const accountOf = (email: string) => testDb()('accounts').whereRaw('lower(email) = lower(?)', [email]).first();
export const eventsOf = (orgId: string) => testDb()('auth_events').where({ org_id: orgId }).orderBy('id');
export const sessionsOf = (orgId: string, accountId: string) => testDb()('sessions').where({ org_id: orgId, account_id: accountId }).orderBy('created_at');
export const interactionPayload = async (uid: string) => (await testDb()('oidc_payloads').where({ model: 'Interaction', id: uid }).first('payload', 'consumed_at', 'expires_at')) ?? null;

/** The page with what changes from one response to the next (and the e-mail typed) taken out. */
export function normalised(html: string, typed: string[] = []): string {
  let out = html
    .replace(/name="_csrf" value="[^"]*"/g, 'name="_csrf" value="CSRF"')
    .replace(/nonce="[^"]*"/g, 'nonce="NONCE"')
    .replace(/\/oidc\/interaction\/[\w-]+/g, '/oidc/interaction/UID');
  for (const t of typed) out = out.split(t).join('EMAIL');
  return out;
}

/** A 4xx HTML page that shows nothing of the server's insides. */
export function assertCleanClientError(res: PageResult, what: string): void {
  assert.ok(res.status >= 400 && res.status < 500, `${what}: answered ${res.status} ${res.html.slice(0, 300)}`);
  assert.match(String(res.headers.get('content-type')), /^text\/html/, `${what}: content-type`);
  assert.match(res.html, /<h1>[^<]+<\/h1>/, `${what}: a page with a heading`);
  assert.doesNotMatch(res.html, /\bat [\w.<>]+ \(|node:internal|node_modules|\/work\/|\.ts:\d+|\w+Error\b|\bstack\b/i, `${what}: stack trace text: ${res.html.slice(0, 600)}`);
}

// ---------------------------------------------------------------------------------------------------------
// The mailbox: what the pages queued in the outbox, per recipient.

export type Mail = { id: string; to_address: string; subject: string; text_body: string; created_at: Date };

/** Every message queued to this address, oldest first. */
export const mailTo = (address: string): Promise<Mail[]> =>
  testDb()('outbox').whereRaw('lower(to_address) = lower(?)', [address]).orderBy('seq').select('id', 'to_address', 'subject', 'text_body', 'created_at');

/** The six-digit code of a sign-in code message (its own indented line). */
export function codeIn(mail: Mail): string {
  const code = /^ {4}(\d{6})$/m.exec(mail.text_body)?.[1];
  assert.ok(code, `no code in the message: ${mail.text_body}`);
  return code;
}

/** The newest sign-in code sent to this address. */
export async function latestCodeTo(address: string): Promise<string> {
  const mails = await mailTo(address);
  assert.ok(mails.length > 0, `no message to ${address}`);
  return codeIn(mails[mails.length - 1]);
}

/** The password-reset link of a message. */
export function resetLinkIn(mail: Mail): string {
  const link = /^(https?:\/\/\S+\/account\/reset-password\?token=[\w-]+)$/m.exec(mail.text_body)?.[1];
  assert.ok(link, `no reset link in the message: ${mail.text_body}`);
  return link;
}

/** A six-digit code that is not `code`. */
export const otherCode = (code: string, n = 1) => String((Number(code) + n) % 1_000_000).padStart(6, '0');
