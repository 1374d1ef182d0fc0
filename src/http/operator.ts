// The operator channel of a server on the embedded database: HTTP on a Unix socket in DATA_DIR, mode 0600,
// never on the public port. Whoever may connect to it is whoever may open DATA_DIR's files as the server's
// user, i.e. whoever could open the database anyway. The CLI sends its commands here while the server holds
// the database (src/cli.ts).
//
//   GET  /ready      200 {"pid"} once the server is ready
//   POST /commands   an operator command (src/operations.ts): 200 with its result, 400 {"code","detail"}
//
// The socket is bound as soon as the data lock is taken, before the database is opened: it is how another
// process tells that the holder is alive (see data-lock.ts). Until the server is ready, and for as long as
// a CLI command holds the lock, every request answers 503 {"status": "starting" | "busy"}.
import { chmodSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { DirectoryError } from '../directory/errors.ts';
import { type OperatorDeps, runOperatorCommand } from '../operations.ts';

const bodyLimit = 16 * 1024;

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > bodyLimit) throw new DirectoryError('invalid', 'the command is too large');
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new DirectoryError('invalid', 'the command is not JSON');
  }
}

/** What holds the data lock: a server (starting until `ready`), or a CLI command (busy while it runs). */
export type Holder = { kind: 'server' } | { kind: 'cli'; command: string };

export function operatorHandler(state: { deps: OperatorDeps | null; holder: Holder }, logger: Logger) {
  return async (req: IncomingMessage, res: ServerResponse) => {
    const deps = state.deps;
    if (!deps) {
      const { holder } = state;
      return send(res, 503, holder.kind === 'server' ? { status: 'starting', pid: process.pid } : { status: 'busy', command: holder.command, pid: process.pid });
    }
    try {
      if (req.method === 'GET' && req.url === '/ready') return send(res, 200, { pid: process.pid });
      if (req.method !== 'POST' || req.url !== '/commands') return send(res, 404, { code: 'not_found', detail: `no operator route ${req.method} ${req.url}` });
      const command = await readJson(req);
      const name = (command as { command?: unknown })?.command;
      logger.info({ operatorCommand: typeof name === 'string' ? name : null }, 'operator command');
      send(res, 200, await runOperatorCommand(deps, command));
    } catch (err) {
      if (err instanceof DirectoryError) return send(res, 400, { code: err.code, detail: err.message });
      logger.error({ err }, 'operator command failed');
      send(res, 500, { code: 'internal', detail: 'the command failed; see the server log' });
    }
  };
}

export type OperatorChannel = { server: Server; ready: (deps: OperatorDeps) => void };

/**
 * Listens on `path` (the caller holds the data lock, so a file there is a leftover of a dead holder and is
 * removed). The socket is created under umask 0177, so it is never accessible to anyone but its owner, not
 * even for an instant, then set to 0600 explicitly. It answers 503 until `ready` gives it the server's deps.
 */

export async function listenOperatorSocket(path: string, opts: { logger: Logger; holder: Holder }): Promise<OperatorChannel> {
  rmSync(path, { force: true });
  const state: { deps: OperatorDeps | null; holder: Holder } = { deps: null, holder: opts.holder };
  const server = createServer(operatorHandler(state, opts.logger));
  const umask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } finally {
    process.umask(umask);
  }
  chmodSync(path, 0o600);
  return { server, ready: (deps) => { state.deps = deps; } };
}
