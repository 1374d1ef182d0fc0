// The OIDC benchmark's load generator, on its own thread, as bench/load-worker.ts is for SCIM (that worker's
// request kinds are SCIM's; this one sends one fixed request, a form POST with HTTP Basic). Its result has
// load-worker.ts's LoadStats shape, aggregated the same way.
import { parentPort, workerData } from 'node:worker_threads';
import autocannon from 'autocannon';
import type { LoadStats } from './load-worker.ts';

export type FormPostJob = {
  url: string;
  path: string;
  /** the Authorization header (HTTP Basic of the client) */
  authorization: string;
  /** application/x-www-form-urlencoded body, the same for every request */
  body: string;
  seconds: number;
  warmupSeconds: number;
  connections: number;
};

type Raw = {
  totalCompletedRequests: number; duration: number; non2xx: number; errors: number; timeouts: number;
  statusCodeStats: Record<string, { count: number }>; warmup?: Raw;
};

const count2xx = (r: Raw | undefined) =>
  Object.entries(r?.statusCodeStats ?? {}).reduce((sum, [code, s]) => sum + (Number(code) >= 200 && Number(code) < 300 ? Number(s.count) : 0), 0);

async function run(job: FormPostJob): Promise<LoadStats> {
  const opts = {
    url: job.url, connections: job.connections, duration: job.seconds,
    requests: [{
      method: 'POST', path: job.path, body: job.body,
      headers: { authorization: job.authorization, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    }],
    ...(job.warmupSeconds > 0 ? { warmup: { connections: job.connections, duration: job.warmupSeconds } } : {}),
  };
  // Off the main thread autocannon skips its aggregation (it expects its own manager to do it): aggregate here.
  const raw = (await autocannon(opts)) as Raw;
  const { latency } = autocannon.aggregateResult([raw], opts) as { latency: { p50: number; p99: number } };
  const warm = raw.warmup;
  return {
    requests: raw.totalCompletedRequests, rps: raw.totalCompletedRequests / raw.duration, p50: latency.p50, p99: latency.p99,
    // The warm-up's failures count too: a benchmark that measures errors is worthless.
    non2xx: raw.non2xx + (warm?.non2xx ?? 0), errors: raw.errors + (warm?.errors ?? 0), timeouts: raw.timeouts + (warm?.timeouts ?? 0),
    statusCodes: Object.fromEntries(Object.entries(raw.statusCodeStats).map(([k, v]) => [k, Number(v.count)])),
    okWithWarmup: count2xx(raw) + count2xx(warm), wrapped: false,
  };
}

run(workerData as FormPostJob).then((stats) => parentPort!.postMessage(stats), (err) => { throw err; });
