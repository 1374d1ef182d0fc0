// Adversarial: another organisation's ids must be indistinguishable from ids that exist nowhere.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type supertest from 'supertest';
import { createGroup, createUser, GROUP, newOrg, userBody } from '../helpers.ts';

const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const BULK = 'urn:ietf:params:scim:api:messages:2.0:BulkRequest';

/** What a client can observe of an answer, with the id it asked about replaced by a placeholder. */
function observable(res: supertest.Response, id: string) {
  const text = JSON.stringify(res.body).split(id).join('<id>').split(id.toUpperCase()).join('<id>');
  return {
    status: res.status,
    contentType: res.headers['content-type'],
    etag: res.headers.etag,
    location: res.headers.location,
    wwwAuthenticate: res.headers['www-authenticate'],
    body: JSON.parse(text) as unknown,
  };
}

describe('security: no enumeration of other organisations', () => {
  it("GET, PUT, PATCH and DELETE of another org's user look exactly like those of an id that exists nowhere", async () => {
    const a = await newOrg();
    const b = await newOrg();
    const theirs = (await createUser(a.scim)).id;
    const nowhere = randomUUID();
    const requests: [string, (id: string) => supertest.Test][] = [
      ['GET', (id) => b.scim.get(`/Users/${id}`)],
      ['GET projected', (id) => b.scim.get(`/Users/${id}?attributes=userName`)],
      ['GET If-None-Match', (id) => b.scim.get(`/Users/${id}`).set('If-None-Match', 'W/"1"')],
      ['PUT', (id) => b.scim.put(`/Users/${id}`, userBody('probe@example.test'))],
      ['PUT If-Match', (id) => b.scim.put(`/Users/${id}`, userBody('probe@example.test')).set('If-Match', 'W/"1"')],
      ['PATCH', (id) => b.scim.patch(`/Users/${id}`, [{ op: 'replace', path: 'displayName', value: 'x' }])],
      ['PATCH password', (id) => b.scim.patch(`/Users/${id}`, [{ op: 'replace', path: 'password', value: 'probe-password' }])],
      ['DELETE', (id) => b.scim.delete(`/Users/${id}`)],
      ['DELETE If-Match', (id) => b.scim.delete(`/Users/${id}`).set('If-Match', 'W/"1"')],
    ];
    for (const [what, send] of requests) {
      const other = observable(await send(theirs), theirs);
      const none = observable(await send(nowhere), nowhere);
      assert.deepEqual(other, none, what);
      assert.equal(other.status, 404, what);
    }
  });

  it("GET, PUT, PATCH and DELETE of another org's group look exactly like those of an id that exists nowhere", async () => {
    const a = await newOrg();
    const b = await newOrg();
    const theirs = (await createGroup(a.scim)).id;
    const nowhere = randomUUID();
    const requests: [string, (id: string) => supertest.Test][] = [
      ['GET', (id) => b.scim.get(`/Groups/${id}`)],
      ['PUT', (id) => b.scim.put(`/Groups/${id}`, { schemas: [GROUP], displayName: 'probe' })],
      ['PATCH', (id) => b.scim.patch(`/Groups/${id}`, [{ op: 'replace', path: 'displayName', value: 'probe' }])],
      ['DELETE', (id) => b.scim.delete(`/Groups/${id}`)],
    ];
    for (const [what, send] of requests) {
      const other = observable(await send(theirs), theirs);
      const none = observable(await send(nowhere), nowhere);
      assert.deepEqual(other, none, what);
      assert.equal(other.status, 404, what);
    }
  });

  it("adding another org's user to a group answers exactly as for an id that exists nowhere", async () => {
    const a = await newOrg();
    const b = await newOrg();
    const theirs = (await createUser(a.scim)).id;
    const nowhere = randomUUID();
    const group = await createGroup(b.scim);
    const add = (id: string) => b.scim.patch(`/Groups/${group.id}`, [{ op: 'add', path: 'members', value: [{ value: id }] }]);
    const other = observable(await add(theirs), theirs);
    const none = observable(await add(nowhere), nowhere);
    assert.deepEqual(other, none);
    assert.equal(other.status, 400);
  });

  it("a Bulk request answers another org's ids exactly as ids that exist nowhere", async () => {
    const a = await newOrg();
    const b = await newOrg();
    const theirUser = (await createUser(a.scim)).id;
    const theirGroup = (await createGroup(a.scim)).id;
    const [nowhereUser, nowhereGroup] = [randomUUID(), randomUUID()];
    const bulk = (user: string, group: string) => b.scim.post('/Bulk', {
      schemas: [BULK],
      Operations: [
        { method: 'PATCH', path: `/Users/${user}`, data: { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'displayName', value: 'x' }] } },
        { method: 'DELETE', path: `/Users/${user}` },
        { method: 'DELETE', path: `/Groups/${group}` },
      ],
    });
    const scrub = (res: supertest.Response, user: string, group: string) => {
      const o = observable(res, user);
      return JSON.parse(JSON.stringify(o).split(group).join('<gid>'));
    };
    const other = scrub(await bulk(theirUser, theirGroup), theirUser, theirGroup);
    const none = scrub(await bulk(nowhereUser, nowhereGroup), nowhereUser, nowhereGroup);
    assert.deepEqual(other, none);
  });
});
