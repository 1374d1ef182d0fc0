// The OIDC benchmark's load generator, on its own thread, as bench/load-worker.ts is for SCIM (that worker's
// request kinds are SCIM's; this one sends one fixed request, a form POST with HTTP Basic). Its result has
// load-worker.ts's LoadStats shape, aggregated the same way.
import { parentPort, workerData } from 'node:worker_threads';
import { type LoadStats, loadRun } from './load-stats.ts';

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

async function run(job: FormPostJob): Promise<LoadStats> {
  return loadRun({
    url: job.url, connections: job.connections, duration: job.seconds,
    requests: [{
      method: 'POST', path: job.path, body: job.body,
      headers: { authorization: job.authorization, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    }],
    ...(job.warmupSeconds > 0 ? { warmup: { connections: job.connections, duration: job.warmupSeconds } } : {}),
  });
}

run(workerData as FormPostJob).then((stats) => parentPort!.postMessage(stats), (err) => { throw err; });
