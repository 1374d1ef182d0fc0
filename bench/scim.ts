// SCIM benchmark: Roster as its own process (node src/main.ts) against a fresh, SQL-seeded database, beside two
// express + pg baselines (bare lookup; bearer-token check + lookup), and the Roster server's memory.
// npm run bench:scim   (env: DATABASE_URL, BENCH_SECONDS=10, BENCH_WARMUP=2, BENCH_CONNECTIONS=10, BENCH_ONLY=lookup,
// BENCH_STUB_PGLITE=1). See bench/README.md.
import { mkdirSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { createOrganization } from '../src/directory/organizations.ts';
import {
  assert, baselineApp, benchEnv, checkFailures, formatTable, groupSize, listen, loadAverageAtStart, mb, reportFailure, rosterFlags, rounds, type Row,
  runLoad, SEED, seed, settle, SETTLE_SECONDS, vacuum, withBenchDatabase,
} from './lib.ts';
import { combineRuns, type LoadStats } from './load-stats.ts';
import type { LoadJob, LoadKind } from './load-worker.ts';
import { formatHeapSpaces, formatMemory, MemoryWatch } from './memory.ts';
import { procCpuMicros, startRoster } from './roster-child.ts';

const { databaseUrl, seconds, warmupSeconds, connections } = benchEnv;
/** BENCH_ONLY=lookup measures only the lookup and its baselines (for profiling). */
const only = process.env.BENCH_ONLY;
/** BENCH_STUB_PGLITE=1 runs Roster with `knex-pglite` replaced by an empty module (what a lazy import would save). */
const stubPglite = process.env.BENCH_STUB_PGLITE === '1';
// The Roster server runs with the node flags of `npm start` (package.json), so the bench measures what is
// deployed; BENCH_ROSTER_FLAGS="--max-semi-space-size=4" adds more (lib.ts rosterFlags).

const resultsFile = new URL('./results/scim-latest.json', import.meta.url);

if (!(seconds > 0) || !(warmupSeconds >= 0) || !(connections > 0)) throw new Error('BENCH_SECONDS and BENCH_CONNECTIONS must be positive numbers, BENCH_WARMUP >= 0');

/** One request before measuring: a benchmark of 404s or empty lists would measure nothing. */
async function preflight(rosterUrl: string, baselineUrl: string, token: string): Promise<void> {
  const auth = { authorization: `Bearer ${token}` };
  const user = 'user4242@bench.test';
  const lookup = await fetch(`${rosterUrl}/scim/v2/Users?filter=${encodeURIComponent(`userName eq "${user}"`)}`, { headers: auth });
  type Found = { totalResults: number; Resources: { userName: string; name?: { givenName?: string }; emails?: { value: string; type?: string; primary?: boolean }[] }[] };
  const found = (await lookup.json()) as Found;
  const r = found.Resources?.[0];
  // The seeded typed columns come back through SCIM: the one primary work e-mail, the same address as the userName.
  assert(lookup.status === 200 && found.totalResults === 1 && r.userName === user && r.name?.givenName === 'Given4242'
    && r.emails?.length === 1 && r.emails[0].value === user && r.emails[0].type === 'work' && r.emails[0].primary === true,
  `preflight: the filter lookup answered ${lookup.status} ${JSON.stringify(found).slice(0, 300)}`);
  const byEmail = await fetch(`${rosterUrl}/scim/v2/Users?filter=${encodeURIComponent(`emails[type eq "work" and value eq "${user}"]`)}`, { headers: auth });
  const foundByEmail = (await byEmail.json()) as Found;
  assert(byEmail.status === 200 && foundByEmail.totalResults === 1 && foundByEmail.Resources[0].userName === user,
    `preflight: the e-mail filter answered ${byEmail.status} ${JSON.stringify(foundByEmail).slice(0, 300)}`);
  const noToken = await fetch(`${rosterUrl}/scim/v2/Users?filter=${encodeURIComponent(`userName eq "${user}"`)}`);
  assert(noToken.status === 401, `preflight: Roster answered a lookup without a token with ${noToken.status}`);
  const base = await fetch(`${baselineUrl}/lookup?userName=${encodeURIComponent(user)}`);
  const row = (await base.json()) as { user_name: string; emails: { value: string }[] };
  assert(base.status === 200 && row.user_name === user && row.emails[0].value === user, `preflight: the baseline lookup answered ${base.status} ${JSON.stringify(row)}`);
  const authBase = await fetch(`${baselineUrl}/auth/lookup?userName=${encodeURIComponent(user)}`, { headers: auth });
  const authRow = (await authBase.json()) as { user_name: string };
  assert(authBase.status === 200 && authRow.user_name === user, `preflight: the authenticated baseline answered ${authBase.status} ${JSON.stringify(authRow)}`);
  for (const bad of [undefined, `Bearer ${token}x`]) {
    const refused = await fetch(`${baselineUrl}/auth/lookup?userName=${encodeURIComponent(user)}`, { headers: bad ? { authorization: bad } : {} });
    assert(refused.status === 401, `preflight: the authenticated baseline answered ${refused.status} to ${bad ? 'a wrong token' : 'no token'}`);
  }
  const page = await fetch(`${rosterUrl}/scim/v2/Users?startIndex=99900&count=100`, { headers: auth });
  const list = (await page.json()) as { Resources: unknown[] };
  assert(page.status === 200 && list.Resources?.length === 100, `preflight: the last page answered ${page.status} with ${list.Resources?.length} resources`);
}

async function main(): Promise<void> {
  let peakRss = process.memoryUsage().rss;
  const sampler = setInterval(() => { peakRss = Math.max(peakRss, process.memoryUsage().rss); }, 200);
  // Each PATCH run adds a distinct spare member per request: make sure (generously) that there are enough of them.
  const users = Math.max(SEED.users, SEED.bigGroup + SEED.smallGroup + Math.ceil(2000 * (seconds + warmupSeconds)));
  const load = loadAverageAtStart();
  try {
    await withBenchDatabase(databaseUrl, async (db, benchUrl) => {
      const org = await createOrganization(db, { name: 'Bench', ownerEmail: 'owner@roster-bench.test' });
      const orgId = org.org.id;
      const started = performance.now();
      const { bigGroupId, smallGroupId, spareIds } = await seed(db, orgId, users);
      const seedSeconds = (performance.now() - started) / 1000;
      console.log(`seeded ${users} users, groups of ${SEED.bigGroup} and ${SEED.smallGroup} members, ${spareIds.length} spare members, analyzed: ${seedSeconds.toFixed(1)} s`);

      const roster = await startRoster(benchUrl, { stubPglite, nodeFlags: rosterFlags });
      const memory = new MemoryWatch(roster);
      const { app, pool } = baselineApp(benchUrl, orgId);
      const baseline = await listen(app);
      try {
        await memory.snapshot('start (idle, migrated, 1 request)');
        console.log(`Roster server: pid ${roster.pid}, ${roster.url}, ${memory.last!.modules} modules, PGlite ${memory.last!.pgliteLoaded ? 'loaded' : memory.last!.pgliteStubbed ? 'stubbed out (BENCH_STUB_PGLITE=1)' : 'not loaded'}`);
        await preflight(roster.url, baseline.url, org.scimToken);
        const stats: Record<string, LoadStats> = {};
        const measure = async (name: string, kind: LoadKind, url: string, extra: Partial<LoadJob> = {}) => {
          await settle(db);
          await vacuum(db);
          process.stdout.write(`running ${name} (${warmupSeconds} s warm-up + ${extra.seconds ?? seconds} s)... `);
          const s = await runLoad({ kind, url, seconds, warmupSeconds, connections, token: org.scimToken, users, ...extra });
          console.log(`${s.rps.toFixed(0)} req/s, p99 ${s.p99} ms, status ${JSON.stringify(s.statusCodes)}, errors ${s.errors}`);
          checkFailures(name, s);
          stats[name] = s;
          return s;
        };

        // The lookup and its two baselines alternate in rounds, so that drift in the machine's load (other
        // tenants, a busy neighbour) falls on all alike; each side's numbers combine its rounds.
        // All first run unmeasured until steady (V8 has compiled the hot paths, the pools are full and every
        // connection has prepared its statements), as a long-running server is.
        process.stdout.write(`warming up Roster and both baselines (${SETTLE_SECONDS} s each, not measured)... `);
        memory.start('lookup load (max of samples)');
        await runLoad({ kind: 'lookup', url: roster.url, seconds: SETTLE_SECONDS, warmupSeconds: 0, connections, token: org.scimToken, users });
        await runLoad({ kind: 'baseline', url: baseline.url, seconds: SETTLE_SECONDS, warmupSeconds: 0, connections, token: org.scimToken, users });
        await runLoad({ kind: 'baseline-auth', url: baseline.url, seconds: SETTLE_SECONDS, warmupSeconds: 0, connections, token: org.scimToken, users });
        console.log('done');
        const lookupRounds: LoadStats[] = [];
        const bareRounds: LoadStats[] = [];
        const authRounds: LoadStats[] = [];
        // CPU time per response over the rounds (warm-ups included): the Roster server's process, and the main
        // thread (event loop) of Roster and of the baselines' server, which is this process's main thread (the
        // load generator runs on a worker thread): where the lookup's cost is, on machine-drift-free terms.
        const cpu = { roster: { process: 0, main: 0, n: 0 }, bare: { main: 0, n: 0 }, auth: { main: 0, n: 0 } };
        const timed = async (side: { main: number; n: number; process?: number }, mainCpu: () => number, run: () => Promise<LoadStats>) => {
          const m0 = mainCpu();
          const p0 = roster.cpuMicros();
          const s = await run();
          side.main += mainCpu() - m0;
          if (side.process !== undefined) side.process += roster.cpuMicros() - p0;
          side.n += s.okWithWarmup + s.non2xx;
          return s;
        };
        const benchMain = () => procCpuMicros(process.pid, true);
        const rosterMain = () => roster.cpuMicros(true);
        for (let r = 0; r < rounds; r++) {
          const of = `(round ${r + 1}/${rounds})`;
          lookupRounds.push(await timed(cpu.roster, rosterMain, () => measure(`lookup ${of}`, 'lookup', roster.url, { seconds: seconds / rounds })));
          bareRounds.push(await timed(cpu.bare, benchMain, () => measure(`lookup-baseline-bare ${of}`, 'baseline', baseline.url, { seconds: seconds / rounds })));
          authRounds.push(await timed(cpu.auth, benchMain, () => measure(`lookup-baseline-auth ${of}`, 'baseline-auth', baseline.url, { seconds: seconds / rounds })));
        }
        await memory.stop();
        await settle(db);
        await memory.snapshot('after lookup load');
        await memory.snapshot('after lookup load, full gc', true);
        const lookup = combineRuns(lookupRounds);
        const lookupBare = combineRuns(bareRounds);
        const lookupAuth = combineRuns(authRounds);
        stats.lookup = lookup;
        stats['lookup-baseline-bare'] = lookupBare;
        stats['lookup-baseline-auth'] = lookupAuth;
        const perRound = (base: LoadStats[]) => lookupRounds.map((l, i) => (l.rps / base[i].rps).toFixed(2)).join(', ');
        const ratios = {
          lookupVsBare: lookup.rps / lookupBare.rps, lookupVsAuth: lookup.rps / lookupAuth.rps,
          lookupVsBareRounds: lookupRounds.map((l, i) => l.rps / bareRounds[i].rps), lookupVsAuthRounds: lookupRounds.map((l, i) => l.rps / authRounds[i].rps),
        };
        const per = (micros: number, n: number) => micros / Math.max(1, n);
        const cpuPerLookup = {
          rosterProcess: per(cpu.roster.process, cpu.roster.n), rosterMainThread: per(cpu.roster.main, cpu.roster.n),
          bareMainThread: per(cpu.bare.main, cpu.bare.n), authMainThread: per(cpu.auth.main, cpu.auth.n),
        };
        const cpuLine = `CPU per lookup (user + system, 10 ms ticks, warm-ups included): Roster ${cpuPerLookup.rosterMainThread.toFixed(0)} µs on its event loop `
          + `(${cpuPerLookup.rosterProcess.toFixed(0)} µs whole process); baselines' event loop: bare ${cpuPerLookup.bareMainThread.toFixed(0)} µs, `
          + `token check + lookup ${cpuPerLookup.authMainThread.toFixed(0)} µs`;
        const lookupRows: Row[] = [
          { name: 'GET /Users?filter=userName eq, vs bare lookup (no auth)', roster: lookup, baseline: lookupBare, ratio: ratios.lookupVsBare, ratioNote: '(roster/bare)' },
          { name: 'GET /Users?filter=userName eq, vs token check + lookup', roster: lookup, baseline: lookupAuth, ratio: ratios.lookupVsAuth, ratioNote: '(roster/authenticated, aim >= 0.9)' },
        ];
        const printMemory = async () => {
          const end = memory.samples.at(-1)!;
          const hwm = roster.proc().hwm;
          console.log(`\nRoster server memory: its own process (node ${rosterFlags.length ? rosterFlags.join(' ') + ' ' : ''}src/main.ts, pid ${roster.pid}, PostgreSQL, pool of 10, LOG_LEVEL=warn), ${memory.last!.modules} modules, PGlite ${memory.last!.pgliteLoaded ? 'loaded' : memory.last!.pgliteStubbed ? 'stubbed out' : 'not loaded'}\n`);
          console.log(formatMemory(memory.samples));
          if (memory.largestHeap) console.log(`\nV8 heap at its largest under load (used/reserved MB): ${formatHeapSpaces(memory.largestHeap)}`);
          console.log(`\nRoster peak RSS (VmHWM): ${mb(hwm)}, last ${mb(end.rss)} (aim <= 150 MB); last V8 heap used ${mb(end.heapUsed)} of ${mb(end.heapTotal)}; `
            + `RSS outside the V8 heap ${mb(end.rss - end.heapTotal)} (node's code, native memory, and pages a shrunk heap did not give back)`);
          return hwm;
        };
        if (only === 'lookup') {
          console.log(`\nlookup per-round ratios: vs bare ${perRound(bareRounds)}; vs authenticated ${perRound(authRounds)}\n${cpuLine}\n`);
          console.log(formatTable(lookupRows));
          await printMemory();
          return;
        }
        memory.start('page, create, add-member load (max)');
        const page = await measure('page', 'page', roster.url);

        // Requests in flight when autocannon stops (after the warm-up and after the run) complete unseen by it.
        const inFlight = connections * (warmupSeconds > 0 ? 2 : 1);
        const countMembers = async () => Number((await db('memberships').where({ org_id: orgId }).count({ n: '*' }))[0].n);
        const before = await countMembers();
        const create = await measure('create', 'create', roster.url, { tag: Date.now().toString(36) });
        await settle(db);
        const created = (await countMembers()) - before;
        assert(created >= create.okWithWarmup && created <= create.okWithWarmup + inFlight, `create: ${create.okWithWarmup} responses were 2xx but ${created} members were created`);

        const patch = async (name: string, groupId: string) => {
          const size = await groupSize(db, groupId);
          const s = await measure(name, 'patch', roster.url, { groupId, spareIds });
          await settle(db);
          const added = (await groupSize(db, groupId)) - size;
          assert(added >= Math.min(s.okWithWarmup, spareIds.length) && added <= s.okWithWarmup + inFlight, `${name}: ${s.okWithWarmup} PATCH requests succeeded but the group grew by ${added}`);
          if (s.wrapped) console.warn(`WARNING ${name}: the ${spareIds.length} spare members ran out; later requests re-added existing members`);
          return s;
        };
        const patchSmall = await patch('add-member-small', smallGroupId);
        const patchBig = await patch('add-member-big', bigGroupId);

        await memory.stop();
        await memory.snapshot('end of all runs');
        await memory.snapshot('end of all runs, full gc', true);
        const rows: Row[] = [
          ...lookupRows,
          { name: 'GET /Users?startIndex=random&count=100', roster: page },
          { name: 'POST /Users', roster: create },
          { name: `PATCH /Groups add 1 member, ${SEED.smallGroup}-member group`, roster: patchSmall },
          { name: `PATCH /Groups add 1 member, ${SEED.bigGroup}-member group`, roster: patchBig, ratio: patchBig.rps / patchSmall.rps, ratioNote: '(big/small req/s, aim ~1.0)' },
        ];
        const rss = process.memoryUsage().rss;
        peakRss = Math.max(peakRss, rss);
        console.log(`\nSCIM benchmark: ${connections} connections, ${seconds} s per run after ${warmupSeconds} s warm-up, ${users} users; seeding took ${seedSeconds.toFixed(1)} s\n`);
        console.log(formatTable(rows));
        console.log(`\nlookup per-round ratios: vs bare ${perRound(bareRounds)}; vs authenticated ${perRound(authRounds)}\n${cpuLine}`);
        const hwm = await printMemory();
        console.log(`bench process RSS (baseline server, load-generator thread, seeding client; not Roster): ${mb(rss)} now, ${mb(peakRss)} peak`);

        mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
        writeFileSync(resultsFile, JSON.stringify({
          date: new Date().toISOString(), node: process.version,
          postgres: (await db.raw('show server_version')).rows[0].server_version,
          settings: { seconds, warmupSeconds, connections, users, rosterFlags, bigGroup: SEED.bigGroup, smallGroup: SEED.smallGroup, spares: spareIds.length },
          seedSeconds, loadAverageAtStart: load, benchProcess: { rssBytes: rss, peakRssBytes: peakRss },
          rosterServer: { pid: roster.pid, peakRssBytes: hwm, samples: memory.samples, pgliteLoaded: memory.last!.pgliteLoaded, pgliteStubbed: stubPglite, modules: memory.last!.modules, packages: memory.last!.packages, heapSpaces: memory.last!.heapSpaces },
          rosterCpuMicrosPerLookup: cpuPerLookup,
          ratios: { ...ratios, bigVsSmallGroupAdd: patchBig.rps / patchSmall.rps },
          runs: stats,
        }, null, 2) + '\n');
        console.log(`results written to ${resultsFile.pathname}`);
      } finally {
        await memory.stop();
        await roster.stop();
        await baseline.close();
        await pool.end();
      }
    });
  } finally {
    clearInterval(sampler);
  }
}

main().catch(reportFailure);
