// Starting the server and the CLI as an operator does: what they print, how they fail, what they load.
// Real processes, on the database of the run (PostgreSQL when DATABASE_URL is set, else the embedded one).
import assert from 'node:assert/strict';
import { chmodSync, existsSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server as NetServer } from 'node:net';
import { join } from 'node:path';
import { lockPath, socketPath } from '../../src/data-lock.ts';
import { testDatabaseUrl } from '../setup.ts';
import { assertNoStack, killAll, preparedDataDir, runCli, start, startServer, tempDir } from './processes.ts';

const dirs: string[] = [];
const dir = (d: string) => (dirs.push(d), d);

/** The run's database for a child process: the test PostgreSQL database, or a prepared DATA_DIR. */
async function runDatabase(): Promise<Record<string, string>> {
  const url = testDatabaseUrl();
  return url ? { DATABASE_URL: url } : { DATA_DIR: dir(await preparedDataDir()) };
}

function occupy(): Promise<{ port: number; server: NetServer }> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, () => resolve({ port: (server.address() as { port: number }).port, server }));
  });
}

/** A port nobody listens on (taken, then given back). */
async function freePort(): Promise<number> {
  const { port, server } = await occupy();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function oneLine(text: string): string {
  assertNoStack(text);
  const lines = text.trim().split('\n');
  assert.equal(lines.length, 1, `expected one line, got:\n${text}`);
  return lines[0];
}

const logMessages = (stdout: string) => stdout.trim().split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { msg: string }).msg);

// Reports every module specifier that contains "pglite" as it is resolved.
const pgliteProbe = 'data:text/javascript,' + encodeURIComponent(
  'import { registerHooks } from "node:module"; registerHooks({ resolve(s, c, next) { if (/pglite/i.test(s)) process.stderr.write("LOADED " + s + "\\n"); return next(s, c); } });',
);

