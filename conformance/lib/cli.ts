// The command line of the black-box suites (conformance/scim/run.ts, conformance/admin/run.ts): --url, the
// suite's own string options (its credential...), --grep, --timeout, --verbose and --help. A bad command line
// prints the usage and exits 2; --help prints it and exits 0.
import { parseArgs } from 'node:util';
import { DEFAULT_TIMEOUT_MS } from './http.ts';

/** The usage line of the options every suite has. */
export const COMMON_USAGE = `[--grep <substring of case names>] [--timeout <ms per request, default ${DEFAULT_TIMEOUT_MS}>] [--verbose]`;

export type CommonValues = { url?: string; grep?: string; timeout?: string; verbose: boolean; help: boolean };

/**
 * Parses process.argv: the common options and the string options `own`. `required` takes what the suite
 * needs from the values (its URL, credential...), null when something is missing or wrong (then: the usage,
 * exit 2). The per-request timeout is --timeout (milliseconds), and a case's is 8 of them, at least two minutes.
 */
export function commandLine<N extends string, T>(
  usage: string,
  own: readonly N[],
  required: (values: CommonValues & Partial<Record<N, string>>) => T | null,
): { values: CommonValues & Partial<Record<N, string>>; required: T; requestTimeoutMs: number; caseTimeoutMs: number } {
  let values: CommonValues & Partial<Record<N, string>>;
  try {
    ({ values } = parseArgs({
      options: {
        url: { type: 'string' },
        ...Object.fromEntries(own.map((name) => [name, { type: 'string' as const }])),
        grep: { type: 'string' },
        timeout: { type: 'string' },
        verbose: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    }) as unknown as { values: CommonValues & Partial<Record<N, string>> });
  } catch (err) {
    console.error((err as Error).message);
    console.error(usage);
    process.exit(2);
  }

  if (values.help) {
    console.log(usage);
    process.exit(0);
  }
  const needed = required(values);
  if (needed === null) {
    console.error(usage);
    process.exit(2);
  }
  const requestTimeoutMs = values.timeout ? Number(values.timeout) : DEFAULT_TIMEOUT_MS;
  if (!Number.isFinite(requestTimeoutMs) || requestTimeoutMs <= 0) {
    console.error(`--timeout must be a positive number of milliseconds\n${usage}`);
    process.exit(2);
  }
  return { values, required: needed, requestTimeoutMs, caseTimeoutMs: Math.max(120_000, requestTimeoutMs * 8) };
}

/** The exit code of a run: 1 when a case failed. */
export function exitWith({ failed }: { failed: number }): void {
  process.exitCode = failed > 0 ? 1 : 0;
}
