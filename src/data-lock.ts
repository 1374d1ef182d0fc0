// The embedded database belongs to one process. Whoever opens it (the server, or a CLI command run with no
// server) first takes DATA_DIR/roster.lock, atomically and before the database is opened, then binds
// DATA_DIR/roster.sock (mode 0600) at once. A second server gets one line naming the holder; a CLI command
// while a server holds it hands its command to the server over that socket; a server or a CLI command
// while a CLI command holds it waits (up to a minute) for it to finish.
//
// Taking the lock: the holder's description is written to a private temporary file (exclusive create, `wx`)
// and hard-linked to roster.lock; link() fails with EEXIST when the lock exists, so exactly one process
// wins, and a reader never sees a half-written lock. A lock whose holder is gone is stale: nobody listens
// on its socket (past a short grace for binding it), or its process is dead on this machine. To remove it, a process must first create roster.lock.takeover-<nonce of that lock> (exclusive
// create again). Only that one process removes that lock, and only after reading it again and finding the
// same nonce, so two processes racing on one stale lock never both remove it, and a late one never removes
// the new holder's lock. Then it tries to take the lock like anyone else.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { linkSync, mkdirSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export type LockHolder = {
  kind: 'server' | 'cli';
  /** The CLI command holding the database ("org create"). */
  command?: string;
  pid: number;
  host: string;
  since: string;
  nonce: string;
};

export const lockPath = (dataDir: string) => join(dataDir, 'roster.lock');
export const socketPath = (dataDir: string) => join(dataDir, 'roster.sock');

/** sun_path: 108 bytes on Linux, 104 on macOS and the BSDs, including the terminating NUL. */
const socketPathLimit = process.platform === 'linux' ? 107 : 103;

export class DataLockError extends Error {}

/** Throws a DataLockError when DATA_DIR is too long for a Unix socket path. */
export function checkSocketPath(dataDir: string): string {
  const path = socketPath(dataDir);
  const bytes = Buffer.byteLength(path);
  if (bytes > socketPathLimit) {
    throw new DataLockError(`roster: DATA_DIR is too long for the operator socket: ${path} is ${bytes} bytes, the limit for a Unix socket path is ${socketPathLimit}; use a shorter DATA_DIR (or a symbolic link to it)`);
  }
  return path;
}

/** The nonces of the locks this process holds. */
const mine = new Set<string>();

/** How long a new holder may take to bind its socket after taking the lock (it does so at once). */
export const BIND_GRACE_MS = 10_000;

/** Whether something accepts connections on the holder's socket: 'listening', 'refused' (a file, no one), 'missing'. */
function probeSocket(path: string): Promise<'listening' | 'refused' | 'missing'> {
  return new Promise((resolve) => {
    const socket = connect({ path });
    const done = (r: 'listening' | 'refused' | 'missing') => { socket.destroy(); resolve(r); };
    socket.setTimeout(2_000, () => done('listening')); // accepted into the backlog, slow to answer: alive
    socket.once('connect', () => done('listening'));
    socket.once('error', (err: NodeJS.ErrnoException) => done(err.code === 'ECONNREFUSED' ? 'refused' : err.code === 'ENOENT' ? 'missing' : 'listening'));
  });
}

/**
 * Whether the holder of a lock is alive. Every holder binds DATA_DIR/roster.sock as soon as it has the lock,
 * so a socket nobody listens on, past the grace period, means the holder is gone: a crash, a killed
 * container (whose successor has another hostname), a zombie. Otherwise, on this machine, its pid decides.
 */
