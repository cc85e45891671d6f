import { z } from 'zod';
import { OpcuaProfileShape } from './opcua-schema.js';
import { ModbusProfileShape } from './schema.js';

/** Both kinds of profile, told apart by `protocol`, as an editor should see them. */
const AnyProfileShape = z.discriminatedUnion('protocol', [ModbusProfileShape, OpcuaProfileShape]);

/**
 * JSON Schema of a driver profile as written in YAML (before defaults are applied), for
 * editors: `# yaml-language-server: $schema=../driver.schema.json` at the top of a profile.
 * drivers/driver.schema.json is this, pretty-printed; a test keeps the file up to date.
 */
export function driverJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(AnyProfileShape, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  return {
    $schema: schema.$schema,
    title: 'energy-gateway driver profile (energy-gateway.driver/v1)',
    description: 'One meter or machine model: its Modbus register map (protocol: modbus) or its OPC UA browse paths (protocol: opcua), in canonical point ids and units. See drivers/README.md.',
    ...Object.fromEntries(Object.entries(schema).filter(([k]) => k !== '$schema')),
  };
}

export function driverJsonSchemaText(): string {
  return `${JSON.stringify(driverJsonSchema(), null, 2)}\n`;
}
