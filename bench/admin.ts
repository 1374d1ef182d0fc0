// Admin API benchmark: the roster search (GET /api/v1/orgs/{orgId}/members?search=<term>&limit=50, an API key)
// of the real Roster server process (node src/main.ts) against a fresh database holding an organisation of
// 100,000 members with realistic names and e-mails, beside a bare express + pg server in its own process doing
// the work a correct server cannot skip (the key's indexed lookup, the search's page and its count), against the
// same database in the same run. Also prints EXPLAIN (ANALYZE) of Roster's own statements, to show the trigram
// index at work.
// npm run bench:admin   (env: DATABASE_URL, BENCH_SECONDS=10, BENCH_WARMUP=2, BENCH_CONNECTIONS=10,
// BENCH_MEMBERS=100000, BENCH_ROSTER_FLAGS, BENCH_ROSTER_ENV, BENCH_ONLY=explain). See bench/README.md, section "bench/admin".
import { mkdirSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { Db } from '../src/db.ts';
import { createOrganization } from '../src/directory/organizations.ts';
import { listRoster } from '../src/directory/roster.ts';
import type { RotatingGetJob } from './admin-load-worker.ts';
import {
  assert, benchEnv, chargeCpu, checkFailures, cpuTally, loadAverageAtStart, mb, perRequest, reportFailure, rosterEnv, rosterFlags, rounds,
  runWorker, settle, SETTLE_SECONDS, startChild, startFlags, withBenchDatabase,
} from './lib.ts';
import { combineRuns, type LoadStats } from './load-stats.ts';
import { startRoster } from './roster-child.ts';

const { databaseUrl, seconds, warmupSeconds, connections } = benchEnv;
const members = Number(process.env.BENCH_MEMBERS ?? 100_000);
/** BENCH_ONLY=explain: seed, check and print the plans, no load. */
const only = process.env.BENCH_ONLY;
const LIMIT = 50;

// Both servers run with the node flags of `npm start` (package.json); Roster also with its environment, then
// BENCH_ROSTER_FLAGS' and BENCH_ROSTER_ENV's (lib.ts startFlags, rosterFlags, rosterEnv).

if (!(seconds > 0) || !(warmupSeconds >= 0) || !(connections > 0) || !(members >= 1000)) {
  throw new Error('BENCH_SECONDS and BENCH_CONNECTIONS must be positive numbers, BENCH_WARMUP >= 0, BENCH_MEMBERS >= 1000');
}
if (only !== undefined && only !== 'explain') throw new Error('BENCH_ONLY is explain or unset');

// ---------------------------------------------------------------------------------------------------------------
// The organisation: people with a given name from a mixed list and an English-style compound surname (prefix +
// suffix: Blackwood, Thornton, Kingsley, ...: 2,000 surnames, about 50 people each at 100,000), e-mail
// given.surname[N]@globex.example (N from 2 for the second person of the same name), userName = e-mail, as SCIM
// provisions them. Deterministic: person n's names come from md5('person' || n).

const DOMAIN = 'globex.example';
const GIVEN = `James Mary Olivia Noah Liam Emma Ava Sophia Lucas Mateo Amara Chidi Aisha Fatima Omar Yusuf Priya Arjun Ananya Rohan
  Wei Mei Hiroshi Yuki Haruto Sakura Minjun Seoyeon Lars Ingrid Astrid Sven Pierre Camille Louis Chloe Hannah Lukas Leon Mia
  Sofia Diego Lucia Carlos Valentina Ivan Olga Dmitri Anya Piotr Zofia Jakub Eva Tomas Nina Marco Giulia Luca Chiara Ahmed
  Layla Karim Nadia Tariq Zara Kwame Ama Kofi Ngozi Tunde Thandiwe Sipho Lerato Daniel Sarah David Rachel Michael Laura Thomas
  Anna John Grace Samuel Ella Isabella Gabriella Stella Jack Oliver Charlotte Amelia Henry Ethan Benjamin Zoe Ruby Finn Maya Leila`.split(/\s+/);
const SURNAME_HEAD = `Ash Black Brad Brook Cald Carl Chad Clay Cole Cran Dal Dart Dun East Elm Fair Fern Fox Gold Green Hal Hart Haw Hay Hol
  Kent Kings Lang Lin Mar Mid Mill Moor New North Oak Pen Red Ros Rush Salt Sand Shel South Stan Stock Thorn West Whit Wood`.split(/\s+/);
const SURNAME_TAIL = `ley ton ford field wood worth well by ham more brook bridge dale hurst stead wick combe shaw gate croft land mere low
  thorpe don ridge stone burn cott den hill holm ing man ock rick sey win ard erton`.split(/\s+/);
const DEPARTMENTS = 'Engineering Sales Marketing Finance Operations Support Legal Research Design Logistics Procurement People'.split(' ');
const SITES = 'Berlin Lagos London Madrid Mumbai Nairobi Osaka Seoul Toronto Warsaw'.split(' ');
const INVITATIONS = 200;

/**
 * The search terms the load rotates over: surname fragments (a whole surname, a prefix of one) and e-mail
 * fragments (given.surname-prefix, which only the e-mail holds: the name has a space there). Each matches
 * a few to a few dozen members at 100,000 (printed, and checked to be 1 to 200).
 */
const TERMS = ['thornton', 'westbro', 'kingsley', 'ashford', 'amara.oak', 'yuki.black', 'liam.stan', 'chloe.fair'];

/** A search term as Roster's LIKE pattern (src/directory/roster.ts `containing`). */
const containing = (term: string) => `%${term.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

async function seedOrganization(db: Db, orgId: string, n: number): Promise<void> {
  const list = (words: string[]) => words.join(',');
  await db.transaction(async (trx) => {
    // Person n: names from the bytes of md5('person' || n); created one every 15 minutes up to now (about 3 years at 100,000).
    await trx.raw(`create temporary table bench_people on commit drop as
      select n, given_name, family_name, d,
        lower(given_name) || '.' || lower(family_name)
          || case when row_number() over w > 1 then (row_number() over w)::text else '' end || '@' || ? as email,
        now() - (?::int - n) * interval '15 minutes' as created_at
      from (
        select n, d,
          g[1 + (get_byte(d, 0) * 256 + get_byte(d, 1)) % cardinality(g)] as given_name,
          h[1 + (get_byte(d, 2) * 256 + get_byte(d, 3)) % cardinality(h)] || t[1 + (get_byte(d, 4) * 256 + get_byte(d, 5)) % cardinality(t)] as family_name
        from generate_series(1, ?::int) n,
          lateral (select decode(md5('person' || n), 'hex') as d) hash,
          (select string_to_array(?, ',') as g, string_to_array(?, ',') as h, string_to_array(?, ',') as t) names
      ) p
      window w as (partition by given_name, family_name order by n)`,
    [DOMAIN, n, n, list(GIVEN), list(SURNAME_HEAD), list(SURNAME_TAIL)]);
    await trx.raw(`insert into accounts (id, email, given_name, family_name, managed_by_org_id, email_verified, created_at, updated_at)
      select md5('a' || n)::uuid, email, given_name, family_name, ?, true, created_at, created_at from bench_people`, [orgId]);
    // 1 in 20 deactivated (by SCIM), 1 in 200 an admin, 1 in 500 billing; the rest members.
    await trx.raw(`insert into memberships (org_id, id, account_id, role, status, joined_at, user_name, given_name, family_name, emails,
        created_at, updated_at, deactivated_at, deactivated_by_type)
      select ?, md5('m' || n)::uuid, md5('a' || n)::uuid,
        case when n % 200 = 0 then 'admin' when n % 500 = 1 then 'billing' else 'member' end,
        case when n % 20 = 0 then 'deactivated' else 'active' end,
        created_at, email, given_name, family_name,
        jsonb_build_array(jsonb_build_object('value', email, 'type', 'work', 'primary', true)),
        created_at, created_at,
        case when n % 20 = 0 then created_at + interval '30 days' end, case when n % 20 = 0 then 'scim' end
      from bench_people`, [orgId]);
    // Groups as SCIM provisions them: a department per site (120), everyone in one; and one group granting the
    // admin role (every 250th person).
    await trx.raw(`insert into groups (org_id, id, display_name, managed_by, role)
      select ?::uuid, md5('g' || k)::uuid, dep || ' (' || site || ')', 'scim', null
      from unnest(string_to_array(?, ',')) with ordinality dep(dep, i), unnest(string_to_array(?, ',')) with ordinality s(site, j),
        lateral (select (i - 1) * cardinality(string_to_array(?, ',')) + j as k) kk
      union all select ?::uuid, md5('g-admins')::uuid, 'IT Administrators', 'scim', 'admin'`,
    [orgId, list(DEPARTMENTS), list(SITES), list(SITES), orgId]);
    await trx.raw(`insert into group_members (org_id, group_id, membership_id, created_at)
      select ?::uuid, md5('g' || (1 + (get_byte(d, 6) * 256 + get_byte(d, 7)) % ?))::uuid, md5('m' || n)::uuid, created_at from bench_people
      union all select ?::uuid, md5('g-admins')::uuid, md5('m' || n)::uuid, created_at from bench_people where n % 250 = 0`,
    [orgId, DEPARTMENTS.length * SITES.length, orgId]);
    // A sign-in session for one in three (the roster shows the last sign-in and the last activity).
    await trx.raw(`insert into sessions (org_id, account_id, provider, created_at, last_active_at, expires_at)
      select ?, md5('a' || n)::uuid, 'password', now() - (n % 30) * interval '1 day', now() - (n % 7) * interval '1 hour', now() + interval '14 days'
      from bench_people where n % 3 = 0`, [orgId]);
    // Pending invitations (the roster lists them too); their addresses match none of the search terms.
    await trx.raw(`insert into invitations (org_id, email, role, token_hash, expires_at, invited_by_type, invited_by_name, created_at)
      select ?, 'invitee' || k || '@agency.example', 'member', md5('invitation' || k), now() + interval '7 days', 'system', 'Bench', now() - k * interval '1 hour'
      from generate_series(1, ?::int) k`, [orgId, INVITATIONS]);
  });
  // VACUUM as well as ANALYZE: the rows went into the trigram index through GIN's pending list (fastupdate), up
  // to gin_pending_list_limit (4 MB) of which every search would scan until autovacuum moved it into the index,
  // which it would do at some moment of the run. A database that autovacuum keeps has it (nearly) empty.
  await db.raw('vacuum (analyze) accounts, memberships, groups, group_members, sessions, invitations');
}

// ---------------------------------------------------------------------------------------------------------------
// Processes, load and CPU

/** The baseline in its own process (bench/admin-baseline-child.ts), with the node flags of `npm start`. */
async function startBaseline(benchUrl: string) {
  const child = await startChild<{ url: string }>('bench/admin-baseline-child.ts', { what: 'the baseline', label: 'baseline', env: { BENCH_DATABASE_URL: benchUrl } });
  return { ...child, url: child.ready.url };
}

/** One autocannon job on a worker thread (bench/admin-load-worker.ts). */
const runLoad = (job: RotatingGetJob): Promise<LoadStats> => runWorker(new URL('./admin-load-worker.ts', import.meta.url), job);

// ---------------------------------------------------------------------------------------------------------------
// Checks and plans

type Page = { items: { id: string; kind: string; email: string; name: string | null }[]; total: number; nextCursor: string | null };

async function getJson(url: string, authorization?: string): Promise<{ status: number; body: Page }> {
  const res = await fetch(url, { headers: authorization ? { authorization } : {} });
  return { status: res.status, body: (await res.json().catch(() => ({}))) as Page };
}

/**
 * Before measuring, for every term: both servers answer 200 with the same members in the same order, the total
 * the database counts, and a next page exactly when there are more than 50; both refuse a missing or wrong key
 * (401) and another organisation's path (404). A benchmark of 401s or empty lists would measure nothing.
 */
async function preflight(db: Db, orgId: string, apiKey: string, rosterUrl: string, baselineUrl: string, counts: Record<string, number>): Promise<void> {
  const auth = `Bearer ${apiKey}`;
  for (const term of TERMS) {
    const path = membersPath(orgId, term);
    const r = await getJson(`${rosterUrl}${path}`, auth);
    const b = await getJson(`${baselineUrl}${path}`, auth);
    assert(r.status === 200 && b.status === 200, `preflight "${term}": Roster answered ${r.status}, the baseline ${b.status}`);
    const expected = counts[term];
    assert(r.body.total === expected && b.body.total === expected, `preflight "${term}": totals ${r.body.total} (Roster) and ${b.body.total} (baseline), the database counts ${expected}`);
    assert(r.body.items.every((i) => i.kind === 'member'), `preflight "${term}": Roster listed an invitation`);
    const ids = (p: Page) => p.items.map((i) => i.id).join(',');
    assert(r.body.items.length === Math.min(LIMIT, expected) && ids(r.body) === ids(b.body), `preflight "${term}": Roster and the baseline list different members`);
    assert(r.body.items.every((i) => i.email.includes('@') && i.name) && JSON.stringify(r.body.items.map((i) => i.email)) === JSON.stringify(b.body.items.map((i) => i.email)),
      `preflight "${term}": e-mails or names differ`);
    assert((r.body.nextCursor !== null) === expected > LIMIT && (b.body.nextCursor !== null) === expected > LIMIT, `preflight "${term}": nextCursor wrong`);
  }
  const path = membersPath(orgId, TERMS[0]);
  for (const [url, side] of [[rosterUrl, 'Roster'], [baselineUrl, 'the baseline']] as const) {
    for (const bad of [undefined, `${auth}x`]) {
      const { status } = await getJson(`${url}${path}`, bad);
      assert(status === 401, `preflight: ${side} answered ${status} to ${bad ? 'a wrong key' : 'no key'}`);
    }
    const other = await getJson(`${url}${membersPath('00000000-0000-4000-8000-000000000000', TERMS[0])}`, auth);
    assert(other.status === 404, `preflight: ${side} answered ${other.status} to another organisation's members`);
  }
  const pending = Number((await db('invitations').where({ org_id: orgId, status: 'pending' }).count({ n: '*' }))[0].n);
  assert(pending === INVITATIONS, `preflight: ${pending} pending invitations`);
}

