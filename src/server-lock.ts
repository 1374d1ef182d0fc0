// The embedded database belongs to one process. A server on it leaves a lock file in DATA_DIR naming its
// pid, port and a random operator token (file mode 0600): a second server refuses to start, and the CLI
// sends its commands to the running server instead of opening the database a second time.
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export type ServerLock = { pid: number; port: number; token: string };

const lockPath = (dataDir: string) => join(dataDir, 'server.lock.json');

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The lock of a live server on this DATA_DIR, or null (a stale lock from a crashed server is ignored). */
export function readServerLock(dataDir: string): ServerLock | null {
  let lock: ServerLock;
  try {
    lock = JSON.parse(readFileSync(lockPath(dataDir), 'utf8')) as ServerLock;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new Error(`unreadable lock file ${lockPath(dataDir)}: ${(err as Error).message}`);
  }
  return lock.pid !== process.pid && alive(lock.pid) ? lock : null;
}

export function newOperatorToken(): string {
  return randomBytes(32).toString('base64url');
}

export function writeServerLock(dataDir: string, lock: ServerLock): void {
  writeFileSync(lockPath(dataDir), JSON.stringify(lock), { mode: 0o600 });
}

export function removeServerLock(dataDir: string): void {
  rmSync(lockPath(dataDir), { force: true });
}
