// `cli sso set|show|remove` as an operator runs them, against a real upstream identity provider (started by
// this test; the CLI or the server fetches its discovery document). On PostgreSQL the CLI opens the test
// database itself; on the embedded database it hands its commands to a server started on a prepared DATA_DIR.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { unique } from '../helpers.ts';
import { killAll, preparedDataDir, runCli, type Server, start, startServer } from '../operator/processes.ts';
import { testDatabaseUrl, testDb } from '../setup.ts';
import { startUpstreamIdp, type UpstreamIdp } from './upstream-idp.ts';

const ISSUER = 'https://roster.example';

describe('CLI: sso set, show, remove', function () {
  this.timeout(5 * 60_000);
  let server: Server | undefined;
  let dataDir: string | undefined;
  let env: Record<string, string>;
  let idp: UpstreamIdp;

  before(async () => {
    idp = await startUpstreamIdp();
    const databaseUrl = testDatabaseUrl();
    if (databaseUrl) {
      env = { DATABASE_URL: databaseUrl, ISSUER };
      return;
    }
    dataDir = await preparedDataDir();
    server = await startServer({ DATA_DIR: dataDir, ISSUER });
    env = { DATA_DIR: dataDir };
  });

  after(async () => {
    if (server) assert.equal(await server.stop(), 0, server.output().stderr);
    await killAll();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    await idp.stop();
  });

  async function newOrg(): Promise<string> {
    const r = await runCli(['org', 'create', '--name', unique('Sso '), '--owner-email', `${unique('o')}@example.test`, '--json'], env);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout).orgId;
  }

  const setArgs = (orgId: string, domains: string[], secret = idp.clientSecret) =>
    ['sso', 'set', '--org', orgId, '--issuer', idp.issuer, '--client-id', idp.clientId, '--client-secret', secret, ...domains.flatMap((d) => ['--domain', d])];

  it('sso set checks the issuer, stores the connection with its secret sealed, and prints it without the secret and with the redirect URI', async () => {
    const orgId = await newOrg();
    const domain = `${unique('acme')}.test`;
    const r = await runCli([...setArgs(orgId, [domain.toUpperCase()]), '--json'], env);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.deepEqual(
      { orgId: out.orgId, issuer: out.issuer, clientId: out.clientId, domains: out.domains, jitProvisioning: out.jitProvisioning, redirectUri: out.redirectUri },
      { orgId, issuer: idp.issuer, clientId: idp.clientId, domains: [domain], jitProvisioning: true, redirectUri: `${ISSUER}/sso/callback` },
    );
    assert.equal(r.stdout.includes(idp.clientSecret), false, 'the secret is never printed');
    const text = await runCli(['sso', 'show', '--org', orgId], env);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, new RegExp(`^redirect URI: +${ISSUER}/sso/callback`, 'm'));
    assert.match(text.stdout, new RegExp(`^domains: +${domain.replace(/\./g, '\\.')}$`, 'm'));
    assert.equal(text.stdout.includes(idp.clientSecret), false);
    const json = JSON.parse((await runCli(['sso', 'show', '--org', orgId, '--json'], env)).stdout);
    assert.equal(json.redirectUri, `${ISSUER}/sso/callback`);
    assert.equal('clientSecret' in json, false);
    if (testDatabaseUrl()) {
      const row = await testDb()('sso_connections').where({ org_id: orgId }).first();
      assert.match(row.client_secret_sealed, /^v1\./);
      assert.equal(row.client_secret_sealed.includes(idp.clientSecret), false, 'sealed at rest');
    }
  });

  it('sso set refuses, with one line and exit code 2, an issuer whose discovery fails; nothing is stored', async () => {
    const orgId = await newOrg();
    const r = await runCli(['sso', 'set', '--org', orgId, '--issuer', 'http://127.0.0.1:1/nothing', '--client-id', 'c', '--client-secret', 's', '--domain', `${unique('x')}.test`], env);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /^error: the issuer http:\/\/127\.0\.0\.1:1\/nothing cannot be used: its discovery document \(http:\/\/127\.0\.0\.1:1\/nothing\/\.well-known\/openid-configuration\) failed: .+\n$/);
    assert.equal(r.stderr.trim().split('\n').length, 1, 'one line');
    const show = await runCli(['sso', 'show', '--org', orgId], env);
    assert.equal(show.code, 2);
    assert.match(show.stderr, /no SSO connection/);
    const insecure = await runCli(['sso', 'set', '--org', orgId, '--issuer', 'http://idp.example', '--client-id', 'c', '--client-secret', 's', '--domain', 'x.test'], env);
    assert.equal(insecure.code, 2);
    assert.match(insecure.stderr, /must use https/);
  });

  it('a domain another organisation claimed is a clear conflict (exit 2); the second organisation keeps nothing of it', async () => {
    const [a, b] = [await newOrg(), await newOrg()];
    const domain = `${unique('claimed')}.test`;
    assert.equal((await runCli(setArgs(a, [domain]), env)).code, 0);
    const r = await runCli(setArgs(b, [`${unique('own')}.test`, domain]), env);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr, `error: the domain ${domain} is already claimed by another organisation; a domain belongs to one organisation's connection at most\n`);
    assert.equal((await runCli(['sso', 'show', '--org', b], env)).code, 2, 'nothing stored for b');
  });

  it('--no-jit, the secret read from standard input with --client-secret -, and sso remove', async () => {
    const orgId = await newOrg();
    const domain = `${unique('stdin')}.test`;
    const p = start(['src/cli.ts', ...setArgs(orgId, [domain], '-'), '--no-jit', '--json'], env);
    p.child.stdin!.end(`${idp.clientSecret}\n`);
    assert.equal(await p.exited, 0, p.output().stderr);
    assert.equal(JSON.parse(p.output().stdout).jitProvisioning, false);
    if (testDatabaseUrl()) {
      const { getSsoConnectionForSignIn } = await import('../../src/directory/sso.ts');
      const { createSealer } = await import('../../src/directory/sealing.ts');
      const { TEST_SECRET } = await import('../helpers.ts');
      assert.equal((await getSsoConnectionForSignIn(testDb(), createSealer(TEST_SECRET), { orgId }))?.clientSecret, idp.clientSecret, 'the secret from stdin, without its newline');
    }
    const removed = await runCli(['sso', 'remove', '--org', orgId], env);
    assert.equal(removed.code, 0, removed.stderr);
    assert.match(removed.stdout, /removed the SSO connection/);
    const again = await runCli(['sso', 'remove', '--org', orgId], env);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /no SSO connection/);
    const missing = await runCli(['sso', 'set', '--org', orgId, '--issuer', idp.issuer, '--client-id', 'c', '--client-secret', 's'], env);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /--domain is required/);
  });
});
