import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../src/config.ts';
import { createPasswordHasher } from '../src/directory/passwords.ts';

describe('configuration', () => {
  it('has the documented defaults and generates a development secret into DATA_DIR, once', () => {
    const dir = mkdtempSync(join(tmpdir(), 'roster-config-'));
    try {
      const c = loadConfig({ DATA_DIR: dir });
      assert.equal(c.port, 3000);
      assert.equal(c.issuer, 'http://localhost:3000');
      assert.equal(c.databaseUrl, undefined);
      assert.equal(c.logLevel, 'info');
      assert.ok(existsSync(join(dir, 'secret')));
      assert.equal(loadConfig({ DATA_DIR: dir }).secret, c.secret);
      assert.equal(readFileSync(join(dir, 'secret'), 'utf8').trim(), c.secret);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('derives the issuer from PORT and strips a trailing slash from ISSUER', () => {
    assert.equal(loadConfig({ PORT: '8080', SECRET: 'x'.repeat(32) }).issuer, 'http://localhost:8080');
    assert.equal(loadConfig({ ISSUER: 'https://id.example.com/', SECRET: 'x'.repeat(32) }).issuer, 'https://id.example.com');
  });

  it('refuses bad values with a message naming the variable', () => {
    assert.throws(() => loadConfig({ PORT: 'eighty' }), (e: Error) => e instanceof ConfigError && /PORT/.test(e.message));
    assert.throws(() => loadConfig({ DATABASE_URL: 'mysql://x' }), /DATABASE_URL/);
    assert.throws(() => loadConfig({ LOG_LEVEL: 'loud' }), /LOG_LEVEL/);
    assert.throws(() => loadConfig({ SECRET: 'short' }), /SECRET/);
  });

  it('requires SECRET in production', () => {
    assert.throws(() => loadConfig({ NODE_ENV: 'production' }), /SECRET is required/);
    assert.equal(loadConfig({ NODE_ENV: 'production', SECRET: 's'.repeat(40) }).secret, 's'.repeat(40));
  });

  it('hashes passwords at OWASP\'s minimum argon2id cost by default; a higher cost can be set, a lower one is refused', async () => {
    const secret = { SECRET: 'x'.repeat(32) };
    const defaults = loadConfig(secret).passwordCost;
    assert.deepEqual(defaults, { memoryKiB: 19_456, timeCost: 2, parallelism: 1 });
    assert.match(await createPasswordHasher(defaults).hash('a password of some length'), /^\$argon2id\$v=19\$m=19456,p=1,t=2\$/);
    const higher = loadConfig({ ...secret, PASSWORD_HASH_MEMORY_KIB: '65536', PASSWORD_HASH_TIME_COST: '3', PASSWORD_HASH_PARALLELISM: '2' }).passwordCost;
    const hash = await createPasswordHasher(higher).hash('a password of some length');
    assert.match(hash, /^\$argon2id\$v=19\$m=65536,p=2,t=3\$/);
    assert.equal(await createPasswordHasher().verify(hash, 'a password of some length'), true, 'any hasher verifies any cost');
    assert.throws(() => loadConfig({ ...secret, PASSWORD_HASH_MEMORY_KIB: '4096' }), /PASSWORD_HASH_MEMORY_KIB: must be at least 19456/);
    assert.throws(() => loadConfig({ ...secret, PASSWORD_HASH_TIME_COST: '1' }), /PASSWORD_HASH_TIME_COST/);
    assert.throws(() => createPasswordHasher({ memoryKiB: 1024, timeCost: 1, parallelism: 1 }), /at least m=19456/);
  });
});
