// The admin benchmark's load generator, on its own thread, as bench/load-worker.ts is for SCIM: GET requests
// with a bearer token whose path rotates over a list (the members list, one search term after the other, the
// same sequence for Roster and the baseline). Its result has load-worker.ts's LoadStats shape.
import { parentPort, workerData } from 'node:worker_threads';
import { type LoadStats, loadRun } from './load-stats.ts';

export type RotatingGetJob = {
  url: string;
  /** request paths, sent in turn (request i gets paths[i % paths.length]) */
  paths: string[];
  /** the Authorization header */
  authorization: string;
  seconds: number;
  warmupSeconds: number;
  connections: number;
};

async function run(job: RotatingGetJob): Promise<LoadStats> {
  let i = 0;
  return loadRun({
    url: job.url, connections: job.connections, duration: job.seconds,
    requests: [{
      method: 'GET', headers: { authorization: job.authorization, accept: 'application/json' },
      setupRequest: (r: { path: string }) => ({ ...r, path: job.paths[i++ % job.paths.length] }),
    }],
    ...(job.warmupSeconds > 0 ? { warmup: { connections: job.connections, duration: job.warmupSeconds } } : {}),
  });
}

run(workerData as RotatingGetJob).then((stats) => parentPort!.postMessage(stats), (err) => { throw err; });
