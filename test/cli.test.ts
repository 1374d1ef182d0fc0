import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { pino } from 'pino';
import supertest from 'supertest';
import { type Db, openDb } from '../src/db.ts';
import { hashSecret } from '../src/directory/tokens.ts';
import { createApp } from '../src/http/app.ts';
import { unique } from './helpers.ts';
import { testDatabaseUrl, testDb } from './setup.ts';

const run = promisify(execFile);

/**
 * Where the CLI writes: the test PostgreSQL database when DATABASE_URL is set, else a throw-away embedded
 * database in its own DATA_DIR (the in-memory test database is invisible to another process).
 */
function cliTarget() {
  const dataDir = mkdtempSync(join(tmpdir(), 'roster-cli-'));
  const databaseUrl = testDatabaseUrl() ?? '';
  let db: Db | undefined;
  return {
    env: { DATA_DIR: dataDir, DATABASE_URL: databaseUrl },
    /** The database the CLI wrote to, opened after the CLI process has exited. */
    db: () => (databaseUrl ? testDb() : (db ??= openDb({ dataDir }))),
    async close() {
      if (db) await db.destroy();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

async function cli(args: string[], env: Record<string, string>) {
  try {
    const { stdout, stderr } = await run(process.execPath, ['src/cli.ts', ...args], { env: { ...process.env, ...env } });
    return { stdout, stderr, code: 0 };
  } catch (err) {
    const e = err as { stdout: string; stderr: string; code: number };
    return { stdout: e.stdout, stderr: e.stderr, code: e.code };
  }
}

describe('CLI', function () {
  this.timeout(60_000);

  it('org create --json prints the organisation, owner, SCIM token and API key; secrets are stored only as hashes', async () => {
    const target = cliTarget();
    try {
      const email = `${unique('owner')}@example.test`;
      const r = await cli(['org', 'create', '--name', unique('Cli Org '), '--owner-email', email, '--json'], target.env);
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout);
      assert.deepEqual(Object.keys(out).sort(), ['apiKey', 'orgId', 'owner', 'scimToken']);
      assert.equal(out.owner.email, email);
      assert.match(out.owner.temporaryPassword, /^[A-Za-z0-9]{20}$/);
      assert.match(out.scimToken, /^rst_scim_[A-Za-z0-9_-]{43}$/); // 32 random bytes
      assert.match(out.apiKey, /^rst_key_[A-Za-z0-9_-]{43}$/);
      const db = target.db();
      const token = await db('credentials').where({ org_id: out.orgId, kind: 'scim_token' }).first();
      assert.equal(token.secret_hash, hashSecret(out.scimToken));
      const key = await db('credentials').where({ org_id: out.orgId, kind: 'api_key' }).first();
      assert.equal(key.secret_hash, hashSecret(out.apiKey));
      assert.equal(key.role, 'owner');
      const account = await db('accounts').where({ email }).first();
      assert.equal(account.must_change_password, true);
      assert.match(account.password_hash, /^\$argon2id\$/);
      // The printed token works, and the owner is the SCIM user with the printed id; the API key is no SCIM token.
      const app = supertest(createApp({ db, logger: pino({ level: 'silent' }), issuer: 'http://cli.test' }));
      const me = await app.get(`/scim/v2/Users/${out.owner.id}`).set('Authorization', `Bearer ${out.scimToken}`);
      assert.equal(me.status, 200);
      assert.equal(me.body.userName, email);
      await app.get('/scim/v2/Users').set('Authorization', `Bearer ${out.apiKey}`).expect(401);
    } finally {
      await target.close();
    }
  });

  it('issues, lists and revokes SCIM tokens; a revoked token is refused at once, the others keep working', async () => {
    const target = cliTarget();
    try {
      const org = JSON.parse((await cli(['org', 'create', '--name', unique('Tokens '), '--owner-email', `${unique('o')}@example.test`, '--json'], target.env)).stdout);
      const second = await cli(['scim-token', 'create', '--org', org.orgId, '--name', 'okta', '--json'], target.env);
      assert.equal(second.code, 0, second.stderr);
      const { id: secondId, scimToken: secondToken } = JSON.parse(second.stdout);
      const listed = JSON.parse((await cli(['scim-token', 'list', '--org', org.orgId, '--json'], target.env)).stdout);
      assert.equal(listed.tokens.length, 2);
      assert.equal(JSON.stringify(listed).includes(secondToken), false, 'a listing never shows a secret');
      const first = listed.tokens.find((t: { id: string }) => t.id !== secondId);
      const revoked = await cli(['scim-token', 'revoke', '--org', org.orgId, '--id', first.id, '--json'], target.env);
      assert.equal(revoked.code, 0, revoked.stderr);
      const again = await cli(['scim-token', 'revoke', '--org', org.orgId, '--id', first.id], target.env);
      assert.equal(again.code, 2);
      assert.match(again.stderr, /no active SCIM token/);
      const after = JSON.parse((await cli(['scim-token', 'list', '--org', org.orgId, '--json'], target.env)).stdout);
      assert.ok(after.tokens.find((t: { id: string; revokedAt: string | null }) => t.id === first.id).revokedAt);
      // Only now open the database here: the embedded one belongs to one process at a time.
      const app = supertest(createApp({ db: target.db(), logger: pino({ level: 'silent' }), issuer: 'http://cli.test' }));
      await app.get('/scim/v2/Users').set('Authorization', `Bearer ${org.scimToken}`).expect(401);
      await app.get('/scim/v2/Users').set('Authorization', `Bearer ${secondToken}`).expect(200);
    } finally {
      await target.close();
    }
  });

  it('says what is wrong with bad arguments, with exit code 2', async () => {
    const target = cliTarget();
    try {
      const missing = await cli(['org', 'create', '--name', 'X'], target.env);
      assert.equal(missing.code, 2);
      assert.match(missing.stderr, /--owner-email is required/);
      const badEmail = await cli(['org', 'create', '--name', 'X', '--owner-email', 'not-an-email'], target.env);
      assert.equal(badEmail.code, 2);
      assert.match(badEmail.stderr, /not an e-mail address/);
      const unknown = await cli(['frobnicate'], target.env);
      assert.equal(unknown.code, 2);
      assert.match(unknown.stderr, /unknown command/);
      const badOrg = await cli(['scim-token', 'create', '--org', 'nope'], target.env);
      assert.equal(badOrg.code, 2);
    } finally {
      await target.close();
    }
  });

  it('on the embedded database, sends its commands to the running server, which sees them at once', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'roster-live-'));
    const env = { ...process.env, DATA_DIR: dataDir, DATABASE_URL: '', PORT: '0', LOG_LEVEL: 'info' };
    const server = spawn(process.execPath, ['src/main.ts'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const port = await new Promise<number>((resolve, reject) => {
        let out = '';
        server.stdout.on('data', (d) => {
          out += d;
          const m = /"port":(\d+)/.exec(out);
          if (/roster listening/.test(out) && m) resolve(Number(m[1]));
        });
        server.on('exit', (code) => reject(new Error(`server exited with ${code}`)));
      });
      assert.ok(port > 0);
      const r = await cli(['org', 'create', '--name', 'Live', '--owner-email', 'owner@live.test', '--json'], { DATA_DIR: dataDir, DATABASE_URL: '' });
      assert.equal(r.code, 0, r.stderr);
      const { scimToken } = JSON.parse(r.stdout);
      const res = await fetch(`http://127.0.0.1:${port}/scim/v2/Users`, { headers: { Authorization: `Bearer ${scimToken}` } });
      assert.equal(res.status, 200);
      assert.equal(((await res.json()) as { totalResults: number }).totalResults, 1);
      // A second server on the same embedded database refuses to start.
      const second = await run(process.execPath, ['src/main.ts'], { env }).then(() => 0, (e: { code: number }) => e.code);
      assert.equal(second, 2);
      // The operator channel is closed to anyone without the lock file's token.
      const probe = await fetch(`http://127.0.0.1:${port}/internal/operator/commands`, { method: 'POST', headers: { Authorization: 'Bearer guess', 'Content-Type': 'application/json' }, body: '{}' });
      assert.equal(probe.status, 404);
      // SIGTERM: the server finishes, closes the database, removes its lock file and exits 0.
      const exited = new Promise<number | null>((resolve) => server.once('exit', (code) => resolve(code)));
      server.kill('SIGTERM');
      assert.equal(await exited, 0);
      assert.equal(existsSync(join(dataDir, 'server.lock.json')), false);
    } finally {
      if (server.exitCode === null) {
        server.kill('SIGKILL');
        await new Promise((resolve) => server.once('exit', resolve));
      }
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
