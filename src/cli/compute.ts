// `energy-gateway compute`: runs the same energy engine as the gateway over a file of
// readings and prints the closed window, demand and EnPI records as JSON lines. For
// back-filling, audits ("show me how you got this number") and tests.
import { readFile } from 'node:fs/promises';
import { createEngine, type EngineConfig } from '../core/engine.js';
import type { DevicePoll } from '../core/sample.js';
import type { EngineRecord } from '../core/records.js';
import { parseDurationMs } from '../config/duration.js';
import { completeEngineConfig } from '../energy-io/engine-config.js';
import { FactorError, factorProblems } from '../energy-io/factors.js';
import { ConfigError } from '../config/errors.js';
import { engineConfigFrom } from '../app/engine-config.js';
import { CONFIG_OPTION, parseCommandArgs, requireString } from './args.js';
import { EXIT_OK, UsageError, type Command } from './command.js';
import { loadGatewayConfig } from './load-config.js';

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

const processIo: CliIo = { stdout: (t) => process.stdout.write(t), stderr: (t) => process.stderr.write(t) };

export interface Reading {
  tsMs: number;
  device: string;
  point: string;
  value: number;
  unit?: string | undefined;
  quality?: 'good' | 'uncertain' | 'invalid' | 'bad' | 'stale' | undefined;
}

/** Units of the canonical point ids (DESIGN.md), used when a readings file has no unit column. */
const CANONICAL_UNITS: Array<[RegExp, string]> = [
  [/^(active|reactive)_energy_/, 'kWh'], [/^volume_total$/, 'm3'], [/^mass_total$/, 't'], [/^heat_total$/, 'GJ'],
  [/^production_count$/, 'count'], [/^active_power/, 'W'], [/^flow_rate$/, 'm3/h'],
];

function defaultUnit(point: string): string {
  return CANONICAL_UNITS.find(([re]) => re.test(point))?.[1] ?? '';
}

function parseTs(text: string, where: string): number {
  const t = /^\d+$/.test(text.trim()) ? Number(text) : Date.parse(text);
  if (!Number.isFinite(t)) throw new UsageError(`${where}: invalid timestamp "${text}" (use epoch ms or ISO 8601 with an offset)`);
  return t;
}

/** Parses CSV (header with ts, device, point, value [, unit] [, quality]) or JSON lines. */
export function parseReadings(name: string, text: string): Reading[] {
  const lines = text.split(/\r?\n/).map((l) => l.trim());
  const first = lines.find((l) => l !== '' && !l.startsWith('#'));
  const out: Reading[] = [];
  if (first?.startsWith('{')) {
    lines.forEach((line, i) => {
      if (line === '' || line.startsWith('#')) return;
      let o: Record<string, unknown>;
      try {
        o = JSON.parse(line) as Record<string, unknown>;
      } catch {
        throw new UsageError(`${name}:${i + 1}: not JSON`);
      }
      const where = `${name}:${i + 1}`;
      if (typeof o.device !== 'string' || typeof o.point !== 'string' || typeof o.value !== 'number') {
        throw new UsageError(`${where}: needs "ts", "device", "point" and a numeric "value"`);
      }
      out.push({
        tsMs: parseTs(String(o.ts), where), device: o.device, point: o.point, value: o.value,
        unit: typeof o.unit === 'string' ? o.unit : undefined,
        quality: typeof o.quality === 'string' ? (o.quality as Reading['quality']) : undefined,
      });
    });
    return out;
  }
  const header = (first ?? '').split(',').map((h) => h.trim().toLowerCase());
  const col = (n: string) => header.indexOf(n);
  const [ts, device, point, value, unit, quality] = ['ts', 'device', 'point', 'value', 'unit', 'quality'].map(col) as [number, number, number, number, number, number];
  if (ts < 0 || device < 0 || point < 0 || value < 0) throw new UsageError(`${name}: the CSV header needs ts, device, point, value (optional unit, quality)`);
  let seenHeader = false;
  lines.forEach((line, i) => {
    if (line === '' || line.startsWith('#')) return;
    if (!seenHeader) {
      seenHeader = true;
      return;
    }
    const f = line.split(',').map((x) => x.trim());
    const where = `${name}:${i + 1}`;
    const v = Number(f[value]);
    if (f[value] === undefined || f[value] === '' || !Number.isFinite(v)) throw new UsageError(`${where}: invalid value "${f[value] ?? ''}"`);
    out.push({
      tsMs: parseTs(f[ts] ?? '', where), device: f[device] ?? '', point: f[point] ?? '', value: v,
      unit: unit >= 0 && f[unit] ? f[unit] : undefined,
      quality: quality >= 0 && f[quality] ? (f[quality] as Reading['quality']) : undefined,
    });
  });
  return out;
}

