import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../src/config.ts';

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
});
