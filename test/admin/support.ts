// Shared pieces of the admin API suites (test/admin/*.test.ts, test/security/admin-review.test.ts), which
// call an in-process server (test/oidc-server.ts) over real HTTP: the API caller, an organisation with a
// caller bound to it, and a person's sign-in to an application of the organisation through the OIDC pages
// (the way the console gets the access token it calls the API with). adminServer() starts a server for a
// describe block and gives them bound to it.
import assert from 'node:assert/strict';
import * as client from 'openid-client';
import { Browser, type PageResult } from '../../conformance/oidc/browser.ts';
import { createClient } from '../../src/directory/clients.ts';
import { newOrg, type TestOrg, unique } from '../helpers.ts';
import { type Srv, startServer, stopServer } from '../oidc-server.ts';
import { testDb } from '../setup.ts';

/** An answer of the admin API: the status, the content-type ('' when none) and the body (see callApi). */
export type ApiResponse = { status: number; type: string; body: any };

/**
 * One request to the admin API of the server at `issuer`: `path` is under /api/v1. `token` (an API key, or
 * an access token) is sent as a Bearer credential, none when null. `body`: none when undefined, a string
 * is sent as it is (to send malformed JSON), anything else as JSON. The answer's body is its JSON, null
 * when empty, and the text itself when it is not JSON.
 */
export async function callApi(issuer: string, method: string, path: string, token: string | null, body?: unknown): Promise<ApiResponse> {
  const res = await fetch(`${issuer}/api/v1${path}`, {
    method,
    headers: { ...(token === null ? {} : { authorization: `Bearer ${token}` }), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try { parsed = text ? JSON.parse(text) : null; } catch { /* not JSON: kept as text */ }
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: parsed };
}

/**
 * `api(method, path, token, body)`: callApi on the server whose issuer `issuer()` gives at each call (a
 * suite starts its server in before(), after it has made its helpers).
 */
export const adminApi = (issuer: () => string) =>
  (method: string, path: string, token: string | null, body?: unknown): Promise<ApiResponse> => callApi(issuer(), method, path, token, body);

/** An organisation (helpers' newOrg) and `call`: its admin API, paths relative to /api/v1/orgs/{orgId}, the owner's API key unless told. */
export type Team = TestOrg & { id: string; call: (method: string, path: string, body?: unknown, token?: string) => Promise<ApiResponse> };

export async function newTeam(issuer: string): Promise<Team> {
  const org = await newOrg();
  const call = (method: string, path: string, body?: unknown, token = org.apiKey) => callApi(issuer, method, `/orgs/${org.org.id}${path}`, token, body);
  return { ...org, id: org.org.id, call };
}

/** The token of the newest invitation e-mail to this address (from the outbox). */
export async function invitationTokenSentTo(to: string): Promise<string> {
  const mails = await testDb()('outbox').whereRaw('lower(to_address) = lower(?)', [to]).orderBy('seq').select('text_body');
  const m = /account\/invitation\?token=(rst_inv_[A-Za-z0-9_-]{43})/.exec(mails.at(-1)?.text_body ?? '');
  assert.ok(m, `an invitation link in the last mail to ${to}`);
  return m[1];
}

/** Where the application a test signs in to (a confidential client of the organisation) gets the code back. */
export const REDIRECT = 'https://console.example/callback';

export type SignInOptions = {
  /** The scope asked for: `openid email` unless told. */
  scope?: string;
  /** A wrong password tried first (a failed attempt on record), before `password`. */
  wrongPasswordFirst?: string;
  /**
   * The forced change of a temporary password after the password page: `required` (the default: the page
   * must ask for it, as it does after a temporary password) or `if-asked` (for a password of the person's
   * own, or when it is not known which).
   */
  passwordChange?: 'required' | 'if-asked';
  /** The password chosen at the change: a fresh one unless told. */
  newPassword?: string;
};

/**
 * A person signs in to a new application of the organisation `orgId` (a confidential client, code flow
 * with PKCE) through the OIDC pages of the server at `issuer`: e-mail, password, and the password change
 * the first sign-in asks for. Asserts the pages come back to the application; the tokens of the code, and
 * the client's configuration (for a refresh).
 */
export async function signInFlow(issuer: string, orgId: string, email: string, password: string, opts: SignInOptions = {}) {
  const { clientId, clientSecret } = await createClient(testDb(), { orgId, actor: { type: 'system', id: 'test' }, redirectUris: [REDIRECT], public: false });
  const config = await client.discovery(new URL(issuer), clientId, undefined, client.ClientSecretBasic(clientSecret!), { execute: [client.allowInsecureRequests] });
  const verifier = client.randomPKCECodeVerifier();
  const browser = new Browser();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT, scope: opts.scope ?? 'openid email', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state: 's',
  });
  const stopAt = (u: string) => u.startsWith(REDIRECT);
  const back = (page: PageResult) => page.location?.startsWith(REDIRECT) ?? false;
  let page = await browser.go(url.toString(), { stopAt });
  page = await browser.submit(page, '/email', { email });
  if (opts.wrongPasswordFirst !== undefined) page = await browser.submit(page, '/password', { password: opts.wrongPasswordFirst }, { stopAt });
  page = await browser.submit(page, '/password', { password }, { stopAt });
  if ((opts.passwordChange ?? 'required') === 'required' || !back(page)) {
    page = await browser.submit(page, '/change-password', { password: opts.newPassword ?? `a passphrase of my own ${unique()}` }, { stopAt });
  }
  assert.ok(back(page), `signed in: ${page.status} ${page.url} ${page.html.slice(0, 300)}`);
  const tokens = await client.authorizationCodeGrant(config, new URL(page.location!), { pkceCodeVerifier: verifier, expectedState: 's' });
  return { tokens, config };
}

/** signInFlow's access token: what the person calls the admin API with. */
export async function signIn(issuer: string, orgId: string, email: string, password: string, opts: SignInOptions = {}): Promise<string> {
  return (await signInFlow(issuer, orgId, email, password, opts)).tokens.access_token;
}

/**
 * For a describe block: starts a server (test/oidc-server.ts startServer) before its tests and stops it after
 * them; the helpers above, bound to it (usable in tests and hooks, once it has started).
 */
export function adminServer(options?: Parameters<typeof startServer>[0]) {
  let srv: Srv | undefined;
  before(async () => { srv = await startServer(options); });
  after(() => stopServer(srv));
  const issuer = (): string => {
    if (!srv) throw new Error('the admin test server is not started (adminServer() starts it in a before hook)');
    return srv.issuer;
  };
  return {
    /** The server's base URL (http://127.0.0.1:<port>), also its OIDC issuer. */
    issuer,
    api: adminApi(issuer),
    newTeam: () => newTeam(issuer()),
    /** The invitation page of a token, on this server. */
    invitationUrl: (token: string) => `${issuer()}/account/invitation?token=${encodeURIComponent(token)}`,
    signIn: (orgId: string, email: string, password: string, opts?: SignInOptions) => signIn(issuer(), orgId, email, password, opts),
    signInFlow: (orgId: string, email: string, password: string, opts?: SignInOptions) => signInFlow(issuer(), orgId, email, password, opts),
  };
}
