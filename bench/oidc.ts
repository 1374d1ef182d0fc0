// OIDC benchmark: the client credentials grant and token introspection of the real Roster server process
// (node src/main.ts, every token stored in PostgreSQL, client secrets checked against their hashes) beside a
// bare oidc-provider of the same version in its own process (in-memory adapter, one static client with a
// plain secret), and the Roster server's memory under that load. Then, on a fresh Roster server: password
// sign-ins (the whole walk from the authorization request to the code) beside argon2.verify alone at the same
// cost and concurrency, and rotating refresh grants beside the bare provider's, and the server's memory.
// npm run bench:oidc   (env: DATABASE_URL, BENCH_SECONDS=10, BENCH_WARMUP=2, BENCH_CONNECTIONS=10,
// BENCH_SIGNIN_CONNECTIONS, BENCH_ROSTER_FLAGS, BENCH_ROSTER_ENV, BENCH_ONLY=token,signin,refresh). See bench/README.md, section "bench/oidc".
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createClient } from '../src/directory/clients.ts';
import { createMember } from '../src/directory/members.ts';
import { createOrganization } from '../src/directory/organizations.ts';
import { OWASP_MINIMUM_COST } from '../src/directory/passwords.ts';
import { newPerson } from '../src/directory/person.ts';
import type { Db } from '../src/db.ts';
import type { Argon2Job } from './argon2-baseline-child.ts';
import {
  assert, benchEnv, chargeCpu, checkFailures, type CpuTally, cpuTally, failureRate, formatTable, loadAverageAtStart, MAX_FAILURE_RATE, mb, perRequest, reportFailure, rosterEnv,
  rosterFlags, type Row, rounds, runWorker, settle, SETTLE_SECONDS, startChild, startFlags, withBenchDatabase,
} from './lib.ts';
import { combineRuns, type LoadStats } from './load-stats.ts';
import { formatHeapSpaces, formatMemory, MemoryWatch } from './memory.ts';
import { exchangeCode, Http, mintRefreshToken, type Person, type RelyingParty, refresh, refreshRaw, signIn } from './oidc-flow.ts';
import type { FlowJob, FlowStats } from './oidc-flow-worker.ts';
import type { FormPostJob } from './oidc-load-worker.ts';
import { type RosterChild, startRoster } from './roster-child.ts';
import { hashSecret } from '../src/directory/tokens.ts';

const { databaseUrl, seconds, warmupSeconds, connections } = benchEnv;
/** Concurrent sign-ins, and concurrent argon2 verifications in the baseline (the same number); the refresh chains use `connections`. */
const signInConnections = Number(process.env.BENCH_SIGNIN_CONNECTIONS ?? connections);
/** BENCH_ONLY: a comma-separated subset of token (client credentials + introspection), signin (sign-in + argon2), refresh. */
const only = new Set((process.env.BENCH_ONLY ?? 'token,signin,refresh').split(',').map((s) => s.trim()).filter(Boolean));
const TOKEN_PATH = '/oidc/token';
const INTROSPECTION_PATH = '/oidc/token/introspection';
// Both servers run with the node flags of `npm start`; BENCH_ROSTER_FLAGS adds more to Roster's, and Roster has
// the environment `npm start` sets, then BENCH_ROSTER_ENV's (e.g. MALLOC_ARENA_MAX=1, UV_THREADPOOL_SIZE=2): lib.ts.
const resultsFile = new URL('./results/oidc-latest.json', import.meta.url);

if (!(seconds > 0) || !(warmupSeconds >= 0) || !(connections > 0) || !(signInConnections > 0)) throw new Error('BENCH_SECONDS, BENCH_CONNECTIONS and BENCH_SIGNIN_CONNECTIONS must be positive numbers, BENCH_WARMUP >= 0');
if (only.size === 0 || [...only].some((k) => !['token', 'signin', 'refresh'].includes(k))) throw new Error('BENCH_ONLY is a comma-separated subset of token, signin, refresh');

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
async function startBaseline(clientId: string, clientSecret: string) {
  const child = await startChild<{ url: string }>('bench/oidc-baseline-child.ts', { what: 'the baseline', label: 'bare', env: { BENCH_CLIENT_ID: clientId, BENCH_CLIENT_SECRET: clientSecret } });
  return { ...child, url: child.ready.url };
}

