// Upstream SSO, the relying-party side: Roster signs a person in at the organisation's own OpenID provider
// (Okta, Entra ID, Google...) with openid-client: authorization code + PKCE (S256), state and nonce, scope
// `openid email profile`. What comes back must carry an e-mail address the upstream verified, inside the
// domains the connection claims. Every refusal is an UpstreamError with a code (the auth-event reason the
// sign-in pages record it under) and, when the upstream said why, its error and description.
//
// Discovery documents are cached per issuer for a few minutes (and the keys that signed its ID tokens with
// them); `checkIssuer`, used when a connection is saved, always fetches afresh.
import * as client from 'openid-client';
import { Invalid } from '../directory/errors.ts';
import { checkIssuerUrl, emailDomain, type SsoConnectionWithSecret } from '../directory/sso.ts';

/** What talking to the upstream needs of a connection (`getSsoConnectionForSignIn`). */
export type UpstreamConnection = Pick<SsoConnectionWithSecret, 'issuer' | 'clientId' | 'clientSecret' | 'domains'>;

export type UpstreamMetadata = { issuer: string; authorizationEndpoint: string; tokenEndpoint: string; userinfoEndpoint: string | null };

/** What the browser must be sent to, and what to keep (in the interaction, never in the browser) until it returns. */
export type UpstreamLoginStart = { url: string; state: string; nonce: string; codeVerifier: string };

/** The person the upstream signed in: its e-mail is verified and inside the connection's domains. */
export type UpstreamLogin = {
  issuer: string;
  subject: string;
  email: string;
  emailVerified: true;
  givenName: string | null;
  familyName: string | null;
  /** RFC 8176 methods the upstream reports (`mfa`, `otp`, `pwd`, `hwk`...); empty when it says nothing. */
  amr: string[];
};

export type UpstreamErrorCode =
  /** The upstream answered with an OAuth error (authorization or token endpoint): see upstreamError. */
  | 'upstream_error'
  /** The answer did not check out (state, nonce, ID token signature or claims, issuer). */
  | 'upstream_invalid_response'
  /** The upstream could not be reached, or its discovery document could not be used. */
  | 'upstream_unreachable'
  | 'email_missing'
  | 'email_not_verified'
  | 'email_outside_domains';

export class UpstreamError extends Error {
  readonly code: UpstreamErrorCode;
  /** The OAuth error code the upstream gave (access_denied, invalid_grant...), if it gave one. */
  readonly upstreamError: string | null;
  readonly upstreamDescription: string | null;
  /** The e-mail the upstream asserted, when the refusal is about it. */
  readonly email: string | null;
  constructor(code: UpstreamErrorCode, message: string, info: { upstreamError?: string; upstreamDescription?: string; email?: string; cause?: unknown } = {}) {
    super(message, { cause: info.cause });
    this.name = 'UpstreamError';
    this.code = code;
    this.upstreamError = info.upstreamError ?? null;
    this.upstreamDescription = info.upstreamDescription ?? null;
    this.email = info.email ?? null;
  }
}

export const UPSTREAM_SCOPE = 'openid email profile';
/** Where every upstream sends the browser back: the redirect URI an organisation registers there. */
export const SSO_CALLBACK_PATH = '/sso/callback';
export const ssoRedirectUri = (issuer: string) => `${issuer.replace(/\/$/, '')}${SSO_CALLBACK_PATH}`;
const DISCOVERY_TTL_MS = 5 * 60_000;
const TIMEOUT_SECONDS = 10;
const CACHE_LIMIT = 1000;

type Cached = { at: number; metadata: client.ServerMetadata; jwks?: ReturnType<typeof client.getJwksCache> };
const discoveries = new Map<string, Cached>();

/** Plain http is allowed only to the loopback (checkIssuerUrl refuses anything else). */
const insecure = (issuer: string) => new URL(issuer).protocol === 'http:';

/** Why a request to the upstream failed, in a few words. */
function reasonOf(err: unknown): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return `no answer within ${TIMEOUT_SECONDS} s`;
  if (e?.message === 'fetch failed') return `cannot connect (${e.cause?.code ?? e.cause?.message ?? 'network error'})`;
  if (e?.cause instanceof Response) return `${e.message} (${e.cause.status})`;
  const detail = e?.cause?.message && e.cause.message !== e.message ? `: ${e.cause.message}` : '';
  return `${e?.message ?? String(err)}${detail}`;
}

