// The pipeline stores each poll's telemetry (text written straight from the poll) and the
// core's records; what it hands to onStored depends on whether anyone observes telemetry.
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { Engine } from '../../src/core/engine.js';
import type { EngineRecord } from '../../src/core/records.js';
import type { DevicePoll, PointValue } from '../../src/core/sample.js';
import { telemetryFromPoll } from '../../src/core/telemetry.js';
import { JsonText, Outbox, type RecordToStore } from '../../src/outbox/outbox.js';
import { ENGINE_STATE_KEY, Pipeline, type GatewayRecord } from '../../src/pipeline/pipeline.js';

const event = { kind: 'event', id: 'e1', type: 'counter_reset', device: 'm1', point: 'e', ts_ms: 1000, message: 'reset' } as unknown as EngineRecord;

/** A core that reports one event on the poll it is told to, and holds no state worth naming. */
function fakeEngine(eventOnPoll = -1): Engine {
  let polls = 0;
  return {
    ingest: () => (polls++ === eventOnPoll ? [event] : []),
    advance: () => [],
    snapshot: () => ({ polls }),
    stateJson: () => JSON.stringify({ polls }),
  } as unknown as Engine;
}

function poll(device: string, tsMs: number, extra: Record<string, PointValue> = {}): DevicePoll {
  return {
    device, tsMs,
    values: {
      voltage_l1: { value: Math.fround(230.1), unit: 'V', quality: 'good' },
      'odd "id"\n': { value: null, unit: 'kWh', quality: 'bad', status: 'BadNoMatch' },
      frequency: { value: 50, unit: 'Hz', quality: 'good', sourceTsMs: tsMs - 5 },
      ...extra,
    },
  };
}

const outboxes: Outbox[] = [];
function openOutbox(): Outbox {
  const o = new Outbox(':memory:', ['mqtt']);
  outboxes.push(o);
  return o;
}
afterEach(() => {
  for (const o of outboxes.splice(0)) o.close();
});

function stored(outbox: Outbox): Array<{ kind: string; payload: string }> {
  return outbox.next('mqtt', 100).records.map((r) => ({ kind: r.kind, payload: r.payload! }));
}

