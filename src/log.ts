import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

/** The process logger: pino JSON on stdout, one line per event (never one per request). */
export function createLogger(level: LevelWithSilent = 'info', destination: NodeJS.WritableStream = process.stdout): Logger {
  return pino({ level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }, destination);
}

export const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
