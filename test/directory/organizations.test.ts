import assert from 'node:assert/strict';
import { createOrganization } from '../../src/directory/organizations.ts';
import { unique } from '../helpers.ts';
import { testDb } from '../setup.ts';

describe('organisations', () => {
  it('gives two organisations with the same name distinct slugs, and refuses a taken explicit slug', async () => {
    const name = unique('Same Name ');
    const a = await createOrganization(testDb(), { name, ownerEmail: `${unique('a')}@example.test` });
    const b = await createOrganization(testDb(), { name, ownerEmail: `${unique('b')}@example.test` });
    assert.notEqual(a.org.slug, b.org.slug);
    assert.ok(b.org.slug.startsWith(a.org.slug + '-'));
    await assert.rejects(
      createOrganization(testDb(), { name, slug: a.org.slug, ownerEmail: `${unique('c')}@example.test` }),
      (e: Error & { code?: string }) => e.code === 'conflict',
    );
  });
});
