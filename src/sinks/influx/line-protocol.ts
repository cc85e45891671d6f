// InfluxDB line protocol, escaped as the spec requires, so that names like
// "一号车间, east" or "line=2" survive the round trip.
//
//   measurement: "," and " " are escaped
//   tag keys, tag values, field keys: ",", "=" and " " are escaped
//   string field values: '"' and "\" are escaped
//
// A newline, carriage return or tab cannot appear in a name (a line ends at the
// newline); like Telegraf we write them as the two characters "\n", "\r", "\t". A
// backslash is written as is, except where it would escape what follows it (before
// an escaped character or at the end), where it is doubled so the line stays valid.
// InfluxDB 1.x keeps such a doubled backslash as two; 2.x, 3.x and VictoriaMetrics
// read one.

export type FieldValue = number | boolean | string;

export interface Point {
  measurement: string;
  tags: Record<string, string>;
  fields: Record<string, FieldValue>;
  tsMs: number;
}

const CONTROL: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

function escaper(special: string): (s: string) => string {
  const needs = new RegExp(`[\\\\\\n\\r\\t${special}]`);
  const backslash = new RegExp(`\\\\(?=[${special}\\n\\r\\t]|$)`, 'g');
  const specials = new RegExp(`[${special}]`, 'g');
  return (s) => {
    if (!needs.test(s)) return s;
    return s
      .replace(backslash, '\\\\')
      .replace(specials, (c) => `\\${c}`)
      .replace(/[\n\r\t]/g, (c) => CONTROL[c]!);
  };
}

/** Names repeat on every row (point ids, device ids): escaped once, then looked up. */
function memo(fn: (s: string) => string): (s: string) => string {
  const cache = new Map<string, string>();
  return (s) => {
    let out = cache.get(s);
    if (out === undefined) {
      out = fn(s);
      if (cache.size >= 20_000) cache.clear();
      cache.set(s, out);
    }
    return out;
  };
}

export const escapeMeasurement = memo(escaper(', '));
export const escapeKey = memo(escaper(',= '));
export const escapeTagValue = escapeKey;
export const escapeStringField = (s: string): string => s.replace(/[\\"]/g, (c) => `\\${c}`);

/** Field values: numbers are floats (no `i` suffix), so a field never changes type between rows. */
export function formatField(v: FieldValue): string {
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'string') return `"${escapeStringField(v)}"`;
  return String(v);
}

/** One line, or null when the point has no usable field (InfluxDB rejects such lines). */
export function toLine(p: Point): string | null {
  // Plain loops and concatenation: this runs for every row of a replay.
  const fieldKeys = Object.keys(p.fields).sort();
  let fields = '';
  for (const k of fieldKeys) {
    const v = p.fields[k]!;
    if (typeof v === 'number' && !Number.isFinite(v)) continue;
    fields += `${fields === '' ? '' : ','}${escapeKey(k)}=${formatField(v)}`;
  }
  if (fields === '') return null;
  // Sorted tags are what InfluxDB stores; sending them sorted saves it the work.
  const tagKeys = Object.keys(p.tags).sort();
  let tags = '';
  for (const k of tagKeys) {
    const v = p.tags[k]!;
    if (v === '' || k === '') continue;
    tags += `,${escapeKey(k)}=${escapeTagValue(v)}`;
  }
  return `${escapeMeasurement(p.measurement)}${tags} ${fields} ${Math.round(p.tsMs)}`;
}