async function fetchMetadata(issuer: string): Promise<client.ServerMetadata> {
  const config = await client.discovery(new URL(issuer), 'roster', undefined, undefined, {
    timeout: TIMEOUT_SECONDS, execute: insecure(issuer) ? [client.allowInsecureRequests] : [],
  });
  const metadata = { ...config.serverMetadata() } as client.ServerMetadata;
  const missing = (['authorization_endpoint', 'token_endpoint', 'jwks_uri'] as const).filter((k) => typeof metadata[k] !== 'string');
  if (missing.length) throw new Error(`it has no ${missing.join(', ')}`);
  if (metadata.response_types_supported && !metadata.response_types_supported.includes('code')) throw new Error('it does not support the authorization code flow');
  if (metadata.code_challenge_methods_supported && !metadata.code_challenge_methods_supported.includes('S256')) throw new Error('it does not support PKCE with S256');
  if (metadata.scopes_supported && !metadata.scopes_supported.includes('openid')) throw new Error('it does not support the openid scope');
  if (discoveries.size >= CACHE_LIMIT) discoveries.delete(discoveries.keys().next().value!);
  discoveries.set(issuer, { at: Date.now(), metadata });
  return metadata;
}

/**
 * Fetches and checks the issuer's discovery document (the issuer it names must be this one; it must offer
 * the code flow, PKCE S256 where it says, and a JWKS). For saving a connection: a failure is an Invalid with
 * one line saying why. Returns the issuer as the document spells it (what ID tokens carry in `iss`).
 */
export async function checkIssuer(issuer: string): Promise<UpstreamMetadata> {
  checkIssuerUrl(issuer);
  let metadata: client.ServerMetadata;
  try {
    metadata = await fetchMetadata(issuer);
  } catch (err) {
    throw new Invalid(`the issuer ${issuer} cannot be used: its discovery document (${issuer.replace(/\/$/, '')}/.well-known/openid-configuration) failed: ${reasonOf(err)}`, { field: 'issuer', rule: 'discovery_failed' });
  }
  return {
    issuer: metadata.issuer, authorizationEndpoint: metadata.authorization_endpoint!, tokenEndpoint: metadata.token_endpoint!,
    userinfoEndpoint: metadata.userinfo_endpoint ?? null,
  };
}

/** Forgets the cached discovery documents (tests; an operator who fixed an upstream needs no restart: it expires). */
export function clearDiscoveryCache(): void {
  discoveries.clear();
}

/** openid-client's configuration for the connection, from the cached (or freshly fetched) discovery document. */
async function configurationFor(connection: UpstreamConnection): Promise<{ config: client.Configuration; cached: Cached }> {
  let cached = discoveries.get(connection.issuer);
  if (!cached || Date.now() - cached.at > DISCOVERY_TTL_MS) {
    try {
      await fetchMetadata(connection.issuer);
    } catch (err) {
      throw new UpstreamError('upstream_unreachable', `the identity provider ${connection.issuer} cannot be used: ${reasonOf(err)}`, { cause: err });
    }
    cached = discoveries.get(connection.issuer)!;
  }
  const { metadata } = cached;
  // client_secret_basic is the default of the specification; post where the upstream offers only that.
  const methods = metadata.token_endpoint_auth_methods_supported;
  const auth = !methods || methods.includes('client_secret_basic') ? client.ClientSecretBasic(connection.clientSecret) : client.ClientSecretPost(connection.clientSecret);
  const config = new client.Configuration(metadata, connection.clientId, { client_secret: connection.clientSecret }, auth);
  config.timeout = TIMEOUT_SECONDS;
  if (insecure(connection.issuer)) client.allowInsecureRequests(config);
  if (cached.jwks) client.setJwksCache(config, cached.jwks);
  return { config, cached };
}

