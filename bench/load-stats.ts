// What a load run measured, in one shape for every benchmark: autocannon's raw result aggregated (off the main
// thread autocannon skips its aggregation), and several rounds of one benchmark combined into one.
import autocannon from 'autocannon';

export type LoadStats = {
  requests: number; rps: number; p50: number; p99: number;
  non2xx: number; errors: number; timeouts: number; statusCodes: Record<string, number>;
  /** warm-up and measured responses with a 2xx status, to reconcile with the database afterwards */
  okWithWarmup: number; wrapped: boolean;
};

export type Raw = {
  totalCompletedRequests: number; duration: number; non2xx: number; errors: number; timeouts: number;
  statusCodeStats: Record<string, { count: number }>; warmup?: Raw;
};

const count2xx = (r: Raw | undefined) =>
  Object.entries(r?.statusCodeStats ?? {}).reduce((sum, [code, s]) => sum + (Number(code) >= 200 && Number(code) < 300 ? Number(s.count) : 0), 0);

/** Runs autocannon with `opts` (on a worker thread) and returns its statistics. */
export async function loadRun(opts: object, wrapped: () => boolean = () => false): Promise<LoadStats> {
  type Options = Parameters<typeof autocannon>[0];
  const raw = (await autocannon(opts as Options)) as unknown as Raw;
  const { latency } = autocannon.aggregateResult([raw as never], opts as Options) as unknown as { latency: { p50: number; p99: number } };
  const warm = raw.warmup;
  return {
    requests: raw.totalCompletedRequests, rps: raw.totalCompletedRequests / raw.duration, p50: latency.p50, p99: latency.p99,
    // The warm-up's failures count too: a benchmark that measures errors is worthless.
    non2xx: raw.non2xx + (warm?.non2xx ?? 0), errors: raw.errors + (warm?.errors ?? 0), timeouts: raw.timeouts + (warm?.timeouts ?? 0),
    statusCodes: Object.fromEntries(Object.entries(raw.statusCodeStats).map(([k, v]) => [k, Number(v.count)])),
    okWithWarmup: count2xx(raw) + count2xx(warm), wrapped: wrapped(),
  };
}

/** Several rounds of one benchmark as one: requests add up, req/s the mean of the rounds, the worst p50 and p99. */
export function combineRuns(runs: LoadStats[]): LoadStats {
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
