// JSON logs (pino) at the configured level.
import { pino, type Logger } from 'pino';

export function createLogger(level: string): Logger {
  return pino({ level, base: { service: 'roster' }, timestamp: pino.stdTimeFunctions.isoTime });
}
