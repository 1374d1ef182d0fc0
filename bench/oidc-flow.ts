// The browser side and the relying party's side of the OIDC benchmark's flows, lean enough to be the load
// generator itself: plain node:http on one keep-alive socket per simulated person, a cookie jar that keeps
// paths apart (the provider's interaction and resume cookies are path-scoped), and the three things a relying
// party does: send the person to the authorization endpoint and follow them to the code at its redirect URI,
// exchange the code, and refresh (with rotation: each refresh uses the token the previous one returned).
//
// The walk is the one conformance/oidc/browser.ts scripts (whose form parsing it reuses): GET the authorization
// URL, follow the 303s, and on a page submit its form: the e-mail page, then the password page. Any other page,
// status or redirect is an error, so a walk that completes is a sign-in that reached the code.
import { createHash, randomBytes } from 'node:crypto';
import { Agent, request as httpRequest } from 'node:http';
import { headingOf, hiddenFields } from '../conformance/oidc/browser.ts';

export type HttpResponse = { status: number; headers: Record<string, string | string[] | undefined>; body: string };

/** A failure of a walk or a grant: `status` is the HTTP status that was not expected (0: no response). */
export class FlowError extends Error {
  readonly status: number;
  constructor(message: string, status: number) {
    super(message);
    this.status = status;
  }
}

/** One keep-alive connection (a simulated person's browser, or a relying party's back channel). */
export class Http {
  readonly agent = new Agent({ keepAlive: true, maxSockets: 1 });
  requests = 0;