/** One autocannon job on a worker thread (bench/oidc-load-worker.ts). */
const runLoad = (job: FormPostJob): Promise<LoadStats> => runWorker(new URL('./oidc-load-worker.ts', import.meta.url), job);

/** The provider's rows start every run from the same state (the token runs insert tens of thousands). */
const vacuum = (db: Db) => db.raw('vacuum (analyze) oidc_payloads, credentials, oidc_clients');

const storedTokens = async (db: Db) => Number((await db('oidc_payloads').where({ model: 'ClientCredentials' }).count({ n: '*' }))[0].n);

/** What one part of the bench found: its rows of the table, the lines printed under it, and its results. */
type Part = { rows: Row[]; lines: string[]; json: Record<string, unknown> };

type Setup = {
  db: Db; benchUrl: string;
  rosterClient: { id: string; secret: string }; bareClient: { id: string; secret: string };
  baseline: Awaited<ReturnType<typeof startBaseline>>;
  /** The Roster servers' SECRET: both servers of a run share the database, whose signing key it seals. */
  secret: string;
};

/** The client credentials grant and introspection, each beside the bare provider's, on one Roster server. */
async function tokenPart({ db, benchUrl, rosterClient, bareClient, baseline, secret }: Setup): Promise<Part> {
  const server = await startRoster(benchUrl, { nodeFlags: rosterFlags, secret, env: rosterEnv });
  const memory = new MemoryWatch(server);
  let bareHwm = 0;
  try {
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
        const row = await db('oidc_payloads').where({ model: 'ClientCredentials', id: `sha256:${hashSecret(token)}` }).first('payload', 'expires_at'); // stored as its hash
        assert(row && row.payload.clientId === client.id && row.expires_at, `preflight: Roster's token is not a row of oidc_payloads (${JSON.stringify(row)})`);
      }
    }
    console.log('preflight: both sides issue a token (200, access_token) and introspect it as active, refuse a wrong secret; Roster\'s token is a row of oidc_payloads');

    const stats: Record<string, LoadStats> = {};
    // CPU time of each server's process and main thread (event loop), per response, warm-ups included.
    const cpu: Record<string, CpuTally> = {};
    const inFlight = connections * (warmupSeconds > 0 ? 2 : 1);
    const measure = async (name: string, side: Side, path: string, body: string, runSeconds: number, runWarmup: number, record = true) => {
      await settle(db);
      await vacuum(db);
      const before = side === roster && path === TOKEN_PATH ? await storedTokens(db) : 0;
      if (record) process.stdout.write(`running ${name} (${runWarmup} s warm-up + ${runSeconds} s)... `);
      const key = `${side.name} ${path === TOKEN_PATH ? 'token' : 'introspection'}`;
      const s = await chargeCpu(cpu[key] ??= cpuTally(), side.pid, side === roster ? db : null,
        () => runLoad({ url: side.url, path, authorization: side.authorization, body, seconds: runSeconds, warmupSeconds: runWarmup, connections }), (r) => r.okWithWarmup + r.non2xx);
      if (record) console.log(`${s.rps.toFixed(0)} req/s, p99 ${s.p99} ms, status ${JSON.stringify(s.statusCodes)}, errors ${s.errors}`);
      checkFailures(name, s);
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
    const bareSampler = setInterval(() => { try { bareHwm = Math.max(bareHwm, baseline.proc().hwm); } catch { /* exited */ } }, 1000);
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
      const per = (k: string, f: 'process' | 'main' | 'postgres') => perRequest(cpu[k], f);
      const cpuPerRequest = Object.fromEntries(Object.keys(cpu).map((k) => [k, { processMicros: per(k, 'process'), mainThreadMicros: per(k, 'main'), postgresBackendsMicros: per(k, 'postgres') }]));
      const hwm = server.proc().hwm;
      const end = memory.samples.at(-1)!;
      const lines = [
        `per-round ratios (roster/bare): token ${perRound('token').map((x) => x.toFixed(2)).join(', ')}; introspection ${perRound('introspection').map((x) => x.toFixed(2)).join(', ')}`,
        `CPU per response (user + system, 10 ms ticks, warm-ups included), event loop / whole process: `
          + ['token', 'introspection'].map((k) => `${k}: Roster ${per(`roster ${k}`, 'main').toFixed(0)} / ${per(`roster ${k}`, 'process').toFixed(0)} µs `
            + `(+ PostgreSQL backends ${per(`roster ${k}`, 'postgres').toFixed(0)} µs), bare ${per(`bare ${k}`, 'main').toFixed(0)} / ${per(`bare ${k}`, 'process').toFixed(0)} µs`).join('; '),
        `\nRoster server memory, client credentials + introspection: its own process (node ${rosterFlags.join(' ')} src/main.ts, pid ${server.pid}, PostgreSQL, pool of 10, LOG_LEVEL=warn), ${memory.last!.modules} modules\n`,
        formatMemory(memory.samples),
        ...(memory.largestHeap ? [`\nV8 heap at its largest under load (used/reserved MB): ${formatHeapSpaces(memory.largestHeap)}`] : []),
        `\nRoster peak RSS (VmHWM): ${mb(hwm)}, last ${mb(end.rss)} (aim <= 200 MB); bare oidc-provider peak RSS (VmHWM): ${mb(bareHwm)}`,
      ];
      return {
        rows, lines,
        json: {
          ratios: { token: ratio('token'), introspection: ratio('introspection'), tokenRounds: perRound('token'), introspectionRounds: perRound('introspection') },
          cpuPerRequest,
          rosterServer: { pid: server.pid, peakRssBytes: hwm, samples: memory.samples, modules: memory.last!.modules, packages: memory.last!.packages, heapSpaces: memory.largestHeap?.heapSpaces },
          bareServer: { pid: baseline.pid, peakRssBytes: bareHwm },
          storedTokens: await storedTokens(db),
          runs: { ...stats, rounds: runs },
        },
      };
    } finally {
      clearInterval(bareSampler);
    }
  } finally {
    await memory.stop();
    await server.stop();
  }
}

