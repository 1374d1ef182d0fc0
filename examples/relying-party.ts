// A relying party in forty lines: an application that signs its users in through Roster with openid-client
// (authorization code flow with PKCE), then shows who signed in. Run it beside a Roster server:
//
//   npm run --silent cli -- client create --org $ORG --redirect-uri http://localhost:4000/callback --json > rp.json
//   ROSTER_CLIENT=rp.json node examples/relying-party.ts      # then open http://localhost:4000/
//
// ISSUER (default http://localhost:3000) is Roster's public URL; PORT (default 4000) this application's.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import * as client from 'openid-client';

const issuer = new URL(process.env.ISSUER ?? 'http://localhost:3000');
const port = Number(process.env.PORT ?? 4000);
const registered = JSON.parse(readFileSync(process.env.ROSTER_CLIENT ?? 'rp.json', 'utf8')) as { client_id: string; client_secret: string };
const redirectUri = `http://localhost:${port}/callback`;

const config = await client.discovery(issuer, registered.client_id, registered.client_secret, undefined,
  issuer.protocol === 'http:' ? { execute: [client.allowInsecureRequests] } : undefined);

// One pending sign-in per browser, keyed by a cookie (a real application keeps this in its session store).
const pending = new Map<string, { verifier: string; state: string }>();

createServer(async (req, res) => {
  const url = new URL(req.url ?? '/', `http://localhost:${port}`);
  const key = /(?:^|; )rp=([\w-]+)/.exec(req.headers.cookie ?? '')?.[1];
  try {
    if (url.pathname === '/') {
      const verifier = client.randomPKCECodeVerifier();
      const state = client.randomState();
      const id = crypto.randomUUID();
      pending.set(id, { verifier, state });
      const to = client.buildAuthorizationUrl(config, {
        redirect_uri: redirectUri, scope: 'openid email profile offline_access', state,
        code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
      });
      res.writeHead(302, { Location: to.href, 'Set-Cookie': `rp=${id}; HttpOnly; SameSite=Lax; Path=/` }).end();
    } else if (url.pathname === '/callback' && key && pending.has(key)) {
      const { verifier, state } = pending.get(key)!;
      pending.delete(key);
      const tokens = await client.authorizationCodeGrant(config, url, { pkceCodeVerifier: verifier, expectedState: state });
      const claims = tokens.claims()!;
      const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ idToken: claims, userinfo: info, refreshToken: Boolean(tokens.refresh_token) }, null, 2));
    } else {
      res.writeHead(404).end('start at /\n');
    }
  } catch (err) {
    res.writeHead(400, { 'Content-Type': 'text/plain' }).end(`sign-in failed: ${(err as Error).message}\n`);
  }
}).listen(port, () => console.log(`relying party on http://localhost:${port}/ (Roster at ${issuer.href})`));
