// A person, from a terminal: what someone does in a browser, done over HTTP (form posts with cookies, the
// way the OIDC conformance suite drives the pages), so that the README's admin walk-through can be pasted
// into a shell. Not how applications sign people in (that is examples/relying-party.ts); a demonstration.
//
//   node examples/terminal-person.ts accept  LINK --name "Dana Scully" --password "..."
//       answers an invitation: opens its link and accepts it as a new person (or, with an account, signs in)
//   node examples/terminal-person.ts sign-in --client rp.json --email E --password P
//       signs in to the client's application (authorization code + PKCE, openid-client) and prints the tokens
//
// ISSUER (default http://localhost:3000) is Roster's public URL.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import * as client from 'openid-client';
import { Browser } from '../conformance/oidc/browser.ts';

const issuer = new URL(process.env.ISSUER ?? 'http://localhost:3000');
const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { name: { type: 'string' }, password: { type: 'string' }, email: { type: 'string' }, client: { type: 'string' } },
});
const [command, link] = positionals;
const fail = (message: string): never => {
  console.error(`error: ${message}`);
  process.exit(1);
};
/** The page's message: its heading and its alert, as a person reads them. */
const said = (html: string) => [/<h1>([^<]*)<\/h1>/.exec(html)?.[1], /role="(?:alert|status)"[^>]*>([^<]*)</.exec(html)?.[1]].filter(Boolean).join(': ');

const browser = new Browser();
if (command === 'accept') {
  if (!link || !values.password) fail('usage: accept LINK --password P [--name N]');
  const page = await browser.go(link!);
  if (page.status !== 200) fail(`the invitation page answered ${page.status}: ${said(page.html)}`);
  const done = await browser.submit(page, '/account/invitation', { password: values.password!, ...(values.name ? { name: values.name } : {}) });
  if (done.status !== 200) fail(`${said(done.html)} (HTTP ${done.status})`);
  console.log(said(done.html));
} else if (command === 'sign-in') {
  if (!values.client || !values.email || !values.password) fail('usage: sign-in --client rp.json --email E --password P');
  const registered = JSON.parse(readFileSync(values.client!, 'utf8')) as { client_id: string; client_secret: string; redirect_uris?: string[] };
  const redirect = registered.redirect_uris?.[0] ?? 'http://localhost:4000/callback';
  const config = await client.discovery(issuer, registered.client_id, registered.client_secret, undefined,
    issuer.protocol === 'http:' ? { execute: [client.allowInsecureRequests] } : undefined);
  const verifier = client.randomPKCECodeVerifier();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: redirect, scope: 'openid email profile offline_access', state: 'terminal',
    code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
  });
  const toApp = { stopAt: (u: string) => u.startsWith(redirect) };
  let page = await browser.go(url.href, toApp);
  page = await browser.submit(page, '/email', { email: values.email! }, toApp);
  page = await browser.submit(page, '/password', { password: values.password! }, toApp);
  if (!page.location?.startsWith(redirect)) fail(`the sign-in did not reach the application: ${said(page.html)} (a temporary password, MFA or a consent step needs the browser)`);
  const tokens = await client.authorizationCodeGrant(config, new URL(page.location!), { pkceCodeVerifier: verifier, expectedState: 'terminal' });
  console.log(JSON.stringify({ access_token: tokens.access_token, refresh_token: tokens.refresh_token, expires_in: tokens.expires_in }, null, 2));
} else {
  fail('usage: node examples/terminal-person.ts accept LINK --password P [--name N] | sign-in --client rp.json --email E --password P');
}
