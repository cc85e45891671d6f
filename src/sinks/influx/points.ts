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

// ------------------------------------------------------------------ from the stored JSON

// A replay formats millions of stored telemetry records. Parsing each one into objects
// only to read them once cost more than everything else on our side, most of it in
// garbage collection, so the `reading` row is written straight from the JSON text the
// outbox holds, with as few allocations as possible. The scan accepts exactly the shape
// the gateway stores (telemetryFromPoll, plus the origin and replay mark that a
// bridge's records carry); anything else — another key, an escape sequence anywhere, a
// nested value — makes it give up, and the record goes through JSON.parse and
// readingLine as before.
//
// The outbox stores JSON.stringify output, which writes a finite number exactly as
// String() does, and String() is what formatField writes: a number's text is copied as
// is. A string without a backslash is its own value.

const QUOTE = 34;
const COMMA = 44;
const OPEN = 123;
const CLOSE = 125;

/** Reused between calls: the fields of the row being written, and their sorted order. */
const fieldKeys: string[] = [];
const fieldTexts: string[] = [];
const fieldOrder: number[] = [];
const lineParts: string[] = [];
const byKey = (a: number, b: number): number => {
  const x = fieldKeys[a]!;
  const y = fieldKeys[b]!;
  return x < y ? -1 : x > y ? 1 : a - b;
};

/** End (exclusive) of the string whose opening quote is at `at`, or -1. */
function stringEnd(json: string, at: number): number {
  if (json.charCodeAt(at) !== QUOTE) return -1;
  const end = json.indexOf('"', at + 1);
  return end < 0 ? -1 : end + 1;
}

/** End (exclusive) of the JSON number starting at `at`, or -1. */
function numberEnd(json: string, at: number): number {
  let i = at;
  if (json.charCodeAt(i) === 45 /* - */) i += 1;
  const digits = i;
  for (;;) {
    const c = json.charCodeAt(i);
    // digits, '.', 'e', 'E', '+', '-': the stored text is JSON.stringify output.
    if ((c >= 48 && c <= 57) || c === 46 || c === 101 || c === 69 || c === 43 || c === 45) i += 1;
    else break;
  }
  return i > digits ? i : -1;
}

/** Position after one `"value":…,"unit":…,"quality":…[,"source_ts_ms":…]}` entry body, or -1; records the field(s). */
function valueEntry(json: string, at: number, point: string): number {
  if (!json.startsWith('{"value":', at)) return -1;
  let i = at + 9;
  let text: string | null = null;
  let numeric = false;
  const c = json.charCodeAt(i);
  if (c === QUOTE) {
    const end = stringEnd(json, i);
    if (end < 0) return -1;
    text = formatField(json.slice(i + 1, end - 1));
    i = end;
  } else if (json.startsWith('null', i)) {
    i += 4;
  } else if (json.startsWith('true', i)) {
    text = 'true';
    i += 4;
  } else if (json.startsWith('false', i)) {
    text = 'false';
    i += 5;
  } else {
    const end = numberEnd(json, i);
    if (end < 0) return -1;
    text = json.slice(i, end);
    i = end;
    numeric = true;
  }
  if (!json.startsWith(',"unit":', i)) return -1;
  i = stringEnd(json, i + 8);
  if (i < 0 || !json.startsWith(',"quality":', i)) return -1;
  const qStart = i + 11;
  const qEnd = stringEnd(json, qStart);
  if (qEnd < 0) return -1;
  i = qEnd;
  const good = json.startsWith('good"', qStart + 1) && qEnd === qStart + 6;
  if (json.startsWith(',"source_ts_ms":', i)) {
    i = numberEnd(json, i + 16);
    if (i < 0) return -1;
  }
  if (json.charCodeAt(i) !== CLOSE) return -1;
  const usable = good || (json.startsWith('uncertain"', qStart + 1) && qEnd === qStart + 11);
  if (!good || !numeric || i !== qEnd) plainValues = false;
  if (usable && text !== null) {
    fieldKeys.push(point);
    fieldTexts.push(text);
  }
  if (!good) {
    fieldKeys.push(`${point}_quality`);
    fieldTexts.push(formatField(json.slice(qStart + 1, qEnd - 1)));
  }
  return i + 1;
}

/** Position after the `values` object starting at `at`, or -1. */
function valuesObject(json: string, at: number): number {
  if (json.charCodeAt(at) !== OPEN) return -1;
  let i = at + 1;
  if (json.charCodeAt(i) === CLOSE) return i + 1;
  for (;;) {
    const keyEnd = stringEnd(json, i);
    if (keyEnd < 0 || keyEnd === i + 2 || json.charCodeAt(keyEnd) !== 58 /* : */) return -1;
    i = valueEntry(json, keyEnd + 1, json.slice(i + 1, keyEnd - 1));
    if (i < 0) return -1;
    const c = json.charCodeAt(i);
    i += 1;
    if (c === CLOSE) return i;
    if (c !== COMMA) return -1;
  }
}

/** Whether every entry of the values object just scanned was a plain good number (no source time). */
let plainValues = true;

/**
 * A device's values as they were last stored: the same point ids in the same order,
 * each a good number. Most records of a device look like its previous one; for those
 * the scan only checks each entry against the layout and copies the number, and the
 * escaped names and their sorted order are reused. Anything different takes the
 * general scan (which records the new layout).
 */
interface Layout { heads: string[]; escaped: string[]; order: number[] }
const layouts = new Map<string, Layout>();
const PLAIN_TAIL = ',"quality":"good"}';