describe('server and CLI start-up', function () {
  this.timeout(5 * 60_000);

  afterEach(async () => {
    await killAll();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('logs what it is doing while it starts: opening or connecting, migrating (how many), ready', async () => {
    const url = testDatabaseUrl();
    const d = dir(tempDir());
    const server = await startServer(url ? { DATABASE_URL: url } : { DATA_DIR: d });
    const msgs = logMessages(server.output().stdout);
    const at = (re: RegExp) => {
      const i = msgs.findIndex((m) => re.test(m));
      assert.ok(i >= 0, `no log line ${re} in ${JSON.stringify(msgs)}`);
      return i;
    };
    if (url) {
      const { hostname, port, pathname } = new URL(url);
      const first = at(new RegExp(`^connecting to PostgreSQL at ${hostname}:${port}, database "${pathname.slice(1)}"$`));
      const upToDate = at(/^database schema is up to date$/); // the test database is migrated already
      assert.ok(first < upToDate && upToDate < at(/^ready: roster listening on port \d+$/));
    } else {
      const first = at(new RegExp(`^opening the embedded database in ${d.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
      const migrating = at(/^migrating: \d+ migrations? to apply$/); // a fresh DATA_DIR
      const migrated = at(/^database migrated$/);
      assert.ok(first < migrating && migrating < migrated && migrated < at(/^ready: roster listening on port \d+$/));
    }
    assert.equal(await server.stop(), 0);
  });

  it('a port already in use: exit 1 with one line naming the port, and everything taken is released', async () => {
    const { port, server: occupant } = await occupy();
    try {
      const env = await runDatabase();
      const server = start(['src/main.ts'], { ...env, PORT: String(port) });
      assert.equal(await server.exited, 1);
      assert.equal(oneLine(server.output().stderr), `roster: port ${port} (PORT) is already in use, by another server or another Roster; stop it or set PORT to a free port`);
      const metrics = start(['src/main.ts'], { ...env, PORT: '0', METRICS_PORT: String(port) });
      assert.equal(await metrics.exited, 1);
      assert.match(oneLine(metrics.output().stderr), new RegExp(`^roster: port ${port} \\(METRICS_PORT\\) is already in use`));
      if (env.DATA_DIR) {
        assert.equal(existsSync(lockPath(env.DATA_DIR)), false, 'the lock is released');
        assert.equal(existsSync(socketPath(env.DATA_DIR)), false, 'the socket is removed');
      }
      // Nothing is left holding the database: a server starts on it at once.
      const next = await startServer(env);
      assert.equal(await next.stop(), 0);
    } finally {
      occupant.close();
    }
  });

  it('a SECRET other than the one the signing keys were sealed with: one line saying so, exit 2, and the keys are untouched', async () => {
    const env = await runDatabase();
    const first = await startServer(env); // creates the first signing key when there is none
    assert.equal(await first.stop(), 0);
    const other = start(['src/main.ts'], { ...env, PORT: '0', SECRET: 'not the SECRET the keys were sealed with, 32+' });
    assert.equal(await other.exited, 2);
    assert.match(oneLine(other.output().stderr), /^roster: the OIDC signing key \S+ cannot be opened with this SECRET: SECRET must stay the one the keys were created with$/);
    const again = await startServer(env);
    assert.equal(await again.stop(), 0, 'with the right SECRET it starts as before');
  });

  it('the embedded database folder is private: a new DATA_DIR is created 0700, one open to others is tightened with a warning', async () => {
    const parent = dir(tempDir());
    const fresh = join(parent, 'new', 'data');
    const created = await startServer({ DATA_DIR: fresh });
    assert.equal(statSync(fresh).mode & 0o777, 0o700);
    assert.equal(await created.stop(), 0);
    chmodSync(fresh, 0o755);
    const again = await startServer({ DATA_DIR: fresh });
    assert.equal(statSync(fresh).mode & 0o777, 0o700);
    assert.ok(logMessages(again.output().stdout).some((m) => /was open to other users: made it readable by this user only/.test(m)));
    assert.equal(await again.stop(), 0);
  });

  it('METRICS_PORT serves /metrics on its own listener; the public port does not', async () => {
    const server = await startServer({ ...(await runDatabase()), METRICS_PORT: '0' });
    assert.ok(server.metricsPort && server.metricsPort !== server.port);
    assert.equal((await fetch(`http://127.0.0.1:${server.port}/healthz`)).status, 200);
    assert.equal((await fetch(`http://127.0.0.1:${server.port}/readyz`)).status, 200);
    assert.equal((await fetch(`http://127.0.0.1:${server.port}/metrics`)).status, 404);
    const res = await fetch(`http://127.0.0.1:${server.metricsPort}/metrics`);
    assert.equal(res.status, 200);
    const text = await res.text();
    assert.match(text, /http_request_duration_seconds_count\{method="GET",route="\/healthz",status="200"\} 1/);
    assert.match(text, /process_resident_memory_bytes/);
    assert.equal((await fetch(`http://127.0.0.1:${server.metricsPort}/scim/v2/Users`)).status, 404);
    assert.equal(await server.stop(), 0);
    // Without METRICS_PORT, no metrics listener at all.
    const plain = await startServer(await runDatabase());
    assert.equal(plain.metricsPort, undefined);
    assert.equal(await plain.stop(), 0);
  });

  it('an unreachable DATABASE_URL: one line saying what is wrong and what to do, exit 1, from the server and the CLI; PGlite is never loaded', async () => {
    const port = await freePort();
    const url = `postgres://roster:secret-password@127.0.0.1:${port}/roster`;
    const expected = `roster: cannot connect to PostgreSQL on 127.0.0.1:${port} (connection refused); start PostgreSQL or fix the host and port in DATABASE_URL`;
    const server = start(['src/main.ts'], { DATABASE_URL: url, PORT: '0' });
    assert.equal(await server.exited, 1);
    assert.equal(oneLine(server.output().stderr), expected);
    const cli = await runCli(['org', 'create', '--name', 'X', '--owner-email', 'x@x.test'], { DATABASE_URL: url });
    assert.equal(cli.code, 1);
    assert.equal(oneLine(cli.stderr), expected);
    assert.doesNotMatch(server.output().stdout + server.output().stderr + cli.stderr, /secret-password/);
    // With the probe: the same runs resolve no PGlite module...
    const probedServer = start(['src/main.ts'], { DATABASE_URL: url, PORT: '0' }, { node: ['--import', pgliteProbe] });
    assert.equal(await probedServer.exited, 1);
    assert.doesNotMatch(probedServer.output().stderr, /LOADED/);
    const probedCli = await runCli(['migrate'], { DATABASE_URL: url }, { node: ['--import', pgliteProbe] });
    assert.equal(probedCli.code, 1);
    assert.doesNotMatch(probedCli.stderr, /LOADED/);
    // ...while on the embedded database the probe sees it (so it would see it above).
    const embedded = await runCli(['migrate'], { DATA_DIR: dir(await preparedDataDir()) }, { node: ['--import', pgliteProbe] });
    assert.equal(embedded.code, 0, embedded.stderr);
    assert.match(embedded.stderr, /LOADED knex-pglite/);
  });

  it('a database that does not exist, or a user PostgreSQL refuses: one line saying what to do, exit 1, from the server and the CLI', async () => {
    const url = testDatabaseUrl();
    // Needs a PostgreSQL server to refuse; on the embedded run, the connection-refused case above is the one there is.
    const cases: [string, RegExp][] = [];
    if (url) {
      const { hostname, port } = new URL(url);
      const missing = new URL(url);
      missing.pathname = '/roster_no_such_database';
      cases.push([missing.toString(), new RegExp(`^roster: database "roster_no_such_database" does not exist on ${hostname}:${port}; create it \\(createdb -h ${hostname} -p ${port} roster_no_such_database\\) or fix DATABASE_URL$`)]);
      const stranger = new URL(url);
      stranger.username = 'roster_no_such_role';
      stranger.password = 'pw';
      cases.push([stranger.toString(), new RegExp(`^roster: PostgreSQL on ${hostname}:${port} refused (user|the password of user) "roster_no_such_role"`)]);
    } else {
      cases.push([`postgres://x@no-such-host.invalid:5432/x`, /^roster: cannot resolve the host "no-such-host.invalid" of DATABASE_URL; fix DATABASE_URL$/]);
    }
    for (const [databaseUrl, expected] of cases) {
      const server = start(['src/main.ts'], { DATABASE_URL: databaseUrl, PORT: '0' });
      assert.equal(await server.exited, 1);
      assert.match(oneLine(server.output().stderr), expected);
      const cli = await runCli(['migrate'], { DATABASE_URL: databaseUrl });
      assert.equal(cli.code, 1);
      assert.match(oneLine(cli.stderr), expected);
    }
  });

  it('the server and the CLI read .env when there is one (silently none when there is none); the environment wins over it', async () => {
    const node: string[] = [];
    const prepared = dir(await preparedDataDir());
    const cwd = dir(tempDir());
    // No .env: nothing but the environment.
    const none = await runCli(['migrate'], { DATA_DIR: prepared, PORT: undefined }, { node, cwd });
    assert.equal(none.code, 0, none.stderr);
    assert.equal(/\.env/.test(none.stderr), false, `nothing is said about a missing .env: ${none.stderr}`);
    writeFileSync(join(cwd, '.env'), `DATA_DIR=${prepared}\nPORT=eighty\n`);
    const fromFile = await runCli(['migrate'], {}, { node, cwd });
    assert.equal(fromFile.code, 2);
    assert.match(fromFile.stderr, /invalid configuration: PORT/);
    const envWins = await runCli(['migrate'], { PORT: '3000' }, { node, cwd });
    assert.equal(envWins.code, 0, envWins.stderr);
    assert.match(envWins.stdout, /the database is up to date/, 'DATA_DIR came from .env (a ./data here would have been migrated)');
    assert.equal(existsSync(join(cwd, 'data')), false);
  });
});
