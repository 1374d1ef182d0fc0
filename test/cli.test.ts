import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { pino } from 'pino';
import supertest from 'supertest';
import { type Db, openDb } from '../src/db.ts';
import { hashSecret } from '../src/directory/tokens.ts';
import { createApp } from '../src/http/app.ts';
import { unique } from './helpers.ts';
import { killAll, preparedDataDir, runCli, type Server, startServer } from './operator/processes.ts';
import { testDatabaseUrl, testDb } from './setup.ts';

/**
 * Where the CLI writes. On PostgreSQL: the test database, which the CLI opens itself. On the embedded
 * database: one server started for this file on a prepared DATA_DIR, to which every CLI process hands its
 * command over the operator socket (the CLI processes load no database at all: each takes a fraction of a
 * second); "the CLI opens the embedded database itself" has its own test below.
 */
type Target = {
  env: Record<string, string | undefined>;
  /** A SCIM request as an identity provider makes it, to the server that sees the CLI's writes. */
  scim: (path: string, token: string) => Promise<{ status: number; body: Record<string, unknown> }>;
};

/** What `org create` printed is stored only as hashes: the SCIM token, the API key (with the owner's role), the temporary password. */
async function assertStoredAsHashes(db: Db, out: { orgId: string; scimToken: string; apiKey: string; email: string }): Promise<void> {
  assert.equal((await db('credentials').where({ org_id: out.orgId, kind: 'scim_token' }).first()).secret_hash, hashSecret(out.scimToken));
  const key = await db('credentials').where({ org_id: out.orgId, kind: 'api_key' }).first();
  assert.deepEqual([key.secret_hash, key.role], [hashSecret(out.apiKey), 'owner']);
  const account = await db('accounts').where({ email: out.email }).first();
  assert.equal(account.must_change_password, true);
  assert.match(account.password_hash, /^\$argon2id\$/);
}

