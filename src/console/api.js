// The console's only door to the server: it signs in through Roster's own OpenID provider (the
// organisation's built-in public client, authorization code + PKCE) and calls /api/v1 with the member's
// access token, exactly as any other client may. The token lives in this tab's sessionStorage only.

const parts = location.pathname.split('/');
export const slug = parts[2] ?? '';
export const base = `/console/${slug}`;
const clientId = `rst_console_${slug}`;
const redirectUri = `${location.origin}${base}/callback`;
const store = sessionStorage;
const KEY = `roster.console.${slug}`;

const b64url = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
const random = (n = 32) => b64url(crypto.getRandomValues(new Uint8Array(n)));

let metadata;
async function discovery() {
  metadata ??= await fetch('/.well-known/openid-configuration').then((r) => {
    if (!r.ok) throw new Error('the sign-in service did not answer');
    return r.json();
  });
  return metadata;
}

/** The session of this tab: { accessToken, idToken, claims, expiresAt } or null. */
export function session() {
  const raw = store.getItem(KEY);
  if (!raw) return null;
  const s = JSON.parse(raw);
  return s.expiresAt > Date.now() ? s : null;
}

export function forget() {
  store.removeItem(KEY);
}

/** Goes to the sign-in pages; comes back to /callback, then to `returnTo`. */
export async function signIn(returnTo = location.pathname + location.search) {
  const m = await discovery();
  const verifier = random(48);
  const state = random(16);
  const challenge = b64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
  store.setItem(`${KEY}.pending`, JSON.stringify({ verifier, state, returnTo }));
  const url = new URL(m.authorization_endpoint);
  url.search = new URLSearchParams({
    client_id: clientId, response_type: 'code', redirect_uri: redirectUri, scope: 'openid email profile', state,
    code_challenge: challenge, code_challenge_method: 'S256',
  }).toString();
  location.assign(url.toString());
}

/** At /callback: exchanges the code for tokens. Returns where to go next, or throws with a sentence. */
export async function completeSignIn() {
  const params = new URLSearchParams(location.search);
  const pending = JSON.parse(store.getItem(`${KEY}.pending`) ?? 'null');
  store.removeItem(`${KEY}.pending`);
  if (params.get('error')) throw new Error(params.get('error_description') || 'the sign-in was cancelled');
  if (!params.get('code')) return null; // back from signing out
  if (!pending || pending.state !== params.get('state')) throw new Error('this sign-in was started elsewhere: start again');
  const m = await discovery();
  const res = await fetch(m.token_endpoint, {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code: params.get('code'), redirect_uri: redirectUri, client_id: clientId, code_verifier: pending.verifier }),
  });
  const tokens = await res.json();
  if (!res.ok) throw new Error(tokens.error_description || 'the sign-in could not be completed');
  const claims = JSON.parse(atob(tokens.id_token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')));
  store.setItem(KEY, JSON.stringify({ accessToken: tokens.access_token, idToken: tokens.id_token, claims, expiresAt: Date.now() + (tokens.expires_in - 30) * 1000 }));
  return pending.returnTo && pending.returnTo.startsWith(base) && !pending.returnTo.startsWith(`${base}/callback`) ? pending.returnTo : `${base}/`;
}

/** Signs out at the provider (every session of this browser), then back to the console's signed-out page. */
export async function signOut() {
  const s = session();
  forget();
  const m = await discovery();
  const url = new URL(m.end_session_endpoint);
  url.search = new URLSearchParams({ client_id: clientId, post_logout_redirect_uri: redirectUri, ...(s ? { id_token_hint: s.idToken } : {}) }).toString();
  location.assign(url.toString());
}

/** An API failure, in words a person understands; `code` is the API's stable code, `errors` per field. */
export class ApiError extends Error {
  constructor(status, body) {
    super(explain(status, body));
    this.status = status;
    this.code = body?.code;
    this.errors = body?.errors ?? [];
    this.body = body;
  }
}

const sentences = {
  unauthenticated: 'Your session has ended. Sign in again to continue.',
  forbidden: 'You do not have permission to do this.',
  licence_limit_reached: 'All licences are in use. Raise the licence limit, or deactivate someone first.',
  sso_enforced: 'This organisation signs people in through its identity provider only: add people there (SCIM or SSO), not here.',
  managed_by_scim: 'This group comes from your identity provider: change it there.',
  owner_protected: 'The owner cannot be changed this way. Transfer ownership first.',
  self_action: 'You cannot do this to yourself.',
  not_managed: "This person's account is managed by another organisation: only its admins can do this.",
  escalation: 'You cannot hand out more than you can do yourself.',
  already_member: 'This person is already a member.',
  already_invited: 'This address already has a pending invitation: resend it instead.',
  role_in_use: 'Someone still has this role: give them another one first.',
  no_mfa: 'This person has no second factor to reset.',
};

function explain(status, body) {
  const first = (body?.errors ?? [])[0];
  if (body?.code && sentences[body.code] && status !== 400) return sentences[body.code];
  if (first) return `${first.field}: ${first.message}`;
  if (body?.detail) return body.detail.charAt(0).toUpperCase() + body.detail.slice(1) + (body.detail.endsWith('.') ? '' : '.');
  if (status === 0) return 'The server could not be reached. Check your connection and try again.';
  return `Something went wrong (HTTP ${status}). Try again in a moment.`;
}

/** Listeners told when the session ends (a 401): the console shows "sign in again". */
const onEnd = new Set();
export const onSessionEnd = (f) => { onEnd.add(f); return () => onEnd.delete(f); };

/** Calls /api/v1/orgs/{orgId}{path}; JSON in and out; throws ApiError. */
export async function api(orgId, method, path, body) {
  const s = session();
  if (!s) {
    onEnd.forEach((f) => f());
    throw new ApiError(401, { code: 'unauthenticated' });
  }
  let res;
  try {
    res = await fetch(`/api/v1/orgs/${orgId}${path}`, {
      method, headers: { authorization: `Bearer ${s.accessToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, null);
  }
  const text = await res.text();
  const json = text ? JSON.parse(text) : null;
  if (res.status === 401) {
    forget();
    onEnd.forEach((f) => f());
  }
  if (!res.ok) throw new ApiError(res.status, json);
  return json;
}
