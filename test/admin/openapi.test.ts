// The admin API describes itself: /api/v1/openapi.json (OpenAPI 3.1) has every route of the route table with
// its request schema, generated from the zod schemas that validate requests (so a field the API refuses is
// a field the document does not list), and /docs renders it as a page without scripts.
import assert from 'node:assert/strict';
import supertest from 'supertest';
import { routes } from '../../src/admin/routes.ts';
import { testApp } from '../helpers.ts';

describe('admin API: the OpenAPI document and the reference page', () => {
  it('lists every route with its method, permissions and schemas; needs no credential', async () => {
    const res = await supertest(testApp()).get('/api/v1/openapi.json');
    assert.equal(res.status, 200);
    assert.equal(res.body.openapi, '3.1.0');
    for (const r of routes) {
      const op = res.body.paths[r.path]?.[r.method];
      assert.ok(op, `${r.method.toUpperCase()} ${r.path} is in the document`);
      assert.deepEqual(op['x-permissions'] ?? [], r.permissions ?? []);
      if (r.body) assert.ok(op.requestBody.content['application/json'].schema, `${r.path} has its body schema`);
    }
    // The document says what the validator enforces: the invitation body is closed, its message capped.
    const invite = res.body.paths['/orgs/{orgId}/invitations'].post.requestBody.content['application/json'].schema;
    assert.equal(invite.additionalProperties, false);
    assert.equal(invite.properties.message.anyOf?.find((s: { type: string }) => s.type === 'string')?.maxLength ?? invite.properties.message.maxLength, 2500);
    assert.deepEqual(invite.required.sort(), ['emails', 'role']);
    const members = res.body.paths['/orgs/{orgId}/members'].get.parameters.map((p: { name: string }) => p.name);
    for (const name of ['orgId', 'search', 'status', 'role', 'limit', 'cursor']) assert.ok(members.includes(name), `members takes ${name}`);
  });

  it('/docs is a page with every route, styles by nonce and no script', async () => {
    const res = await supertest(testApp()).get('/docs');
    assert.equal(res.status, 200);
    assert.match(res.headers['content-type'], /text\/html/);
    const csp = res.headers['content-security-policy'];
    assert.match(csp, /default-src 'none'/);
    assert.doesNotMatch(csp, /script-src/);
    assert.doesNotMatch(res.text, /<script/i);
    for (const r of routes) assert.ok(res.text.includes(`${r.method.toUpperCase()} /api/v1${r.path}`), `${r.method} ${r.path} is on the page`);
  });
});
