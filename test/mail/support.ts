// What the mail tests share: a real SMTP server (smtp-server from npm) on 127.0.0.1 keeping what it
// receives; a black hole that accepts connections and never answers (a hung SMTP server); polling for an
// outcome; the database a server process will open, to queue mail in before it starts.
import { createServer, type Server, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Knex } from 'knex';
import { SMTPServer } from 'smtp-server';
import { openDb } from '../../src/db.ts';
import { preparedDataDir } from '../operator/processes.ts';
import { testDatabaseUrl, testDb } from '../setup.ts';

export type Received = {
  envelope: { from: string; to: string[] };
  /** Header names lower-cased, values unfolded. */
  headers: Map<string, string>;
  /** The text/plain part, decoded, with \n line ends. */
  text: string;
  /** The text/html part, decoded, with \n line ends ('' when there is none). */
  html: string;
  raw: string;
};

export type SmtpReceiver = {
  port: number;
  url: string;
  received: Received[];
  /** What was received for this recipient. */
  to: (address: string) => Received[];
  close: () => Promise<void>;
};

/** Splits a MIME entity into its headers and body. */
function splitEntity(raw: string): { headers: Map<string, string>; body: string } {
  const at = raw.indexOf('\r\n\r\n');
  const head = at < 0 ? raw : raw.slice(0, at);
  const headers = new Map<string, string>();
  for (const line of head.replace(/\r\n[ \t]+/g, ' ').split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return { headers, body: at < 0 ? '' : raw.slice(at + 4) };
}

function decode(body: string, encoding: string | undefined): string {
  if (/base64/i.test(encoding ?? '')) return Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
  if (/quoted-printable/i.test(encoding ?? '')) {
    const bytes = body.replace(/=\r\n/g, '').replace(/=([0-9A-F]{2})/gi, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));
    return Buffer.from(bytes, 'latin1').toString('utf8');
  }
  return body;
}

/** The text/plain and text/html parts of a message (one level of multipart/alternative, as nodemailer builds it). */
export function parseMessage(raw: string): Pick<Received, 'headers' | 'text' | 'html'> {
  const { headers, body } = splitEntity(raw);
  const parts: { type: string; content: string }[] = [];
  const boundary = /boundary="?([^";]+)"?/i.exec(headers.get('content-type') ?? '')?.[1];
  const entities = boundary ? body.split(`--${boundary}`).slice(1, -1).map((p) => p.replace(/^\r\n/, '')) : [raw];
  for (const entity of entities) {
    const e = splitEntity(entity);
    parts.push({ type: e.headers.get('content-type') ?? 'text/plain', content: decode(e.body.replace(/\r\n$/, ''), e.headers.get('content-transfer-encoding')).replace(/\r\n/g, '\n') });
  }
  return {
    headers,
    text: parts.find((p) => p.type.startsWith('text/plain'))?.content ?? '',
    html: parts.find((p) => p.type.startsWith('text/html'))?.content ?? '',
  };
}

/**
 * An SMTP server on 127.0.0.1 (`port` 0: any free one). `refuse` names recipients it rejects with 550
 * (a permanent refusal).
 */
export async function startSmtpReceiver(opts: { port?: number; refuse?: string[] } = {}): Promise<SmtpReceiver> {
  const received: Received[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onRcptTo(address, _session, callback) {
      if (opts.refuse?.includes(address.address)) {
        const err = Object.assign(new Error(`<${address.address}>: no such mailbox`), { responseCode: 550 });
        return callback(err);
      }
      callback();
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        received.push({
          envelope: { from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '', to: session.envelope.rcptTo.map((r) => r.address) },
          ...parseMessage(raw),
          raw,
        });
        callback();
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.server.address() as { port: number }).port;
  return {
    port,
    url: `smtp://127.0.0.1:${port}`,
    received,
    to: (address) => received.filter((r) => r.envelope.to.includes(address)),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Accepts connections and never says a word: an SMTP server that hangs. */
export async function startBlackHole(): Promise<{ port: number; url: string; connections: () => number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  let count = 0;
  const server: Server = createServer((socket) => {
    count += 1;
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    url: `smtp://127.0.0.1:${port}`,
    connections: () => count,
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}

/** A port on 127.0.0.1 that nobody listens on (taken, then given back). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * Polls `check` until it returns something other than undefined/false. `giveUpMs` (generous: two minutes)
 * only keeps a broken test from polling forever; nothing is asserted about how long it took.
 */
export async function eventually<T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false, giveUpMs = 120_000): Promise<T> {
  const until = Date.now() + giveUpMs;
  for (;;) {
    const got = await check();
    if (got !== undefined && got !== false) return got;
    if (Date.now() > until) throw new Error(`gave up waiting for ${what}`);
    await sleep(50);
  }
}

/**
 * The database of a server process about to start, and its environment: on PostgreSQL the test database;
 * on the embedded database a prepared DATA_DIR of its own. `use` runs on it while no server holds it (the
 * embedded one is one process's at a time).
 */
export async function serverDatabase(): Promise<{ env: Record<string, string>; dataDir?: string; use: <T>(fn: (db: Knex) => Promise<T>) => Promise<T> }> {
  const url = testDatabaseUrl();
  if (url) return { env: { DATABASE_URL: url }, use: (fn) => fn(testDb()) };
  const dataDir = await preparedDataDir();
  return {
    env: { DATA_DIR: dataDir },
    dataDir,
    use: async (fn) => {
      const db = await openDb({ dataDir });
      try {
        return await fn(db);
      } finally {
        await db.destroy();
      }
    },
  };
}