  request(url: URL, init: { method?: string; headers?: Record<string, string>; body?: string; timeoutMs?: number } = {}): Promise<HttpResponse> {
    this.requests++;
    const body = init.body === undefined ? undefined : Buffer.from(init.body);
    return new Promise((resolve, reject) => {
      const req = httpRequest(url, {
        method: init.method ?? 'GET', agent: this.agent,
        headers: { ...init.headers, ...(body ? { 'content-length': String(body.length) } : {}) },
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      req.setTimeout(init.timeoutMs ?? 30_000, () => req.destroy(new FlowError(`timeout: ${init.method ?? 'GET'} ${url.pathname}`, 0)));
      req.on('error', reject);
      req.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** A browser's cookies for one host: name -> value and path (the provider scopes its interaction cookies by path). */
class CookieJar {
  private readonly cookies = new Map<string, { value: string; path: string }>();

  header(path: string): string {
    return [...this.cookies].filter(([, c]) => path.startsWith(c.path)).map(([k, c]) => `${k}=${c.value}`).join('; ');
  }

  store(setCookie: string | string[] | undefined): void {
    for (const line of Array.isArray(setCookie) ? setCookie : setCookie ? [setCookie] : []) {
      const [pair, ...attrs] = line.split(';').map((s) => s.trim());
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      const path = attrs.find((a) => a.toLowerCase().startsWith('path='))?.slice(5) || '/';
      const expired = attrs.some((a) => /^expires=/i.test(a) && new Date(a.slice(8)).getTime() < Date.now()) || attrs.some((a) => /^max-age=0$/i.test(a));
      if (expired || value === '') this.cookies.delete(name);
      else this.cookies.set(name, { value, path });
    }
  }
}

export type RelyingParty = {
  /** the server's origin, e.g. http://127.0.0.1:4000 */
  url: string;
  clientId: string;
  redirectUri: string;
  /** HTTP Basic of the confidential client */
  authorization: string;
};

/** Who signs in: an e-mail and password typed into Roster's pages, or (the bare provider) an account id it logs in at once. */
export type Person = { email: string; password: string } | { loginHint: string };

export type SignedIn = { code: string; verifier: string; requests: number; pages: string[] };

const SCOPE = 'openid email profile offline_access';
const USER_AGENT = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36';

const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
const decode = (s: string) => s.replace(/&#(\d+);/g, (_m, n) => String.fromCharCode(Number(n))).replace(/&amp;/g, '&').replace(/&quot;/g, '"');

/**
 * One sign-in with a fresh browser (no cookies): from the authorization request (code, PKCE S256, state,
 * nonce, offline_access) to the code at the redirect URI, submitting the e-mail and password pages on the way.
 * `pages` are the headings of the pages answered, in order. Throws FlowError on anything unexpected.
 */
export async function signIn(http: Http, rp: RelyingParty, person: Person): Promise<SignedIn> {
  const jar = new CookieJar();
  const verifier = randomBytes(32).toString('base64url');
  const state = randomBytes(16).toString('base64url');
  const params = new URLSearchParams({
    client_id: rp.clientId, redirect_uri: rp.redirectUri, response_type: 'code', scope: SCOPE, state, nonce: randomBytes(16).toString('base64url'),
    code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256',
    ...('loginHint' in person ? { login_hint: person.loginHint } : {}),
  });
  const pages: string[] = [];
  const submitted = new Set<string>();
  const start = http.requests;
  let url = new URL(`/oidc/auth?${params}`, rp.url);
  let init: { method: string; body?: string } = { method: 'GET' };
  for (let hops = 0; hops < 20; hops++) {
    const headers: Record<string, string> = { 'user-agent': USER_AGENT, accept: 'text/html' };
    const cookie = jar.header(url.pathname);
    if (cookie) headers.cookie = cookie;
    if (init.body !== undefined) headers['content-type'] = 'application/x-www-form-urlencoded';
    const res = await http.request(url, { ...init, headers });
    jar.store(res.headers['set-cookie']);
    const location = typeof res.headers.location === 'string' ? new URL(res.headers.location, url) : undefined;
    if ((res.status === 302 || res.status === 303) && location) {
      if (location.href.startsWith(rp.redirectUri)) {
        const code = location.searchParams.get('code');
        if (!code || location.searchParams.get('state') !== state) {
          throw new FlowError(`the redirect URI got no code for this state: ${location.search.slice(0, 200)}`, res.status);
        }
        return { code, verifier, requests: http.requests - start, pages };
      }
      url = location;
      init = { method: 'GET' };
      continue;
    }
    const heading = headingOf(res.body);
    if (res.status !== 200) throw new FlowError(`${init.method} ${url.pathname} answered ${res.status} (${heading})`, res.status);
    pages.push(heading);
    // The page's form: the e-mail first, then the password; each once (a second time is a refusal shown again).
    const forms = [...res.body.matchAll(/<form\b[^>]*>[\s\S]*?<\/form>/gi)].map((m) => m[0]);
    const step = 'email' in person
      ? forms.map((f) => ({ f, action: decode(/action="([^"]*)"/.exec(f)?.[1] ?? '') })).find(({ action }) => /\/(email|password)$/.test(action))
      : undefined;
    const kind = step && /\/(email|password)$/.exec(step.action)![1];
    if (!step || !kind || submitted.has(kind)) throw new FlowError(`unexpected page "${heading}" at ${url.pathname}`, res.status);
    submitted.add(kind);
    url = new URL(step.action, url);
    init = { method: 'POST', body: form({ ...hiddenFields(step.f), ...(kind === 'email' ? { email: (person as { email: string }).email } : { password: (person as { password: string }).password }) }) };
  }
  throw new FlowError('too many redirects', 0);
}

export type Tokens = { access_token: string; refresh_token: string; id_token?: string; token_type: string; expires_in: number; scope?: string };

async function tokenRequest(http: Http, rp: RelyingParty, fields: Record<string, string>): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await http.request(new URL('/oidc/token', rp.url), {
    method: 'POST', body: form(fields),
    headers: { authorization: rp.authorization, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
  });
  let json: Record<string, unknown> = {};
  try { json = JSON.parse(res.body) as Record<string, unknown>; } catch { /* not JSON: the status tells */ }
  return { status: res.status, json };
}

const tokensOf = (what: string, r: { status: number; json: Record<string, unknown> }): Tokens => {
  if (r.status !== 200 || typeof r.json.refresh_token !== 'string' || typeof r.json.access_token !== 'string') {
    throw new FlowError(`${what} answered ${r.status} ${JSON.stringify(r.json).slice(0, 300)}`, r.status);
  }
  return r.json as unknown as Tokens;
};

/** The relying party exchanges the code (with its PKCE verifier) for tokens; a refresh token is required. */
export async function exchangeCode(http: Http, rp: RelyingParty, signedIn: SignedIn): Promise<Tokens> {
  return tokensOf('the code exchange', await tokenRequest(http, rp, { grant_type: 'authorization_code', code: signedIn.code, redirect_uri: rp.redirectUri, code_verifier: signedIn.verifier }));
}

/** One refresh grant; the answer must carry a (rotated) refresh token. */
export async function refresh(http: Http, rp: RelyingParty, refreshToken: string): Promise<Tokens> {
  return tokensOf('the refresh grant', await tokenRequest(http, rp, { grant_type: 'refresh_token', refresh_token: refreshToken }));
}

/** A refresh grant's raw answer (to check that a used refresh token is refused). */
export function refreshRaw(http: Http, rp: RelyingParty, refreshToken: string): Promise<{ status: number; json: Record<string, unknown> }> {
  return tokenRequest(http, rp, { grant_type: 'refresh_token', refresh_token: refreshToken });
}

/** Signs in and exchanges the code: the start of a refresh chain. */
export async function mintRefreshToken(rp: RelyingParty, person: Person): Promise<Tokens> {
  const http = new Http();
  try {
    return await exchangeCode(http, rp, await signIn(http, rp, person));
  } finally {
    http.close();
  }
}
