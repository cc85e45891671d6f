import type { DevicePoll } from '../core/sample.js';
import { compact, isPacked, PackedTelemetry, packedText, pointHeadText, TelemetryLayout, TelemetryLayouts, unitAndQualityText } from '../outbox/packed-telemetry.js';

/**
 * The outbox text of a poll's telemetry record, written straight from the poll: exactly
 * JSON.stringify(telemetryFromPoll(poll, model)), character for character, or undefined
 * when the poll holds something this writer does not handle (then the caller stringifies
 * the record as before).
 *
 * JSON.stringify walks a fresh object per value and quotes every key, unit and quality
 * again on each poll: that was the largest single cost of a poll. Here the quoted pieces
 * that repeat from poll to poll are made once; what remains per value is its number
 * (String(x) is what JSON.stringify writes for a finite number, so float32 readings keep
 * every digit they need to parse back to the same double).
 */
export function telemetryJson(poll: DevicePoll, model: string | null): string | undefined {
  return write(poll, model, unstored, false);
}

/** A poll's telemetry as the outbox stores it: packed (with its layout) when it can be. */
export interface StoredTelemetryText {
  json: string;
  /** The layout a packed text refers to; null for the full text. */
  layout: TelemetryLayout | null;
}

/**
 * The text the outbox stores for a poll: packed against the device's layout in `layouts`
 * (the outbox's) when every value is a number or null, else the full JSON as
 * telemetryJson writes it. Undefined when telemetryJson declines.
 */
export function telemetryStored(poll: DevicePoll, model: string | null, layouts: TelemetryLayouts): StoredTelemetryText | undefined {
  const json = write(poll, model, layouts, true);
  if (json === undefined) return undefined;
  // Packed only against the device's layout as it was looked up, which a text ending in its
  // numbers' bracket did not change (a full text always ends with the values' brace).
  return { json, layout: isPacked(json) ? layouts.forDevice(poll.device)! : null };
}

/** Layouts for full texts only: never stored, never packed against. */
const unstored = new TelemetryLayouts(false);

function write(poll: DevicePoll, model: string | null, layouts: TelemetryLayouts, pack: boolean): string | undefined {
  const values = poll.values;
  // for…in also walks inherited enumerable keys: only plain objects are written here, so
  // the order below is the one the record (a plain object filled in the same order) has.
  const proto = Object.getPrototypeOf(values) as unknown;
  if (proto !== Object.prototype && proto !== null) return undefined;
  if (typeof poll.device !== 'string' || (model !== null && typeof model !== 'string')) return undefined;
  const ts = scalar(poll.tsMs);
  if (ts === undefined) return undefined;
  const head = `${recordHead(poll.device, model)}${ts}`;
  const layout = layouts.forDevice(poll.device);
  if (layout !== undefined) {
    const text = withLayout(layout, head, values, pack);
    if (text !== null) return text;
  }
  return general(poll.device, head, values, layouts);
}

/**
 * The text, or null when the poll does not match the layout (or holds a value the general
 * path declines).
 *
 * Joined rather than concatenated: `+=` builds a tree of string pieces that stays in memory
 * until something flattens it — the outbox's commit, a tenth of a second later — and a tree
 * that outlives a young-generation collection is copied into the old one. A joined text is
 * one flat string from the start, and the pieces die at once.
 */
function withLayout(layout: TelemetryLayout, head: string, values: DevicePoll['values'], pack: boolean): string | null {
  const { ids, units, qualities, glue } = layout;
  const n = ids.length;
  const readings = new Array<unknown>(n);
  let numeric = true;
  let i = 0;
  for (const id in values) {
    const v = values[id]!;
    if (i >= n || id !== ids[i] || v.unit !== units[i] || v.quality !== qualities[i] || v.sourceTsMs !== undefined || v.status !== undefined) return null;
    const x = v.value;
    if (typeof x !== 'number' && x !== null) numeric = false;
    readings[i] = x;
    i += 1;
  }
  if (i !== n) return null;
  if (numeric) {
    // Numbers and nulls (nearly every poll): written by one JSON.stringify of the array, in
    // the engine, then cut at the commas. JSON writes a finite number as String() does and
    // anything else as null, like scalar(); String() per value cost a third more. The full
    // text is the packed one unpacked, so that one place cuts the numbers at the commas.
    const packed = packedText(head, JSON.stringify(readings));
    return pack && layout.id > 0 ? packed : new PackedTelemetry(packed, layout).text();
  }
  const parts = new Array<string>(2 * n + 2);
  parts[0] = head;
  for (let k = 0; k < n; k++) {
    const value = scalar(readings[k]);
    if (value === undefined) return null;
    parts[2 * k + 1] = glue[k]!;
    parts[2 * k + 2] = value;
  }
  parts[2 * n + 1] = glue[n]!;
  return parts.join('');
}

