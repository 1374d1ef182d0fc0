// Secrets at rest and the OIDC signing keys: generated once, sealed, rotated with the old key kept published.
import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey, sign, verify } from 'node:crypto';
import { createSealer } from '../../src/directory/sealing.ts';
import { ensureSigningKey, listSigningKeys, providerSigningKeys, rotateSigningKey } from '../../src/directory/signing-keys.ts';
import { TEST_SECRET } from '../helpers.ts';
import { testDb } from '../setup.ts';

const sealer = createSealer(TEST_SECRET);

describe('directory: sealing secrets at rest', () => {
  it('opens what it sealed, only with the same SECRET and the same context; a changed byte is refused', () => {
    const sealed = sealer.seal('the private key', 'signing_key:1');
    assert.equal(sealer.open(sealed, 'signing_key:1'), 'the private key');
    assert.equal(sealed.includes('private'), false);
    assert.notEqual(sealer.seal('the private key', 'signing_key:1'), sealed, 'a fresh IV each time');
    assert.throws(() => sealer.open(sealed, 'signing_key:2'), 'bound to its context');
    assert.throws(() => createSealer('another SECRET, also long enough, 32+').open(sealed, 'signing_key:1'));
    const bytes = Buffer.from(sealed.slice(3), 'base64url');
    for (const at of [0, 12, 28, bytes.length - 1]) { // the IV, the tag, the first and the last byte of the ciphertext
      const changed = Buffer.from(bytes);
      changed[at] ^= 1;
      assert.throws(() => sealer.open(`v1.${changed.toString('base64url')}`, 'signing_key:1'), `byte ${at}`);
    }
    assert.throws(() => createSealer('short'), /at least 32/);
  });
});

describe('directory: OIDC signing keys', () => {
  beforeEach(() => testDb()('signing_keys').delete());

  it('creates one key on first start, even when instances start together, and none after', async () => {
    const created = await Promise.all([1, 2, 3].map(() => ensureSigningKey(testDb(), sealer)));
    assert.deepEqual(created.filter(Boolean).length, 1);
    assert.equal(await ensureSigningKey(testDb(), sealer), false);
    const keys = await listSigningKeys(testDb());
    assert.equal(keys.length, 1);
    assert.deepEqual([keys[0].alg, keys[0].active, keys[0].unpublishAt], ['RS256', true, null]);
  });

  it('stores the private key sealed: the private exponent appears nowhere in the table', async () => {
    await ensureSigningKey(testDb(), sealer);
    const [jwk] = await providerSigningKeys(testDb(), sealer);
    assert.equal(typeof jwk.d, 'string');
    const rows = (await testDb().raw('select t::text as row from signing_keys t')).rows as { row: string }[];
    for (const { row } of rows) assert.equal(row.includes(jwk.d as string), false);
    // The key works: what it signs, the published public key verifies.
    const data = Buffer.from('id token');
    const signature = sign('sha256', data, createPrivateKey({ key: jwk, format: 'jwk' }));
    const published = (await testDb()('signing_keys').where({ kid: jwk.kid }).first()).public_jwk;
    assert.equal(published.d, undefined);
    assert.ok(verify('sha256', data, createPublicKey({ key: published, format: 'jwk' }), signature));
  });

  it('rotation: the new key signs first, the old one stays published until its time is over, then goes', async () => {
    await ensureSigningKey(testDb(), sealer);
    const [old] = await providerSigningKeys(testDb(), sealer);
    const { kid, retired } = await rotateSigningKey(testDb(), sealer);
    assert.deepEqual(retired, [old.kid]);
    assert.deepEqual((await providerSigningKeys(testDb(), sealer)).map((k) => k.kid), [kid, old.kid], 'the signing key comes first');
    const listed = await listSigningKeys(testDb());
    const oldListed = listed.find((k) => k.kid === old.kid)!;
    assert.equal(oldListed.active, false);
    assert.ok(oldListed.unpublishAt!.getTime() > Date.now() + 23 * 3600_000, 'published for about a day');
    // Its day is over: no longer published, and the next rotation deletes it.
    await testDb()('signing_keys').where({ kid: old.kid }).update({ unpublish_at: testDb().raw("now() - interval '1 second'") });
    assert.deepEqual((await providerSigningKeys(testDb(), sealer)).map((k) => k.kid), [kid]);
    await rotateSigningKey(testDb(), sealer);
    assert.equal(await testDb()('signing_keys').where({ kid: old.kid }).first(), undefined);
  });
});
