// Where a server's CPU went, from a V8 .cpuprofile: self time by package (or source file) and the inclusive time of
// frames matching a pattern, both as shares of the busy (non-idle) time.
// BENCH_ROSTER_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/roster-prof" BENCH_ONLY=lookup npm run bench:scim
// node bench/cpu-profile-summary.ts /tmp/roster-prof/CPU.*.cpuprofile ['src/|pino-http|helmet']
// Inclusive times cover only the synchronous part of a call (async continuations start a new stack).
import { readFileSync } from 'node:fs';

type Frame = { functionName: string; url: string; lineNumber: number };
type Node = { id: number; callFrame: Frame; children?: number[] };
const [file, pattern] = process.argv.slice(2);
if (!file) throw new Error('usage: node bench/cpu-profile-summary.ts <file.cpuprofile> [frame pattern]');
const profile = JSON.parse(readFileSync(file, 'utf8')) as { nodes: Node[]; samples: number[]; timeDeltas: number[] };

const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const self = new Map<number, number>();
profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));

const where = (f: Frame) => {
  if (!f.url) return `(${f.functionName || 'native'})`;
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(f.url);
  if (pkg) return pkg[1];
  if (f.url.startsWith('node:')) return f.url.startsWith('node:internal/') ? `node:internal/${f.url.split('/')[1]}` : f.url;
  return f.url.replace(/^.*\/(src|bench|migrations)\//, '$1/');
};
const frameKey = (f: Frame) => `${f.functionName || '(anonymous)'} ${where(f)}:${f.lineNumber + 1}`;

let busy = 0;
const byPlace = new Map<string, number>();
const inclusive = new Map<string, number>();
const re = new RegExp(pattern ?? 'src/');
for (const [id, t] of self) {
  const frame = byId.get(id)!.callFrame;
  if (frame.functionName === '(idle)') continue;
  busy += t;
  byPlace.set(where(frame), (byPlace.get(where(frame)) ?? 0) + t);
  const seen = new Set<string>();
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
    const k = frameKey(byId.get(cur)!.callFrame);
    if (!seen.has(k) && re.test(k)) { seen.add(k); inclusive.set(k, (inclusive.get(k) ?? 0) + t); }
  }
}
const top = (m: Map<string, number>, n: number) => [...m].sort((a, b) => b[1] - a[1]).slice(0, n)
  .map(([k, t]) => `${((100 * t) / busy).toFixed(1).padStart(5)}%  ${k}`).join('\n');
console.log(`busy ${(busy / 1e6).toFixed(1)} s\n\nself time by place:\n${top(byPlace, 25)}\n\ninclusive time of frames matching /${re.source}/:\n${top(inclusive, 30)}`);