async function alive(holder: LockHolder, dataDir: string): Promise<boolean> {
  // Our pid on a lock we did not take: left by an earlier process that had our pid (a container's pid 1).
  if (holder.pid === process.pid && holder.host === hostname()) return mine.has(holder.nonce);
  const probe = await probeSocket(socketPath(dataDir));
  if (probe === 'listening') return true;
  const settled = Date.now() - Date.parse(holder.since) > BIND_GRACE_MS;
  if (probe === 'refused' && settled) return false;
  if (holder.host !== hostname()) return true; // another machine, still binding or its socket removed: cannot tell
  try {
    process.kill(holder.pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readHolder(path: string): LockHolder | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new DataLockError(`roster: cannot read the lock file ${path}: ${(err as Error).message}`);
  }
  try {
    const h = JSON.parse(text) as LockHolder;
    if (typeof h.pid === 'number' && typeof h.nonce === 'string') return h;
  } catch { /* reported below */ }
  throw new DataLockError(`roster: the lock file ${path} is not a Roster lock; if no Roster process uses this DATA_DIR, delete it`);
}

/** One line: what holds the embedded database. */
export function describeHolder(holder: LockHolder, dataDir: string): string {
  const who = holder.kind === 'server'
    ? `a Roster server (pid ${holder.pid}${holder.host !== hostname() ? ` on ${holder.host}` : ''}, since ${holder.since})`
    : `the CLI command "${holder.command}" (pid ${holder.pid}${holder.host !== hostname() ? ` on ${holder.host}` : ''}, since ${holder.since})`;
  const what = holder.kind === 'server' ? 'stop it, or use another DATA_DIR' : 'wait for it to finish, then try again';
  return `roster: the embedded database in ${dataDir} is in use by ${who}; ${what}`;
}

export type DataLock = { holder: LockHolder; path: string; release: () => void };

/**
 * Takes the lock of DATA_DIR, or answers who holds it (a live process). Never opens the database.
 * A lock is released by release(), and in any case when the process exits normally.
 */
export async function acquireDataLock(dataDir: string, me: { kind: 'server' | 'cli'; command?: string }): Promise<{ lock: DataLock } | { heldBy: LockHolder }> {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const path = lockPath(dataDir);
  const holder: LockHolder = { ...me, pid: process.pid, host: hostname(), since: new Date().toISOString(), nonce: randomBytes(12).toString('hex') };
  const temporary = `${path}.${holder.nonce}`;
  writeFileSync(temporary, JSON.stringify(holder) + '\n', { flag: 'wx', mode: 0o600 });
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        linkSync(temporary, path);
        mine.add(holder.nonce);
        const release = () => {
          process.off('exit', release);
          mine.delete(holder.nonce);
          // Only our own lock: never one that a later process took after ours was (wrongly) found stale.
          try {
            if (readHolder(path)?.nonce === holder.nonce) unlinkSync(path);
          } catch { /* exiting: nothing more to do about a lock file we cannot read */ }
        };
        process.on('exit', release);
        return { lock: { holder, path, release } };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const current = readHolder(path);
      if (!current) continue; // released meanwhile: try again
      if (await alive(current, dataDir)) return { heldBy: current };
      // Stale. Only the process that creates this lock's takeover file may remove it.
      const guard = `${path}.takeover-${current.nonce}`;
      try {
        writeFileSync(guard, String(process.pid), { flag: 'wx', mode: 0o600 });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        // Another process is taking it over right now (a few microseconds); unless it died doing so.
        const started = statSync(guard, { throwIfNoEntry: false });
        if (attempt > 100 && started && Date.now() - started.mtimeMs > 5_000) {
          throw new DataLockError(`roster: the lock file ${path} was left by a process that no longer runs (pid ${current.pid}), and so was ${guard}; if no Roster process uses this DATA_DIR, delete both`);
        }
        await sleep(20);
        continue;
      }
      try {
        if (readHolder(path)?.nonce === current.nonce) unlinkSync(path);
      } finally {
        rmSync(guard, { force: true });
      }
    }
  } finally {
    rmSync(temporary, { force: true });
  }
}

/** How long a process waits for a CLI command that holds the embedded database (CLI commands are short). */
export const CLI_HOLD_WAIT_MS = 60_000;

/** What a process waiting for a CLI command says, once. */
export const describeCliWait = (holder: LockHolder) =>
  `waiting for the CLI command "${holder.command}" (pid ${holder.pid}) to finish with the embedded database`;

/**
 * acquireDataLock, waiting up to CLI_HOLD_WAIT_MS while a CLI command holds the lock (`onWait` is told once;
 * `check` runs between tries and may throw to give up). Returns the lock, or who holds it: a server, or a CLI
 * command still running when the wait is over.
 */
export async function acquireWaitingForCli(
  dataDir: string,
  me: { kind: 'server' | 'cli'; command?: string },
  hooks: { onWait: (holder: LockHolder) => void; check?: () => void },
): Promise<{ lock: DataLock } | { heldBy: LockHolder }> {
  const deadline = Date.now() + CLI_HOLD_WAIT_MS;
  for (let told = false; ; told = true) {
    const got = await acquireDataLock(dataDir, me);
    if ('lock' in got || got.heldBy.kind !== 'cli' || Date.now() > deadline) return got;
    if (!told) hooks.onWait(got.heldBy);
    hooks.check?.();
    await sleep(200);
  }
}
