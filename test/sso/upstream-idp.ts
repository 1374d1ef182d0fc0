// A real upstream identity provider for the SSO tests: a second oidc-provider instance on the loopback, with
// its own accounts (in memory) and one confidential client (Roster). Its login needs no page: the account is
// the one whose e-mail the authorization request names in `login_hint`, as an IdP that already knows the
// person would; an account may instead be set to refuse (an OAuth error back to Roster).
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider from 'oidc-provider';

export type UpstreamAccount = {
  sub: string;
  email: string;
  emailVerified: boolean | 'true' | undefined;
  givenName?: string;
  familyName?: string;
  /** What the upstream reports in the ID token's `amr` (RFC 8176). */
  amr?: string[];
  /** Refuse the login with this OAuth error instead. */
  deny?: { error: string; description: string };
  /** Other `login_hint` values that pick this account (an upstream that answers with another address than the one typed). */
  aliases?: string[];
};

export type UpstreamIdp = {
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** Adds an account; the sign-in picks it by its e-mail given as `login_hint`. */
  addAccount: (a: Omit<UpstreamAccount, 'sub'> & { sub?: string }) => UpstreamAccount;
  stop: () => Promise<void>;
};

/** The redirect URI Roster registers upstream (the tests stop at it: nothing listens there). */
export const ROSTER_ISSUER = 'http://roster.test';
export const SSO_CALLBACK = `${ROSTER_ISSUER}/sso/callback`;

/**
 * `redirectUri`: the redirect URI registered for Roster (default SSO_CALLBACK); the sign-in pages' tests pass
 * their own server's `{ISSUER}/sso/callback`, so the browser really goes back to it.
 * `hostname`: the issuer's host. A real browser shares cookies between ports of one host, and both providers
 * name their session cookie `_session`: next to a Roster on 127.0.0.1, a browser test puts the upstream on
 * `localhost` (another site, as a real identity provider is).
 */
export async function startUpstreamIdp(opts: { redirectUri?: string; hostname?: '127.0.0.1' | 'localhost' } = {}): Promise<UpstreamIdp> {
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://${opts.hostname ?? '127.0.0.1'}:${(server.address() as AddressInfo).port}`;
  const accounts = new Map<string, UpstreamAccount>();
  const byEmail = new Map<string, string>();
  const clientId = `roster-${randomBytes(4).toString('hex')}`;
  const clientSecret = randomBytes(24).toString('base64url');
  const key = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });

  const provider = new Provider(issuer, {
    clients: [{ client_id: clientId, client_secret: clientSecret, redirect_uris: [opts.redirectUri ?? SSO_CALLBACK], grant_types: ['authorization_code'], response_types: ['code'] }],
    jwks: { keys: [{ ...key, kid: 'upstream-1', use: 'sig', alg: 'RS256' }] },
    cookies: { keys: [randomBytes(16).toString('hex')] },
    claims: { openid: ['sub', 'amr'], email: ['email', 'email_verified'], profile: ['given_name', 'family_name'] },
    ttl: { Interaction: 600, Grant: 600, Session: 600, AccessToken: 600, IdToken: 600, AuthorizationCode: 60 },
    features: { devInteractions: { enabled: false } },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    findAccount: (_ctx, sub) => {
      const a = accounts.get(sub);
      if (!a) return undefined;
      return {
        accountId: sub,
        claims: () => ({
          sub, email: a.email, given_name: a.givenName, family_name: a.familyName,
          ...(a.emailVerified === undefined ? {} : { email_verified: a.emailVerified as boolean }),
        }),
      };
    },
  });
  const callback = provider.callback();

  server.on('request', async (req, res) => {
    if (!req.url?.startsWith('/interaction/')) return callback(req, res);
    try {
      const details = await provider.interactionDetails(req, res);
      const account = accounts.get(byEmail.get(String(details.params.login_hint ?? '').toLowerCase()) ?? '');
      if (!account) return provider.interactionFinished(req, res, { error: 'login_required', error_description: 'no such account upstream' });
      if (account.deny) return provider.interactionFinished(req, res, { error: account.deny.error, error_description: account.deny.description });
      const grant = new provider.Grant({ accountId: account.sub, clientId: String(details.params.client_id) });
      grant.addOIDCScope(String(details.params.scope));
      const grantId = await grant.save();
      await provider.interactionFinished(req, res, { login: { accountId: account.sub, amr: account.amr }, consent: { grantId } });
    } catch (err) {
      res.writeHead(500).end(String(err));
    }
  });

  return {
    issuer, clientId, clientSecret,
    addAccount: (a) => {
      const account = { ...a, sub: a.sub ?? `up-${randomBytes(6).toString('hex')}` };
      accounts.set(account.sub, account);
      for (const hint of [account.email, ...(account.aliases ?? [])]) byEmail.set(hint.toLowerCase(), account.sub);
      return account;
    },
    stop: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
