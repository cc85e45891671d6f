// How gateway records become InfluxDB rows: the `reading`, `energy`, `enpi`, `demand`
// and `event` measurements of the documented schema. Interval rows are stamped with
// the interval start, so a replay of the same record overwrites instead of duplicating.
import { escapeKey, escapeTagValue, formatField, toLine, type FieldValue, type Point } from './line-protocol.js';

export interface SeriesIdentity {
  site: string;
  gateway: string;
}

const INTERVAL_TAGS: Record<string, string[]> = {
  energy: ['account', 'carrier', 'window', 'level', 'shift'],
  enpi: ['enpi', 'window', 'shift'],
  demand: ['account', 'window'],
  event: ['type', 'device', 'point'],
};
// `id` is the record's identity, which the series key and the timestamp already are;
// `site`/`gateway` are tags; `replayed` is about delivery, not about the data.
const NOT_FIELDS = new Set(['kind', 'id', 'site', 'gateway', 'start_ms', 'ts_ms', 'replayed']);

/**
 * The rows of one record. The series identity comes from the record when it carries
 * one (records the bridge received from a gateway), else from this gateway.
 */
export function recordToPoints(record: unknown, id: SeriesIdentity): Point[] {
  const r = record as Record<string, unknown>;
  const kind = r.kind;
  const identity = {
    site: typeof r.site === 'string' ? r.site : id.site,
    gateway: typeof r.gateway === 'string' ? r.gateway : id.gateway,
  };
  if (kind === 'telemetry') return [readingPoint(r, identity)];
  const tagKeys = typeof kind === 'string' ? INTERVAL_TAGS[kind] : undefined;
  if (!tagKeys) return [];
  const tags: Record<string, string> = { ...identity };
  const fields: Record<string, FieldValue> = {};
  for (const [k, v] of Object.entries(r)) {
    if (NOT_FIELDS.has(k)) continue;
    if (tagKeys.includes(k)) {
      if (v !== null && v !== undefined) tags[k] = String(v);
      continue;
    }
    flattenField(k, v, fields);
  }
  const tsMs = kind === 'event' ? r.ts_ms : r.start_ms;
  return [{ measurement: kind as string, tags, fields, tsMs: typeof tsMs === 'number' ? tsMs : 0 }];
}

function flattenField(key: string, v: unknown, out: Record<string, FieldValue>): void {
  if (v === null || v === undefined) return;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'string') {
    out[key] = v;
  } else if (Array.isArray(v)) {
    if (v.length > 0) out[key] = v.map(String).join(',');
  } else if (typeof v === 'object') {
    for (const [k, inner] of Object.entries(v)) flattenField(`${key}_${k}`, inner, out);
  }
}

function readingPoint(r: Record<string, unknown>, id: SeriesIdentity): Point {
  const tags: Record<string, string> = { site: id.site, gateway: id.gateway, device: String(r.device) };
  if (typeof r.model === 'string') tags.model = r.model;
  const fields: Record<string, FieldValue> = {};
  const values = (r.values ?? {}) as Record<string, { value: unknown; quality: string }>;
  for (const [point, v] of Object.entries(values)) {
    if (v.quality === 'good' || v.quality === 'uncertain') {
      if (typeof v.value === 'number' || typeof v.value === 'boolean' || typeof v.value === 'string') fields[point] = v.value;
    }
    // A value that is not plain good is marked, never silently written as a number.
    if (v.quality !== 'good') fields[`${point}_quality`] = v.quality;
  }
  return { measurement: 'reading', tags, fields, tsMs: r.ts_ms as number };
}

/**
 * The line-protocol rows of one record. Telemetry (most rows by far) is written
 * straight to text, without the intermediate Point: a replay formats millions of them.
 */
export function recordLines(record: unknown, id: SeriesIdentity): string[] {
  const r = record as Record<string, unknown>;
  if (r.kind === 'telemetry') {
    const line = readingLine(r, id);
    return line === null ? [] : [line];
  }
  const lines: string[] = [];
  for (const p of recordToPoints(record, id)) {
    const line = toLine(p);
    if (line !== null) lines.push(line);
  }
  return lines;
}

/** Same row as toLine(readingPoint(...)): tags and fields sorted by key. */
function readingLine(r: Record<string, unknown>, id: SeriesIdentity): string | null {
  const values = (r.values ?? {}) as Record<string, { value: unknown; quality: string }>;
  const fields: Array<[string, FieldValue]> = [];
  for (const point of Object.keys(values)) {
    const v = values[point]!;
    if (v.quality === 'good' || v.quality === 'uncertain') {
      const x = v.value;
      if ((typeof x === 'number' && Number.isFinite(x)) || typeof x === 'boolean' || typeof x === 'string') fields.push([point, x]);
    }
    if (v.quality !== 'good') fields.push([`${point}_quality`, v.quality]);
  }
  if (fields.length === 0) return null;
  fields.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  let line = 'reading';
  // Tag keys in sorted order: device, gateway, model, site.
  const device = String(r.device);
  const gateway = typeof r.gateway === 'string' ? r.gateway : id.gateway;
  const site = typeof r.site === 'string' ? r.site : id.site;
  if (device !== '') line += `,device=${escapeTagValue(device)}`;
  if (gateway !== '') line += `,gateway=${escapeTagValue(gateway)}`;
  if (typeof r.model === 'string' && r.model !== '') line += `,model=${escapeTagValue(r.model)}`;
  if (site !== '') line += `,site=${escapeTagValue(site)}`;
  for (let i = 0; i < fields.length; i++) line += `${i === 0 ? ' ' : ','}${escapeKey(fields[i]![0])}=${formatField(fields[i]![1])}`;
  return `${line} ${Math.round(r.ts_ms as number)}`;
}
