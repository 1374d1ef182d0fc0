// Roster as its own process (`node src/main.ts`, the production entry point) for the benchmark, so that its memory
// is measured alone: the bench's seeding client, baseline servers and load-generator thread live elsewhere.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { ProbeReport } from './memory-probe.ts';

/** The kernel's view of a process: /proc/<pid>/status, in bytes. */
export type ProcMemory = { rss: number; rssAnon: number; rssFile: number; hwm: number };

export function procMemory(pid: number): ProcMemory {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { rss: kb('VmRSS'), rssAnon: kb('RssAnon'), rssFile: kb('RssFile') + kb('RssShmem'), hwm: kb('VmHWM') };
}

/**
 * CPU time used (user + system), in microseconds, from /proc (clock ticks, 100 per second): the whole process,
 * or with `mainThread` only its main thread (the JavaScript event loop; not V8's GC helpers or a worker).
 */
export function procCpuMicros(pid: number, mainThread = false): number {
  const fields = readFileSync(mainThread ? `/proc/${pid}/task/${pid}/stat` : `/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10_000; // utime, stime (fields 14 and 15 of stat)
}

export type RosterChild = {
  url: string;
  pid: number;
  /** The server's process.memoryUsage(), V8 heap spaces and loaded packages; `gc` first runs a full collection. */
  probe: (what?: 'report' | 'gc') => Promise<ProbeReport>;
  proc: () => ProcMemory;
  /** CPU time of the whole server process, or of its main thread only. */
  cpuMicros: (mainThread?: boolean) => number;
  stop: () => Promise<void>;
};

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const root = fileURLToPath(new URL('..', import.meta.url));

/**
 * Starts `node --expose-gc --import ./bench/memory-probe.ts src/main.ts` on a free loopback port against
 * `databaseUrl` (already migrated), LOG_LEVEL=warn (so no per-request log lines), and waits for /healthz.
 * --expose-gc only lets the probe force a collection on request; nothing else calls it. `nodeFlags` go before
 * it (BENCH_ROSTER_FLAGS, e.g. V8 heap sizes, to try what a deployment could set). `secret`: the server's SECRET
 * (random when absent); a second server on the same database needs the first one's (it seals the signing keys).
 * `env`: more environment for the server (BENCH_ROSTER_ENV, e.g. MALLOC_ARENA_MAX=1, to try what a deployment could set).
 */
export async function startRoster(databaseUrl: string, opts: { stubPglite?: boolean; nodeFlags?: string[]; secret?: string; env?: Record<string, string> } = {}): Promise<RosterChild> {
  const port = await freePort();
  const child: ChildProcess = spawn(process.execPath, [...(opts.nodeFlags ?? []), '--expose-gc', '--import', './bench/memory-probe.ts', 'src/main.ts'], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    env: {
      PATH: process.env.PATH, NODE_ENV: 'production', DATABASE_URL: databaseUrl, PORT: String(port), LOG_LEVEL: 'warn',
      SECRET: opts.secret ?? randomBytes(32).toString('base64url'), DATA_DIR: tmpdir(), ISSUER: `http://127.0.0.1:${port}`,
      ...(opts.stubPglite ? { BENCH_STUB_PGLITE: '1' } : {}),
      ...opts.env,
    },
  });
  const prefix = (chunk: Buffer) => chunk.toString().split('\n').filter(Boolean).map((l) => `[roster] ${l}\n`).join('');
  child.stdout!.on('data', (c: Buffer) => process.stderr.write(prefix(c)));
  child.stderr!.on('data', (c: Buffer) => process.stderr.write(prefix(c)));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let exitCode: number | null | undefined;
  void exited.then((code) => { exitCode = code; });

  const pending = new Map<number, (r: ProbeReport) => void>();
  let nextId = 0;
  child.on('message', (m: { probeReply?: number; report?: ProbeReport }) => {
    if (m.probeReply !== undefined) pending.get(m.probeReply)?.(m.report!);
    pending.delete(m.probeReply!);
  });
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (exitCode !== undefined) return;
    child.kill('SIGTERM');
    const killed = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(killed);
  };

  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exitCode !== undefined) throw new Error(`the Roster server exited with code ${exitCode} before it answered`);
    try {
      if ((await fetch(`${url}/healthz`)).ok) break;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) {
      await stop();
      throw new Error('the Roster server did not answer /healthz within 60 s');
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    url,
    pid: child.pid!,
    probe: (what = 'report') => new Promise<ProbeReport>((resolve, reject) => {
      const id = nextId++;
      const timer = setTimeout(() => { pending.delete(id); reject(new Error('the Roster server did not answer the memory probe')); }, 10_000);
      pending.set(id, (r) => { clearTimeout(timer); resolve(r); });
      child.send({ probe: what, id });
    }),
    proc: () => procMemory(child.pid!),
    cpuMicros: (mainThread = false) => procCpuMicros(child.pid!, mainThread),
    stop,
  };
}
