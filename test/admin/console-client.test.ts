// The console as the server knows it: static files under /console with a CSP that allows only this origin's
// scripts (and the import map by its hash), the same page for every path of an organisation's console, and
// every organisation's built-in console client (public, PKCE, redirecting under ISSUER, not revocable, listed).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import supertest from 'supertest';
import { consoleClientId, findClient, listClients, revokeClient } from '../../src/directory/clients.ts';
import { createOrganization } from '../../src/directory/organizations.ts';
import { testApp, unique } from '../helpers.ts';
import { testDb } from '../setup.ts';

describe('the console: static files and the built-in console client', () => {
  it('serves the page for any path of a console, its modules and the libraries; nothing else; a CSP that allows no inline script but the import map', async () => {
    const http = supertest(testApp());
    for (const path of ['/console/acme/', '/console/acme/members', '/console/acme/members/123/x']) {
      const res = await http.get(path);
      assert.equal(res.status, 200, path);
      assert.match(res.text, /<script type="module" src="\/console\/assets\/app.js"><\/script>/);
      const map = /<script type="importmap">([^<]*)<\/script>/.exec(res.text)![1];
      const csp = res.headers['content-security-policy'];
      assert.ok(csp.includes(`'sha256-${createHash('sha256').update(map).digest('base64')}'`), 'the import map is allowed by its hash');
      assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
      assert.match(csp, /frame-ancestors 'none'/);
    }
    for (const file of ['preact.mjs', 'hooks.mjs', 'htm.mjs']) {
      const res = await http.get(`/console/vendor/${file}`);
      assert.equal(res.status, 200);
      assert.match(res.headers['content-type'], /javascript/);
    }
    assert.equal((await http.get('/console/assets/pages/members.js')).status, 200);
    for (const bad of ['/console/vendor/fs.mjs', '/console/assets/../../http/console.ts', '/console/assets/%2e%2e/%2e%2e/config.ts', '/console/Not_A_Slug/', '/console/assets/nothing.js']) {
      assert.ok([403, 404].includes((await http.get(bad)).status), bad);
    }
  });

  it('an organisation named like the console\'s own folders (Assets, Vendor) gets another slug, and its console is served there', async () => {
    const http = supertest(testApp());
    for (const name of ['Assets', 'Vendor']) {
      const org = await createOrganization(testDb(), { name, ownerEmail: `owner@${unique('reserved-')}.test` });
      assert.notEqual(org.org.slug, name.toLowerCase());
      assert.match(org.org.slug, new RegExp(`^${name.toLowerCase()}-[0-9a-f]{6}$`));
      const res = await http.get(`/console/${org.org.slug}/`);
      assert.equal(res.status, 200);
      assert.match(res.text, /<script type="module" src="\/console\/assets\/app.js"><\/script>/);
      await assert.rejects(createOrganization(testDb(), { name, ownerEmail: `owner@${unique('reserved-')}.test`, slug: name.toLowerCase() }), /cannot be a slug/);
    }
  });

  it('every organisation has a console client: public, redirecting to its console, listed as built in, not revocable', async () => {
    const name = unique('cc-');
    const org = await createOrganization(testDb(), { name, ownerEmail: `owner@${name}.test` });
    const client = await findClient(testDb(), consoleClientId(org.org.slug));
    assert.ok(client);
    assert.deepEqual([client.orgId, client.public, client.redirectUris, client.secretCredentialId], [org.org.id, true, [`/console/${org.org.slug}/callback`], null]);
    assert.equal(await findClient(testDb(), consoleClientId('no-such-org-slug')), undefined);
    assert.equal(await findClient(testDb(), 'rst_console_../etc'), undefined);
    const listed = await listClients(testDb(), { orgId: org.org.id });
    assert.equal(listed[0].clientId, consoleClientId(org.org.slug));
    assert.equal(listed[0].builtIn, true);
    const refused = await revokeClient(testDb(), { orgId: org.org.id, actor: { type: 'system', id: 'test' }, clientId: consoleClientId(org.org.slug) }).then(() => null, (e) => e);
    assert.equal(refused?.rule, 'built_in_client');
    // Another organisation's console client is not this organisation's to revoke (and is not found as its own).
    const other = await createOrganization(testDb(), { name: `${name}-b`, ownerEmail: `owner@${name}-b.test` });
    assert.equal(await revokeClient(testDb(), { orgId: org.org.id, actor: { type: 'system', id: 'test' }, clientId: consoleClientId(other.org.slug) }), false);
  });
});
