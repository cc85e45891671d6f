import { DataType, DataValue, StatusCodes, Variant, VariantArrayType } from 'node-opcua';
import { describe, expect, it } from 'vitest';
import { isNodeMissing, qualityOf, statusText, toPointValue, variantValue } from '../../../src/protocols/opcua/data-value.js';

describe('OPC UA status → quality', () => {
  it.each([
    [StatusCodes.Good, 'good'],
    [StatusCodes.GoodClamped, 'good'],
    [StatusCodes.UncertainLastUsableValue, 'uncertain'],
    [StatusCodes.UncertainSensorNotAccurate, 'uncertain'],
    [StatusCodes.BadNodeIdUnknown, 'bad'],
    [StatusCodes.BadCommunicationError, 'bad'],
    [StatusCodes.BadWaitingForInitialData, 'bad'],
  ])('%s → %s', (status, quality) => {
    expect(qualityOf(status)).toBe(quality);
  });

  it('status text names the code and its hex value, as OPC UA tools print it', () => {
    expect(statusText(StatusCodes.BadNodeIdUnknown)).toBe('BadNodeIdUnknown (0x80340000)');
  });

  it('only node-level failures make an item retry on its own', () => {
    expect(isNodeMissing(StatusCodes.BadNodeIdUnknown)).toBe(true);
    expect(isNodeMissing(StatusCodes.BadNodeIdInvalid)).toBe(true);
    expect(isNodeMissing(StatusCodes.BadCommunicationError)).toBe(false);
  });
});

describe('DataValue → PointValue', () => {
  const ts = new Date('2026-03-01T08:00:00.000Z');

  it('keeps a good value, its unit and the source timestamp', () => {
    const dv = new DataValue({ value: new Variant({ dataType: DataType.Double, value: 42.5 }), statusCode: StatusCodes.Good, sourceTimestamp: ts });
    expect(toPointValue(dv, 'kWh')).toEqual({ value: 42.5, unit: 'kWh', quality: 'good', sourceTsMs: ts.getTime() });
  });

  it('a Bad status gives quality bad and no value, whatever the variant holds', () => {
    const dv = new DataValue({ value: new Variant({ dataType: DataType.Double, value: 1 }), statusCode: StatusCodes.BadSensorFailure });
    // The status name says why, for telemetry and `read --json`.
    expect(toPointValue(dv, 'W')).toEqual({ value: null, unit: 'W', quality: 'bad', status: 'BadSensorFailure' });
  });

  it('a Good value carries no status field (payloads stay as they were)', () => {
    const dv = new DataValue({ value: new Variant({ dataType: DataType.Double, value: 1 }), statusCode: StatusCodes.Good });
    expect(toPointValue(dv, 'W')).not.toHaveProperty('status');
  });

  it('applies a profile scale exactly: W·h as Float to kWh', () => {
    const dv = new DataValue({ value: new Variant({ dataType: DataType.Float, value: 1234500 }), statusCode: StatusCodes.Good });
    expect(toPointValue(dv, 'kWh', { scale: 0.001 })).toMatchObject({ value: 1234.5, quality: 'good' });
    const bad = new DataValue({ value: new Variant({ dataType: DataType.Float, value: 7 }), statusCode: StatusCodes.BadOutOfService });
    expect(toPointValue(bad, 'kWh', { scale: 0.001 })).toMatchObject({ value: null, quality: 'bad', status: 'BadOutOfService' });
  });

  it('an Uncertain value is kept but flagged', () => {
    const dv = new DataValue({ value: new Variant({ dataType: DataType.Float, value: 3 }), statusCode: StatusCodes.UncertainLastUsableValue });
    expect(toPointValue(dv, 'A')).toMatchObject({ value: 3, quality: 'uncertain', status: 'UncertainLastUsableValue' });
  });

  it('no source timestamp → none reported (the record time stands)', () => {
    const dv = new DataValue({ value: new Variant({ dataType: DataType.UInt32, value: 7 }), statusCode: StatusCodes.Good });
    expect(toPointValue(dv, 'count')).not.toHaveProperty('sourceTsMs');
  });

  it('64-bit counters arrive as [high, low] words and become one number', () => {
    const v = new Variant({ dataType: DataType.UInt64, arrayType: VariantArrayType.Scalar, value: [1, 5] });
    expect(variantValue(v)).toBe(4294967296 + 5);
  });

  it('non-finite numbers and arrays are invalid, not passed on', () => {
    expect(toPointValue(new DataValue({ value: new Variant({ dataType: DataType.Double, value: Number.NaN }) }), 'W'))
      .toMatchObject({ value: null, quality: 'invalid' });
    const arr = new Variant({ dataType: DataType.Double, arrayType: VariantArrayType.Array, value: [1, 2] });
    expect(toPointValue(new DataValue({ value: arr }), 'W')).toMatchObject({ value: null, quality: 'invalid' });
  });

  it('booleans, strings and localized text pass through', () => {
    expect(variantValue(new Variant({ dataType: DataType.Boolean, value: true }))).toBe(true);
    expect(variantValue(new Variant({ dataType: DataType.String, value: 'RUN' }))).toBe('RUN');
    expect(variantValue(new Variant({ dataType: DataType.LocalizedText, value: { text: 'Auto' } }))).toBe('Auto');
  });
});
