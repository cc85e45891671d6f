// OPC UA parts of the config. Owned by the OPC UA adapter; the root schema places them.
import { z } from 'zod';
import { Duration } from './duration.js';

export const OpcuaBusConfig = z.strictObject({
  id: z.string().min(1),
  type: z.literal('opcua'),
  endpoint: z.string().regex(/^opc\.tcp:\/\//, 'an OPC UA endpoint starts with opc.tcp://'),
  security_mode: z.enum(['none', 'sign', 'sign_and_encrypt']).default('none'),
  security_policy: z.enum(['none', 'basic256sha256', 'aes128_sha256_rsaoaep', 'aes256_sha256_rsapss']).optional(),
  timeout: Duration.default(5000),
});
export type OpcuaBusConfig = z.infer<typeof OpcuaBusConfig>;

/** Fields an inline point may carry when its device sits on an OPC UA bus. */
export const OpcuaPointFields = {
  node_id: z.string().optional(),
};
