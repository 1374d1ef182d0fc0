// The embedded database belongs to one process: the lock is taken before the database is opened, by the
// server and by the CLI; a CLI hands its command to a server that holds it (over the operator socket),
// waiting while the server starts. Real processes on real DATA_DIRs, whichever database the run uses.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { lockPath, socketPath } from '../../src/data-lock.ts';
import { createPasswordHasher } from '../../src/directory/passwords.ts';
import { createSealer } from '../../src/directory/sealing.ts';
import { listenOperatorSocket } from '../../src/http/operator.ts';
import { TEST_SECRET, unique, USER } from '../helpers.ts';
import { testDb } from '../setup.ts';
import { assertNoStack, killAll, preparedDataDir, type Proc, ROOT, runCli, start, startServer, tempDir } from './processes.ts';

const dirs: string[] = [];
const dir = (d: string) => (dirs.push(d), d);

/** A lock file as a holder writes it. */
function fakeLock(dataDir: string, holder: { kind: 'server' | 'cli'; command?: string; pid: number }): string {
  const nonce = randomBytes(12).toString('hex');
  writeFileSync(lockPath(dataDir), JSON.stringify({ ...holder, host: hostname(), since: new Date().toISOString(), nonce }) + '\n');
  return nonce;
}

/** The pid of a process that has exited. */
async function deadPid(): Promise<number> {
  const p = start(['-e', '']);
  await p.exited;
  return p.pid;
}

async function waitUntil(condition: () => boolean): Promise<void> {
  while (!condition()) await sleep(20);
}

async function createUser(port: number, token: string, userName: string): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${port}/scim/v2/Users`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/scim+json' },
    body: JSON.stringify({ schemas: [USER], userName, emails: [{ value: userName, primary: true }], active: true }),
  });
  return res.status;
}

async function userNames(port: number, token: string): Promise<string[]> {
  const res = await fetch(`http://127.0.0.1:${port}/scim/v2/Users`, { headers: { Authorization: `Bearer ${token}` } });
  assert.equal(res.status, 200);
  return ((await res.json()) as { Resources: { userName: string }[] }).Resources.map((r) => r.userName).sort();
}

function oneLine(text: string): string {
  assertNoStack(text);
  const lines = text.trim().split('\n');
  assert.equal(lines.length, 1, `expected one line, got:\n${text}`);
  return lines[0];
}