const membersPath = (orgId: string, term: string) => `/api/v1/orgs/${orgId}/members?search=${encodeURIComponent(term)}&limit=${LIMIT}`;

type Statement = { sql: string; bindings: unknown[] };

/** The statements listRoster sends for one search, as Knex hands them to pg ($n placeholders). */
async function rosterStatements(db: Db, orgId: string, term: string): Promise<Statement[]> {
  const seen: Statement[] = [];
  const listener = (q: { sql: string; bindings?: unknown[] }) => seen.push({ sql: q.sql, bindings: q.bindings ?? [] });
  db.on('query', listener);
  try {
    await listRoster(db, { orgId, search: term, limit: LIMIT });
  } finally {
    db.off('query', listener);
  }
  return seen;
}

/** Knex's `?` placeholders as pg's `$n` (the bench's SQL has no `?` inside literals). */
const positional = (sql: string) => { let i = 0; return sql.replace(/\?/g, () => `$${++i}`); };

/** The baseline's statements (bench/admin-baseline-child.ts sends the same texts). */
const BASELINE_PAGE_SQL = `select m.id, m.account_id, coalesce(m.display_name, m.name_formatted, nullif(trim(concat_ws(' ', m.given_name, m.family_name)), '')) as name,
         a.email, m.role, m.status, m.created_at
       from memberships m join accounts a on a.id = m.account_id
       where m.org_id = $1 and m.search_text like $2 escape '\\'
       order by m.created_at, m.id limit $3`;