/** Groups time-sorted readings into device polls (same device and timestamp). */
export function toPolls(readings: readonly Reading[]): DevicePoll[] {
  const sorted = readings.map((r, i) => ({ r, i })).sort((a, b) => a.r.tsMs - b.r.tsMs || a.i - b.i).map((x) => x.r);
  const polls: DevicePoll[] = [];
  let current: DevicePoll | undefined;
  for (const r of sorted) {
    if (!current || current.device !== r.device || current.tsMs !== r.tsMs) {
      current = { device: r.device, tsMs: r.tsMs, values: {} };
      polls.push(current);
    }
    current.values[r.point] = { value: r.value, unit: r.unit ?? defaultUnit(r.point), quality: r.quality ?? 'good' };
  }
  return polls;
}

const USAGE = `energy-gateway compute --config FILE --readings FILE [--grace DURATION] [--events] [--until TIME]

Runs the energy engine of the gateway over recorded readings and prints the closed
window (energy), demand and EnPI records as JSON lines, oldest first.

Readings: CSV with a header "ts,device,point,value" (optional columns unit, quality)
or JSON lines {"ts":…,"device":…,"point":…,"value":…}. ts is epoch ms or ISO 8601
with an offset. Without a unit, canonical point ids get theirs (kWh, m3, t, GJ, count).

  --grace D   wait D after a window's end before closing it (default: energy.grace);
              a long grace lets late rows of other devices still count
  --events    also print event records (resets, rollovers, spikes, replacements)
  --until T   at the end, close every window ending by T (epoch ms or ISO 8601),
              e.g. the end of the month; default: the last reading's time. Windows
              past the last reading show their gap in coverage`;

export async function runCompute(argv: string[], io: CliIo = processIo): Promise<number> {
  const { values } = parseCommandArgs(argv, {
    ...CONFIG_OPTION,
    readings: { type: 'string', short: 'r' },
    grace: { type: 'string' },
    events: { type: 'boolean' },
    until: { type: 'string' },
  });
  const file = requireString(values.config, '--config');
  const readingsFile = requireString(values.readings, '--readings');
  const graceMs = values.grace === undefined ? undefined : parseDurationMs(values.grace);
  if (values.grace !== undefined && graceMs === undefined) throw new UsageError(`invalid --grace "${values.grace}"`);
  const untilMs = values.until === undefined ? undefined : parseTs(values.until, '--until');

  const { config, catalogue } = loadGatewayConfig(file);
  const engineConfig = await completeEngineConfig(engineConfigFrom(config, catalogue), config.energy).catch((err: unknown) => {
    throw err instanceof FactorError ? new ConfigError(factorProblems(file, err)) : err;
  });
  if (graceMs !== undefined) engineConfig.graceMs = graceMs;
  const polls = toPolls(parseReadings(readingsFile, await readFile(readingsFile, 'utf8')));

  const print = (records: EngineRecord[]) => {
    for (const r of records) if (r.kind !== 'event' || values.events) io.stdout(`${JSON.stringify(r)}\n`);
  };
  replay(engineConfig, polls, untilMs, print);
  return EXIT_OK;
}

/**
 * Feeds polls to a fresh engine exactly as the live pipeline does (closing what is due
 * before time moves on) and hands every record to `emit`; closes windows up to the
 * last reading, or `untilMs`.
 */
export function replay(engineConfig: EngineConfig, polls: readonly DevicePoll[], untilMs: number | undefined, emit: (records: EngineRecord[]) => void): void {
  const engine = createEngine(engineConfig);
  let lastTs: number | undefined;
  for (const p of polls) {
    if (lastTs !== undefined && p.tsMs !== lastTs) emit(engine.advance(p.tsMs));
    emit(engine.ingest(p));
    lastTs = p.tsMs;
  }
  const end = untilMs ?? lastTs;
  if (end !== undefined) emit(engine.advance(end + engineConfig.graceMs));
}

export const computeCommand: Command = {
  name: 'compute',
  summary: 'run the energy engine over a readings file and print window, demand and EnPI records',
  usage: USAGE,
  run: (argv) => runCompute(argv),
};
