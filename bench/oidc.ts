// OIDC benchmark: the client credentials grant and token introspection of the real Roster server process
// (node src/main.ts, every token stored in PostgreSQL, client secrets checked against their hashes) beside a
// bare oidc-provider of the same version in its own process (in-memory adapter, one static client with a
// plain secret), and the Roster server's memory under that load.
// npm run bench:oidc   (env: DATABASE_URL, BENCH_SECONDS=10, BENCH_WARMUP=2, BENCH_CONNECTIONS=10,
// BENCH_ROSTER_FLAGS). See bench/README.md, section "bench/oidc".
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { createClient } from '../src/directory/clients.ts';
import { createOrganization } from '../src/directory/organizations.ts';
import type { Db } from '../src/db.ts';
import { failureRate, formatTable, mb, type Row, settle, withBenchDatabase } from './lib.ts';
import { combineRuns, type LoadStats } from './load-stats.ts';
import { formatHeapSpaces, formatMemory, MemoryWatch } from './memory.ts';
import type { FormPostJob } from './oidc-load-worker.ts';
import { procCpuMicros, procMemory, type ProcMemory, startRoster } from './roster-child.ts';

const databaseUrl = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
const seconds = Number(process.env.BENCH_SECONDS ?? 10);
const warmupSeconds = Number(process.env.BENCH_WARMUP ?? 2);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 10);
const MAX_FAILURE_RATE = 0.001;
const ROUNDS = 4;
const SETTLE_SECONDS = 5;
const TOKEN_PATH = '/oidc/token';
const INTROSPECTION_PATH = '/oidc/token/introspection';
/** Both servers run with the node flags of `npm start`; BENCH_ROSTER_FLAGS adds more to Roster's (as in bench/scim.ts). */
const startFlags = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { scripts: { start: string } })
  .scripts.start.split(/\s+/).filter((w) => w.startsWith('--'));
const rosterFlags = [...startFlags, ...(process.env.BENCH_ROSTER_FLAGS ?? '').split(/\s+/).filter(Boolean)];
const resultsFile = new URL('./results/oidc-latest.json', import.meta.url);
const root = fileURLToPath(new URL('..', import.meta.url));

if (!(seconds > 0) || !(warmupSeconds >= 0) || !(connections > 0)) throw new Error('BENCH_SECONDS and BENCH_CONNECTIONS must be positive numbers, BENCH_WARMUP >= 0');

class BenchFailure extends Error {}

function assert(ok: unknown, message: string): asserts ok {
  if (!ok) throw new BenchFailure(message);
}

/** HTTP Basic as RFC 6749 §2.3.1 has it: client id and secret form-encoded, then base64. */
const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

type Side = { name: 'roster' | 'bare'; url: string; authorization: string; pid: number };

async function postForm(side: Side, path: string, body: string, authorization = side.authorization): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${side.url}${path}`, {
    method: 'POST', body, headers: { authorization, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
  });
  return { status: res.status, json: (await res.json().catch(() => ({}))) as Record<string, unknown> };
}

async function issueToken(side: Side): Promise<string> {
  const { status, json } = await postForm(side, TOKEN_PATH, 'grant_type=client_credentials');
  assert(status === 200 && typeof json.access_token === 'string' && json.token_type === 'Bearer',
    `preflight: ${side.name}'s token endpoint answered ${status} ${JSON.stringify(json).slice(0, 300)}`);
  return json.access_token as string;
}

const introspectionBody = (token: string) => `token=${encodeURIComponent(token)}&token_type_hint=access_token`;

async function checkActive(side: Side, token: string, clientId: string, when: string): Promise<void> {
  const { status, json } = await postForm(side, INTROSPECTION_PATH, introspectionBody(token));
  assert(status === 200 && json.active === true && json.client_id === clientId,
    `${when}: ${side.name}'s introspection of its token answered ${status} ${JSON.stringify(json).slice(0, 300)}`);
}