const BASELINE_COUNT_SQL = `select count(*)::int as n from memberships where org_id = $1 and search_text like $2 escape '\\'`;

type Side = 'roster' | 'baseline';
type Labelled = Statement & { side: Side; what: string };

/** Both sides' statements for one term: Roster's as listRoster sends them, the baseline's page and total. */
async function statementsFor(db: Db, orgId: string, term: string): Promise<Labelled[]> {
  const roster = await rosterStatements(db, orgId, term);
  assert(roster.length >= 1, 'listRoster sent no statement');
  // Labels for today's listRoster (a page, then a total), else numbers.
  const label = (sql: string, i: number) => (/^\s*select \(select count\(\*\)/i.test(sql) ? 'total' : i === 0 ? (roster.length === 1 ? 'page + total' : 'page') : `statement ${i + 1}`);
  return [
    ...roster.map((s, i) => ({ side: 'roster' as const, what: label(s.sql, i), sql: s.sql.includes('$1') ? s.sql : positional(s.sql), bindings: s.bindings })),
    { side: 'baseline', what: 'page', sql: BASELINE_PAGE_SQL, bindings: [orgId, containing(term), LIMIT + 1] },
    { side: 'baseline', what: 'total', sql: BASELINE_COUNT_SQL, bindings: [orgId, containing(term)] },
  ];
}

const planText = (rows: Record<string, string>[]) => rows.map((r) => r['QUERY PLAN']).join('\n');
const usesTrigramIndex = (plan: string) => /Bitmap Index Scan on memberships_search/.test(plan);
/**
 * A statement that searches `search_text` finds its rows some other way than the trigram index: typically a walk
 * of the (org, created, id) index that filters every member. (Statements that do not search are not judged.)
 */
const offIndex = (s: Statement, plan: string) => /search_text/.test(s.sql) && (!usesTrigramIndex(plan) || /memberships_created/.test(plan));

/** A connection set up as Roster's pool sets up its own (jit off). */
async function explainClient(benchUrl: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: benchUrl, options: '-c jit=off' });
  await client.connect();
  return client;
}

