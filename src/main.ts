// Entry: config -> db -> migrate -> app -> listen; graceful shutdown on SIGTERM and SIGINT.
import type { Server } from 'node:http';
import { ConfigError, loadConfig } from './config.ts';
import { migrate, openDb } from './db.ts';
import { createApp } from './http/app.ts';
import { createLogger } from './logger.ts';
import { newOperatorToken, readServerLock, removeServerLock, writeServerLock } from './server-lock.ts';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) { console.error(err.message); process.exit(2); }
    throw err;
  }
  const logger = createLogger(config.logLevel);
  const embedded = !config.databaseUrl;
  if (embedded) {
    const other = readServerLock(config.dataDir);
    if (other) {
      console.error(`another Roster server (pid ${other.pid}, port ${other.port}) already uses the embedded database in ${config.dataDir}; stop it or use another DATA_DIR`);
      process.exit(2);
    }
  }
  const operatorToken = embedded ? newOperatorToken() : undefined;
  const db = openDb({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  const applied = await migrate(db);
  if (applied.length) logger.info({ applied }, 'database migrated');
  const app = createApp({ db, logger, issuer: config.issuer, operatorToken });
  const server: Server = app.listen(config.port, () => {
    const address = server.address();
    const port = address && typeof address === 'object' ? address.port : config.port;
    if (operatorToken) writeServerLock(config.dataDir, { pid: process.pid, port, token: operatorToken });
    logger.info({ port, issuer: config.issuer, database: config.databaseUrl ? 'postgresql' : `embedded (${config.dataDir})` }, 'roster listening');
  });
  server.keepAliveTimeout = 65_000;

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: no new connections, finishing requests in flight');
    const force = setTimeout(() => { logger.error('shutdown took longer than 10 s; exiting'); process.exit(1); }, 10_000);
    force.unref();
    server.close(async () => {
      if (embedded) removeServerLock(config.dataDir);
      await db.destroy();
      logger.info('stopped');
      process.exit(0);
    });
    server.closeIdleConnections();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
