// The admin API's credentials: SCIM tokens and API keys (secret shown once, never listed, revoked at once),
// never a key that can do more than its creator, OIDC clients; nothing across organisations.
import assert from 'node:assert/strict';
import { pino } from 'pino';
import supertest from 'supertest';
import { createOrganization } from '../../src/directory/organizations.ts';
import { createApp } from '../../src/http/app.ts';
import { unique } from '../helpers.ts';
import { testDb } from '../setup.ts';

const app = () => createApp({ db: testDb(), logger: pino({ level: 'silent' }), issuer: 'http://roster.test' });
const newOrg = async () => {
  const name = unique('creds-');
  return createOrganization(testDb(), { name, ownerEmail: `owner@${name}.test` });
};

describe('admin API: SCIM tokens, API keys, clients', () => {
  it('issues an API key shown once and never listed; an admin key cannot mint an owner key; a revoked key is refused at once', async () => {
    const org = await newOrg();
    const http = supertest(app());
    const as = (key: string) => ({ authorization: `Bearer ${key}` });
    const admin = await http.post(`/api/v1/orgs/${org.org.id}/api-keys`).set(as(org.apiKey)).send({ name: 'deploy bot', role: 'admin' });
    assert.equal(admin.status, 201, JSON.stringify(admin.body));
    assert.match(admin.body.secret, /^rst_key_/);
    const listed = await http.get(`/api/v1/orgs/${org.org.id}/api-keys`).set(as(org.apiKey));
    assert.equal(listed.status, 200);
    assert.equal(JSON.stringify(listed.body).includes(admin.body.secret), false, 'a listing never shows a secret');
    assert.ok(listed.body.items.some((k: { id: string; role: string }) => k.id === admin.body.id && k.role === 'admin'));

    const escalation = await http.post(`/api/v1/orgs/${org.org.id}/api-keys`).set(as(admin.body.secret)).send({ name: 'sneaky', role: 'owner' });
    assert.equal(escalation.status, 403);
    assert.equal(escalation.body.code, 'escalation');
    assert.equal((await http.post(`/api/v1/orgs/${org.org.id}/api-keys`).set(as(admin.body.secret)).send({ name: 'helper', role: 'member' })).status, 201);
    for (const bad of [{ name: 'x', role: 'emperor' }, { name: '', role: 'member' }, { role: 'member' }, { name: 'x', role: 'member', extra: 1 }]) {
      const res = await http.post(`/api/v1/orgs/${org.org.id}/api-keys`).set(as(org.apiKey)).send(bad);
      assert.ok([400, 403].includes(res.status), `${JSON.stringify(bad)}: ${res.status}`);
    }

    assert.equal((await http.delete(`/api/v1/orgs/${org.org.id}/api-keys/${admin.body.id}`).set(as(org.apiKey))).status, 204);
    assert.equal((await http.get(`/api/v1/orgs/${org.org.id}`).set(as(admin.body.secret))).status, 401);
    assert.equal((await http.delete(`/api/v1/orgs/${org.org.id}/api-keys/${admin.body.id}`).set(as(org.apiKey))).status, 404);
    const audit = await testDb()('audit_events').where({ org_id: org.org.id }).whereIn('action', ['api_key.created', 'api_key.revoked']).select('action');
    assert.deepEqual(audit.map((a) => a.action).sort(), ['api_key.created', 'api_key.created', 'api_key.revoked']);
  });

  it('a SCIM token issued here provisions at once; revoked, it is refused; another organisation cannot list or revoke it', async () => {
    const org = await newOrg();
    const other = await newOrg();
    const http = supertest(app());
    const made = await http.post(`/api/v1/orgs/${org.org.id}/scim-tokens`).set({ authorization: `Bearer ${org.apiKey}` }).send({ name: 'okta' });
    assert.equal(made.status, 201);
    assert.equal((await http.get('/scim/v2/Users').set({ authorization: `Bearer ${made.body.secret}` })).status, 200);
    assert.equal((await http.delete(`/api/v1/orgs/${org.org.id}/scim-tokens/${made.body.id}`).set({ authorization: `Bearer ${other.apiKey}` })).status, 404);
    assert.equal((await http.delete(`/api/v1/orgs/${other.org.id}/scim-tokens/${made.body.id}`).set({ authorization: `Bearer ${other.apiKey}` })).status, 404);
    assert.equal((await http.get('/scim/v2/Users').set({ authorization: `Bearer ${made.body.secret}` })).status, 200, 'still works');
    assert.equal((await http.delete(`/api/v1/orgs/${org.org.id}/scim-tokens/${made.body.id}`).set({ authorization: `Bearer ${org.apiKey}` })).status, 204);
    assert.equal((await http.get('/scim/v2/Users').set({ authorization: `Bearer ${made.body.secret}` })).status, 401);
  });

  it('registers, lists and revokes OIDC clients; a bad redirect URI is a 400 problem', async () => {
    const org = await newOrg();
    const http = supertest(app());
    const as = { authorization: `Bearer ${org.apiKey}` };
    const made = await http.post(`/api/v1/orgs/${org.org.id}/clients`).set(as).send({ name: 'Console', redirectUris: ['https://console.acme.example/callback'] });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    assert.match(made.body.client_secret, /^rst_secret_/);
    const pub = await http.post(`/api/v1/orgs/${org.org.id}/clients`).set(as).send({ redirectUris: ['com.acme.app:/callback'], public: true });
    assert.equal(pub.status, 201);
    assert.equal(pub.body.client_secret, undefined);
    const bad = await http.post(`/api/v1/orgs/${org.org.id}/clients`).set(as).send({ redirectUris: ['http://evil.example/cb'] });
    assert.equal(bad.status, 400);
    assert.match(bad.type, /problem\+json/);
    const listed = await http.get(`/api/v1/orgs/${org.org.id}/clients`).set(as);
    // The registered clients, and the organisation's built-in console client (listed first, as built in).
    assert.deepEqual(listed.body.items.filter((c: { builtIn: boolean }) => !c.builtIn).map((c: { clientId: string }) => c.clientId).sort(), [made.body.client_id, pub.body.client_id].sort());
    assert.deepEqual([listed.body.items[0].clientId, listed.body.items[0].builtIn], [`rst_console_${org.org.slug}`, true]);
    assert.equal((await http.delete(`/api/v1/orgs/${org.org.id}/clients/${made.body.client_id}`).set(as)).status, 204);
    assert.equal((await http.delete(`/api/v1/orgs/${org.org.id}/clients/${made.body.client_id}`).set(as)).status, 404);
  });

  it("lists the organisation's audit log, newest first, page by page, never another organisation's", async () => {
    const org = await newOrg();
    const other = await newOrg();
    const http = supertest(app());
    const as = (key: string) => ({ authorization: `Bearer ${key}` });
    await http.post(`/api/v1/orgs/${org.org.id}/scim-tokens`).set(as(org.apiKey)).send({ name: 'one' });
    await http.post(`/api/v1/orgs/${org.org.id}/scim-tokens`).set(as(org.apiKey)).send({ name: 'two' });
    const first = await http.get(`/api/v1/orgs/${org.org.id}/audit-events?limit=1`).set(as(org.apiKey));
    assert.equal(first.status, 200);
    assert.equal(first.body.items.length, 1);
    assert.equal(first.body.items[0].action, 'scim_token.created');
    assert.deepEqual(first.body.items[0].details, { name: 'two' });
    assert.equal(first.body.items[0].actor.type, 'api_key');
    const rest = await http.get(`/api/v1/orgs/${org.org.id}/audit-events?limit=200&cursor=${first.body.nextCursor}`).set(as(org.apiKey));
    assert.deepEqual(rest.body.items.map((e: { action: string }) => e.action), ['scim_token.created', 'organization.created']);
    assert.equal(rest.body.nextCursor, null);
    const theirs = await http.get(`/api/v1/orgs/${other.org.id}/audit-events`).set(as(other.apiKey));
    assert.deepEqual(theirs.body.items.map((e: { action: string }) => e.action), ['organization.created']);
    assert.equal((await http.get(`/api/v1/orgs/${org.org.id}/audit-events`).set(as(other.apiKey))).status, 404);
  });
});
