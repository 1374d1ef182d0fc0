// Housekeeping of the provider's storage: expired tokens, codes and sessions are never found, but their rows
// stay until removed. Every instance sweeps on its own (deleting is idempotent), in short batches.
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { deleteExpiredOidcPayloads } from '../directory/oidc-store.ts';

export type Sweeper = { stop: () => Promise<void> };

/** Sweeps every `everyMs` (default 10 minutes, with up to 10% jitter so instances spread out). */
export function startExpirySweeper(deps: { db: Knex; logger: Logger; everyMs?: number; batch?: number }): Sweeper {
  const every = deps.everyMs ?? 10 * 60_000;
  let running: Promise<void> = Promise.resolve();
  let stopped = false;
  const sweep = async () => {
    let removed = 0;
    for (let n = -1; n !== 0 && !stopped; ) {
      n = await deleteExpiredOidcPayloads(deps.db, { batch: deps.batch });
      removed += n;
    }
    if (removed) deps.logger.info({ removed }, 'removed expired OIDC tokens, codes and sessions');
  };
  const timer = setInterval(() => {
    running = running.then(sweep).catch((err) => deps.logger.warn({ err }, 'sweeping expired OIDC data failed; trying again later'));
  }, Math.round(every * (1 + Math.random() * 0.1)));
  timer.unref();
  return {
    stop: async () => {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
