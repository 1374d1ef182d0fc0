// The load generator, on its own thread: autocannon here never shares an event loop with the servers it measures.
// The main thread sends a LoadJob (plain data); the request shapes are built here, since functions cannot cross threads.
import { parentPort, workerData } from 'node:worker_threads';
import { type LoadStats, loadRun } from './load-stats.ts';

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

export type { LoadStats } from './load-stats.ts';

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


async function run(job: LoadJob): Promise<LoadStats> {
  const state = { wrapped: false };
  const opts = {
    url: job.url, connections: job.connections, duration: job.seconds, requests: requestsFor(job, state),
    ...(job.warmupSeconds > 0 ? { warmup: { connections: job.connections, duration: job.warmupSeconds } } : {}),
  };
  return loadRun(opts, () => state.wrapped);
}

run(workerData as LoadJob).then((stats) => parentPort!.postMessage(stats), (err) => { throw err; });
