// The Roster server's memory over a benchmark: the kernel's RSS (/proc/<pid>/status, every 200 ms) and the server's
// own process.memoryUsage() (over IPC, every second, and at chosen moments), in named phases.
import type { ProbeReport } from './memory-probe.ts';
import type { ProcMemory, RosterChild } from './roster-child.ts';

export type MemorySample = {
  when: string;
  rss: number; rssAnon: number; rssFile: number;
  heapUsed: number; heapTotal: number; external: number; arrayBuffers: number;
};

const sampleOf = (when: string, proc: ProcMemory, r: ProbeReport): MemorySample => ({
  when, rss: proc.rss, rssAnon: proc.rssAnon, rssFile: proc.rssFile,
  heapUsed: r.memory.heapUsed, heapTotal: r.memory.heapTotal, external: r.memory.external, arrayBuffers: r.memory.arrayBuffers,
});

const maxOf = (when: string, samples: MemorySample[]): MemorySample => {
  const max = (f: (s: MemorySample) => number) => Math.max(...samples.map(f));
  return {
    when, rss: max((s) => s.rss), rssAnon: max((s) => s.rssAnon), rssFile: max((s) => s.rssFile),
    heapUsed: max((s) => s.heapUsed), heapTotal: max((s) => s.heapTotal), external: max((s) => s.external), arrayBuffers: max((s) => s.arrayBuffers),
  };
};

export class MemoryWatch {
  readonly samples: MemorySample[] = [];
  last?: ProbeReport;
  /** The probe that saw the largest V8 heap in a sampled phase. */
  largestHeap?: ProbeReport;
  private readonly server: RosterChild;
  private running?: { name: string; proc: ProcMemory[]; probes: ProbeReport[]; timers: NodeJS.Timeout[] };

  constructor(server: RosterChild) {
    this.server = server;
  }

  /** One sample now; `gc` runs a full collection in the server first (only to tell live heap from garbage). */
  async snapshot(when: string, gc = false): Promise<MemorySample> {
    const report = await this.server.probe(gc ? 'gc' : 'report');
    this.last = report;
    const s = sampleOf(when, this.server.proc(), report);
    this.samples.push(s);
    return s;
  }

  /** Samples until `stop`, which records the maxima of the phase as one row. */
  start(name: string): void {
    const run = { name, proc: [] as ProcMemory[], probes: [] as ProbeReport[], timers: [] as NodeJS.Timeout[] };
    run.timers.push(setInterval(() => { try { run.proc.push(this.server.proc()); } catch { /* exited */ } }, 200));
    run.timers.push(setInterval(() => { this.server.probe().then((r) => run.probes.push(r), () => {}); }, 1000));
    this.running = run;
  }

  async stop(): Promise<MemorySample | undefined> {
    const run = this.running;
    if (!run) return undefined;
    this.running = undefined;
    for (const t of run.timers) clearInterval(t);
    if (run.probes.length === 0 || run.proc.length === 0) return undefined;
    for (const r of run.probes) if (!this.largestHeap || r.memory.heapTotal > this.largestHeap.memory.heapTotal) this.largestHeap = r;
    const rows = run.probes.map((r, i) => sampleOf(run.name, run.proc[Math.min(i, run.proc.length - 1)], r));
    // The RSS maxima come from the frequent /proc samples, the heap maxima from the probes.
    const procMax = { rss: Math.max(...run.proc.map((p) => p.rss)), rssAnon: Math.max(...run.proc.map((p) => p.rssAnon)), rssFile: Math.max(...run.proc.map((p) => p.rssFile)) };
    const s = { ...maxOf(run.name, rows), ...procMax };
    this.samples.push(s);
    return s;
  }
}

export function formatMemory(samples: MemorySample[]): string {
  const m = (b: number) => (b / 1024 / 1024).toFixed(0);
  const head = ['Roster server', 'rss MB', 'anon MB', 'file MB', 'heap used MB', 'heap total MB', 'external MB'];
  const body = samples.map((s) => [s.when, m(s.rss), m(s.rssAnon), m(s.rssFile), m(s.heapUsed), m(s.heapTotal), m(s.external)]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => '| ' + cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ') + ' |';
  return [line(head), '|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|', ...body.map(line)].join('\n');
}

/** "new_space 16/32, old_space 40/48, ...": each V8 heap space's used / reserved MB, largest first. */
export function formatHeapSpaces(r: ProbeReport): string {
  const m = (b: number) => (b / 1024 / 1024).toFixed(0);
  return Object.entries(r.heapSpaces).filter(([, s]) => s.size >= 512 * 1024).sort(([, a], [, b]) => b.size - a.size)
    .map(([name, s]) => `${name} ${m(s.used)}/${m(s.size)}`).join(', ');
}