/**
 * ANALYZE samples 30,000 rows at random: when the sample's histogram of `search_text` happens to hold a value
 * containing a term, the planner expects about 1% of the members to match (instead of 0.01%) and may walk the
 * organisation's (created_at, id) index, filtering every member, instead of using the trigram index. Such a plan
 * costs some 15-20 times as much, on either side, so the numbers would depend on the luck of the sample: the
 * bench re-runs ANALYZE (up to MAX_ANALYZE times) until every statement of both sides uses the trigram index
 * for every term, and reports the plans that flipped on the way.
 */
const MAX_ANALYZE = 10;
async function stablePlans(db: Db, benchUrl: string, orgId: string): Promise<{ passes: string[][] }> {
  const client = await explainClient(benchUrl);
  try {
    const passes: string[][] = [];
    for (let pass = 1; ; pass++) {
      const flipped: string[] = [];
      for (const term of TERMS) {
        for (const s of await statementsFor(db, orgId, term)) {
          const plan = planText((await client.query(`explain ${s.sql}`, s.bindings)).rows);
          if (offIndex(s, plan)) flipped.push(`"${term}" ${s.side} ${s.what}`);
        }
      }
      passes.push(flipped);
      if (flipped.length === 0 || pass === MAX_ANALYZE) return { passes };
      await db.raw('analyze memberships');
    }
  } finally {
    await client.end();
  }
}