/** The bare oidc-provider in its own process (bench/oidc-baseline-child.ts), with the node flags of `npm start`. */
async function startBaseline(clientId: string, clientSecret: string): Promise<{ url: string; pid: number; proc: () => ProcMemory; stop: () => Promise<void> }> {
  const child: ChildProcess = spawn(process.execPath, [...startFlags, 'bench/oidc-baseline-child.ts'], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    env: { PATH: process.env.PATH, NODE_ENV: 'production', BENCH_CLIENT_ID: clientId, BENCH_CLIENT_SECRET: clientSecret },
  });
  const prefix = (chunk: Buffer) => chunk.toString().split('\n').filter(Boolean).map((l) => `[bare] ${l}\n`).join('');
  child.stdout!.on('data', (c: Buffer) => process.stderr.write(prefix(c)));
  child.stderr!.on('data', (c: Buffer) => process.stderr.write(prefix(c)));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let done = false;
  void exited.then(() => { done = true; });
  const stop = async () => {
    if (done) return;
    child.kill('SIGTERM');
    const killed = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(killed);
  };
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the baseline did not start within 30 s')), 30_000);
    child.once('message', (m: { url: string }) => { clearTimeout(timer); resolve(m.url); });
    void exited.then((code) => { clearTimeout(timer); reject(new Error(`the baseline exited with code ${code} before it listened`)); });
  }).catch(async (err) => { await stop(); throw err; });
  return { url, pid: child.pid!, proc: () => procMemory(child.pid!), stop };
}

/** One autocannon job on a worker thread (bench/oidc-load-worker.ts). */
function runLoad(job: FormPostJob): Promise<LoadStats> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./oidc-load-worker.ts', import.meta.url), { workerData: job });
    let result: LoadStats | undefined;
    worker.once('message', (m: LoadStats) => { result = m; });
    worker.once('error', reject);
    worker.once('exit', (code) => (result ? resolve(result) : reject(new Error(`load worker exited with code ${code} and no result`))));
  });
}


/** The provider's rows start every run from the same state (the token runs insert tens of thousands). */
const vacuum = (db: Db) => db.raw('vacuum (analyze) oidc_payloads, credentials, oidc_clients');

/**
 * CPU time (µs) of this database's PostgreSQL backends that exist now (Roster's pool, after the warm-up all of
 * it; the bench's own connections idle during a run), by pid: PostgreSQL runs on this machine, so /proc has them.
 */
async function backendCpu(db: Db): Promise<Map<number, number>> {
  const { rows } = await db.raw(`select pid from pg_stat_activity where datname = current_database() and backend_type = 'client backend' and pid <> pg_backend_pid()`);
  const cpu = new Map<number, number>();
  for (const { pid } of rows as { pid: number }[]) {
    try { cpu.set(pid, procCpuMicros(pid)); } catch { /* gone, or not on this machine */ }
  }
  return cpu;
}

function backendCpuSince(before: Map<number, number>): number {
  let sum = 0;
  for (const [pid, micros] of before) {
    try { sum += procCpuMicros(pid) - micros; } catch { /* ended during the run */ }
  }
  return sum;
}

const storedTokens = async (db: Db) => Number((await db('oidc_payloads').where({ model: 'ClientCredentials' }).count({ n: '*' }))[0].n);

