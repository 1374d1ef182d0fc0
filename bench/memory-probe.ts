// Loaded with `node --import ./bench/memory-probe.ts src/main.ts` by the SCIM benchmark: the server's own view of its
// memory, asked over the IPC channel, and the modules it loaded (to tell whether PGlite came in).
// It adds a resolve hook (startup only) and a message listener; it changes nothing in the server.
// BENCH_STUB_PGLITE=1 replaces `knex-pglite` by an empty class, to measure the server as it would be if the
// embedded database were only imported when used (the server on PostgreSQL never calls it).
import { registerHooks } from 'node:module';
import { getHeapSpaceStatistics } from 'node:v8';

const modules = new Set<string>();
const stubPglite = process.env.BENCH_STUB_PGLITE === '1';

registerHooks({
  resolve(specifier, context, nextResolve) {
    if (stubPglite && specifier === 'knex-pglite') {
      return { url: 'data:text/javascript,export default class ClientPgLiteStub {}', format: 'module', shortCircuit: true };
    }
    const resolved = nextResolve(specifier, context);
    modules.add(resolved.url);
    return resolved;
  },
});

export type ProbeReport = {
  memory: NodeJS.MemoryUsage;
  heapSpaces: Record<string, { used: number; size: number }>; // V8 heap space -> bytes used, bytes reserved
  modules: number;
  packages: string[]; // node_modules packages loaded
  pgliteLoaded: boolean;
  pgliteStubbed: boolean;
};

function report(): ProbeReport {
  const packages = new Set<string>();
  for (const url of modules) {
    const m = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
    if (m) packages.add(m[1]);
  }
  return {
    memory: process.memoryUsage(),
    heapSpaces: Object.fromEntries(getHeapSpaceStatistics().map((s) => [s.space_name, { used: s.space_used_size, size: s.space_size }])),
    modules: modules.size,
    packages: [...packages].sort(),
    pgliteLoaded: packages.has('@electric-sql/pglite'),
    pgliteStubbed: stubPglite,
  };
}

process.on('message', (m: { probe?: 'report' | 'gc'; id?: number }) => {
  if (m?.probe === 'gc') (globalThis as { gc?: () => void }).gc?.();
  if (m?.probe) process.send!({ probeReply: m.id, report: report() });
});
// The IPC channel must not keep a server that is shutting down alive.
process.channel?.unref();
