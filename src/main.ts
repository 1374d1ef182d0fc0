// Entry: config -> (embedded database: data lock) -> db -> migrate -> app -> listen (public port, metrics
// port, operator socket) -> ready; graceful shutdown on SIGTERM and SIGINT. A failure at start prints one
// line saying what is wrong and what to do, releases what was taken (lock, socket, ports, database) and
// exits non-zero.
import { rmSync } from 'node:fs';
import { Resolver } from 'node:dns/promises';
import { createServer, type Server } from 'node:http';
import { type Config, ConfigError, loadConfig, loadDotEnv } from './config.ts';
import { acquireWaitingForCli, checkSocketPath, type DataLock, DataLockError, describeCliWait, describeHolder } from './data-lock.ts';
import { type Db, databaseProblem, describeDatabaseUrl, describePending, migrateIfNeeded, openDb, ping } from './db.ts';
import { DirectoryError } from './directory/errors.ts';
import { createPasswordHasher } from './directory/passwords.ts';
import { createSealer } from './directory/sealing.ts';
import { ensureSigningKey } from './directory/signing-keys.ts';
import { createApp, createMetricsApp } from './http/app.ts';
import { createOidcService } from './oidc/provider.ts';
import { createMetrics } from './http/metrics.ts';
import { listenOperatorSocket, type OperatorChannel } from './http/operator.ts';
import { createLogger } from './logger.ts';
import { startMailSender } from './mail/sender.ts';
import { ensurePrivateDir } from './private-dir.ts';

/** A start-up failure whose message is the one line to print. */
class StartupError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = 1) {
    super(message);
    this.exitCode = exitCode;
  }
}
class StoppedDuringStart extends Error {}

// What this process has taken, so that any failure or signal gives it all back.
const held: { lock?: DataLock; db?: Db; socket?: string; servers: Server[]; stops: (() => Promise<void>)[] } = { servers: [], stops: [] };
let stopping = false;

/** Removes the operator socket and releases the lock: synchronous, so it also runs on process exit. */
function releaseFiles(): void {
  if (held.socket) rmSync(held.socket, { force: true });
  held.socket = undefined;
  held.lock?.release();
  held.lock = undefined;
}
process.on('exit', releaseFiles);

async function releaseAll(): Promise<void> {
  const servers = held.servers.splice(0);
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => {
    s.close(() => resolve());
    s.closeIdleConnections();
  })));
  await Promise.all(held.stops.splice(0).map((stop) => stop()));
  const db = held.db;
  held.db = undefined;
  await db?.destroy();
  releaseFiles();
}

function listen(server: Server, port: number, variable: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const failed = (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') reject(new StartupError(`roster: port ${port} (${variable}) is already in use, by another server or another Roster; stop it or set ${variable} to a free port`));
      else if (err.code === 'EACCES') reject(new StartupError(`roster: no permission to listen on port ${port} (${variable}); use a port above 1023 or grant the permission`));
      else reject(err);
    };
    server.once('error', failed);
    server.listen(port, () => {
      server.off('error', failed);
      const address = server.address();
      resolve(address && typeof address === 'object' ? address.port : port);
    });
  });
}

function step(): void {
  if (stopping) throw new StoppedDuringStart();
}

/** The data lock; a CLI command holding it is waited for, a server holding it is an error. */
async function takeDataLock(dataDir: string, logger: ReturnType<typeof createLogger>): Promise<DataLock> {
  const got = await acquireWaitingForCli(dataDir, { kind: 'server' }, { onWait: (h) => logger.info({ pid: h.pid }, describeCliWait(h)), check: step });
  if ('heldBy' in got) throw new StartupError(describeHolder(got.heldBy, dataDir), 2);
  return got.lock;
}

