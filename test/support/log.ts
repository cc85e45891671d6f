import { Writable } from 'node:stream';
import { pino, type Level, type Logger } from 'pino';

export interface CapturedLog {
  log: Logger;
  /** Every JSON line logged so far, parsed. */
  lines: Array<Record<string, unknown>>;
  /** The messages of the lines at `level` or above. */
  messages(level?: Level): string[];
}

const LEVELS: Record<Level, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 };

/** A pino logger whose lines a test can read back (to assert on them, or to explain a failure). */
export function captureLog(level: Level = 'debug'): CapturedLog {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n')) if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  return {
    log: pino({ level }, stream),
    lines,
    messages: (min: Level = 'trace') => lines.filter((l) => (l.level as number) >= LEVELS[min]).map((l) => String(l.msg)),
  };
}
