// SCIM benchmark: Roster in-process against a fresh, SQL-seeded database, beside a bare express + pg baseline.
// npm run bench:scim   (env: DATABASE_URL, BENCH_SECONDS=10, BENCH_WARMUP=2, BENCH_CONNECTIONS=10). See bench/README.md.
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { pino } from 'pino';
import { createOrganization } from '../src/directory/organizations.ts';
import { createApp } from '../src/http/app.ts';
import { baselineApp, failureRate, formatTable, groupSize, listen, mb, type Row, runLoad, SEED, seed, settle, vacuum, withBenchDatabase } from './lib.ts';
import type { LoadJob, LoadKind, LoadStats } from './load-worker.ts';

const databaseUrl = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
const seconds = Number(process.env.BENCH_SECONDS ?? 10);
const warmupSeconds = Number(process.env.BENCH_WARMUP ?? 2);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 10);
const MAX_FAILURE_RATE = 0.001;
/** BENCH_ONLY=lookup measures only the lookup and its baseline (for profiling). */
const only = process.env.BENCH_ONLY;
const ROUNDS = 4;
const SETTLE_SECONDS = 5;

/** Several rounds of one benchmark as one: requests add up, req/s over the total time, the worst p99. */
function combine(runs: LoadStats[]): LoadStats {
  const sum = (f: (s: LoadStats) => number) => runs.reduce((n, s) => n + f(s), 0);
  const statusCodes: Record<string, number> = {};
  for (const r of runs) for (const [k, v] of Object.entries(r.statusCodes)) statusCodes[k] = (statusCodes[k] ?? 0) + v;
  return {
    requests: sum((s) => s.requests), rps: sum((s) => s.rps) / runs.length,
    p50: Math.max(...runs.map((s) => s.p50)), p99: Math.max(...runs.map((s) => s.p99)),
    non2xx: sum((s) => s.non2xx), errors: sum((s) => s.errors), timeouts: sum((s) => s.timeouts), statusCodes,
    okWithWarmup: sum((s) => s.okWithWarmup), wrapped: runs.some((s) => s.wrapped),
  };
}
const resultsFile = new URL('./results/scim-latest.json', import.meta.url);

if (!(seconds > 0) || !(warmupSeconds >= 0) || !(connections > 0)) throw new Error('BENCH_SECONDS and BENCH_CONNECTIONS must be positive numbers, BENCH_WARMUP >= 0');

class BenchFailure extends Error {}

function assert(ok: unknown, message: string): asserts ok {
  if (!ok) throw new BenchFailure(message);
}

/** One request before measuring: a benchmark of 404s or empty lists would measure nothing. */
async function preflight(rosterUrl: string, baselineUrl: string, token: string): Promise<void> {
  const auth = { authorization: `Bearer ${token}` };
  const user = 'user4242@bench.test';
  const lookup = await fetch(`${rosterUrl}/scim/v2/Users?filter=${encodeURIComponent(`userName eq "${user}"`)}`, { headers: auth });
  const found = (await lookup.json()) as { totalResults: number; Resources: { userName: string; emails: { value: string }[] }[] };
  assert(lookup.status === 200 && found.totalResults === 1 && found.Resources[0].userName === user && found.Resources[0].emails[0].value === user,
    `preflight: the filter lookup answered ${lookup.status} ${JSON.stringify(found).slice(0, 300)}`);
  const base = await fetch(`${baselineUrl}/lookup?userName=${encodeURIComponent(user)}`);
  const row = (await base.json()) as { user_name: string };
  assert(base.status === 200 && row.user_name === user, `preflight: the baseline lookup answered ${base.status} ${JSON.stringify(row)}`);
  const page = await fetch(`${rosterUrl}/scim/v2/Users?startIndex=99900&count=100`, { headers: auth });
  const list = (await page.json()) as { Resources: unknown[] };
  assert(page.status === 200 && list.Resources?.length === 100, `preflight: the last page answered ${page.status} with ${list.Resources?.length} resources`);
}