/** Any poll; records the device's layout when every value is a plain reading. */
function general(device: string, head: string, values: DevicePoll['values'], layouts: TelemetryLayouts): string | undefined {
  let out = `${head},"values":{`;
  let first = true;
  let plain = true;
  for (const id in values) {
    // Assigning "__proto__" sets the record's prototype instead of adding a key.
    if (id === '__proto__') return undefined;
    const v = values[id]!;
    const value = scalar(v.value);
    if (value === undefined || typeof v.unit !== 'string' || typeof v.quality !== 'string') return undefined;
    out += `${first ? '' : ','}${pointHead(id)}${value}${unitAndQuality(v.unit, v.quality)}`;
    first = false;
    if (v.sourceTsMs !== undefined) {
      const at = scalar(v.sourceTsMs);
      if (at === undefined) return undefined;
      out += `,"source_ts_ms":${at}`;
      plain = false;
    }
    if (v.status !== undefined) {
      if (typeof v.status !== 'string') return undefined;
      out += `,"status":${quote(v.status)}`;
      plain = false;
    }
    out += '}';
  }
  if (plain) rememberLayout(device, values, layouts);
  return `${out}}}`;
}

function rememberLayout(device: string, values: DevicePoll['values'], layouts: TelemetryLayouts): void {
  const ids: string[] = [];
  const units: string[] = [];
  const qualities: string[] = [];
  for (const id in values) {
    ids.push(id);
    units.push(values[id]!.unit);
    qualities.push(values[id]!.quality);
  }
  layouts.remember(device, ids, units, qualities);
}

/** A value as JSON.stringify writes it; undefined for what it would drop or refuse. */
function scalar(x: unknown): string | undefined {
  switch (typeof x) {
    case 'number': return Number.isFinite(x) ? String(x) : 'null';
    case 'string': return JSON.stringify(x);
    case 'boolean': return x ? 'true' : 'false';
    case 'object': return x === null ? 'null' : undefined;
    default: return undefined;
  }
}

/**
 * The quoted pieces, by what they quote. Point ids, units, qualities and device names come
 * from the configuration and profiles, so these stay small; the bound only keeps a source
 * that invents ids (a misbehaving OPC UA server) from growing them without end.
 */
const CACHE_LIMIT = 10_000;
const quotedText = new Map<string, string>();
const pointHeads = new Map<string, string>();
const tails = new Map<string, Map<string, string>>();
const recordHeads = new Map<string, { model: string | null; head: string }>();

function remember<K, V>(map: Map<K, V>, key: K, value: V): V {
  if (map.size >= CACHE_LIMIT) map.clear();
  map.set(key, value);
  return value;
}

function quote(text: string): string {
  return quotedText.get(text) ?? remember(quotedText, text, compact(JSON.stringify(text)));
}

/** `"id":{"value":` */
function pointHead(id: string): string {
  return pointHeads.get(id) ?? remember(pointHeads, id, compact(pointHeadText(id)));
}

/** `,"unit":"…","quality":"…"` */
function unitAndQuality(unit: string, quality: string): string {
  const byQuality = tails.get(unit) ?? remember(tails, unit, new Map<string, string>());
  return byQuality.get(quality) ?? remember(byQuality, quality, compact(unitAndQualityText(unit, quality)));
}

/** `{"kind":"telemetry","device":"…","model":…,"ts_ms":` */
function recordHead(device: string, model: string | null): string {
  const known = recordHeads.get(device);
  if (known !== undefined && known.model === model) return known.head;
  const head = compact(`{"kind":"telemetry","device":${JSON.stringify(device)},"model":${JSON.stringify(model)},"ts_ms":`);
  remember(recordHeads, device, { model, head });
  return head;
}