type Plans = { term: string; statements: (Labelled & { plan: string; usesTrigramIndex: boolean; offIndex: boolean; executionMs: number; planningMs: number })[] }[];

/**
 * EXPLAIN (ANALYZE, BUFFERS) of both sides' statements for every term, each after one unmeasured run (warm
 * caches, as under load).
 */
async function explainAll(db: Db, benchUrl: string, orgId: string): Promise<Plans> {
  const client = await explainClient(benchUrl);
  try {
    const plans: Plans = [];
    for (const term of TERMS) {
      const explained = [];
      for (const s of await statementsFor(db, orgId, term)) {
        await client.query(s.sql, s.bindings);
        const plan = planText((await client.query(`explain (analyze, buffers) ${s.sql}`, s.bindings)).rows);
        explained.push({
          ...s, plan, usesTrigramIndex: usesTrigramIndex(plan), offIndex: offIndex(s, plan),
          executionMs: Number(/Execution Time: ([\d.]+) ms/.exec(plan)?.[1] ?? NaN), planningMs: Number(/Planning Time: ([\d.]+) ms/.exec(plan)?.[1] ?? NaN),
        });
      }
      plans.push({ term, statements: explained });
    }
    return plans;
  } finally {
    await client.end();
  }
}

// ---------------------------------------------------------------------------------------------------------------