/** One flow job (sign-ins or refresh chains) on a worker thread (bench/oidc-flow-worker.ts). */
const runFlow = (job: FlowJob): Promise<FlowStats> => runWorker(new URL('./oidc-flow-worker.ts', import.meta.url), job, 'flow worker');

/** The argon2 baseline in its own process (bench/argon2-baseline-child.ts), with the node flags of `npm start`. */
async function startArgon2Baseline(): Promise<{ pid: number; run: (job: Argon2Job) => Promise<LoadStats>; stop: () => Promise<void> }> {
  const { child, stop } = await startChild<unknown>('bench/argon2-baseline-child.ts', { what: 'the argon2 baseline' });
  let nextId = 0;
  const run = (job: Argon2Job) => new Promise<LoadStats>((resolve, reject) => {
    const id = nextId++;
    const onMessage = (m: { id: number; stats?: LoadStats; error?: string }) => {
      if (m.id !== id) return;
      child.off('message', onMessage);
      if (m.stats) resolve(m.stats);
      else reject(new Error(`the argon2 baseline failed: ${m.error}`));
    };
    child.on('message', onMessage);
    child.send({ run: job, id });
  });
  return { pid: child.pid!, run, stop };
}

const PASSWORD_COST = `argon2id m=${OWASP_MINIMUM_COST.memoryKiB} KiB, t=${OWASP_MINIMUM_COST.timeCost}, p=${OWASP_MINIMUM_COST.parallelism}`;

