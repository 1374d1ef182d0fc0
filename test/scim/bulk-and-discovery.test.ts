import assert from 'node:assert/strict';
import { assertScimError, createUser, ENTERPRISE, GROUP, newOrg, unique, USER, userBody } from '../helpers.ts';
import { testDb } from '../setup.ts';

const BULK = 'urn:ietf:params:scim:api:messages:2.0:BulkRequest';

describe('SCIM /Bulk', () => {
  it('creates a user and a group that refers to it by bulkId in one request', async () => {
    const org = await newOrg();
    const userName = `${unique('bulk')}@example.test`;
    const res = await org.scim.post('/Bulk', {
      schemas: [BULK],
      Operations: [
        // The group comes first and refers forward: the server runs the user first.
        { method: 'POST', path: '/Groups', bulkId: 'g1', data: { schemas: [GROUP], displayName: unique('bulk-group '), members: [{ type: 'User', value: 'bulkId:u1' }] } },
        { method: 'POST', path: '/Users', bulkId: 'u1', data: userBody(userName) },
      ],
    });
    assert.equal(res.status, 200);
    assert.deepEqual(res.body.schemas, ['urn:ietf:params:scim:api:messages:2.0:BulkResponse']);
    assert.deepEqual(res.body.Operations.map((o: { status: string }) => o.status), ['201', '201']);
    const groupLocation = res.body.Operations[0].location as string;
    const userLocation = res.body.Operations[1].location as string;
    const group = await org.scim.get(groupLocation.slice(groupLocation.indexOf('/Groups')));
    assert.deepEqual(group.body.members.map((m: { value: string }) => m.value), [userLocation.split('/').pop()]);
  });

  it('reports each failure in place and stops after failOnErrors errors', async () => {
    const org = await newOrg();
    const res = await org.scim.post('/Bulk', {
      schemas: [BULK],
      failOnErrors: 1,
      Operations: [
        { method: 'POST', path: '/Users', bulkId: 'bad', data: { schemas: [USER], userName: 42 } },
        { method: 'POST', path: '/Users', bulkId: 'good', data: userBody(`${unique('never')}@example.test`) },
      ],
    });
    assert.equal(res.status, 200);
    assert.equal(res.body.Operations.length, 1);
    assert.equal(res.body.Operations[0].status, '400');
    assert.equal(res.body.Operations[0].response.scimType, 'invalidValue');
    const count = await testDb()('memberships').where({ org_id: org.org.id }).count({ n: '*' });
    assert.equal(Number(count[0].n), 1); // the owner only
  });

  it('runs PATCH, PUT and DELETE operations and answers 409 for a reference that never resolves', async () => {
    const org = await newOrg();
    const u = await createUser(org.scim);
    const res = await org.scim.post('/Bulk', {
      schemas: [BULK],
      Operations: [
        { method: 'PATCH', path: `/Users/${u.id}`, data: { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'replace', path: 'title', value: 'Bulked' }] } },
        { method: 'POST', path: '/Groups', data: { schemas: [GROUP], displayName: unique('x'), members: [{ value: 'bulkId:missing' }] } },
        { method: 'DELETE', path: `/Users/${u.id}` },
      ],
    });
    assert.deepEqual(res.body.Operations.map((o: { status: string }) => o.status), ['200', '409', '204']);
  });

  it('answers 413 when the request has more operations than advertised', async () => {
    const org = await newOrg();
    const spc = await org.scim.get('/ServiceProviderConfig');
    const max = spc.body.bulk.maxOperations as number;
    const ops = Array.from({ length: max + 1 }, (_, i) => ({ method: 'DELETE', path: `/Users/${i}` }));
    assertScimError(await org.scim.post('/Bulk', { schemas: [BULK], Operations: ops }), 413);
  });
});

describe('SCIM discovery', () => {
  it('describes what works in /ServiceProviderConfig', async () => {
    const org = await newOrg();
    const res = await org.scim.get('/ServiceProviderConfig');
    assert.equal(res.status, 200);
    assert.match(String(res.headers['content-type']), /^application\/scim\+json/);
    for (const feature of ['patch', 'bulk', 'filter', 'sort', 'etag', 'changePassword']) assert.equal(res.body[feature].supported, true, feature);
    assert.ok(res.body.filter.maxResults > 0);
    assert.equal(res.body.authenticationSchemes[0].type, 'oauthbearertoken');
  });

  it('lists the User and Group resource types and serves each by id', async () => {
    const org = await newOrg();
    const list = await org.scim.get('/ResourceTypes');
    assert.deepEqual(list.body.Resources.map((r: { id: string }) => r.id), ['User', 'Group']);
    const user = await org.scim.get('/ResourceTypes/User');
    assert.equal(user.body.schema, USER);
    assert.deepEqual(user.body.schemaExtensions, [{ schema: ENTERPRISE, required: false }]);
    assertScimError(await org.scim.get('/ResourceTypes/Printer'), 404);
  });

  it('serves the three schemas, each by its URN', async () => {
    const org = await newOrg();
    const list = await org.scim.get('/Schemas');
    assert.deepEqual(list.body.Resources.map((s: { id: string }) => s.id), [USER, ENTERPRISE, GROUP]);
    const user = await org.scim.get(`/Schemas/${USER}`);
    const userName = user.body.attributes.find((a: { name: string }) => a.name === 'userName');
    assert.equal(userName.uniqueness, 'server');
    assert.equal(userName.required, true);
    const password = user.body.attributes.find((a: { name: string }) => a.name === 'password');
    assert.equal(password.returned, 'never');
    assertScimError(await org.scim.get('/Schemas/urn:nothing'), 404);
  });

  it('answers unknown SCIM endpoints with a SCIM 404', async () => {
    const org = await newOrg();
    assertScimError(await org.scim.get('/Printers'), 404);
  });
});
