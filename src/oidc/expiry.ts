// Periodic work of the OIDC provider on each instance: sweeping expired tokens, codes and sessions (never
// found, but their rows stay until removed; deleting is idempotent, so every instance sweeps on its own, in
// short batches), and following signing-key rotation (provider.ts).
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { endExpiredSessions } from '../directory/sessions.ts';
import { deleteExpiredThrottleCounters } from '../directory/throttle.ts';
import { deleteExpiredOidcPayloads } from '../directory/oidc-store.ts';
import { type Repeating, repeat } from '../repeat.ts';

// `repeat` moved to src/repeat.ts (the mail sender uses it too); provider.ts still takes it from here.
export { type Repeating, repeat };

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
    removed += await endExpiredSessions(deps.db);
    if (removed) deps.logger.info({ removed }, 'removed expired OIDC tokens, codes and sessions, and ended sign-in throttle windows');
  }, { everyMs: deps.everyMs ?? 10 * 60_000, logger: deps.logger, failed: 'sweeping expired OIDC data failed; trying again later' });
  return {
    stop: () => {
      stopped = true;
      return sweeping.stop();
    },
    wake: sweeping.wake,
  };
}
