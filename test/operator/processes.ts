// Helpers for tests that run the real server and CLI as processes: spawning, waiting for a log line, a
// prepared (already migrated) embedded database to copy instead of migrating one per test.
import { type ChildProcess, spawn } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { TEST_SECRET } from '../helpers.ts';

export const ROOT = resolve(import.meta.dirname, '../..');

/** The environment of a child: this one's, without anything of Roster's configuration, plus `env`. */
export function childEnv(env: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const base = { ...process.env };
  for (const name of ['DATABASE_URL', 'DATA_DIR', 'PORT', 'METRICS_PORT', 'ISSUER', 'LOG_LEVEL', 'NODE_ENV', 'SECRET', 'TRUST_PROXY', 'DATABASE_PREPARED_STATEMENTS', 'DATABASE_STATEMENT_TIMEOUT_MS', 'SMTP_URL', 'MAIL_FROM']) delete base[name];
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete base[k];
    else base[k] = v;
  }
  // On PostgreSQL a process still keeps its development secret in DATA_DIR: not in the project's ./data.
  if (env.DATABASE_URL && !('DATA_DIR' in env)) base.DATA_DIR = scratch();
  // Processes sharing the test database share its SECRET, as the instances of one deployment do.
  if (env.DATABASE_URL && !('SECRET' in env)) base.SECRET = TEST_SECRET;
  return base;
}

let scratchDir: string | undefined;
function scratch(): string {
  return (scratchDir ??= mkdtempSync(join(tmpdir(), 'roster-scratch-')));
}
process.on('exit', () => { if (scratchDir) rmSync(scratchDir, { recursive: true, force: true }); });

export type Proc = {
  child: ChildProcess;
  pid: number;
  output: () => { stdout: string; stderr: string };
  /** Resolves with the first match of `pattern` in stdout or stderr; rejects if the process exits first. */
  waitFor: (pattern: RegExp) => Promise<RegExpExecArray>;
  exited: Promise<number | null>;
  /** Sends `signal` (default SIGTERM) and resolves with the exit code. */
  stop: (signal?: NodeJS.Signals) => Promise<number | null>;
};

const running = new Set<ChildProcess>();

export function start(args: string[], env: Record<string, string | undefined> = {}, options: { node?: string[]; cwd?: string } = {}): Proc {
  const child = spawn(process.execPath, [...(options.node ?? []), ...args], { cwd: options.cwd ?? ROOT, env: childEnv(env), stdio: ['pipe', 'pipe', 'pipe'] });
  running.add(child);
  let stdout = '';
  let stderr = '';
  const waiters: { pattern: RegExp; resolve: (m: RegExpExecArray) => void }[] = [];
  const check = () => {
    for (const w of [...waiters]) {
      const m = w.pattern.exec(stdout) ?? w.pattern.exec(stderr);
      if (m) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  };
  child.stdout!.on('data', (d) => { stdout += d; check(); });
  child.stderr!.on('data', (d) => { stderr += d; check(); });
  const exited = new Promise<number | null>((resolveExit) => child.once('close', (code) => { running.delete(child); resolveExit(code); }));
  return {
    child,
    pid: child.pid!,
    output: () => ({ stdout, stderr }),
    waitFor: (pattern) => new Promise((resolveMatch, reject) => {
      const m = pattern.exec(stdout) ?? pattern.exec(stderr);
      if (m) return resolveMatch(m);
      waiters.push({ pattern, resolve: resolveMatch });
      exited.then((code) => reject(new Error(`process ${args.join(' ')} exited (${code}) before printing ${pattern}\nstdout: ${stdout}\nstderr: ${stderr}`)));
    }),
    exited,
    stop: (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** Kills whatever a test left running (after a failed assertion), so that mocha can exit. */
export async function killAll(): Promise<void> {
  await Promise.all([...running].map((c) => new Promise<void>((resolveKill) => {
    c.once('close', () => resolveKill());
    c.kill('SIGKILL');
  })));
}

export type Ran = { code: number | null; stdout: string; stderr: string };

export async function runCli(args: string[], env: Record<string, string | undefined>, options: { node?: string[]; cwd?: string } = {}): Promise<Ran> {
  const p = start([join(ROOT, 'src/cli.ts'), ...args], env, options);
  p.child.stdin!.end();
  const code = await p.exited;
  return { code, ...p.output() };
}

export type Server = Proc & { port: number; metricsPort?: number };

/** Starts `node src/main.ts` and waits until it is ready (the "ready" log line), on an ephemeral port unless PORT is given. */
export async function startServer(env: Record<string, string | undefined>): Promise<Server> {
  const p = start(['src/main.ts'], { PORT: '0', LOG_LEVEL: 'info', ...env });
  const m = await p.waitFor(/^\{.*"msg":"ready: .*$/m);
  const line = JSON.parse(m[0]) as { port: number; metricsPort?: number };
  return { ...p, port: line.port, metricsPort: line.metricsPort };
}

export function tempDir(prefix = 'roster-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

let template: Promise<string> | undefined;
let templateDir: string | undefined;
process.on('exit', () => { if (templateDir) rmSync(templateDir, { recursive: true, force: true }); });

/**
 * A DATA_DIR with a migrated embedded database, copied from one template migrated once per test run (by
 * the CLI, as an operator would): a server or CLI started on it opens the database without migrating.
 */
export async function preparedDataDir(): Promise<string> {
  template ??= (async () => {
    const dir = tempDir('roster-template-');
    const r = await runCli(['migrate'], { DATA_DIR: dir });
    templateDir = dir;
    if (r.code !== 0) throw new Error(`could not prepare the template DATA_DIR: ${r.stderr}`);
    return dir;
  })();
  const from = await template;
  const dir = tempDir('roster-data-');
  cpSync(from, dir, { recursive: true });
  return dir;
}

/** No line of a Node stack trace. */
export function assertNoStack(text: string): void {
  if (/^\s+at .+[(:]\d+/m.test(text) || /node:internal/.test(text)) throw new Error(`a stack trace was printed:\n${text}`);
}
