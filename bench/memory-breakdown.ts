// Where a Roster server's memory goes before it serves anything: the RSS of a fresh `node` that only imports one
// dependency (or the whole server's module graph), after a full GC, each beside a `node` that imports nothing.
// node bench/memory-breakdown.ts   (about 10 s; not part of npm test). See bench/README.md.
// `tokens.ts` imports only node:crypto: what it adds is Node's TypeScript type stripping, which Roster's .ts
// sources need.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const REPEAT = 3;

type Case = { name: string; code: string; stubPglite?: boolean };

const cases: Case[] = [
  { name: 'node, nothing imported', code: '' },
  { name: 'one small .ts file (type stripping)', code: `await import('./src/directory/tokens.ts');` },
  { name: 'express', code: `await import('express');` },
  { name: 'helmet', code: `await import('helmet');` },
  { name: 'pino + pino-http', code: `await import('pino'); await import('pino-http');` },
  { name: 'prom-client, default metrics registered', code: `const p = await import('prom-client'); p.collectDefaultMetrics({ register: new p.Registry() });` },
  { name: 'zod', code: `await import('zod');` },
  { name: 'knex + pg', code: `await import('knex'); await import('pg');` },
  { name: 'knex-pglite (and @electric-sql/pglite)', code: `await import('knex-pglite');` },
  { name: 'argon2', code: `await import('argon2');` },
  { name: "the server's modules (src/main.ts's imports)", code: `await import('./src/config.ts'); await import('./src/db.ts'); await import('./src/http/app.ts');` },
  { name: "the server's modules, knex-pglite stubbed out", code: `await import('./src/config.ts'); await import('./src/db.ts'); await import('./src/http/app.ts');`, stubPglite: true },
];

const report = `globalThis.gc(); globalThis.gc();
const s = (await import('node:fs')).readFileSync('/proc/self/status', 'utf8');
const kb = (f) => Number(new RegExp('^' + f + ':\\\\s+(\\\\d+) kB', 'm').exec(s)[1]) * 1024;
const m = process.memoryUsage();
console.log(JSON.stringify({ rss: kb('VmRSS'), anon: kb('RssAnon'), file: kb('RssFile') + kb('RssShmem'), heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external }));`;

type Measured = { rss: number; anon: number; file: number; heapUsed: number; heapTotal: number; external: number };

function measure(c: Case): Measured {
  const args = ['--expose-gc', ...(c.stubPglite ? ['--import', './bench/memory-probe.ts'] : []), '--input-type=module', '-e', `${c.code}\n${report}`];
  const runs: Measured[] = [];
  for (let i = 0; i < REPEAT; i++) {
    const r = spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8', env: { PATH: process.env.PATH, ...(c.stubPglite ? { BENCH_STUB_PGLITE: '1' } : {}) } });
    if (r.status !== 0) throw new Error(`${c.name}: exit ${r.status}\n${r.stderr}`);
    runs.push(JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Measured);
  }
  // The median run by RSS.
  return runs.sort((a, b) => a.rss - b.rss)[Math.floor(REPEAT / 2)];
}

const m = (b: number) => (b / 1024 / 1024).toFixed(1);
const results = cases.map((c) => ({ c, r: measure(c) }));
const base = results[0].r;
const head = ['imported', 'rss MB', '+rss MB', 'anon MB', 'file MB', 'heap used MB', 'heap total MB', 'external MB'];
const body = results.map(({ c, r }) => [c.name, m(r.rss), m(r.rss - base.rss), m(r.anon), m(r.file), m(r.heapUsed), m(r.heapTotal), m(r.external)]);
const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
const line = (cells: string[]) => '| ' + cells.map((x, i) => (i === 0 ? x.padEnd(widths[i]) : x.padStart(widths[i]))).join(' | ') + ' |';
console.log(`Node ${process.version}, after two full GCs, median of ${REPEAT} fresh processes; +rss is over a node that imports nothing\n`);
console.log([line(head), '|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|', ...body.map(line)].join('\n'));
