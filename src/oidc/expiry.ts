// Periodic work of the OIDC provider on each instance: sweeping expired tokens, codes and sessions (never
// found, but their rows stay until removed; deleting is idempotent, so every instance sweeps on its own, in
// short batches), and following signing-key rotation (provider.ts).
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { deleteExpiredThrottleCounters } from '../directory/throttle.ts';
import { deleteExpiredOidcPayloads } from '../directory/oidc-store.ts';

export type Repeating = { stop: () => Promise<void> };

/**
 * Runs `task` every `everyMs` (with up to 10% jitter, so instances spread out), one run at a time; a failure
 * is logged as `failed` and tried again next time. `stop` waits for a run in progress.
 */
export function repeat(task: () => Promise<void>, opts: { everyMs: number; logger: Logger; failed: string }): Repeating {
  let running: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    running = running.then(task).catch((err) => opts.logger.warn({ err }, opts.failed));
  }, Math.round(opts.everyMs * (1 + Math.random() * 0.1)));
  timer.unref();
  return {
    stop: async () => {
      clearInterval(timer);
      await running;
    },
  };
}

/** Sweeps every `everyMs` (default 10 minutes). */
export function startExpirySweeper(deps: { db: Knex; logger: Logger; everyMs?: number; batch?: number }): Repeating {
  let stopped = false;
  const sweeping = repeat(async () => {
    let removed = 0;
    for (let n = -1; n !== 0 && !stopped; ) {
      n = await deleteExpiredOidcPayloads(deps.db, { batch: deps.batch });
      removed += n;
    }
    removed += await deleteExpiredThrottleCounters(deps.db);
    if (removed) deps.logger.info({ removed }, 'removed expired OIDC tokens, codes and sessions, and ended sign-in throttle windows');
  }, { everyMs: deps.everyMs ?? 10 * 60_000, logger: deps.logger, failed: 'sweeping expired OIDC data failed; trying again later' });
  return {
    stop: () => {
      stopped = true;
      return sweeping.stop();
    },
  };
}