async function start(config: Config, logger: ReturnType<typeof createLogger>): Promise<void> {
  const embedded = !config.databaseUrl;
  let socketPath: string | undefined;
  let operator: OperatorChannel | undefined;
  if (embedded) {
    if (ensurePrivateDir(config.dataDir).tightened) {
      logger.warn({ dataDir: config.dataDir }, `${config.dataDir} was open to other users: made it readable by this user only (mode 0700)`);
    }
    socketPath = checkSocketPath(config.dataDir);
    held.lock = await takeDataLock(config.dataDir, logger);
    // Bound at once: it tells other processes that this one is alive, and answers "starting" until ready.
    held.socket = socketPath;
    operator = await listenOperatorSocket(socketPath, { logger, holder: { kind: 'server' } });
    held.servers.push(operator.server);
  }

  let database: string;
  if (config.databaseUrl) {
    const d = describeDatabaseUrl(config.databaseUrl);
    database = `postgresql (${d.where}/${d.database})`;
    logger.info({ host: d.host, port: Number(d.port), database: d.database }, `connecting to PostgreSQL at ${d.where}, database "${d.database}"`);
  } else {
    database = `embedded (${config.dataDir})`;
    logger.info({ dataDir: config.dataDir }, `opening the embedded database in ${config.dataDir} (this takes a few seconds)`);
  }
  held.db = await openDb({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    statementTimeoutMs: config.statementTimeoutMs,
    preparedStatements: config.preparedStatements,
    log: { warn: (msg) => logger.warn(msg), debug: (msg) => logger.debug(msg) },
  });
  const db = held.db;
  await ping(db);
  step();
  const applied = await migrateIfNeeded(db, (pending) => logger.info({ pending }, `migrating: ${describePending(pending)}`));
  if (applied.length) logger.info({ applied }, 'database migrated');
  else logger.info('database schema is up to date');
  step();
  const sealer = createSealer(config.secret);
  const passwords = createPasswordHasher(config.passwordCost);
  if (await ensureSigningKey(db, sealer)) logger.info('created the first OIDC signing key (rotate with: cli keys rotate)');
  step();

  // Mail queued before this start (a crash, a restart) goes out now; requests wake the sender after queueing.
  const mail = startMailSender({ db, logger, smtpUrl: config.smtpUrl, from: config.mailFrom });
  held.stops.push(mail.stop);
  const oidc = await createOidcService({ db, issuer: config.issuer, sealer, secret: config.secret, trustProxy: config.trustProxy, logger, passwords, passwordMinLength: config.passwordMinLength, wakeMail: mail.wake });
  held.stops.push(oidc.stop);
  const metrics = createMetrics();
  const resolver = new Resolver({ timeout: 3000, tries: 2 });
  const app = createApp({
    db, logger, issuer: config.issuer, metrics, trustProxy: config.trustProxy, oidc: oidc.handler, verifyAccessToken: oidc.verifyAccessToken, throttle: oidc.throttle, passwords, passwordMinLength: config.passwordMinLength,
    sso: { ...oidc.sso, resolveTxt: (name) => resolver.resolveTxt(name) },
  });
  const server = createServer(app);
  server.keepAliveTimeout = 65_000;
  held.servers.push(server);
  const port = await listen(server, config.port, 'PORT');
  server.on('error', (err) => logger.error({ err }, 'HTTP server error'));
  let metricsPort: number | undefined;
  if (config.metricsPort !== undefined) {
    const metricsServer = createServer(createMetricsApp(metrics));
    held.servers.push(metricsServer);
    metricsPort = await listen(metricsServer, config.metricsPort, 'METRICS_PORT');
  }
  operator?.ready({ db, sealer, passwords, issuer: config.issuer });
  step();
  logger.info({ port, metricsPort, issuer: config.issuer, database, operatorSocket: socketPath }, `ready: roster listening on port ${port}`);
}

async function main(): Promise<void> {
  let config: Config;
  try {
    loadDotEnv();
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`roster: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
  const logger = createLogger(config.logLevel);

  let ready = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    const force = setTimeout(() => { logger.error('shutdown took longer than 10 s; exiting'); process.exit(1); }, 10_000);
    force.unref();
    if (!ready) {
      logger.info({ signal }, 'stopping: the server was still starting; stopping after the current step');
      return; // start() notices at its next step and gives everything back
    }
    shutdown(signal);
  };
  const shutdown = (signal: string) => {
    logger.info({ signal }, 'shutting down: no new connections, finishing requests in flight');
    releaseAll().then(() => {
      logger.info('stopped');
      process.exit(0);
    }, (err) => {
      logger.error({ err }, 'shutdown failed');
      process.exit(1);
    });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));

  try {
    await start(config, logger);
    ready = true;
  } catch (err) {
    let code = 1;
    if (err instanceof StoppedDuringStart) {
      code = 0;
      logger.info('stopped before it was ready');
    } else if (err instanceof StartupError || err instanceof DataLockError) {
      console.error(err.message);
      code = err instanceof StartupError ? err.exitCode : 2;
    } else if (err instanceof DirectoryError) {
      console.error(`roster: ${err.message}`);
      code = 2;
    } else {
      const line = databaseProblem(err, config.databaseUrl);
      if (line) console.error(line);
      else console.error(err);
    }
    await releaseAll().catch((e) => logger.error({ err: e }, 'could not release everything after the failed start'));
    process.exit(code);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
