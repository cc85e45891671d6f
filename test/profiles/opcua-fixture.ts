// Golden fixtures of OPC UA profiles: test/profiles/opcua-fixtures/<id>.yaml. The same file
// feeds the pure check (scale) and the end-to-end test that serves it from a real server.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { z } from 'zod';

export const OPCUA_FIXTURES_DIR = join(fileURLToPath(new URL('.', import.meta.url)), 'opcua-fixtures');

export const OpcuaFixture = z.strictObject({
  profile: z.string(),
  /** Raw server values keyed by the address the profile writes (browse_path or node_id). */
  nodes: z.record(z.string(), z.strictObject({
    data_type: z.string(),
    value: z.union([z.number(), z.string(), z.boolean()]),
    status: z.string().optional(),
  })),
  /** Published value per point id, in the point's unit. */
  expected: z.record(z.string(), z.union([z.number(), z.string(), z.boolean()])),
});
export type OpcuaFixture = z.infer<typeof OpcuaFixture>;

export function opcuaFixturePath(profileId: string): string {
  return join(OPCUA_FIXTURES_DIR, `${profileId}.yaml`);
}

export function readOpcuaFixture(profileId: string): OpcuaFixture | undefined {
  const path = opcuaFixturePath(profileId);
  return existsSync(path) ? OpcuaFixture.parse(parse(readFileSync(path, 'utf8'))) : undefined;
}