function rememberLayout(device: string): void {
  const n = fieldKeys.length;
  if (layouts.size >= 20_000) layouts.clear();
  layouts.set(device, {
    heads: fieldKeys.map((k) => `"${k}":{"value":`),
    escaped: fieldKeys.map((k) => escapeKey(k)),
    order: fieldOrder.slice(0, n),
  });
}

/** Position after a values object laid out as `layout` (the numbers go to fieldTexts), or -1. */
function valuesByLayout(json: string, at: number, layout: Layout): number {
  if (json.charCodeAt(at) !== OPEN) return -1;
  let i = at + 1;
  const n = layout.heads.length;
  fieldTexts.length = 0;
  for (let k = 0; k < n; k++) {
    const head = layout.heads[k]!;
    if (!json.startsWith(head, i)) return -1;
    i += head.length;
    const end = numberEnd(json, i);
    if (end < 0) return -1;
    fieldTexts.push(json.slice(i, end));
    if (!json.startsWith(',"unit":', end)) return -1;
    i = stringEnd(json, end + 8);
    if (i < 0 || !json.startsWith(PLAIN_TAIL, i)) return -1;
    i += PLAIN_TAIL.length;
    if (json.charCodeAt(i) !== (k === n - 1 ? CLOSE : COMMA)) return -1;
    i += 1;
  }
  return i;
}

/**
 * The `reading` row of a telemetry record, from its stored JSON: the same text as
 * recordLines(JSON.parse(json)) — null when the record has no usable value — or
 * undefined when the text is not of the known shape (then parse it).
 */
export function telemetryLineFromJson(json: string, id: SeriesIdentity): string | null | undefined {
  if (json.charCodeAt(0) !== OPEN || json.includes('\\')) return undefined;
  fieldKeys.length = 0;
  fieldTexts.length = 0;
  let i = 1;
  let kind = false;
  let device: string | undefined;
  let model = '';
  let ts = Number.NaN;
  let site = id.site;
  let gateway = id.gateway;
  let values = false;
  let layout: Layout | undefined;
  for (;;) {
    const keyEnd = stringEnd(json, i);
    if (keyEnd < 0 || json.charCodeAt(keyEnd) !== 58) return undefined;
    const key = json.slice(i + 1, keyEnd - 1);
    i = keyEnd + 1;
    if (key === 'values') {
      if (values) return undefined;
      values = true;
      const known = device === undefined ? undefined : layouts.get(device);
      const end = known ? valuesByLayout(json, i, known) : -1;
      if (end >= 0) {
        layout = known!;
        i = end;
      } else {
        layout = undefined;
        fieldKeys.length = 0;
        fieldTexts.length = 0;
        plainValues = true;
        i = valuesObject(json, i);
      }
    } else if (key === 'ts_ms') {
      const end = numberEnd(json, i);
      if (end < 0) return undefined;
      ts = Number(json.slice(i, end));
      i = end;
    } else if (key === 'replayed') {
      if (json.startsWith('true', i)) i += 4;
      else if (json.startsWith('false', i)) i += 5;
      else return undefined;
    } else if (key === 'model' && json.startsWith('null', i)) {
      model = '';
      i += 4;
    } else {
      const end = stringEnd(json, i);
      if (end < 0) return undefined;
      const text = json.slice(i + 1, end - 1);
      i = end;
      if (key === 'kind') kind = text === 'telemetry';
      else if (key === 'device') device = text;
      else if (key === 'model') model = text;
      else if (key === 'site') site = text;
      else if (key === 'gateway') gateway = text;
      else return undefined;
    }
    if (i < 0) return undefined;
    const c = json.charCodeAt(i);
    i += 1;
    if (c === CLOSE) break;
    if (c !== COMMA) return undefined;
  }
  if (i !== json.length || !kind || device === undefined || !Number.isFinite(ts) || !values) return undefined;
  const parts = lineParts;
  parts.length = 0;
  parts.push('reading');
  if (device !== '') parts.push(',device=', escapeTagValue(device));
  if (gateway !== '') parts.push(',gateway=', escapeTagValue(gateway));
  if (model !== '') parts.push(',model=', escapeTagValue(model));
  if (site !== '') parts.push(',site=', escapeTagValue(site));
  if (layout) {
    for (let k = 0; k < layout.order.length; k++) {
      const f = layout.order[k]!;
      parts.push(k === 0 ? ' ' : ',', layout.escaped[f]!, '=', fieldTexts[f]!);
    }
    parts.push(' ', String(Math.round(ts)));
    return parts.join('');
  }
  const n = fieldKeys.length;
  if (n === 0) return null;
  fieldOrder.length = n;
  for (let k = 0; k < n; k++) fieldOrder[k] = k;
  fieldOrder.sort(byKey);
  // Each key once, each a good number: worth remembering for this device's next record.
  if (plainValues && device !== undefined) rememberLayout(device);
  // Joined from parts rather than concatenated: `+=` builds a tree of string pieces
  // that stays alive, several times the row's size, until the batch is joined.
  for (let k = 0; k < n; k++) {
    const f = fieldOrder[k]!;
    parts.push(k === 0 ? ' ' : ',', escapeKey(fieldKeys[f]!), '=', fieldTexts[f]!);
  }
  parts.push(' ', String(Math.round(ts)));
  return parts.join('');
}

/** recordLines for a record read from the outbox, from its stored JSON when it can. */
export function storedRecordLines(json: string, id: SeriesIdentity): string[] {
  const line = telemetryLineFromJson(json, id);
  if (line === undefined) return recordLines(JSON.parse(json), id);
  return line === null ? [] : [line];
}
