import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import type { DevicePoll } from '../../../src/core/sample.js';
import type { AvailabilityState, SourceEvents } from '../../../src/protocols/opcua/source.js';

export interface Recorder extends SourceEvents {
  polls: Array<DevicePoll & { receivedMs: number }>;
  availability: Array<{ device: string; state: AvailabilityState; reason?: string; atMs: number }>;
  /** Every good reading of one point, in arrival order. */
  readings(point: string): Array<{ value: unknown; sourceTsMs?: number; receivedMs: number }>;
  last(point: string): { value: unknown; quality: string; sourceTsMs?: number } | undefined;
  lastAvailability(): { state: AvailabilityState; reason?: string } | undefined;
}

export function recorder(): Recorder {
  const polls: Recorder['polls'] = [];
  const availability: Recorder['availability'] = [];
  return {
    polls,
    availability,
    onPoll(poll) { polls.push({ ...poll, receivedMs: Date.now() }); },
    onAvailability(device, state, reason) { availability.push({ device, state, ...(reason ? { reason } : {}), atMs: Date.now() }); },
    readings(point) {
      return polls.flatMap((p) => {
        const v = p.values[point];
        return v && v.quality === 'good' ? [{ value: v.value, ...(v.sourceTsMs ? { sourceTsMs: v.sourceTsMs } : {}), receivedMs: p.receivedMs }] : [];
      });
    },
    last(point) {
      for (let i = polls.length - 1; i >= 0; i--) {
        const v = polls[i]?.values[point];
        if (v) return v;
      }
      return undefined;
    },
    lastAvailability() {
      return availability.at(-1);
    },
  };
}

/** Polls `cond` until it is truthy or the deadline passes (no fixed sleeps in tests). */
export async function waitFor<T>(cond: () => T | undefined | false | null, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = cond();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A pino logger whose JSON lines a test can read. */
export function captureLogger(): { log: Logger; lines: Array<Record<string, unknown>>; text: () => string } {
  const lines: Array<Record<string, unknown>> = [];
  let raw = '';
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      const s = chunk.toString();
      raw += s;
      for (const line of s.split('\n')) if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  return { log: pino({ level: 'info' }, stream), lines, text: () => raw };
}

export function tempDir(prefix: string): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `${prefix}-`));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
