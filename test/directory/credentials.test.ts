// One credential path for every kind of machine secret.
import assert from 'node:assert/strict';
import { issueCredential, listCredentials, revokeCredential, verifyCredential } from '../../src/directory/credentials.ts';
import { createOrganization } from '../../src/directory/organizations.ts';
import { hashSecret } from '../../src/directory/tokens.ts';
import { unique } from '../helpers.ts';
import { testDb } from '../setup.ts';

async function newOrgId(): Promise<string> {
  const name = unique('cred-');
  return (await createOrganization(testDb(), { name, ownerEmail: `owner@${name}.test` })).org.id;
}

const lastUsed = async (id: string): Promise<Date | null> => (await testDb()('credentials').where({ id }).first('last_used_at')).last_used_at;

describe('directory: credentials', () => {
  it('issues each kind with its prefix, stores only the hash, and verifies a secret only as its own kind', async () => {
    const orgId = await newOrgId();
    const kinds = ['scim_token', 'api_key', 'client_secret'] as const;
    const issued = await Promise.all(kinds.map((kind) => issueCredential(testDb(), { orgId, kind, name: kind, role: kind === 'api_key' ? 'admin' : null })));
    assert.deepEqual(issued.map((c) => c.secret.split('_').slice(0, 2).join('_')), ['rst_scim', 'rst_key', 'rst_secret']);
    for (const [i, kind] of kinds.entries()) {
      const row = await testDb()('credentials').where({ id: issued[i].id }).first();
      assert.equal(row.secret_hash, hashSecret(issued[i].secret));
      assert.deepEqual(await verifyCredential(testDb(), { kind, secret: issued[i].secret }), { id: issued[i].id, orgId, kind, role: kind === 'api_key' ? 'admin' : null, madeBy: null });
      for (const other of kinds.filter((k) => k !== kind)) assert.equal(await verifyCredential(testDb(), { kind: other, secret: issued[i].secret }), null);
    }
  });

  it('records the last use at most once a minute per credential, inside the verifying statement', async () => {
    const orgId = await newOrgId();
    const { id, secret } = await issueCredential(testDb(), { orgId, kind: 'scim_token', name: 't' });
    assert.equal(await lastUsed(id), null);
    await verifyCredential(testDb(), { kind: 'scim_token', secret });
    const first = await lastUsed(id);
    assert.ok(first, 'the first use is recorded');
    // Within the minute: no write (the recorded time stays exactly as it was).
    const recent = new Date(Date.now() - 30_000);
    await testDb()('credentials').where({ id }).update({ last_used_at: recent });
    await verifyCredential(testDb(), { kind: 'scim_token', secret });
    assert.deepEqual(await lastUsed(id), recent);
    // Past the minute: recorded again.
    const old = new Date(Date.now() - 120_000);
    await testDb()('credentials').where({ id }).update({ last_used_at: old });
    await verifyCredential(testDb(), { kind: 'scim_token', secret });
    assert.ok((await lastUsed(id))!.getTime() > old.getTime() + 60_000);
  });

  it('revokes at once, only within its own organisation, and lists without secrets', async () => {
    const orgId = await newOrgId();
    const otherOrg = await newOrgId();
    const { id, secret } = await issueCredential(testDb(), { orgId, kind: 'api_key', name: 'k' });
    assert.equal(await revokeCredential(testDb(), { orgId: otherOrg, kind: 'api_key', id }), false, "another org cannot revoke it");
    assert.ok(await verifyCredential(testDb(), { kind: 'api_key', secret }));
    assert.equal(await revokeCredential(testDb(), { orgId, kind: 'api_key', id }), true);
    assert.equal(await verifyCredential(testDb(), { kind: 'api_key', secret }), null);
    assert.equal(await revokeCredential(testDb(), { orgId, kind: 'api_key', id }), false, 'already revoked');
    const listed = await listCredentials(testDb(), { orgId, kind: 'api_key' });
    assert.ok(listed.find((c) => c.id === id)?.revokedAt);
    assert.equal(JSON.stringify(listed).includes(secret.slice(8)), false);
  });
});
