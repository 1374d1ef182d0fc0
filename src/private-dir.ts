// DATA_DIR holds the embedded database, the development secret and the lock: readable by Roster's own user
// only, as PostgreSQL insists for its data directory.
import { chmodSync, mkdirSync, statSync } from 'node:fs';

/** Creates `dir` (mode 0700) or, when it exists with access for group or others, takes that access away. */
export function ensurePrivateDir(dir: string): { tightened: boolean } {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const mode = statSync(dir).mode & 0o777;
  if ((mode & 0o077) === 0) return { tightened: false };
  chmodSync(dir, mode & 0o700);
  return { tightened: true };
}