/** The authorization request to send the browser to: code + PKCE S256, state, nonce; `loginHint` prefills the upstream's form. */
export async function startUpstreamLogin(input: { connection: UpstreamConnection; redirectUri: string; loginHint?: string; statePrefix?: string }): Promise<UpstreamLoginStart> {
  const { config } = await configurationFor(input.connection);
  const codeVerifier = client.randomPKCECodeVerifier();
  // A prefix (the sign-in's interaction) lets the callback find where to continue; the random part is the check.
  const state = `${input.statePrefix ? `${input.statePrefix}.` : ''}${client.randomState()}`;
  const nonce = client.randomNonce();
  const params: Record<string, string> = {
    redirect_uri: input.redirectUri, response_type: 'code', scope: UPSTREAM_SCOPE, state, nonce,
    code_challenge: await client.calculatePKCECodeChallenge(codeVerifier), code_challenge_method: 'S256',
  };
  if (input.loginHint) params.login_hint = input.loginHint;
  return { url: client.buildAuthorizationUrl(config, params).toString(), state, nonce, codeVerifier };
}

function mapGrantError(err: unknown): UpstreamError {
  if (err instanceof client.AuthorizationResponseError || err instanceof client.ResponseBodyError) {
    const description = err.error_description ? `: ${err.error_description}` : '';
    return new UpstreamError('upstream_error', `the identity provider answered ${err.error}${description}`, { upstreamError: err.error, upstreamDescription: err.error_description, cause: err });
  }
  if (err instanceof client.WWWAuthenticateChallengeError) {
    return new UpstreamError('upstream_error', 'the identity provider refused the request', { upstreamError: err.cause[0]?.parameters.error, cause: err });
  }
  if (err instanceof client.ClientError) return new UpstreamError('upstream_invalid_response', `the identity provider's answer did not check out: ${reasonOf(err)}`, { cause: err });
  const e = err as { name?: string; message?: string };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError' || e?.message === 'fetch failed') {
    return new UpstreamError('upstream_unreachable', `the identity provider could not be reached: ${reasonOf(err)}`, { cause: err });
  }
  throw err;
}

const text = (v: unknown): string | null => (typeof v === 'string' && v.trim() !== '' ? v.trim() : null);
/** email_verified as a boolean (a few providers send "true"); Entra ID says `xms_edov` (the domain owner verified it). */
const isVerified = (claims: Record<string, unknown>) => [claims.email_verified, claims.xms_edov].some((v) => v === true || v === 'true' || v === 1);

/**
 * Completes the sign-in with what the upstream sent to the callback (`callbackUrl`: the redirect URI registered
 * upstream, with the query received), checking state, nonce and PKCE; claims missing from the ID token are
 * read from userinfo. The e-mail must be verified and inside the connection's domains.
 */
export async function finishUpstreamLogin(input: {
  connection: UpstreamConnection;
  callbackUrl: URL | string;
  expected: { state: string; nonce: string; codeVerifier: string };
}): Promise<UpstreamLogin> {
  const { connection, expected } = input;
  const { config, cached } = await configurationFor(connection);
  let tokens: Awaited<ReturnType<typeof client.authorizationCodeGrant>>;
  let claims: Record<string, unknown>;
  try {
    tokens = await client.authorizationCodeGrant(config, new URL(input.callbackUrl), {
      pkceCodeVerifier: expected.codeVerifier, expectedState: expected.state, expectedNonce: expected.nonce, idTokenExpected: true,
    });
    claims = { ...tokens.claims()! };
    const needsUserinfo = text(claims.email) === null || !isVerified(claims) || text(claims.given_name) === null;
    if (needsUserinfo && config.serverMetadata().userinfo_endpoint && tokens.access_token) {
      const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub as string);
      for (const k of ['email', 'email_verified', 'given_name', 'family_name'] as const) if (claims[k] === undefined && info[k] !== undefined) claims[k] = info[k];
    }
  } catch (err) {
    throw mapGrantError(err);
  }
  const jwks = client.getJwksCache(config);
  if (jwks) cached.jwks = jwks;
  const email = text(claims.email);
  if (!email) throw new UpstreamError('email_missing', 'the identity provider did not give an e-mail address (is the email scope or claim released?)');
  if (!isVerified(claims)) throw new UpstreamError('email_not_verified', `the identity provider does not say that ${email} is verified`, { email });
  const domain = emailDomain(email);
  if (!domain || !connection.domains.includes(domain)) throw new UpstreamError('email_outside_domains', `${email} is not in the domains of this organisation's connection`, { email });
  return {
    issuer: claims.iss as string,
    subject: claims.sub as string,
    email,
    emailVerified: true,
    givenName: text(claims.given_name),
    familyName: text(claims.family_name),
    amr: Array.isArray(claims.amr) ? claims.amr.filter((m): m is string => typeof m === 'string') : [],
  };
}
