import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultDriversDir } from '../../src/profiles/catalogue.js';
import { driverJsonSchema, driverJsonSchemaText } from '../../src/profiles/json-schema.js';

const file = join(defaultDriversDir(), 'driver.schema.json');

describe('drivers/driver.schema.json', () => {
  it('is generated from the zod schema and up to date (UPDATE_DRIVER_SCHEMA=1 rewrites it)', () => {
    const text = driverJsonSchemaText();
    if (process.env.UPDATE_DRIVER_SCHEMA === '1') writeFileSync(file, text);
    expect(readFileSync(file, 'utf8'), 'run: UPDATE_DRIVER_SCHEMA=1 npx vitest run test/profiles/json-schema.test.ts').toBe(text);
  });

  it('tells an editor what a point looks like', () => {
    const schema = driverJsonSchema() as { required: string[]; properties: { points: { items: { properties: Record<string, unknown>; required: string[] } } } };
    expect(schema.required).toEqual(expect.arrayContaining(['schema', 'id', 'references', 'points']));
    const point = schema.properties.points.items;
    expect(point.required).toEqual(expect.arrayContaining(['id', 'address']));
    expect(Object.keys(point.properties)).toEqual(expect.arrayContaining(['function', 'type', 'order', 'scale', 'unit', 'multiply_by', 'scale_register', 'interval']));
  });
});