describe('CLI', function () {
  // Real processes on a busy machine: generous, never tight.
  this.timeout(5 * 60_000);
  let server: Server | undefined;
  let dataDir: string | undefined;
  let target: Target;

  before(async () => {
    const databaseUrl = testDatabaseUrl();
    if (databaseUrl) {
      const app = supertest(createApp({ db: testDb(), logger: pino({ level: 'silent' }), issuer: 'http://cli.test' }));
      target = {
        env: { DATABASE_URL: databaseUrl },
        scim: async (path, token) => {
          const res = await app.get(`/scim/v2${path}`).set('Authorization', `Bearer ${token}`);
          return { status: res.status, body: res.body };
        },
      };
      return;
    }
    dataDir = await preparedDataDir();
    const s = await startServer({ DATA_DIR: dataDir });
    server = s;
    target = {
      env: { DATA_DIR: dataDir },
      scim: async (path, token) => {
        const res = await fetch(`http://127.0.0.1:${s.port}/scim/v2${path}`, { headers: { Authorization: `Bearer ${token}` } });
        return { status: res.status, body: (await res.json()) as Record<string, unknown> };
      },
    };
  });

  after(async () => {
    if (server) assert.equal(await server.stop(), 0, server.output().stderr);
    await killAll();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('org create --json prints the organisation, owner, SCIM token and API key; the running server accepts the token at once', async () => {
    const email = `${unique('owner')}@example.test`;
    const r = await runCli(['org', 'create', '--name', unique('Cli Org '), '--owner-email', email, '--json'], target.env);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.deepEqual(Object.keys(out).sort(), ['apiKey', 'orgId', 'owner', 'scimToken']);
    assert.equal(out.owner.email, email);
    assert.match(out.owner.temporaryPassword, /^[A-Za-z0-9]{20}$/);
    assert.match(out.scimToken, /^rst_scim_[A-Za-z0-9_-]{43}$/); // 32 random bytes
    assert.match(out.apiKey, /^rst_key_[A-Za-z0-9_-]{43}$/);
    // The printed token works, and the owner is the SCIM user with the printed id; the API key is no SCIM token.
    const me = await target.scim(`/Users/${out.owner.id}`, out.scimToken);
    assert.equal(me.status, 200);
    assert.equal(me.body.userName, email);
    assert.equal((await target.scim('/Users', out.apiKey)).status, 401);
    if (testDatabaseUrl()) {
      // Secrets are stored only as hashes (on the embedded database: the next test).
      await assertStoredAsHashes(testDb(), { ...out, email });
    }
  });

  it('with no server running, opens the embedded database itself (after taking its lock) and stores secrets only as hashes', async () => {
    // On PostgreSQL the CLI always opens the database itself: the test above.
    const dir = await preparedDataDir();
    try {
      const email = `${unique('owner')}@example.test`;
      const r = await runCli(['org', 'create', '--name', unique('Local '), '--owner-email', email, '--json'], { DATA_DIR: dir });
      assert.equal(r.code, 0, r.stderr);
      assert.doesNotMatch(r.stderr, /migrating/, 'a prepared database is not migrated again');
      const out = JSON.parse(r.stdout);
      const db = await openDb({ dataDir: dir });
      try {
        await assertStoredAsHashes(db, { ...out, email });
      } finally {
        await db.destroy();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('issues, lists and revokes SCIM tokens; a revoked token is refused at once, the others keep working', async () => {
    const org = JSON.parse((await runCli(['org', 'create', '--name', unique('Tokens '), '--owner-email', `${unique('o')}@example.test`, '--json'], target.env)).stdout);
    const second = await runCli(['scim-token', 'create', '--org', org.orgId, '--name', 'okta', '--json'], target.env);
    assert.equal(second.code, 0, second.stderr);
    const { id: secondId, scimToken: secondToken } = JSON.parse(second.stdout);
    const listed = JSON.parse((await runCli(['scim-token', 'list', '--org', org.orgId, '--json'], target.env)).stdout);
    assert.equal(listed.tokens.length, 2);
    assert.equal(JSON.stringify(listed).includes(secondToken), false, 'a listing never shows a secret');
    const first = listed.tokens.find((t: { id: string }) => t.id !== secondId);
    const revoked = await runCli(['scim-token', 'revoke', '--org', org.orgId, '--id', first.id, '--json'], target.env);
    assert.equal(revoked.code, 0, revoked.stderr);
    const again = await runCli(['scim-token', 'revoke', '--org', org.orgId, '--id', first.id], target.env);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /no active SCIM token/);
    const after = JSON.parse((await runCli(['scim-token', 'list', '--org', org.orgId, '--json'], target.env)).stdout);
    assert.ok(after.tokens.find((t: { id: string; revokedAt: string | null }) => t.id === first.id).revokedAt);
    assert.equal((await target.scim('/Users', org.scimToken)).status, 401);
    assert.equal((await target.scim('/Users', secondToken)).status, 200);
  });

  it('org login shows and changes how the organisation signs in; impossible settings are refused with exit code 2 and change nothing', async () => {
    const org = JSON.parse((await runCli(['org', 'create', '--name', unique('Login '), '--owner-email', `${unique('o')}@example.test`, '--json'], target.env)).stdout);
    const shown = await runCli(['org', 'login', '--org', org.orgId, '--json'], target.env);
    assert.equal(shown.code, 0, shown.stderr);
    assert.deepEqual(JSON.parse(shown.stdout).login, { requireMfa: false, mfaMethods: ['totp', 'email'], loginProviders: ['password'], ssoEnforced: false, allowIdentityLinking: true });
    const changed = await runCli(['org', 'login', '--org', org.orgId, '--require-mfa', 'true', '--mfa-methods', 'totp', '--json'], target.env);
    assert.equal(changed.code, 0, changed.stderr);
    assert.deepEqual(JSON.parse(changed.stdout).login, { requireMfa: true, mfaMethods: ['totp'], loginProviders: ['password'], ssoEnforced: false, allowIdentityLinking: true });
    const human = await runCli(['org', 'login', '--org', org.orgId], target.env);
    assert.match(human.stdout, /require MFA: +yes/);
    for (const bad of [['--mfa-methods', 'sms'], ['--login-providers', 'sso'], ['--sso-enforced', 'true'], ['--require-mfa', 'maybe'], ['--mfa-methods', '']]) {
      const refused = await runCli(['org', 'login', '--org', org.orgId, ...bad], target.env);
      assert.equal(refused.code, 2, `${bad.join(' ')}: ${refused.stdout}`);
      assert.doesNotMatch(refused.stderr, /\n\s+at /, 'no stack trace');
    }
    const after = JSON.parse((await runCli(['org', 'login', '--org', org.orgId, '--json'], target.env)).stdout);
    assert.deepEqual(after.login.mfaMethods, ['totp'], 'nothing changed');
    assert.deepEqual(after.login.loginProviders, ['password']);
  });

  it('says what is wrong with bad arguments, with exit code 2', async () => {
    const missing = await runCli(['org', 'create', '--name', 'X'], target.env);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /--owner-email is required/);
    const badEmail = await runCli(['org', 'create', '--name', 'X', '--owner-email', 'not-an-email'], target.env);
    assert.equal(badEmail.code, 2);
    assert.match(badEmail.stderr, /not an e-mail address/);
    const unknown = await runCli(['frobnicate'], target.env);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown command/);
    const badOrg = await runCli(['scim-token', 'create', '--org', 'nope'], target.env);
    assert.equal(badOrg.code, 2);
    assert.match(badOrg.stderr, /UUID/);
  });

  it('keys rotate adds a signing key that signs from now on; keys list shows it first and the replaced ones still published', async () => {
    const before = JSON.parse((await runCli(['keys', 'list', '--json'], target.env)).stdout) as { keys: { kid: string; active: boolean }[] };
    if (server) assert.equal(before.keys.filter((k) => k.active).length, 1, 'the server created the first key at start');
    const r = await runCli(['keys', 'rotate', '--json'], target.env);
    assert.equal(r.code, 0, r.stderr);
    const { kid, retired } = JSON.parse(r.stdout) as { kid: string; retired: string[] };
    assert.deepEqual(retired.sort(), before.keys.filter((k) => k.active).map((k) => k.kid).sort());
    const after = JSON.parse((await runCli(['keys', 'list', '--json'], target.env)).stdout) as { keys: { kid: string; active: boolean; unpublishAt: string | null }[] };
    assert.deepEqual([after.keys[0].kid, after.keys[0].active], [kid, true]);
    for (const old of retired) assert.ok(after.keys.find((k) => k.kid === old && !k.active && k.unpublishAt), `${old} stays published`);
    const text = await runCli(['keys', 'list'], target.env);
    assert.match(text.stdout, new RegExp(`^${kid}  RS256  signing`, 'm'));
  });

  it('migrate: up to date, or (on the embedded database) answered by the running server', async () => {
    const r = await runCli(['migrate'], target.env);
    assert.equal(r.code, 0, r.stderr);
    if (server) assert.match(r.stdout, new RegExp(`the running server \\(pid ${server.pid}\\) migrated the database at start`));
    else assert.match(r.stdout, /the database is up to date/);
  });
});
