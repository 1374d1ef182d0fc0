// The sign-in benchmark's baseline, as its own process (`node bench/argon2-baseline-child.ts`, with the node
// flags of `npm start` and, as the Roster server, libuv's default pool of 4 threads, on which argon2 runs):
// nothing but `argon2.verify` of the right password against a stored hash, `concurrency` verifications at a
// time, back to back, for a time. The bench sends it the hash of a bench user (the same row Roster verifies
// against, so the same cost) over the IPC channel: { run: Argon2Job, id } -> { id, stats } or { id, error }.
import argon2 from 'argon2';
import type { LoadStats } from './load-stats.ts';

export type Argon2Job = { hash: string; password: string; concurrency: number; seconds: number; warmupSeconds: number };

if (!process.send) throw new Error('start me from bench/oidc.ts (an IPC channel)');

async function run(job: Argon2Job): Promise<LoadStats> {
  // The hash must verify (and a wrong password must not), or the baseline would measure a refusal.
  if (!(await argon2.verify(job.hash, job.password)) || (await argon2.verify(job.hash, `${job.password}x`))) {
    throw new Error('the hash does not verify its password');
  }
  const t0 = performance.now();
  const measureFrom = t0 + job.warmupSeconds * 1000;
  const end = measureFrom + job.seconds * 1000;
  const latencies: number[] = [];
  let ok = 0;
  let measured = 0;
  let failed = 0;
  const worker = async () => {
    while (performance.now() < end) {
      const start = performance.now();
      if (await argon2.verify(job.hash, job.password)) ok++;
      else failed++;
      const done = performance.now();
      if (start >= measureFrom && done <= end) latencies.push(done - start);
      if (done >= measureFrom && done <= end) measured++;
    }
  };
  await Promise.all(Array.from({ length: job.concurrency }, worker));
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => (latencies.length ? Math.round(latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))]) : 0);
  return {
    requests: measured, rps: measured / job.seconds, p50: pct(50), p99: pct(99), non2xx: failed, errors: 0, timeouts: 0,
    statusCodes: { true: ok, ...(failed ? { false: failed } : {}) }, okWithWarmup: ok, wrapped: false,
  };
}

process.on('message', (m: { run: Argon2Job; id: number }) => {
  run(m.run).then((stats) => process.send!({ id: m.id, stats }), (err: Error) => process.send!({ id: m.id, error: String(err?.stack ?? err) }));
});
process.send({ ready: true });
process.on('SIGTERM', () => process.exit(0));
