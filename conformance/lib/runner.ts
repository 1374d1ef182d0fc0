// Minimal sequential test runner of the black-box suites: suite.test(name, fn) registers a case;
// suite.run() executes them in order, prints "ok - name" (or "ok - name # SKIP reason") / "not ok - name:
// reason" per case, then "N passed, N failed", and returns the tallies. What a case gets (its Ctx) and how
// what it made is undone afterwards (in a finally, also when it failed) is the suite's: see `start`.

export type CaseFn<C> = (ctx: C) => Promise<void>;

/** What `start` makes for one case: its context, and the undoing of what it made (a reason when some of it could not be undone, else null). */
export interface CaseRun<C> {
  ctx: C;
  cleanup(): Promise<string | null>;
}

export interface RunOptions {
  /** The suite's base URL. */
  url: string;
  requestTimeoutMs: number;
  /** Only the cases whose name contains this (case-insensitive). */
  grep?: string;
  caseTimeoutMs: number;
  /** Also print the stack of a failure ("#   ..." lines). */
  verbose: boolean;
  log: (line: string) => void;
}

/** What every suite's context has. */
export interface BaseCtx {
  /** Unique prefix of this case ("<runId>-<n>"); what the case makes is named with it. */
  scope: string;
  /** A fresh name under the case scope: "<scope>-<label>". */
  name(label?: string): string;
  /** End the case as passed-with-a-note ("ok - name # SKIP reason"). */
  skip(reason: string): never;
}

class Skip extends Error {}

/** Ends the case as passed-with-a-note ("ok - name # SKIP reason"): a Ctx's skip(). */
export function skip(reason: string): never {
  throw new Skip(reason);
}

export class Suite<C extends BaseCtx> {
  private readonly cases: { name: string; fn: CaseFn<C> }[] = [];

  /** Registers a case (names are unique). */
  readonly test = (name: string, fn: CaseFn<C>): void => {
    if (this.cases.some((c) => c.name === name)) throw new Error(`duplicate case name: ${name}`);
    this.cases.push({ name, fn });
  };

  /**
   * Runs the selected cases one after the other; `start(scope)` makes each one's context, `scope` being
   * "<runId>-<n>" (the n-th case run), the prefix of everything the case makes.
   */
  async run(runId: string, opts: RunOptions, start: (scope: string) => CaseRun<C>): Promise<{ passed: number; failed: number }> {
    const selected = this.cases.filter((c) => !opts.grep || c.name.toLowerCase().includes(opts.grep.toLowerCase()));
    if (selected.length === 0) console.error(`no case name contains "${opts.grep}"`);
    let passed = 0;
    let failed = 0;
    let index = 0;
    for (const tc of selected) {
      index += 1;
      const { ctx, cleanup } = start(`${runId}-${index}`);
      let error: unknown = null;
      let skipped: string | null = null;
      try {
        await withTimeout(tc.fn(ctx), opts.caseTimeoutMs);
      } catch (err) {
        if (err instanceof Skip) skipped = err.message;
        else error = err;
      } finally {
        const cleanupError = await cleanup();
        if (error === null && cleanupError !== null) error = new Error(`cleanup: ${cleanupError}`);
      }

      if (error === null) {
        passed += 1;
        opts.log(skipped === null ? `ok - ${tc.name}` : `ok - ${tc.name} # SKIP ${oneLine(skipped)}`);
      } else {
        failed += 1;
        opts.log(`not ok - ${tc.name}: ${oneLine(reasonOf(error))}`);
        if (opts.verbose && error instanceof Error && error.stack) {
          for (const line of error.stack.split('\n')) opts.log(`#   ${line}`);
        }
      }
    }
    opts.log(`${passed} passed, ${failed} failed`);
    return { passed, failed };
  }
}

/**
 * Fresh names under a case's scope: name('x') is "<scope>-x", email('x') "<scope>-x@example.com"; without a
 * label, "x1", "x2"... (one count for both).
 */
export function scoped(scope: string): { name(label?: string): string; email(label?: string): string } {
  let counter = 0;
  const label = (l?: string): string => l ?? `x${++counter}`;
  return { name: (l) => `${scope}-${label(l)}`, email: (l) => `${scope}-${label(l)}@example.com` };
}

/** A value fetched once per run, on first use (and again after a failure). */
export function once<T>(fetch: () => Promise<T>): () => Promise<T> {
  let cache: Promise<T> | null = null;
  return () => {
    cache ??= fetch();
    cache.catch(() => { cache = null; });
    return cache;
  };
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`case timed out after ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

export function reasonOf(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}

function oneLine(s: string): string {
  const flat = s.replace(/\s*\n\s*/g, ' ').trim();
  return flat.length > 700 ? `${flat.slice(0, 700)}…` : flat;
}