async function main(): Promise<void> {
  const load = loadavg()[0];
  if (load > 1) console.warn(`WARNING: the machine is busy (1-minute load average ${load.toFixed(2)}): the numbers will be noisy`);
  await withBenchDatabase(databaseUrl, async (db, benchUrl) => {
    const { org } = await createOrganization(db, { name: 'Bench OIDC', ownerEmail: 'owner@roster-bench.test' });
    const created = await createClient(db, { orgId: org.id, actor: { type: 'system', id: 'bench' }, name: 'bench', redirectUris: ['https://x.example/cb'], public: false });
    const rosterClient = { id: created.clientId, secret: created.clientSecret! };
    const bareClient = { id: 'bench-client', secret: randomBytes(32).toString('base64url') };

    const server = await startRoster(benchUrl, { nodeFlags: rosterFlags });
    const memory = new MemoryWatch(server);
    let baseline: Awaited<ReturnType<typeof startBaseline>> | undefined;
    let bareHwm = 0;
    try {
      baseline = await startBaseline(bareClient.id, bareClient.secret);
      const roster: Side = { name: 'roster', url: server.url, authorization: basic(rosterClient.id, rosterClient.secret), pid: server.pid };
      const bare: Side = { name: 'bare', url: baseline.url, authorization: basic(bareClient.id, bareClient.secret), pid: baseline.pid };
      await memory.snapshot('start (idle, migrated, 1 request)');
      console.log(`Roster server: pid ${server.pid}, ${server.url}, ${memory.last!.modules} modules; bare oidc-provider: pid ${baseline.pid}, ${baseline.url}`);

      // Preflight: each side issues a token and introspects it as active; Roster's token is a row of oidc_payloads;
      // a wrong secret is refused on both sides (a benchmark of 401s would measure nothing).
      for (const [side, client] of [[roster, rosterClient], [bare, bareClient]] as const) {
        const token = await issueToken(side);
        await checkActive(side, token, client.id, 'preflight');
        const wrong = await postForm(side, TOKEN_PATH, 'grant_type=client_credentials', basic(client.id, `${client.secret}x`));
        assert(wrong.status === 401 && wrong.json.error === 'invalid_client', `preflight: ${side.name} answered a wrong secret with ${wrong.status} ${JSON.stringify(wrong.json)}`);
        if (side === roster) {
          const row = await db('oidc_payloads').where({ model: 'ClientCredentials', id: token }).first('payload', 'expires_at');
          assert(row && row.payload.clientId === client.id && row.expires_at, `preflight: Roster's token is not a row of oidc_payloads (${JSON.stringify(row)})`);
        }
      }
      console.log('preflight: both sides issue a token (200, access_token) and introspect it as active, refuse a wrong secret; Roster\'s token is a row of oidc_payloads');

      const stats: Record<string, LoadStats> = {};
      // CPU time of each server's process and main thread (event loop), per response, warm-ups included.
      const cpu: Record<string, { process: number; main: number; postgres: number; n: number }> = {};
      const inFlight = connections * (warmupSeconds > 0 ? 2 : 1);
      const measure = async (name: string, side: Side, path: string, body: string, runSeconds: number, runWarmup: number, record = true) => {
        await settle(db);
        await vacuum(db);
        const before = side === roster && path === TOKEN_PATH ? await storedTokens(db) : 0;
        const p0 = procCpuMicros(side.pid);
        const m0 = procCpuMicros(side.pid, true);
        const pg0 = side === roster ? await backendCpu(db) : new Map<number, number>();
        if (record) process.stdout.write(`running ${name} (${runWarmup} s warm-up + ${runSeconds} s)... `);
        const s = await runLoad({ url: side.url, path, authorization: side.authorization, body, seconds: runSeconds, warmupSeconds: runWarmup, connections });
        const key = `${side.name} ${path === TOKEN_PATH ? 'token' : 'introspection'}`;
        const c = (cpu[key] ??= { process: 0, main: 0, postgres: 0, n: 0 });
        c.process += procCpuMicros(side.pid) - p0;
        c.main += procCpuMicros(side.pid, true) - m0;
        c.postgres += backendCpuSince(pg0);
        c.n += s.okWithWarmup + s.non2xx;
        if (record) console.log(`${s.rps.toFixed(0)} req/s, p99 ${s.p99} ms, status ${JSON.stringify(s.statusCodes)}, errors ${s.errors}`);
        assert(failureRate(s) <= MAX_FAILURE_RATE,
          `${name}: ${s.non2xx} non-2xx responses and ${s.errors} connection errors (${s.timeouts} timeouts) over ${s.okWithWarmup + s.non2xx + s.errors} requests; statuses ${JSON.stringify(s.statusCodes)}`);
        if (s.non2xx + s.errors > 0) console.warn(`WARNING ${name}: ${s.non2xx} non-2xx, ${s.errors} errors (below the ${MAX_FAILURE_RATE * 100}% limit)`);
        if (side === roster && path === TOKEN_PATH) {
          // Every token answered is a row: the server finishes what was in flight when autocannon stopped.
          await settle(db);
          const stored = (await storedTokens(db)) - before;
          assert(stored >= s.okWithWarmup && stored <= s.okWithWarmup + inFlight, `${name}: ${s.okWithWarmup} tokens were issued (2xx) but ${stored} rows were stored`);
        }
        if (record) stats[name] = s;
        return s;
      };

      const sides = [roster, bare];
      const clientOf = (side: Side) => (side === roster ? rosterClient : bareClient);
      memory.start('token + introspection load (max of samples)');
      const bareSampler = setInterval(() => { try { bareHwm = Math.max(bareHwm, baseline!.proc().hwm); } catch { /* exited */ } }, 1000);
      try {
        // Unmeasured first (V8 compiles the hot paths, Roster's pool fills and prepares its statements).
        process.stdout.write(`warming up both sides, token and introspection (${SETTLE_SECONDS} s each, not measured)... `);
        for (const side of sides) {
          await measure(`warm-up ${side.name} token`, side, TOKEN_PATH, 'grant_type=client_credentials', SETTLE_SECONDS, 0, false);
          await measure(`warm-up ${side.name} introspection`, side, INTROSPECTION_PATH, introspectionBody(await issueToken(side)), SETTLE_SECONDS, 0, false);
        }
        for (const k of Object.keys(cpu)) delete cpu[k];
        console.log('done');

        // Rounds alternate, and the order within a round too (Roster first, then the baseline first), so that
        // drift in the machine's load falls on both sides alike.
        const rounds = Math.max(1, Math.min(ROUNDS, Math.floor(seconds / 2)));
        const runs: Record<string, LoadStats[]> = { 'roster token': [], 'bare token': [], 'roster introspection': [], 'bare introspection': [] };
        for (let r = 0; r < rounds; r++) {
          const order = r % 2 === 0 ? [roster, bare] : [bare, roster];
          const of = `(round ${r + 1}/${rounds})`;
          for (const side of order) {
            runs[`${side.name} token`].push(await measure(`${side.name} token ${of}`, side, TOKEN_PATH, 'grant_type=client_credentials', seconds / rounds, warmupSeconds));
          }
          for (const side of order) {
            // A fresh token each round, well within its lifetime (oidc-provider's default for client credentials: 10 min).
            const token = await issueToken(side);
            runs[`${side.name} introspection`].push(await measure(`${side.name} introspection ${of}`, side, INTROSPECTION_PATH, introspectionBody(token), seconds / rounds, warmupSeconds));
            await checkActive(side, token, clientOf(side).id, `after ${side.name} introspection ${of}`);
          }
        }
        await memory.stop();
        clearInterval(bareSampler);
        bareHwm = Math.max(bareHwm, baseline.proc().hwm);
        await settle(db);
        await memory.snapshot('after the load');
        await memory.snapshot('after the load, full gc', true);

        const combined = Object.fromEntries(Object.entries(runs).map(([k, v]) => [k, combineRuns(v)]));
        Object.assign(stats, combined);
        const ratio = (kind: string) => combined[`roster ${kind}`].rps / combined[`bare ${kind}`].rps;
        const perRound = (kind: string) => runs[`roster ${kind}`].map((s, i) => s.rps / runs[`bare ${kind}`][i].rps);
        const rows: Row[] = [
          { name: 'POST /oidc/token client_credentials (Basic)', roster: combined['roster token'], baseline: combined['bare token'], ratio: ratio('token'), ratioNote: '(roster/bare, aim >= 0.5)' },
          { name: 'POST /oidc/token/introspection (Basic)', roster: combined['roster introspection'], baseline: combined['bare introspection'], ratio: ratio('introspection'), ratioNote: '(roster/bare)' },
        ];
        const per = (k: string, f: 'process' | 'main' | 'postgres') => cpu[k][f] / Math.max(1, cpu[k].n);
        const cpuPerRequest = Object.fromEntries(Object.keys(cpu).map((k) => [k, { processMicros: per(k, 'process'), mainThreadMicros: per(k, 'main'), postgresBackendsMicros: per(k, 'postgres') }]));
        const hwm = server.proc().hwm;
        const end = memory.samples.at(-1)!;

        console.log(`\nOIDC benchmark: ${connections} connections, ${rounds} rounds of ${(seconds / rounds).toFixed(1)} s per side and kind after ${warmupSeconds} s warm-up each\n`);
        console.log(formatTable(rows));
        console.log(`\nper-round ratios (roster/bare): token ${perRound('token').map((x) => x.toFixed(2)).join(', ')}; introspection ${perRound('introspection').map((x) => x.toFixed(2)).join(', ')}`);
        console.log(`CPU per response (user + system, 10 ms ticks, warm-ups included), event loop / whole process: `
          + ['token', 'introspection'].map((k) => `${k}: Roster ${per(`roster ${k}`, 'main').toFixed(0)} / ${per(`roster ${k}`, 'process').toFixed(0)} µs `
            + `(+ PostgreSQL backends ${per(`roster ${k}`, 'postgres').toFixed(0)} µs), bare ${per(`bare ${k}`, 'main').toFixed(0)} / ${per(`bare ${k}`, 'process').toFixed(0)} µs`).join('; '));
        console.log(`\nRoster server memory: its own process (node ${rosterFlags.join(' ')} src/main.ts, pid ${server.pid}, PostgreSQL, pool of 10, LOG_LEVEL=warn), ${memory.last!.modules} modules\n`);
        console.log(formatMemory(memory.samples));
        if (memory.largestHeap) console.log(`\nV8 heap at its largest under load (used/reserved MB): ${formatHeapSpaces(memory.largestHeap)}`);
        console.log(`\nRoster peak RSS (VmHWM): ${mb(hwm)}, last ${mb(end.rss)} (aim <= 200 MB); bare oidc-provider peak RSS (VmHWM): ${mb(bareHwm)}`);

        mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
        writeFileSync(resultsFile, JSON.stringify({
          date: new Date().toISOString(), node: process.version,
          postgres: (await db.raw('show server_version')).rows[0].server_version,
          settings: { seconds, warmupSeconds, connections, rounds, rosterFlags, baselineFlags: startFlags },
          loadAverageAtStart: load,
          ratios: { token: ratio('token'), introspection: ratio('introspection'), tokenRounds: perRound('token'), introspectionRounds: perRound('introspection') },
          cpuPerRequest,
          rosterServer: { pid: server.pid, peakRssBytes: hwm, samples: memory.samples, modules: memory.last!.modules, packages: memory.last!.packages, heapSpaces: memory.largestHeap?.heapSpaces },
          bareServer: { pid: baseline.pid, peakRssBytes: bareHwm },
          storedTokens: await storedTokens(db),
          runs: { ...stats, rounds: runs },
        }, null, 2) + '\n');
        console.log(`results written to ${resultsFile.pathname}`);
      } finally {
        clearInterval(bareSampler);
      }
    } finally {
      await memory.stop();
      await server.stop();
      await baseline?.stop();
    }
  });
}

main().catch((err) => {
  console.error(err instanceof BenchFailure ? `\nBENCHMARK FAILED: ${err.message}` : err);
  process.exitCode = 1;
});
