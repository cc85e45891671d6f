import type { DevicePoll } from '../core/sample.js';

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
  const values = poll.values;
  // for…in also walks inherited enumerable keys: only plain objects are written here, so
  // the order below is the one the record (a plain object filled in the same order) has.
  const proto = Object.getPrototypeOf(values) as unknown;
  if (proto !== Object.prototype && proto !== null) return undefined;
  if (typeof poll.device !== 'string' || (model !== null && typeof model !== 'string')) return undefined;
  const ts = scalar(poll.tsMs);
  if (ts === undefined) return undefined;
  const head = `${recordHead(poll.device, model)}${ts}`;
  const layout = layouts.get(poll.device);
  if (layout !== undefined) {
    const text = withLayout(layout, head, values);
    if (text !== null) return text;
  }
  return general(poll.device, head, values);
}

/**
 * A device's points as last written when each was a plain reading (no source time, no
 * status): ids, units and qualities in order, and the text between one value and the next
 * (glue[i] comes before value i, glue[n] closes the record). A poll that matches it is
 * written as glue and numbers only: no lookups per value, half the pieces to join. Meters of
 * one model share one layout.
 */
interface Layout {
  ids: string[];
  units: string[];
  qualities: string[];
  glue: string[];
}
const layouts = new Map<string, Layout>();
let lastLayout: Layout | null = null;

/**
 * The text, or null when the poll does not match the layout (or holds a value the general
 * path declines).
 *
 * Joined rather than concatenated: `+=` builds a tree of string pieces that stays in memory
 * until something flattens it — the outbox's commit, a tenth of a second later — and a tree
 * that outlives a young-generation collection is copied into the old one. A joined text is
 * one flat string from the start, and the pieces die at once.
 */
function withLayout(layout: Layout, head: string, values: DevicePoll['values']): string | null {
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
  const parts = new Array<string>(2 * n + 2);
  parts[0] = head;
  if (numeric) {
    // Numbers and nulls (nearly every poll): written by one JSON.stringify of the array, in
    // the engine, then cut at the commas. JSON writes a finite number as String() does and
    // anything else as null, like scalar(); String() per value cost a third more.
    const written = JSON.stringify(readings);
    let from = 1;
    for (let k = 0; k < n; k++) {
      const to = k === n - 1 ? written.length - 1 : written.indexOf(',', from);
      parts[2 * k + 1] = glue[k]!;
      parts[2 * k + 2] = written.slice(from, to);
      from = to + 1;
    }
  } else {
    for (let k = 0; k < n; k++) {
      const value = scalar(readings[k]);
      if (value === undefined) return null;
      parts[2 * k + 1] = glue[k]!;
      parts[2 * k + 2] = value;
    }
  }
  parts[2 * n + 1] = glue[n]!;
  return parts.join('');
}

/** Any poll; records the device's layout when every value is a plain reading. */
function general(device: string, head: string, values: DevicePoll['values']): string | undefined {
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
  if (plain) rememberLayout(device, values);
  return `${out}}}`;
}

function rememberLayout(device: string, values: DevicePoll['values']): void {
  const ids: string[] = [];
  const units: string[] = [];
  const qualities: string[] = [];
  for (const id in values) {
    ids.push(id);
    units.push(values[id]!.unit);
    qualities.push(values[id]!.quality);
  }
  const last = lastLayout;
  let layout: Layout;
  if (last !== null && sameList(last.ids, ids) && sameList(last.units, units) && sameList(last.qualities, qualities)) {
    layout = last;
  } else {
    const glue: string[] = [];
    for (let i = 0; i <= ids.length; i++) {
      const before = i === 0 ? ',"values":{' : `${unitAndQuality(units[i - 1]!, qualities[i - 1]!)}}`;
      glue.push(compact(i < ids.length ? `${before}${i === 0 ? '' : ','}${pointHead(ids[i]!)}` : `${before}}}`));
    }
    layout = { ids, units, qualities, glue };
    lastLayout = layout;
  }
  remember(layouts, device, layout);
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
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

/**
 * The same text, held one byte per character where it can be. Point ids come from the
 * profile parser as two-byte strings (a YAML source with one character beyond Latin-1
 * makes every slice of it two-byte, whatever its content), and one two-byte piece makes
 * the whole record two-byte: twice the bytes to flatten, measure and convert to UTF-8 on
 * its way into SQLite. Latin-1 decoding always makes a one-byte string.
 */
function compact(text: string): string {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0xff) return text;
  return Buffer.from(text, 'latin1').toString('latin1');
}

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
  return pointHeads.get(id) ?? remember(pointHeads, id, compact(`${JSON.stringify(id)}:{"value":`));
}

/** `,"unit":"…","quality":"…"` */
function unitAndQuality(unit: string, quality: string): string {
  const byQuality = tails.get(unit) ?? remember(tails, unit, new Map<string, string>());
  return byQuality.get(quality) ?? remember(byQuality, quality, compact(`,"unit":${JSON.stringify(unit)},"quality":${JSON.stringify(quality)}`));
}

/** `{"kind":"telemetry","device":"…","model":…,"ts_ms":` */
function recordHead(device: string, model: string | null): string {
  const known = recordHeads.get(device);
  if (known !== undefined && known.model === model) return known.head;
  const head = compact(`{"kind":"telemetry","device":${JSON.stringify(device)},"model":${JSON.stringify(model)},"ts_ms":`);
  remember(recordHeads, device, { model, head });
  return head;
}