/** Bench people: members of the organisation with a password of their own (set, not temporary), hashed at the default cost. */
async function createPeople(db: Db, orgId: string, n: number): Promise<(Person & { email: string; password: string })[]> {
  const people = Array.from({ length: n }, (_v, i) => ({ email: `person${i + 1}@roster-bench.test`, password: `bench-${randomBytes(12).toString('base64url')}` }));
  for (let i = 0; i < people.length; i += 4) {
    await Promise.all(people.slice(i, i + 4).map((p) => createMember(db, {
      orgId, actor: { type: 'system', id: 'bench' }, member: { ...newPerson(p.email, p.email), name: { givenName: 'Bench', familyName: p.email }, active: true }, password: p.password,
    })));
  }
  return people;
}

const countRows = async (db: Db, table: string, where: Record<string, string>) => Number((await db(table).where(where).count({ n: '*' }))[0].n);

/**
 * Password sign-ins beside argon2.verify alone (same cost, same concurrency), and refresh grants (rotation on)
 * beside the bare provider's, on a fresh Roster server whose memory is watched from its start.
 */
async function signInPart({ db, benchUrl, rosterClient, bareClient, baseline, secret }: Setup, orgId: string): Promise<Part> {
  const people = await createPeople(db, orgId, Math.max(signInConnections, connections) * 2);
  const server: RosterChild = await startRoster(benchUrl, { nodeFlags: rosterFlags, secret, env: rosterEnv });
  const memory = new MemoryWatch(server);
  const argon2 = await startArgon2Baseline().catch(async (err) => { await server.stop(); throw err; });
  try {
    const rosterRp: RelyingParty = { url: server.url, clientId: rosterClient.id, redirectUri: 'https://x.example/cb', authorization: basic(rosterClient.id, rosterClient.secret) };
    const bareRp: RelyingParty = { url: baseline.url, clientId: bareClient.id, redirectUri: 'https://x.example/cb', authorization: basic(bareClient.id, bareClient.secret) };
    await memory.snapshot('start (idle, migrated, 1 request)');
    console.log(`Roster server (sign-in and refresh): pid ${server.pid}, ${server.url}, ${memory.last!.modules} modules; argon2 baseline: pid ${argon2.pid}; ${people.length} people with a password`);

    // Preflight. Roster: the walk shows the e-mail and password pages and ends with a code; the code gives a
    // refresh token (and an ID token); a refresh rotates it; using the old one again is refused, and revokes the
    // chain; the sign-in is a session row. The bare provider: the same from its code on. argon2: the stored
    // hash is at the default cost and verifies the password.
    const [person] = people;
    const account = await db('accounts').whereRaw('lower(email) = lower(?)', [person.email]).first('id', 'password_hash', 'must_change_password');
    const cost = Object.fromEntries((/^\$argon2id\$v=19\$([^$]+)\$/.exec(String(account?.password_hash))?.[1] ?? '').split(',').map((kv) => kv.split('=')));
    assert(account && !account.must_change_password && Number(cost.m) === OWASP_MINIMUM_COST.memoryKiB && Number(cost.t) === OWASP_MINIMUM_COST.timeCost && Number(cost.p) === OWASP_MINIMUM_COST.parallelism,
      `preflight: ${person.email}'s password is not set, or temporary, or not at the default cost (${JSON.stringify(account)})`);
    const http = new Http();
    try {
      for (const [name, rp, who] of [['roster', rosterRp, person], ['bare', bareRp, { loginHint: 'person1' }]] as const) {
        const sessions = name === 'roster' ? await countRows(db, 'sessions', { account_id: account.id }) : 0;
        const signedIn = await signIn(http, rp, who);
        if (name === 'roster') {
          assert(signedIn.pages.join(' / ') === 'Sign in / Enter your password', `preflight: Roster's walk showed ${signedIn.pages.join(' / ')}`);
          assert(await countRows(db, 'sessions', { account_id: account.id }) === sessions + 1, 'preflight: the sign-in started no session row');
        }
        const tokens = await exchangeCode(http, rp, signedIn);
        assert(tokens.id_token && tokens.scope?.split(' ').includes('offline_access'), `preflight: ${name}'s code gave ${JSON.stringify(tokens).slice(0, 300)}`);
        const next = await refresh(http, rp, tokens.refresh_token);
        assert(next.refresh_token !== tokens.refresh_token && next.id_token, `preflight: ${name}'s refresh did not rotate the refresh token or gave no ID token`);
        const again = await refreshRaw(http, rp, tokens.refresh_token);
        assert(again.status === 400 && again.json.error === 'invalid_grant', `preflight: ${name} answered a used refresh token with ${again.status} ${JSON.stringify(again.json)}`);
        const revoked = await refreshRaw(http, rp, next.refresh_token);
        assert(revoked.status === 400, `preflight: ${name} still refreshes a chain whose used token was replayed (${revoked.status})`);
        console.log(`preflight ${name}: sign-in in ${signedIn.requests} requests${signedIn.pages.length ? ` (${signedIn.pages.join(', ')})` : ''}, code exchanged for a refresh token and an ID token, refresh rotates it, a replayed one is refused and ends the chain`);
      }
    } finally {
      http.close();
    }

    // CPU of the server (process, event loop), of its PostgreSQL backends, and of the load generator (this process).
    const cpu: Record<string, CpuTally> = {};
    const charge = (key: string, pid: number, pg: boolean, run: () => Promise<LoadStats>) => chargeCpu(cpu[key] ??= cpuTally(), pid, pg ? db : null, run, (s) => s.okWithWarmup + s.non2xx);
    const check = (name: string, s: LoadStats & { failures?: string[] }, record: boolean) => {
      if (record) console.log(`${s.rps.toFixed(1)} /s, p99 ${s.p99} ms, ${JSON.stringify(s.statusCodes)}, errors ${s.errors}`);
      assert(failureRate(s) <= MAX_FAILURE_RATE,
        `${name}: ${s.non2xx} failed and ${s.errors} connection errors (${s.timeouts} timeouts) over ${s.okWithWarmup + s.non2xx + s.errors}; ${JSON.stringify(s.statusCodes)} ${(s.failures ?? []).join('; ')}`);
      if (s.non2xx + s.errors > 0) console.warn(`WARNING ${name}: ${s.non2xx} failed, ${s.errors} errors (below the ${MAX_FAILURE_RATE * 100}% limit): ${(s.failures ?? []).join('; ')}`);
    };
    const vacuumSignIn = () => db.raw('vacuum (analyze) oidc_payloads, sessions, session_grants, auth_events, accounts, sign_in_throttle, credentials, oidc_clients');
    const hash = account.password_hash as string;

    const rosterSignIns = async (name: string, runSeconds: number, runWarmup: number, record = true) => {
      await settle(db);
      await vacuumSignIn();
      const before = await countRows(db, 'sessions', { org_id: orgId });
      if (record) process.stdout.write(`running ${name} (${runWarmup} s warm-up + ${runSeconds} s)... `);
      const s = await charge('roster signin', server.pid, true, () => runFlow({ kind: 'signin', rp: rosterRp, people, connections: signInConnections, seconds: runSeconds, warmupSeconds: runWarmup }));
      check(name, s, record);
      // Every sign-in that reached the code started one session (the worker finishes the walks in flight).
      await settle(db);
      const started = (await countRows(db, 'sessions', { org_id: orgId })) - before;
      assert(started >= s.okWithWarmup && started <= s.okWithWarmup + s.non2xx + s.errors, `${name}: ${s.okWithWarmup} sign-ins reached the code but ${started} sessions were started`);
      return s as FlowStats;
    };
    const argon2Verifies = async (name: string, runSeconds: number, runWarmup: number, record = true) => {
      if (record) process.stdout.write(`running ${name} (${runWarmup} s warm-up + ${runSeconds} s)... `);
      const s = await charge('argon2 signin', argon2.pid, false, () => argon2.run({ hash, password: person.password, concurrency: signInConnections, seconds: runSeconds, warmupSeconds: runWarmup }));
      check(name, s, record);
      return s;
    };
    // Each refresh run starts `connections` fresh chains (a code exchanged per chain, just before the run: the
    // bare provider's LRU would forget tokens minted long before), and each chain goes on from the token the
    // last refresh returned.
    let minted = 0;
    const refreshes = async (name: string, side: 'roster' | 'bare', runSeconds: number, runWarmup: number, record = true) => {
      const rp = side === 'roster' ? rosterRp : bareRp;
      const chains: string[] = [];
      for (let i = 0; i < connections; i += 5) {
        chains.push(...(await Promise.all(Array.from({ length: Math.min(5, connections - i) }, async () => {
          const k = minted++ % people.length;
          return (await mintRefreshToken(rp, side === 'roster' ? people[k] : { loginHint: `person${k + 1}` })).refresh_token;
        }))));
      }
      await settle(db);
      await vacuumSignIn();
      const before = side === 'roster' ? await countRows(db, 'oidc_payloads', { model: 'RefreshToken' }) : 0;
      if (record) process.stdout.write(`running ${name} (${runWarmup} s warm-up + ${runSeconds} s)... `);
      const s = await charge(`${side} refresh`, side === 'roster' ? server.pid : baseline.pid, side === 'roster',
        () => runFlow({ kind: 'refresh', rp, refreshTokens: chains, connections, seconds: runSeconds, warmupSeconds: runWarmup }));
      check(name, s, record);
      if (side === 'roster') {
        // Every refresh answered stored its new refresh token (the worker finishes the requests in flight).
        await settle(db);
        const stored = (await countRows(db, 'oidc_payloads', { model: 'RefreshToken' })) - before;
        assert(stored >= s.okWithWarmup && stored <= s.okWithWarmup + s.non2xx + s.errors, `${name}: ${s.okWithWarmup} refresh grants answered but ${stored} refresh tokens were stored`);
      }
      return s as FlowStats;
    };

    const runs: Record<string, LoadStats[]> = { 'roster signin': [], 'argon2 signin': [], 'roster refresh': [], 'bare refresh': [] };
    const flows: FlowStats[] = [];
    let signInPeak: { hwm: number; rss: number } | undefined;
    if (only.has('signin')) {
      memory.start('sign-in load (max of samples)');
      process.stdout.write(`warming up sign-in and argon2 (${SETTLE_SECONDS} s each, not measured)... `);
      await rosterSignIns('warm-up roster sign-in', SETTLE_SECONDS, 0, false);
      await argon2Verifies('warm-up argon2.verify', SETTLE_SECONDS, 0, false);
      delete cpu['roster signin'];
      delete cpu['argon2 signin'];
      console.log('done');
      for (let r = 0; r < rounds; r++) {
        const of = `(round ${r + 1}/${rounds})`;
        for (const side of r % 2 === 0 ? ['roster', 'argon2'] : ['argon2', 'roster']) {
          if (side === 'roster') {
            const s = await rosterSignIns(`roster sign-in ${of}`, seconds / rounds, warmupSeconds);
            flows.push(s);
            runs['roster signin'].push(s);
          } else {
            runs['argon2 signin'].push(await argon2Verifies(`argon2.verify ${of}`, seconds / rounds, warmupSeconds));
          }
        }
      }
      const m = await memory.stop();
      signInPeak = { hwm: server.proc().hwm, rss: m?.rss ?? 0 };
    }
    if (only.has('refresh')) {
      memory.start('refresh load (max of samples)');
      process.stdout.write(`warming up refresh, both sides (${SETTLE_SECONDS} s each, not measured)... `);
      await refreshes('warm-up roster refresh', 'roster', SETTLE_SECONDS, 0, false);
      await refreshes('warm-up bare refresh', 'bare', SETTLE_SECONDS, 0, false);
      delete cpu['roster refresh'];
      delete cpu['bare refresh'];
      console.log('done');
      for (let r = 0; r < rounds; r++) {
        const of = `(round ${r + 1}/${rounds})`;
        for (const side of r % 2 === 0 ? ['roster', 'bare'] as const : ['bare', 'roster'] as const) {
          runs[`${side} refresh`].push(await refreshes(`${side} refresh ${of}`, side, seconds / rounds, warmupSeconds));
        }
      }
      await memory.stop();
    }
    const hwm = server.proc().hwm;
    const bareHwm = baseline.proc().hwm;
    await settle(db);
    await memory.snapshot('after the load');
    await memory.snapshot('after the load, full gc', true);

    const combined = Object.fromEntries(Object.entries(runs).filter(([, v]) => v.length).map(([k, v]) => [k, combineRuns(v)]));
    const ratio = (a: string, b: string) => combined[a].rps / combined[b].rps;
    const perRound = (a: string, b: string) => runs[a].map((s, i) => s.rps / runs[b][i].rps);
    const requestsPerSignIn = flows.reduce((n, s) => n + s.httpRequestsPerOp, 0) / Math.max(1, flows.length);
    const per = (k: string, f: 'process' | 'main' | 'postgres' | 'client') => perRequest(cpu[k], f);
    const cpuPerRequest = Object.fromEntries(Object.keys(cpu).map((k) => [k, { processMicros: per(k, 'process'), mainThreadMicros: per(k, 'main'), postgresBackendsMicros: per(k, 'postgres'), loadGeneratorMicros: per(k, 'client') }]));
    const end = memory.samples.at(-1)!;
    const fmt = (x: number) => x.toFixed(2);
    const rows: Row[] = [];
    const lines: string[] = [];
    const ratios: Record<string, number | number[]> = {};
    if (only.has('signin')) {
      rows.push({ name: `password sign-in, auth request to code (${requestsPerSignIn.toFixed(0)} requests) vs argon2.verify`, roster: combined['roster signin'], baseline: combined['argon2 signin'],
        ratio: ratio('roster signin', 'argon2 signin'), ratioNote: '(sign-ins/verifications, aim >= 0.85)' });
      Object.assign(ratios, { signIn: ratio('roster signin', 'argon2 signin'), signInRounds: perRound('roster signin', 'argon2 signin') });
      lines.push(
        `sign-in: ${signInConnections} at a time, each a fresh browser from the authorization request to the code at the redirect URI, submitting the e-mail and password pages, ${requestsPerSignIn.toFixed(1)} HTTP requests; `
          + `baseline: ${signInConnections} concurrent argon2.verify of a stored hash (${PASSWORD_COST}) in a node process of its own`,
        `per-round ratios (sign-ins/verifications): ${perRound('roster signin', 'argon2 signin').map(fmt).join(', ')}`,
        `CPU per sign-in (user + system, 10 ms ticks, warm-ups included), event loop / whole process: Roster ${per('roster signin', 'main').toFixed(0)} / ${per('roster signin', 'process').toFixed(0)} µs `
          + `(+ PostgreSQL backends ${per('roster signin', 'postgres').toFixed(0)} µs, + load generator ${per('roster signin', 'client').toFixed(0)} µs); argon2 baseline ${per('argon2 signin', 'process').toFixed(0)} µs per verification (process)`,
      );
    }
    if (only.has('refresh')) {
      rows.push({ name: 'POST /oidc/token refresh_token (rotating, Basic)', roster: combined['roster refresh'], baseline: combined['bare refresh'],
        ratio: ratio('roster refresh', 'bare refresh'), ratioNote: '(roster/bare, aim >= 0.5)' });
      Object.assign(ratios, { refresh: ratio('roster refresh', 'bare refresh'), refreshRounds: perRound('roster refresh', 'bare refresh') });
      lines.push(
        `per-round ratios (refresh, roster/bare): ${perRound('roster refresh', 'bare refresh').map(fmt).join(', ')}`,
        `CPU per refresh grant, event loop / whole process: Roster ${per('roster refresh', 'main').toFixed(0)} / ${per('roster refresh', 'process').toFixed(0)} µs `
          + `(+ PostgreSQL backends ${per('roster refresh', 'postgres').toFixed(0)} µs), bare ${per('bare refresh', 'main').toFixed(0)} / ${per('bare refresh', 'process').toFixed(0)} µs; load generator ${per('roster refresh', 'client').toFixed(0)} µs (Roster's) and ${per('bare refresh', 'client').toFixed(0)} µs (bare) per grant`,
      );
    }
    lines.push(
      `\nRoster server memory, ${[...only].filter((k) => k !== 'token').join(' + ')}: a fresh process (node ${rosterFlags.join(' ')} src/main.ts, pid ${server.pid}, PostgreSQL, pool of 10, LOG_LEVEL=warn), ${memory.last!.modules} modules\n`,
      formatMemory(memory.samples),
      ...(memory.largestHeap ? [`\nV8 heap at its largest under load (used/reserved MB): ${formatHeapSpaces(memory.largestHeap)}`] : []),
      `\nRoster peak RSS (VmHWM) under ${[...only].filter((k) => k !== 'token').join(' + ')} load: ${mb(hwm)}`
        + `${signInPeak && only.has('refresh') ? ` (after the sign-ins: ${mb(signInPeak.hwm)})` : ''}, last ${mb(end.rss)} (aim <= 200 MB); bare oidc-provider peak RSS (VmHWM, whole run): ${mb(bareHwm)}`,
    );
    return {
      rows, lines,
      json: {
        ratios, passwordCost: OWASP_MINIMUM_COST, signInConnections, requestsPerSignIn, cpuPerRequest,
        rosterServer: { pid: server.pid, peakRssBytes: hwm, peakRssAfterSignInsBytes: signInPeak?.hwm, samples: memory.samples, modules: memory.last!.modules, heapSpaces: memory.largestHeap?.heapSpaces },
        bareServer: { pid: baseline.pid, peakRssBytes: bareHwm },
        runs: { ...combined, rounds: runs },
      },
    };
  } finally {
    await memory.stop();
    await argon2.stop();
    await server.stop();
  }
}