describe('Pipeline', () => {
  it('stores telemetry as JSON.stringify of the record would, without making the record when nobody observes it', () => {
    const outbox = openOutbox();
    const calls: GatewayRecord[][] = [];
    const models = new Map([['m1', 'eastron-sdm630']]);
    const pipeline = new Pipeline({
      engine: fakeEngine(1), outbox, log: pino({ level: 'silent' }), models, batchMs: 0, observeTelemetry: false,
      onStored: (records) => calls.push(records), now: () => 5000,
    });
    const polls = [poll('m1', 1000), poll('m2', 1000)];
    for (const p of polls) pipeline.onPoll(p);
    pipeline.flush();
    expect(stored(outbox)).toEqual([
      { kind: 'telemetry', payload: JSON.stringify(telemetryFromPoll(polls[0]!, 'eastron-sdm630')) },
      { kind: 'telemetry', payload: JSON.stringify(telemetryFromPoll(polls[1]!, null)) },
      { kind: 'event', payload: JSON.stringify(event) },
    ]);
    // Every commit still wakes the sinks; only the core's records are handed over.
    expect(calls).toEqual([[], [], [event]]);
    expect(pipeline.stats.records).toEqual({ telemetry: 2, event: 1 });
  });

  it('hands the telemetry records to onStored by default', () => {
    const outbox = openOutbox();
    const seen: GatewayRecord[] = [];
    const pipeline = new Pipeline({
      engine: fakeEngine(), outbox, log: pino({ level: 'silent' }), models: new Map(), batchMs: 0,
      onStored: (records) => seen.push(...records), now: () => 5000,
    });
    const p = poll('m1', 1000);
    pipeline.onPoll(p);
    expect(seen).toEqual([telemetryFromPoll(p, null)]);
    expect(stored(outbox).map((r) => r.payload)).toEqual([JSON.stringify(telemetryFromPoll(p, null))]);
  });

  it('stores what the writer declines through JSON.stringify of the record, as before', () => {
    const outbox = openOutbox();
    const pipeline = new Pipeline({
      engine: fakeEngine(), outbox, log: pino({ level: 'silent' }), models: new Map(), batchMs: 0, observeTelemetry: false,
      onStored: () => undefined, now: () => 5000,
    });
    const p = poll('m1', 1000);
    Object.defineProperty(p.values, '__proto__', { value: { value: 1, unit: 'V', quality: 'good' }, enumerable: true });
    pipeline.onPoll(p);
    expect(stored(outbox).map((r) => r.payload)).toEqual([JSON.stringify(telemetryFromPoll(p, null))]);
  });

  it('keeps telemetry in memory when a commit fails and stores it with the next one', () => {
    const outbox = openOutbox();
    let refuse = true;
    const flaky = {
      append: (rows: RecordToStore[], nowMs: number) => {
        if (refuse) throw new Error('disk full');
        outbox.append(rows, nowMs);
      },
      commit: (rows: RecordToStore[], states: Record<string, unknown>, nowMs: number) => outbox.commit(rows, states, nowMs),
      layouts: outbox.layouts,
    } as unknown as Outbox;
    const calls: number[] = [];
    const pipeline = new Pipeline({
      engine: fakeEngine(), outbox: flaky, log: pino({ level: 'silent' }), models: new Map(), batchMs: 0, observeTelemetry: false,
      onStored: (records) => calls.push(records.length), now: () => 5000,
    });
    const a = poll('m1', 1000);
    const b = poll('m1', 2000);
    pipeline.onPoll(a);
    expect(pipeline.stats.commitErrors).toBe(1);
    refuse = false;
    pipeline.onPoll(b);
    expect(stored(outbox).map((r) => r.payload)).toEqual([a, b].map((p) => JSON.stringify(telemetryFromPoll(p, null))));
    expect(pipeline.stats.records).toEqual({ telemetry: 2 });
    expect(calls).toEqual([0]);
  });

  it('commits the core’s state at most every stateMs, but at once with records the core produced', () => {
    const outbox = openOutbox();
    const commits: Array<{ atMs: number; records: string[]; state: string | undefined }> = [];
    let nowMs = 10_000;
    const recording = {
      append: (rows: RecordToStore[], at: number) => outbox.append(rows, at),
      commit: (rows: RecordToStore[], states: Record<string, unknown>, at: number) => {
        const st = states[ENGINE_STATE_KEY];
        commits.push({ atMs: at, records: rows.map((r) => r.kind), state: st instanceof JsonText ? st.text : undefined });
        outbox.commit(rows, states, at);
      },
      layouts: outbox.layouts,
    } as unknown as Outbox;
    let closeAt = -1;
    let polls = 0;
    const engine = {
      ingest: () => { polls += 1; return []; },
      advance: (at: number) => (at === closeAt ? [{ ...event, id: 'closed' }] : []),
      snapshot: () => ({ polls }),
      stateJson: () => JSON.stringify({ polls }),
    } as unknown as Engine;
    const pipeline = new Pipeline({
      engine, outbox: recording, log: pino({ level: 'silent' }), models: new Map(), batchMs: 0, stateMs: 5000,
      onStored: () => undefined, now: () => nowMs,
    });
    // Ten seconds of polls and ticks without records: the state twice, 5 s apart.
    for (let s = 0; s < 10; s++) {
      nowMs += 1000;
      pipeline.onPoll(poll('m1', nowMs));
      pipeline.tick();
    }
    expect(commits.map((c) => c.atMs)).toEqual([11_000, 16_000]);
    // A tick that closes a window stores its record with the state that accounts for it, at once.
    nowMs += 1000;
    closeAt = nowMs;
    pipeline.onPoll(poll('m1', nowMs));
    pipeline.tick();
    expect(commits.at(-1)).toEqual({ atMs: 21_000, records: ['event'], state: JSON.stringify({ polls: 11 }) });
    // A forced flush (shutdown, an operator's entry) commits the state whatever the time.
    nowMs += 100;
    pipeline.onPoll(poll('m1', nowMs));
    pipeline.flush();
    expect(commits.at(-1)).toEqual({ atMs: 21_100, records: [], state: JSON.stringify({ polls: 12 }) });
  });
});

