// The load generator, on its own thread: autocannon here never shares an event loop with the servers it measures.
// The main thread sends a LoadJob (plain data); the request shapes are built here, since functions cannot cross threads.
import { parentPort, workerData } from 'node:worker_threads';
import autocannon from 'autocannon';

export type LoadKind = 'lookup' | 'baseline' | 'baseline-auth' | 'page' | 'create' | 'patch';

export type LoadJob = {
  kind: LoadKind;
  url: string;
  seconds: number;
  warmupSeconds: number;
  connections: number;
  token: string;
  users: number; // user1..user<users>@bench.test exist
  groupId?: string; // patch: the group to add members to
  spareIds?: string[]; // patch: members in no group, each added once
  tag?: string; // create: makes this run's userNames unique
};

export type LoadStats = {
  requests: number; rps: number; p50: number; p99: number;
  non2xx: number; errors: number; timeouts: number; statusCodes: Record<string, number>;
  /** warm-up and measured responses with a 2xx status, to reconcile with the database afterwards */
  okWithWarmup: number; wrapped: boolean;
};

const rand = (max: number) => 1 + Math.floor(Math.random() * max); // 1..max

function requestsFor(job: LoadJob, state: { wrapped: boolean }): object[] {
  const scim = { 'content-type': 'application/scim+json', authorization: `Bearer ${job.token}` };
  switch (job.kind) {
    case 'lookup':
      return [{ method: 'GET', headers: scim, setupRequest: (r: { path: string }) => ({ ...r, path: `/scim/v2/Users?filter=${encodeURIComponent(`userName eq "user${rand(job.users)}@bench.test"`)}` }) }];
    case 'baseline':
      return [{ method: 'GET', setupRequest: (r: { path: string }) => ({ ...r, path: `/lookup?userName=${encodeURIComponent(`user${rand(job.users)}@bench.test`)}` }) }];
    case 'baseline-auth':
      return [{ method: 'GET', headers: { authorization: `Bearer ${job.token}` }, setupRequest: (r: { path: string }) => ({ ...r, path: `/auth/lookup?userName=${encodeURIComponent(`user${rand(job.users)}@bench.test`)}` }) }];
    case 'page':
      return [{ method: 'GET', headers: scim, setupRequest: (r: { path: string }) => ({ ...r, path: `/scim/v2/Users?startIndex=${rand(99_900)}&count=100` }) }];
    case 'create': {
      let n = 0;
      return [{
        method: 'POST', path: '/scim/v2/Users', headers: scim,
        setupRequest: (r: object) => {
          const email = `new-${job.tag}-${++n}@bench.test`;
          return { ...r, body: JSON.stringify({
            schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: email,
            name: { givenName: 'New', familyName: `User${n}` }, emails: [{ value: email, type: 'work', primary: true }],
          }) };
        },
      }];
    }
    case 'patch': {
      const spares = job.spareIds!;
      let i = 0;
      return [{
        method: 'PATCH', path: `/scim/v2/Groups/${job.groupId}`, headers: scim,
        setupRequest: (r: object) => {
          if (i >= spares.length) state.wrapped = true;
          const id = spares[i++ % spares.length];
          return { ...r, body: JSON.stringify({
            schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
            Operations: [{ op: 'add', path: 'members', value: [{ value: id }] }],
          }) };
        },
      }];
    }
  }
}

type Raw = {
  totalCompletedRequests: number; duration: number; non2xx: number; errors: number; timeouts: number;
  statusCodeStats: Record<string, { count: number }>; warmup?: Raw;
};

const count = (r: Raw | undefined, pick: (status: number) => boolean) =>
  Object.entries(r?.statusCodeStats ?? {}).reduce((sum, [code, s]) => sum + (pick(Number(code)) ? Number(s.count) : 0), 0);
const is2xx = (s: number) => s >= 200 && s < 300;

async function run(job: LoadJob): Promise<LoadStats> {
  const state = { wrapped: false };
  const opts = {
    url: job.url, connections: job.connections, duration: job.seconds, requests: requestsFor(job, state),
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
    okWithWarmup: count(raw, is2xx) + count(warm, is2xx), wrapped: state.wrapped,
  };
}

run(workerData as LoadJob).then((stats) => parentPort!.postMessage(stats), (err) => { throw err; });
