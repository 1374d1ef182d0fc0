// Serves the admin console (src/console/): static ES modules as they are, the small libraries it uses from
// node_modules (preact, its hooks, htm), and for every path under /console/{orgSlug} the same page, whose
// script signs in through Roster's own provider (the organisation's built-in console client) and talks to
// /api/v1 like any other client. No build step, no server-side knowledge of what the console does.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import express, { type Request, type Response } from 'express';

const consoleDir = fileURLToPath(new URL('../console/', import.meta.url));
const modules = fileURLToPath(new URL('../../node_modules/', import.meta.url));

/** The libraries, by the names the console's modules import them with. */
const vendor: Record<string, string> = {
  'preact.mjs': `${modules}preact/dist/preact.mjs`,
  'hooks.mjs': `${modules}preact/hooks/dist/hooks.mjs`,
  'htm.mjs': `${modules}htm/dist/htm.mjs`,
};

const importMap = JSON.stringify({ imports: { preact: '/console/vendor/preact.mjs', 'preact/hooks': '/console/vendor/hooks.mjs', htm: '/console/vendor/htm.mjs' } });
const importMapHash = createHash('sha256').update(importMap).digest('base64');

/** Scripts from this origin only (and the one inline import map, by its hash); no inline styles; API calls to this origin. */
const csp = [
  "default-src 'none'", `script-src 'self' 'sha256-${importMapHash}'`, "style-src 'self'", "img-src 'self' data:", "connect-src 'self'",
  "form-action 'self'", "base-uri 'none'", "frame-ancestors 'none'",
].join('; ');

const page = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Roster console</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/console/assets/console.css">
<script type="importmap">${importMap}</script>
<script type="module" src="/console/assets/app.js"></script>
</head>
<body>
<div id="app"><main class="boot"><p role="status">Loading the console…</p></main></div>
<noscript><p>The Roster console needs JavaScript. Everything it does is also available through the admin API (/docs).</p></noscript>
</body>
</html>
`;

export function consoleRouter(): express.Router {
  const router = express.Router();
  const headers = (res: Response) => res.set({ 'Content-Security-Policy': csp, 'Cache-Control': 'no-cache', 'X-Content-Type-Options': 'nosniff' });
  // Read once, on first use (a server nobody opens the console on never reads them).
  const loaded = new Map<string, Buffer>();
  router.get('/vendor/:file', (req: Request, res: Response) => {
    const name = String(req.params.file);
    const file = Object.hasOwn(vendor, name) ? vendor[name] : undefined;
    if (!file) return res.status(404).type('text/plain').send('not found');
    if (!loaded.has(name)) loaded.set(name, readFileSync(file));
    headers(res).type('text/javascript').send(loaded.get(name));
  });
  router.use('/assets', (_req, res, next) => { headers(res); next(); }, express.static(consoleDir, { index: false, dotfiles: 'deny', fallthrough: false }));
  router.get(['/:slug', '/:slug/{*rest}'], (req: Request, res: Response) => {
    if (!/^[a-z0-9][a-z0-9-]{0,79}$/.test(String(req.params.slug))) return res.status(404).type('text/plain').send('not found');
    headers(res).type('html').send(page);
  });
  return router;
}
