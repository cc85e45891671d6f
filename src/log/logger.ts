import { pino, type Logger } from 'pino';

export type { Logger };

/** Keys whose values must never reach a log line, wherever they sit in an object. */
export const REDACT_PATHS = [
  'password', '*.password', '*.*.password', 'token', '*.token', '*.*.token',
  'key', '*.key', '*.*.key', 'secret', '*.secret', 'authorization', '*.authorization', '*.headers.authorization',
];

export interface LogOptions {
  level?: string;
  pretty?: boolean;
  /** Write to this stream instead of stdout (tests, the demo's summary screen). */
  destination?: NodeJS.WritableStream;
}

/** JSON to stdout by default; human-readable when asked or when stdout is a terminal. */
export function createLogger(options: LogOptions = {}): Logger {
  const pretty = options.pretty ?? Boolean(process.stdout.isTTY);
  const base = { level: options.level ?? 'info', redact: { paths: REDACT_PATHS, censor: '[redacted]' } };
  if (pretty && !options.destination) {
    return pino({ ...base, transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } });
  }
  return pino(base, options.destination ?? pino.destination({ fd: 1, sync: false }));
}

export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
