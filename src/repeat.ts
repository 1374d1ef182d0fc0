// Periodic work on each instance (sweeping expired data, following key rotation, sending mail): one run at a
// time, on a timer, and at once when asked.
import type { Logger } from 'pino';

export type Repeating = {
  stop: () => Promise<void>;
  /** Runs the task soon, without waiting for the timer: right away, or right after the run in progress. */
  wake: () => void;
};

/**
 * Runs `task` every `everyMs` (with up to 10% jitter, so instances spread out), one run at a time; a failure
 * is logged as `failed` and tried again next time. A tick or `wake` while a run is in progress adds one run
 * after it, never more. `stop` waits for a run in progress.
 */
export function repeat(task: () => Promise<void>, opts: { everyMs: number; logger: Logger; failed: string }): Repeating {
  let running: Promise<void> = Promise.resolve();
  let pending = false;
  let stopped = false;
  const run = () => {
    if (pending || stopped) return;
    pending = true;
    running = running.then(() => {
      pending = false;
      return stopped ? undefined : task();
    }).catch((err) => opts.logger.warn({ err }, opts.failed));
  };
  const timer = setInterval(run, Math.round(opts.everyMs * (1 + Math.random() * 0.1)));
  timer.unref();
  return {
    stop: async () => {
      stopped = true;
      clearInterval(timer);
      await running;
    },
    wake: run,
  };
}
