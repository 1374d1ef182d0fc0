// Adversarial: requests that race. Every concurrent membership change takes effect; a uniqueness rule holds under a
// burst of identical creates (exactly one wins, the rest are 409, nothing half-written remains); If-Match is a real lock.
import assert from 'node:assert/strict';
import { createGroup, createUser, ERROR, GROUP, newOrg, unique, userBody } from '../helpers.ts';
import { testDb } from '../setup.ts';
import { groupMemberRows, groupRow } from './support.ts';

const count = (xs: number[], n: number) => xs.filter((x) => x === n).length;

describe('security: concurrency', () => {
  it('20 parallel PATCHes adding 20 different users to one group all succeed, and all 20 rows exist', async () => {
    const org = await newOrg();
    const users = [];
    for (let i = 0; i < 20; i++) users.push(await createUser(org.scim));
    const g = await createGroup(org.scim);
    const results = await Promise.all(users.map((u) => org.scim.patch(`/Groups/${g.id}`, [{ op: 'add', path: 'members', value: [{ value: u.id }] }])));
    const statuses = results.map((r) => r.status);
    assert.ok(statuses.every((s) => s >= 200 && s < 300), `statuses: ${statuses.join(',')} ${JSON.stringify(results.find((r) => r.status >= 300)?.body)}`);
    const rows = await groupMemberRows(org.org.id, g.id);
    assert.deepEqual(rows.map((r) => r.membership_id).sort(), users.map((u) => u.id).sort());
    assert.equal((await groupRow(org.org.id, g.id)).version, 21, 'every change counted once: no lost update');
    const read = await org.scim.get(`/Groups/${g.id}`);
    assert.equal(read.body.members.length, 20);
  });

  it('10 parallel POSTs of the same userName: exactly one 201, nine 409 uniqueness, one membership, one account', async () => {
    const org = await newOrg();
    const userName = `${unique('race')}@example.test`;
    const results = await Promise.all(Array.from({ length: 10 }, () => org.scim.post('/Users', userBody(userName))));
    const statuses = results.map((r) => r.status);
    assert.equal(count(statuses, 201), 1, `statuses: ${statuses.join(',')}`);
    assert.equal(count(statuses, 409), 9, `statuses: ${statuses.join(',')} ${JSON.stringify(results.find((r) => r.status !== 201 && r.status !== 409)?.body)}`);
    for (const r of results.filter((x) => x.status === 409)) {
      assert.equal(r.body.schemas[0], ERROR);
      assert.equal(r.body.scimType, 'uniqueness');
      assert.equal(r.body.status, '409');
    }
    const members = await testDb()('memberships').where({ org_id: org.org.id }).whereRaw('lower(user_name) = lower(?)', [userName]);
    assert.equal(members.length, 1);
    assert.equal(members[0].id, results.find((r) => r.status === 201)!.body.id);
    const accounts = await testDb()('accounts').whereRaw('lower(email) = lower(?)', [userName]);
    assert.equal(accounts.length, 1);
  });

  it('10 parallel POSTs of one userName in different letter cases and e-mails: one wins, and no loser leaves an account behind', async () => {
    const org = await newOrg();
    const base = unique('casey');
    const variants = Array.from({ length: 10 }, (_, i) => ({
      userName: [...base].map((c, k) => ((i >> (k % 4)) & 1 ? c.toUpperCase() : c)).join(''),
      email: `${base}-${i}@example.test`,
    }));
    const results = await Promise.all(variants.map((v) => org.scim.post('/Users', userBody(v.userName, { emails: [{ value: v.email, primary: true }] }))));
    const statuses = results.map((r) => r.status);
    assert.equal(count(statuses, 201), 1, `statuses: ${statuses.join(',')}`);
    assert.equal(count(statuses, 409), 9, `statuses: ${statuses.join(',')}`);
    const winner = variants[statuses.indexOf(201)];
    const accounts = await testDb()('accounts').whereIn('email', variants.map((v) => v.email)).pluck('email');
    assert.deepEqual(accounts, [winner.email], 'the losers\' accounts were rolled back with their memberships');
    const audit = await testDb()('audit_events').where({ org_id: org.org.id, action: 'member.created' });
    assert.equal(audit.length, 1);
  });

  it('10 parallel POSTs of the same group displayName: exactly one 201, nine 409', async () => {
    const org = await newOrg();
    const name = unique('Race Group ');
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => org.scim.post('/Groups', { schemas: [GROUP], displayName: i % 2 ? name.toUpperCase() : name })));
    const statuses = results.map((r) => r.status);
    assert.equal(count(statuses, 201), 1, `statuses: ${statuses.join(',')}`);
    assert.equal(count(statuses, 409), 9, `statuses: ${statuses.join(',')}`);
    assert.equal((await testDb()('groups').where({ org_id: org.org.id }).whereRaw('lower(display_name) = lower(?)', [name])).length, 1);
  });

  it('10 parallel PATCHes with the same If-Match: exactly one applies, nine are 412', async () => {
    const org = await newOrg();
    const u = await createUser(org.scim);
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => org.scim.patch(`/Users/${u.id}`, [{ op: 'replace', path: 'displayName', value: `writer ${i}` }]).set('If-Match', u.meta.version)));
    const statuses = results.map((r) => r.status);
    assert.equal(count(statuses, 200), 1, `statuses: ${statuses.join(',')}`);
    assert.equal(count(statuses, 412), 9, `statuses: ${statuses.join(',')}`);
    const row = await testDb()('memberships').where({ org_id: org.org.id, id: u.id }).first();
    assert.equal(row.version, 2);
    assert.equal(row.display_name, `writer ${statuses.indexOf(200)}`);
  });

  it('parallel adds and removes of different members of one group each take effect', async () => {
    const org = await newOrg();
    const staying = [];
    const leaving = [];
    const joining = [];
    for (let i = 0; i < 6; i++) staying.push(await createUser(org.scim));
    for (let i = 0; i < 6; i++) leaving.push(await createUser(org.scim));
    for (let i = 0; i < 6; i++) joining.push(await createUser(org.scim));
    const g = await createGroup(org.scim, unique('churn-'), [...staying, ...leaving].map((u) => u.id));
    const results = await Promise.all([
      ...leaving.map((u) => org.scim.patch(`/Groups/${g.id}`, [{ op: 'remove', path: `members[value eq "${u.id}"]` }])),
      ...joining.map((u) => org.scim.patch(`/Groups/${g.id}`, [{ op: 'add', path: 'members', value: [{ value: u.id }] }])),
    ]);
    assert.deepEqual(results.map((r) => r.status), results.map(() => 204));
    const rows = await groupMemberRows(org.org.id, g.id);
    assert.deepEqual(rows.map((r) => r.membership_id).sort(), [...staying, ...joining].map((u) => u.id).sort());
  });
});