describe('embedded database: one process at a time', function () {
  this.timeout(5 * 60_000);

  afterEach(async () => {
    await killAll();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('two servers started together on a fresh DATA_DIR: one serves, the other exits 2 naming it; every write survives a restart', async () => {
    const d = dir(tempDir());
    const a = start(['src/main.ts'], { DATA_DIR: d, PORT: '0' });
    const b = start(['src/main.ts'], { DATA_DIR: d, PORT: '0' });
    const loser = await Promise.race([a.exited.then(() => a), b.exited.then(() => b)]);
    const winner = loser === a ? b : a;
    assert.equal(await loser.exited, 2, loser.output().stderr);
    const line = oneLine(loser.output().stderr);
    assert.match(line, new RegExp(`^roster: the embedded database in .* is in use by a Roster server \\(pid ${winner.pid}, `));
    const port = Number(JSON.parse((await winner.waitFor(/^\{.*"msg":"ready: .*$/m))[0]).port);
    // A third one, once the first is ready, is refused the same way.
    const third = start(['src/main.ts'], { DATA_DIR: d, PORT: '0' });
    assert.equal(await third.exited, 2);
    assert.match(oneLine(third.output().stderr), new RegExp(`in use by a Roster server \\(pid ${winner.pid}, `));

    const org = await runCli(['org', 'create', '--name', 'Race', '--owner-email', 'owner@race.test', '--json'], { DATA_DIR: d });
    assert.equal(org.code, 0, org.stderr);
    const { scimToken } = JSON.parse(org.stdout);
    assert.equal(await createUser(port, scimToken, 'one@race.test'), 201);
    assert.equal(await winner.stop(), 0);
    assert.equal(existsSync(lockPath(d)), false, 'the lock is released at shutdown');
    assert.equal(existsSync(socketPath(d)), false, 'the socket is removed at shutdown');

    const again = await startServer({ DATA_DIR: d });
    assert.deepEqual(await userNames(again.port, scimToken), ['one@race.test', 'owner@race.test']);
    assert.equal(await again.stop(), 0);
  });

  it('a CLI run as soon as the server has started hands its command to the server: the server accepts the printed token at once', async () => {
    // The reported failure: the CLI opened the database itself while the server was migrating, and the
    // server answered the token with 401 until restarted.
    const d = dir(tempDir());
    const server = start(['src/main.ts'], { DATA_DIR: d, PORT: '0' });
    await waitUntil(() => existsSync(lockPath(d)));
    const org = await runCli(['org', 'create', '--name', 'Early', '--owner-email', 'owner@early.test', '--json'], { DATA_DIR: d });
    assert.equal(org.code, 0, org.stderr);
    const { scimToken } = JSON.parse(org.stdout);
    const port = Number(JSON.parse((await server.waitFor(/^\{.*"msg":"ready: .*$/m))[0]).port);
    assert.equal(await createUser(port, scimToken, 'two@early.test'), 201);
    assert.deepEqual(await userNames(port, scimToken), ['owner@early.test', 'two@early.test']);
    assert.equal(await server.stop(), 0);
  });

  it('while the server holding the database is still starting, the CLI says so and waits for it, without opening the database', async () => {
    // The "server" here is this test process: its lock and its operator socket, which answers "starting"
    // until the test makes it ready (on the test database). So the CLI must wait however slow the machine is.
    const d = dir(tempDir());
    fakeLock(d, { kind: 'server', pid: process.pid });
    const socket = await listenOperatorSocket(socketPath(d), { logger: pino({ level: 'silent' }), holder: { kind: 'server' } });
    try {
      const email = `${unique('owner')}@example.test`;
      const cli = start(['src/cli.ts', 'org', 'create', '--name', unique('Waited '), '--owner-email', email, '--json'], { DATA_DIR: d });
      cli.child.stdin!.end();
      await cli.waitFor(/still starting/);
      assert.match(oneLine(cli.output().stderr), new RegExp(`^roster: the server \\(pid ${process.pid}\\) is still starting .*; waiting for it`));
      await sleep(500); // whatever it does meanwhile, it must not give up
      assert.equal(cli.child.exitCode, null, 'the CLI is still waiting');
      assert.equal(existsSync(join(d, 'pgdata')), false, 'the CLI did not open the database');
      socket.ready({ db: testDb(), sealer: createSealer(TEST_SECRET), passwords: createPasswordHasher(), issuer: 'http://roster.test' });
      assert.equal(await cli.exited, 0, cli.output().stderr);
      const out = JSON.parse(cli.output().stdout);
      assert.equal((await testDb()('organizations').where({ id: out.orgId }).first()).id, out.orgId);
      assert.equal(existsSync(join(d, 'pgdata')), false);
    } finally {
      await new Promise((resolve) => socket.server.close(resolve));
    }
  });

  it('a lock whose holder no longer listens on its socket is stale, whatever its host (a crashed container\'s successor has another hostname)', async () => {
    const d = dir(tempDir());
    // A killed holder's leftovers: its socket file, on which nobody listens any more...
    const holder = start(['-e', 'require("node:net").createServer().listen(process.argv[1], () => console.log("listening"))', socketPath(d)]);
    await holder.waitFor(/listening/);
    holder.child.kill('SIGKILL');
    await holder.exited;
    assert.ok(existsSync(socketPath(d)));
    // ...and its lock, from another machine (so its pid says nothing here), older than the grace period.
    const nonce = randomBytes(12).toString('hex');
    writeFileSync(lockPath(d), JSON.stringify({ kind: 'server', pid: holder.pid, host: 'a-container-that-is-gone', since: new Date(Date.now() - 60_000).toISOString(), nonce }) + '\n');
    const server = await startServer({ DATA_DIR: d });
    assert.notEqual(JSON.parse(readFileSync(lockPath(d), 'utf8')).nonce, nonce, 'the stale lock was taken over');
    assert.equal(await server.stop(), 0);
  });

  it('a CLI command holding the database: a server and another CLI wait for it to finish (saying so), without opening the database, then go on', async () => {
    // The "CLI command" is this test process: its lock and its socket (answering "busy") until it lets go.
    const d = dir(await preparedDataDir());
    fakeLock(d, { kind: 'cli', command: 'org create', pid: process.pid });
    const busy = await listenOperatorSocket(socketPath(d), { logger: pino({ level: 'silent' }), holder: { kind: 'cli', command: 'org create' } });
    const server = start(['src/main.ts'], { DATA_DIR: d, PORT: '0', LOG_LEVEL: 'info' });
    const cli = start(['src/cli.ts', 'migrate'], { DATA_DIR: d });
    cli.child.stdin!.end();
    await server.waitFor(/waiting for the CLI command \\"org create\\" \(pid \d+\) to finish/);
    await cli.waitFor(/waiting for the CLI command "org create"/);
    await sleep(500);
    assert.equal(server.child.exitCode, null, 'the server still waits');
    assert.equal(cli.child.exitCode, null, 'the CLI still waits');
    // The command finishes: its socket closes, its lock goes.
    await new Promise((resolve) => busy.server.close(resolve));
    rmSync(lockPath(d));
    assert.equal(await cli.exited, 0, cli.output().stderr);
    await server.waitFor(/"msg":"ready: /);
    assert.equal(await server.stop(), 0);
  });

  it('a server killed with SIGKILL leaves a stale lock and socket; the next server takes over and serves', async () => {
    const d = dir(await preparedDataDir());
    const first = await startServer({ DATA_DIR: d });
    assert.notEqual(await first.stop('SIGKILL'), 0);
    assert.ok(existsSync(lockPath(d)) && existsSync(socketPath(d)), 'SIGKILL leaves both behind');
    const second = await startServer({ DATA_DIR: d });
    assert.equal(JSON.parse(readFileSync(lockPath(d), 'utf8')).pid, second.pid);
    const org = await runCli(['org', 'create', '--name', 'After', '--owner-email', 'owner@after.test', '--json'], { DATA_DIR: d });
    assert.equal(org.code, 0, org.stderr);
    assert.equal(await createUser(second.port, JSON.parse(org.stdout).scimToken, 'x@after.test'), 201);
    assert.equal(await second.stop('SIGINT'), 0);
    assert.equal(existsSync(lockPath(d)), false);
    assert.equal(existsSync(socketPath(d)), false);
  });

  it('of many processes racing to take over one stale lock, exactly one wins and the others see it as the holder', async () => {
    const script = `
      import { acquireDataLock } from ${JSON.stringify(join(ROOT, 'src/data-lock.ts'))};
      import { once } from 'node:events';
      console.log('waiting');
      await once(process.stdin, 'data');
      const r = await acquireDataLock(process.env.DATA_DIR, { kind: 'cli', command: 'race' });
      console.log(JSON.stringify('lock' in r ? { won: r.lock.holder.nonce } : { heldBy: r.heldBy.nonce }));
      process.stdin.resume();
      await once(process.stdin, 'end');
    `;
    for (let round = 0; round < 3; round++) {
      const d = dir(tempDir());
      const stale = fakeLock(d, { kind: 'server', pid: await deadPid() });
      const racers: Proc[] = Array.from({ length: 6 }, () => start(['--input-type=module', '-e', script], { DATA_DIR: d }));
      await Promise.all(racers.map((r) => r.waitFor(/waiting/)));
      for (const r of racers) r.child.stdin!.write('go\n');
      const results = await Promise.all(racers.map(async (r) => JSON.parse((await r.waitFor(/^\{.*\}$/m))[0]) as { won?: string; heldBy?: string }));
      const winners = results.filter((r) => r.won);
      assert.equal(winners.length, 1, JSON.stringify(results));
      const nonce = winners[0].won!;
      assert.notEqual(nonce, stale);
      for (const r of results.filter((x) => !x.won)) assert.equal(r.heldBy, nonce, JSON.stringify(results));
      assert.equal(JSON.parse(readFileSync(lockPath(d), 'utf8')).nonce, nonce);
      assert.deepEqual(readdirSync(d).sort(), ['roster.lock'], 'no takeover or temporary file is left');
      for (const r of racers) r.child.stdin!.end();
      for (const r of racers) assert.equal(await r.exited, 0, r.output().stderr);
      assert.equal(existsSync(lockPath(d)), false, 'the winner released the lock when it exited');
    }
  });

  it('the operator socket is mode 0600 and is the only operator channel: the public port has no operator route and no /metrics', async () => {
    const d = dir(await preparedDataDir());
    const server = await startServer({ DATA_DIR: d });
    assert.equal(server.output().stdout.includes(`"operatorSocket":"${socketPath(d)}"`), true);
    const { statSync } = await import('node:fs');
    const st = statSync(socketPath(d));
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o600);
    for (const [method, path] of [['POST', '/internal/operator/commands'], ['GET', '/internal/operator'], ['POST', '/commands'], ['GET', '/ready'], ['GET', '/metrics']]) {
      const res = await fetch(`http://127.0.0.1:${server.port}${path}`, { method, headers: { 'Content-Type': 'application/json' }, body: method === 'POST' ? JSON.stringify({ command: 'org create', name: 'x', ownerEmail: 'x@x.test' }) : undefined });
      assert.equal(res.status, 404, `${method} ${path}`);
    }
    assert.equal(await server.stop(), 0);
  });

  it('a DATA_DIR too long for a Unix socket path: one clear line and exit 2, from the server and the CLI, before anything is opened', async () => {
    const base = dir(tempDir());
    const d = join(base, 'd'.repeat(120));
    const server = start(['src/main.ts'], { DATA_DIR: d, PORT: '0' });
    assert.equal(await server.exited, 2);
    assert.match(oneLine(server.output().stderr), /^roster: DATA_DIR is too long for the operator socket: .*roster\.sock is \d+ bytes, the limit for a Unix socket path is 10[37]; use a shorter DATA_DIR/);
    const cli = await runCli(['migrate'], { DATA_DIR: d });
    assert.equal(cli.code, 2);
    assert.match(oneLine(cli.stderr), /DATA_DIR is too long for the operator socket/);
    assert.equal(existsSync(join(d, 'pgdata')), false);
    assert.equal(existsSync(lockPath(d)), false);
  });
});
