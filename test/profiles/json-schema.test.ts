import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultDriversDir } from '../../src/profiles/catalogue.js';
import { driverJsonSchema, driverJsonSchemaText } from '../../src/profiles/json-schema.js';

const file = join(defaultDriversDir(), 'driver.schema.json');

type ProfileSchema = { required: string[]; properties: { protocol: { const: string }; points: { items: { properties: Record<string, unknown>; required: string[] } } } };

/** The branch of the generated schema an editor picks for one `protocol:` value. */
function branch(protocol: string): ProfileSchema {
  const schema = driverJsonSchema() as { oneOf: ProfileSchema[] };
  const found = schema.oneOf.find((b) => b.properties.protocol.const === protocol);
  if (!found) throw new Error(`no schema branch for protocol ${protocol}`);
  return found;
}

describe('drivers/driver.schema.json', () => {
  it('is generated from the zod schema and up to date (UPDATE_DRIVER_SCHEMA=1 rewrites it)', () => {
    const text = driverJsonSchemaText();
    if (process.env.UPDATE_DRIVER_SCHEMA === '1') writeFileSync(file, text);
    expect(readFileSync(file, 'utf8'), 'run: UPDATE_DRIVER_SCHEMA=1 npx vitest run test/profiles/json-schema.test.ts').toBe(text);
  });

  it('tells an editor what a Modbus point looks like', () => {
    const modbus = branch('modbus');
    expect(modbus.required).toEqual(expect.arrayContaining(['schema', 'id', 'references', 'points']));
    const point = modbus.properties.points.items;
    expect(point.required).toEqual(expect.arrayContaining(['id', 'address']));
    expect(Object.keys(point.properties)).toEqual(expect.arrayContaining(['function', 'type', 'order', 'scale', 'unit', 'multiply_by', 'scale_register', 'interval']));
  });

  it('tells an editor what an OPC UA point looks like', () => {
    const opcua = branch('opcua');
    expect(opcua.required).toEqual(expect.arrayContaining(['schema', 'id', 'references', 'points']));
    expect(Object.keys(opcua.properties)).toContain('namespaces');
    const point = opcua.properties.points.items;
    expect(point.required).toEqual(['id']);
    expect(Object.keys(point.properties)).toEqual(expect.arrayContaining(['browse_path', 'node_id', 'unit', 'scale', 'counter', 'mode']));
    expect(Object.keys(point.properties)).not.toContain('address');
  });
});
