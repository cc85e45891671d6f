// DataValue → PointValue. Pure: no I/O, no clock.
import { DataType, type DataValue, type StatusCode, type Variant } from 'node-opcua';
import type { PointValue, Quality } from '../../core/sample.js';
import { applyScale } from '../../profiles/scale.js';

/** A value that carries no data, only why: a failed item, an unresolvable browse path. */
export function badPointValue(unit: string, status: StatusCode): PointValue {
  return { value: null, unit, quality: 'bad', status: status.name };
}

/** OPC UA status severity lives in the two top bits: 00 good, 01 uncertain, 1x bad. */
export function qualityOf(status: StatusCode | number): Quality {
  const code = typeof status === 'number' ? status : status.value;
  const severity = (code >>> 30) & 0b11;
  if (severity === 0) return 'good';
  if (severity === 1) return 'uncertain';
  return 'bad';
}

/** `BadNodeIdUnknown (0x80340000)` */
export function statusText(status: StatusCode): string {
  return `${status.name} (0x${(status.value >>> 0).toString(16).padStart(8, '0')})`;
}

/** Statuses meaning the node itself is gone or wrong: retry it on its own, later. */
export function isNodeMissing(status: StatusCode): boolean {
  return ['BadNodeIdUnknown', 'BadNodeIdInvalid', 'BadAttributeIdInvalid', 'BadNotReadable', 'BadUserAccessDenied']
    .includes(status.name);
}

const INT64_TYPES = new Set([DataType.Int64, DataType.UInt64]);

/** A scalar variant as a JSON-friendly value; undefined when it has no scalar meaning. */
export function variantValue(variant: Variant | null | undefined): number | string | boolean | null | undefined {
  if (!variant || variant.dataType === DataType.Null) return null;
  const v: unknown = variant.value;
  if (variant.arrayType !== undefined && variant.arrayType !== 0) return undefined;
  if (INT64_TYPES.has(variant.dataType) && Array.isArray(v)) {
    // node-opcua carries 64-bit integers as [high, low] 32-bit words.
    const [hi, lo] = v as [number, number];
    return hi * 4294967296 + (lo >>> 0);
  }
  if (typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean') return v;
  if (v instanceof Date) return v.getTime();
  if (v && typeof v === 'object' && 'text' in v) return (v as { text: string | null }).text ?? null;
  if (v === null) return null;
  return undefined;
}

/** DataValue → point value in published units: `scale`/`offset` from the profile, status name when not Good. */
export function toPointValue(dv: DataValue, unit: string, scaling: { scale?: number | undefined; offset?: number | undefined } = {}): PointValue {
  const statusQuality = qualityOf(dv.statusCode);
  let quality = statusQuality;
  let value: PointValue['value'] = null;
  if (quality !== 'bad') {
    const converted = variantValue(dv.value);
    if (converted === undefined) quality = 'invalid';
    else value = converted;
    if (typeof value === 'number' && !Number.isFinite(value)) {
      value = null;
      quality = 'invalid';
    }
    if (typeof value === 'number' && (scaling.scale !== undefined || scaling.offset !== undefined)) {
      value = applyScale(value, scaling.scale, scaling.offset);
    }
  }
  const out: PointValue = { value, unit, quality };
  if (statusQuality !== 'good') out.status = dv.statusCode.name;
  const ts = dv.sourceTimestamp?.getTime();
  if (ts !== undefined && Number.isFinite(ts) && ts > 0) out.sourceTsMs = ts;
  return out;
}
