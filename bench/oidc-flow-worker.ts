// The OIDC benchmark's load generator for flows that autocannon cannot express (each step depends on the
// previous answer), on its own thread as the other load workers: `connections` simulated people (or relying
// parties), each on one keep-alive connection, each doing one operation after another until the time is up:
// - signin: a full sign-in walk with a fresh browser (bench/oidc-flow.ts), people taken in turn from its share of `people`;
// - refresh: a chain of refresh grants, each with the refresh token the previous one returned (rotation on).
// Operations that end within the measured window (after the warm-up) count for req/s and latency; those in
// flight at the end are finished, not cut off (so the server's rows can be reconciled with okWithWarmup),
// but not counted. The result has load-stats.ts's LoadStats shape.
import { parentPort, workerData } from 'node:worker_threads';
import type { LoadStats } from './load-stats.ts';
import { FlowError, Http, type Person, type RelyingParty, refresh, signIn } from './oidc-flow.ts';

export type FlowJob = {
  kind: 'signin' | 'refresh';
  rp: RelyingParty;
  /** signin: who signs in (connection i takes people i, i + connections, ...) */
  people?: Person[];
  /** refresh: one chain's first refresh token per connection */
  refreshTokens?: string[];
  connections: number;
  seconds: number;
  warmupSeconds: number;
};

export type FlowStats = LoadStats & { httpRequests: number; httpRequestsPerOp: number; failures: string[] };

async function run(job: FlowJob): Promise<FlowStats> {
  const t0 = performance.now();
  const measureFrom = t0 + job.warmupSeconds * 1000;
  const end = measureFrom + job.seconds * 1000;
  const latencies: number[] = [];
  const statusCodes: Record<string, number> = {};
  const failures: string[] = [];
  let okWithWarmup = 0;
  let non2xx = 0;
  let errors = 0;
  let timeouts = 0;
  let measuredOk = 0;
  let httpRequests = 0;
  let measuredHttp = 0;
  const count = (status: number) => { statusCodes[status] = (statusCodes[status] ?? 0) + 1; };
  const failed = (err: unknown) => {
    if (failures.length < 10) failures.push(String((err as Error)?.message ?? err));
    if (err instanceof FlowError && err.status > 0) {
      non2xx++;
      count(err.status);
    } else {
      errors++;
      if (err instanceof FlowError) timeouts++;
    }
  };

  const connection = async (i: number) => {
    const http = new Http();
    try {
      let token = job.refreshTokens?.[i];
      const mine = (job.people ?? []).filter((_p, k) => k % job.connections === i);
      for (let n = 0; performance.now() < end; n++) {
        const start = performance.now();
        const before = http.requests;
        try {
          if (job.kind === 'signin') {
            await signIn(http, job.rp, mine[n % mine.length]);
            count(303); // the redirect to the relying party, with the code
          } else {
            token = (await refresh(http, job.rp, token!)).refresh_token;
            count(200);
          }
          okWithWarmup++;
          const done = performance.now();
          if (start >= measureFrom && done <= end) latencies.push(done - start);
          if (done >= measureFrom && done <= end) { measuredOk++; measuredHttp += http.requests - before; }
        } catch (err) {
          failed(err);
          // A broken refresh chain cannot go on: its token may have been used up by the failed request.
          if (job.kind === 'refresh') return;
        }
      }
    } finally {
      httpRequests += http.requests;
      http.close();
    }
  };
  if (job.kind === 'signin' && !(job.people && job.people.length >= job.connections)) throw new Error('signin: at least one person per connection');
  if (job.kind === 'refresh' && !(job.refreshTokens && job.refreshTokens.length >= job.connections)) throw new Error('refresh: one refresh token per connection');
  await Promise.all(Array.from({ length: job.connections }, (_v, i) => connection(i)));

  latencies.sort((a, b) => a - b);
  const pct = (p: number) => (latencies.length ? Math.round(latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))]) : 0);
  return {
    requests: measuredOk, rps: measuredOk / job.seconds, p50: pct(50), p99: pct(99),
    non2xx, errors, timeouts, statusCodes, okWithWarmup, wrapped: false,
    httpRequests, httpRequestsPerOp: measuredOk ? measuredHttp / measuredOk : 0, failures,
  };
}

run(workerData as FlowJob).then((stats) => parentPort!.postMessage(stats), (err) => { throw err; });