async function main(): Promise<void> {
  const load = loadAverageAtStart();
  await withBenchDatabase(databaseUrl, async (db, benchUrl) => {
    const { org } = await createOrganization(db, { name: 'Bench OIDC', ownerEmail: 'owner@roster-bench.test' });
    const created = await createClient(db, { orgId: org.id, actor: { type: 'system', id: 'bench' }, name: 'bench', redirectUris: ['https://x.example/cb'], public: false });
    const rosterClient = { id: created.clientId, secret: created.clientSecret! };
    const bareClient = { id: 'bench-client', secret: randomBytes(32).toString('base64url') };
    const baseline = await startBaseline(bareClient.id, bareClient.secret);
    try {
      const setup: Setup = { db, benchUrl, rosterClient, bareClient, baseline, secret: randomBytes(32).toString('base64url') };
      const parts: Record<string, Part> = {};
      if (only.has('token')) parts.token = await tokenPart(setup);
      if (only.has('signin') || only.has('refresh')) parts.signIn = await signInPart(setup, org.id);

      console.log(`\nOIDC benchmark: ${connections} connections (sign-in: ${signInConnections}), ${rounds} rounds of ${(seconds / rounds).toFixed(1)} s per side and kind after ${warmupSeconds} s warm-up each\n`);
      console.log(formatTable(Object.values(parts).flatMap((p) => p.rows)));
      for (const p of Object.values(parts)) console.log(`\n${p.lines.join('\n')}`);

      mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
      writeFileSync(resultsFile, JSON.stringify({
        date: new Date().toISOString(), node: process.version,
        postgres: (await db.raw('show server_version')).rows[0].server_version,
        settings: { seconds, warmupSeconds, connections, signInConnections, rounds, only: [...only], rosterFlags, rosterEnv, baselineFlags: startFlags },
        loadAverageAtStart: load,
        ...parts.token?.json,
        ...(parts.signIn ? { signIn: parts.signIn.json } : {}),
      }, null, 2) + '\n');
      console.log(`results written to ${resultsFile.pathname}`);
    } finally {
      await baseline.stop();
    }
  });
}

main().catch(reportFailure);