async function main(): Promise<void> {
  let peakRss = process.memoryUsage().rss;
  const sampler = setInterval(() => { peakRss = Math.max(peakRss, process.memoryUsage().rss); }, 200);
  // Each PATCH run adds a distinct spare member per request: make sure (generously) that there are enough of them.
  const users = Math.max(SEED.users, SEED.bigGroup + SEED.smallGroup + Math.ceil(2000 * (seconds + warmupSeconds)));
  const load = loadavg()[0];
  if (load > 1) console.warn(`WARNING: the machine is busy (1-minute load average ${load.toFixed(2)}): the numbers will be noisy`);
  try {
    await withBenchDatabase(databaseUrl, async (db, benchUrl) => {
      const org = await createOrganization(db, { name: 'Bench', ownerEmail: 'owner@roster-bench.test' });
      const orgId = org.org.id;
      const started = performance.now();
      const { bigGroupId, smallGroupId, spareIds } = await seed(db, orgId, users);
      const seedSeconds = (performance.now() - started) / 1000;
      console.log(`seeded ${users} users, groups of ${SEED.bigGroup} and ${SEED.smallGroup} members, ${spareIds.length} spare members, analyzed: ${seedSeconds.toFixed(1)} s`);

      const roster = await listen();
      roster.server.on('request', createApp({ db, logger: pino({ level: 'silent' }), issuer: roster.url }));
      const { app, pool } = baselineApp(benchUrl, orgId);
      const baseline = await listen(app);
      try {
        await preflight(roster.url, baseline.url, org.scimToken);
        const stats: Record<string, LoadStats> = {};
        const measure = async (name: string, kind: LoadKind, url: string, extra: Partial<LoadJob> = {}) => {
          await settle(db);
          await vacuum(db);
          process.stdout.write(`running ${name} (${warmupSeconds} s warm-up + ${extra.seconds ?? seconds} s)... `);
          const s = await runLoad({ kind, url, seconds, warmupSeconds, connections, token: org.scimToken, users, ...extra });
          console.log(`${s.rps.toFixed(0)} req/s, p99 ${s.p99} ms, status ${JSON.stringify(s.statusCodes)}, errors ${s.errors}`);
          assert(failureRate(s) <= MAX_FAILURE_RATE,
            `${name}: ${s.non2xx} non-2xx responses and ${s.errors} connection errors (${s.timeouts} timeouts) over ${s.okWithWarmup + s.non2xx + s.errors} requests; statuses ${JSON.stringify(s.statusCodes)}`);
          if (s.non2xx + s.errors > 0) console.warn(`WARNING ${name}: ${s.non2xx} non-2xx, ${s.errors} errors (below the ${MAX_FAILURE_RATE * 100}% limit)`);
          stats[name] = s;
          return s;
        };

        // The lookup and its baseline alternate in rounds, so that drift in the machine's load (other tenants,
        // a busy neighbour) falls on both alike; each side's numbers combine its rounds.
        // Both servers first run unmeasured until steady (V8 has compiled the hot paths, the pools are full and
        // every connection has prepared its statements), as a long-running server is.
        process.stdout.write(`warming up both servers (${SETTLE_SECONDS} s each, not measured)... `);
        await runLoad({ kind: 'lookup', url: roster.url, seconds: SETTLE_SECONDS, warmupSeconds: 0, connections, token: org.scimToken, users });
        await runLoad({ kind: 'baseline', url: baseline.url, seconds: SETTLE_SECONDS, warmupSeconds: 0, connections, token: org.scimToken, users });
        console.log('done');
        const rounds = Math.max(1, Math.min(ROUNDS, Math.floor(seconds / 2)));
        const lookupRounds: LoadStats[] = [];
        const baseRounds: LoadStats[] = [];
        for (let r = 0; r < rounds; r++) {
          lookupRounds.push(await measure(`lookup (round ${r + 1}/${rounds})`, 'lookup', roster.url, { seconds: seconds / rounds }));
          baseRounds.push(await measure(`lookup-baseline (round ${r + 1}/${rounds})`, 'baseline', baseline.url, { seconds: seconds / rounds }));
        }
        const lookup = combine(lookupRounds);
        const lookupBase = combine(baseRounds);
        stats.lookup = lookup;
        stats['lookup-baseline'] = lookupBase;
        if (only === 'lookup') {
          console.log(`\nlookup: ${lookup.rps.toFixed(0)} req/s (p99 ${lookup.p99} ms) vs baseline ${lookupBase.rps.toFixed(0)} req/s (p99 ${lookupBase.p99} ms): ratio ${(lookup.rps / lookupBase.rps).toFixed(2)}`);
          return;
        }
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

        const rows: Row[] = [
          { name: 'GET /Users?filter=userName eq (vs baseline lookup)', roster: lookup, baseline: lookupBase, ratio: lookup.rps / lookupBase.rps, ratioNote: '(roster/baseline, aim >= 0.5)' },
          { name: 'GET /Users?startIndex=random&count=100', roster: page },
          { name: 'POST /Users', roster: create },
          { name: `PATCH /Groups add 1 member, ${SEED.smallGroup}-member group`, roster: patchSmall },
          { name: `PATCH /Groups add 1 member, ${SEED.bigGroup}-member group`, roster: patchBig, ratio: patchBig.rps / patchSmall.rps, ratioNote: '(big/small req/s, aim ~1.0)' },
        ];
        const rss = process.memoryUsage().rss;
        peakRss = Math.max(peakRss, rss);
        console.log(`\nSCIM benchmark: ${connections} connections, ${seconds} s per run after ${warmupSeconds} s warm-up, ${users} users; seeding took ${seedSeconds.toFixed(1)} s\n`);
        console.log(formatTable(rows));
        console.log(`\nprocess RSS: ${mb(rss)} now, ${mb(peakRss)} peak (servers, load-generator thread and the seeding client share this process)`);

        mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
        writeFileSync(resultsFile, JSON.stringify({
          date: new Date().toISOString(), node: process.version,
          postgres: (await db.raw('show server_version')).rows[0].server_version,
          settings: { seconds, warmupSeconds, connections, users, bigGroup: SEED.bigGroup, smallGroup: SEED.smallGroup, spares: spareIds.length },
          seedSeconds, loadAverageAtStart: load, rssBytes: rss, peakRssBytes: peakRss,
          ratios: { lookupVsBaseline: lookup.rps / lookupBase.rps, bigVsSmallGroupAdd: patchBig.rps / patchSmall.rps },
          runs: stats,
        }, null, 2) + '\n');
        console.log(`results written to ${resultsFile.pathname}`);
      } finally {
        await roster.close();
        await baseline.close();
        await pool.end();
      }
    });
  } finally {
    clearInterval(sampler);
  }
}

main().catch((err) => {
  console.error(err instanceof BenchFailure ? `\nBENCHMARK FAILED: ${err.message}` : err);
  process.exitCode = 1;
});