const f0 = (n: number) => n.toLocaleString('en-GB', { maximumFractionDigits: 0 });
const f2 = (n: number) => n.toFixed(2);

async function main(): Promise<void> {
  const load = loadAverageAtStart();
  await withBenchDatabase(databaseUrl, async (db, benchUrl) => {
    const { org, apiKey } = await createOrganization(db, { name: 'Globex', ownerEmail: `owner@${DOMAIN}` });
    const started = performance.now();
    await seedOrganization(db, org.id, members);
    const seedSeconds = (performance.now() - started) / 1000;
    console.log(`seeded ${f0(members)} members (+ the owner), ${DEPARTMENTS.length * SITES.length + 1} groups, ${f0(Math.floor(members / 3))} sessions, ${INVITATIONS} pending invitations, vacuumed and analyzed: ${seedSeconds.toFixed(1)} s`);

    const counts: Record<string, number> = {};
    for (const term of TERMS) {
      const [{ n }] = await db('memberships').where({ org_id: org.id }).whereRaw(`search_text like ? escape '\\'`, [containing(term)]).count({ n: '*' });
      counts[term] = Number(n);
    }
    console.log(`search terms (members matching): ${TERMS.map((t) => `"${t}" ${counts[t]}`).join(', ')}`);
    if (members >= 100_000) for (const t of TERMS) assert(counts[t] >= 1 && counts[t] <= 200, `the term "${t}" matches ${counts[t]} members, not a few to a few dozen`);

    const { passes } = await stablePlans(db, benchUrl, org.id);
    const flips = passes.flatMap((flipped, i) => (flipped.length ? [`after ANALYZE pass ${i + 1}: ${flipped.join(', ')}`] : []));
    const stable = passes.at(-1)!.length === 0;
    const planStability = stable
      ? `plans: every statement of both sides uses the trigram index memberships_search for every term after ANALYZE pass ${passes.length}${flips.length ? `; before that, off the trigram index (a walk of memberships_created filtering every member): ${flips.join('; ')}` : ''}`
      : `WARNING: after ${MAX_ANALYZE} ANALYZE passes some statements still do not use the trigram index (${passes.at(-1)!.join(', ')}): the numbers below include those plans`;
    const plans = await explainAll(db, benchUrl, org.id);
    const first = plans[0];
    const ms = (s: Plans[number]['statements'][number]) => `${s.what} ${s.executionMs.toFixed(2)} ms (+ planning ${s.planningMs.toFixed(2)})${s.offIndex ? ' OFF THE TRIGRAM INDEX' : ''}`;
    const planLines = [
      `EXPLAIN (ANALYZE, BUFFERS) of Roster's statements for "${first.term}" (src/directory/roster.ts listRoster, as Knex sends them; jit off as Roster's pool):`,
      ...first.statements.filter((s) => s.side === 'roster').flatMap((s) => [`\n-- ${s.what}: ${s.sql.replace(/\s+/g, ' ').trim()}\n-- bindings: ${JSON.stringify(s.bindings)}`, s.plan]),
      `\nThe baseline's page statement for "${first.term}":\n${first.statements.find((s) => s.side === 'baseline' && s.what === 'page')!.plan}`,
      `\nEvery term, execution time of each statement (EXPLAIN ANALYZE, one connection, warm caches):`,
      ...plans.map((p) => `  "${p.term}" (${counts[p.term]} members): Roster ${p.statements.filter((s) => s.side === 'roster').map(ms).join(', ')}; `
        + `baseline ${p.statements.filter((s) => s.side === 'baseline').map(ms).join(', ')}`),
      planStability,
    ];
    console.log(`\n${planLines.join('\n')}\n`);
    const notIndexed = plans.flatMap((p) => p.statements.filter((s) => s.offIndex).map((s) => `"${p.term}" ${s.side} ${s.what}`));
    if (notIndexed.length) console.warn(`WARNING: off the trigram index: ${notIndexed.join(', ')}`);
    if (only === 'explain') return;

    const roster = await startRoster(benchUrl, { nodeFlags: rosterFlags, env: rosterEnv });
    const baseline = await startBaseline(benchUrl);
    try {
      console.log(`Roster server: pid ${roster.pid}, ${roster.url}; baseline (express + pg): pid ${baseline.pid}, ${baseline.url}`);
      await preflight(db, org.id, apiKey, roster.url, baseline.url, counts);
      console.log(`preflight: for each of the ${TERMS.length} terms both servers list the same members in the same order with the database's total; both refuse no key, a wrong key (401) and another organisation (404)`);

      const authorization = `Bearer ${apiKey}`;
      const paths = TERMS.map((t) => membersPath(org.id, t));
      type Server = { name: Side; url: string; pid: number };
      const sides: Server[] = [{ name: 'roster', url: roster.url, pid: roster.pid }, { name: 'baseline', url: baseline.url, pid: baseline.pid }];
      const cpu = { roster: cpuTally(), baseline: cpuTally() };
      const measure = async (side: Server, runSeconds: number, runWarmup: number, label?: string) => {
        await settle(db);
        if (label) process.stdout.write(`running ${label} (${runWarmup} s warm-up + ${runSeconds} s)... `);
        const s = await chargeCpu(cpu[side.name], side.pid, db, () => runLoad({ url: side.url, paths, authorization, seconds: runSeconds, warmupSeconds: runWarmup, connections }),
          (r) => r.okWithWarmup + r.non2xx);
        if (label) console.log(`${f0(s.rps)} req/s, p50 ${s.p50} ms, p99 ${s.p99} ms, status ${JSON.stringify(s.statusCodes)}, errors ${s.errors}`);
        checkFailures(label ?? side.name, s);
        return s;
      };

      // Unmeasured first (V8 compiles the hot paths, both pools fill), then rounds that alternate the sides and
      // the order within a round, so that drift in the machine's load falls on both alike.
      process.stdout.write(`warming up both servers (${SETTLE_SECONDS} s each, not measured)... `);
      for (const side of sides) await measure(side, SETTLE_SECONDS, 0);
      for (const c of Object.values(cpu)) Object.assign(c, cpuTally());
      console.log('done');
      const runs: Record<Side, LoadStats[]> = { roster: [], baseline: [] };
      for (let r = 0; r < rounds; r++) {
        for (const side of r % 2 === 0 ? sides : [...sides].reverse()) {
          runs[side.name].push(await measure(side, seconds / rounds, warmupSeconds, `${side.name} (round ${r + 1}/${rounds})`));
        }
      }
      await settle(db);
      const rosterStats = combineRuns(runs.roster);
      const baselineStats = combineRuns(runs.baseline);
      const ratio = rosterStats.rps / baselineStats.rps;
      const perRound = runs.roster.map((s, i) => s.rps / runs.baseline[i].rps);
      const per = (side: Side, k: 'process' | 'main' | 'postgres') => perRequest(cpu[side], k);
      const cpuPerRequest = Object.fromEntries((['roster', 'baseline'] as const).map((s) => [s, { mainThreadMicros: per(s, 'main'), processMicros: per(s, 'process'), postgresBackendsMicros: per(s, 'postgres') }]));
      const cpuTotal = { roster: per('roster', 'process') + per('roster', 'postgres'), baseline: per('baseline', 'process') + per('baseline', 'postgres') };
      const rosterHwm = roster.proc().hwm;
      const baselineHwm = baseline.proc().hwm;

      const table = [
        '| server | req/s | p50 ms | p99 ms | non-2xx/errors | CPU µs per request: event loop / process / PostgreSQL |',
        '|---|---:|---:|---:|---:|---|',
        ...(['roster', 'baseline'] as const).map((s) => {
          const st = s === 'roster' ? rosterStats : baselineStats;
          return `| ${s === 'roster' ? 'Roster (node src/main.ts)' : 'baseline (express + pg)'} | ${f0(st.rps)} | ${st.p50} | ${st.p99} | ${st.non2xx + st.errors} | ${per(s, 'main').toFixed(0)} / ${per(s, 'process').toFixed(0)} / ${per(s, 'postgres').toFixed(0)} |`;
        }),
      ].join('\n');
      const summary = [
        `Admin benchmark: GET /api/v1/orgs/{orgId}/members?search=<term>&limit=${LIMIT}, ${TERMS.length} terms in turn, ${f0(members)} members; ${connections} connections, ${rounds} rounds of ${(seconds / rounds).toFixed(1)} s per side after ${warmupSeconds} s warm-up each`,
        '',
        table,
        '',
        `ratio roster/baseline (req/s): ${f2(ratio)} (aim >= 0.7); per round ${perRound.map(f2).join(', ')}`,
        `CPU per request, server process + PostgreSQL: Roster ${f0(cpuTotal.roster)} µs, baseline ${f0(cpuTotal.baseline)} µs: baseline/Roster ${f2(cpuTotal.baseline / cpuTotal.roster)}, about the ratio where CPU is the limit (this machine: both servers, PostgreSQL and the load generator share its cores)`,
        `p50/p99: the worst round's; CPU: user + system from /proc, 10 ms ticks, warm-ups included; PostgreSQL: this database's backends during each side's runs`,
        `peak RSS (VmHWM): Roster ${mb(rosterHwm)}, baseline ${mb(baselineHwm)}`,
      ];
      console.log(`\n${summary.join('\n')}`);

      const date = new Date();
      const postgres = (await db.raw('show server_version')).rows[0].server_version as string;
      const settings = { seconds, warmupSeconds, connections, rounds, members, terms: TERMS, termCounts: counts, limit: LIMIT, rosterFlags, rosterEnv, baselineFlags: startFlags };
      mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
      const stamp = date.toISOString().slice(0, 19).replace(/[:T]/g, '-');
      const mdFile = new URL(`./results/admin-${stamp}.md`, import.meta.url);
      writeFileSync(mdFile, [
        `# bench/admin, ${date.toISOString()}`,
        '',
        `Node ${process.version}, PostgreSQL ${postgres}, 1-minute load average at start ${load.toFixed(2)}; seeding ${seedSeconds.toFixed(1)} s.`,
        `Settings: ${JSON.stringify(settings)}`,
        '',
        ...summary,
        '',
        '## Plans',
        '',
        '```',
        ...planLines,
        '```',
        '',
      ].join('\n'));
      writeFileSync(new URL('./results/admin-latest.json', import.meta.url), JSON.stringify({
        date: date.toISOString(), node: process.version, postgres, settings, seedSeconds, loadAverageAtStart: load,
        ratio, ratioRounds: perRound, cpuPerRequest, cpuRatio: cpuTotal.baseline / cpuTotal.roster, peakRssBytes: { roster: rosterHwm, baseline: baselineHwm },
        runs: { roster: rosterStats, baseline: baselineStats, rounds: runs },
        analyzePasses: passes, plans,
      }, null, 2) + '\n');
      console.log(`results written to ${fileURLToPath(mdFile)} and bench/results/admin-latest.json`);
    } finally {
      await roster.stop();
      await baseline.stop();
    }
  });
}

main().catch(reportFailure);
