// InfluxDB line protocol, escaped exactly as the spec requires, so that names like
// "一号车间, east" or "line=2" survive the round trip.

export type FieldValue = number | boolean | string;

export interface Point {
  measurement: string;
  tags: Record<string, string>;
  fields: Record<string, FieldValue>;
  tsMs: number;
}

const escapeMeasurement = (s: string) => s.replace(/[\\,\s]/g, (c) => (c === '\\' ? '\\\\' : `\\${c === '\n' || c === '\r' || c === '\t' ? ' ' : c}`));
const escapeKey = (s: string) => s.replace(/[\\,=\s]/g, (c) => (c === '\\' ? '\\\\' : `\\${c === '\n' || c === '\r' || c === '\t' ? ' ' : c}`));
const escapeString = (s: string) => s.replace(/[\\"]/g, (c) => `\\${c}`);

function formatField(v: FieldValue): string {
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'string') return `"${escapeString(v)}"`;
  // Always floats: a field that is once integer and once float is a type conflict in InfluxDB.
  return Number.isInteger(v) ? `${v}.0` : String(v);
}

/** One line, or null when the point has no usable field (Influx rejects such lines). */
export function toLine(p: Point): string | null {
  const fields = Object.entries(p.fields)
    .filter(([, v]) => typeof v !== 'number' || Number.isFinite(v))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${escapeKey(k)}=${formatField(v)}`);
  if (fields.length === 0) return null;
  const tags = Object.entries(p.tags)
    .filter(([, v]) => v !== '')
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `,${escapeKey(k)}=${escapeKey(v)}`)
    .join('');
  return `${escapeMeasurement(p.measurement)}${tags} ${fields.join(',')} ${Math.round(p.tsMs)}`;
}
