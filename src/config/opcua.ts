// OPC UA parts of the config. Owned by the OPC UA adapter; the root schema places them.
//
//   buses:
//     - id: plc1
//       type: opcua
//       endpoint: opc.tcp://10.0.0.5:4840
//       security_mode: sign_and_encrypt          # none | sign | sign_and_encrypt
//       security_policy: basic256sha256          # aes128_sha256_rsaoaep | aes256_sha256_rsapss
//       user: { type: username, username: gateway, password: "${env:PLC1_PASSWORD}" }
//       # user: { type: certificate, cert_file: certs/user.pem, key_file: certs/user.key }
//       subscription: { publishing_interval: 1s, sampling_interval: 500ms, queue_size: 10,
//                       deadband: { type: absolute, value: 0.5 } }
//       watchdog_timeout: 30s
//
// Points on an OPC UA device add `node_id` and may override `mode`, `sampling_interval`,
// `queue_size` and `deadband` one by one. A device may instead name an OPC UA profile
// (`driver:`) and the `root` object its browse paths start from.
import { z } from 'zod';
import { Duration } from './duration.js';

export const OpcuaSecurityMode = z.enum(['none', 'sign', 'sign_and_encrypt']);
export type OpcuaSecurityMode = z.infer<typeof OpcuaSecurityMode>;

export const OpcuaSecurityPolicy = z.enum(['none', 'basic256sha256', 'aes128_sha256_rsaoaep', 'aes256_sha256_rsapss']);
export type OpcuaSecurityPolicy = z.infer<typeof OpcuaSecurityPolicy>;

/**
 * Who the gateway logs in as. The password is a plain string after the loader has
 * resolved secret references: write `password: "${env:NAME}"` or `"${file:path}"`,
 * never the password itself.
 */
export const OpcuaUserIdentity = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('anonymous') }),
  z.strictObject({ type: z.literal('username'), username: z.string().min(1), password: z.string() }),
  z.strictObject({
    type: z.literal('certificate'),
    /** PEM or DER X.509 user certificate. */
    cert_file: z.string().min(1),
    /** PEM private key of the user certificate. */
    key_file: z.string().min(1),
  }),
]);
export type OpcuaUserIdentity = z.infer<typeof OpcuaUserIdentity>;

/** Data-change filter: only report a value that moved by more than this. */
export const OpcuaDeadband = z.strictObject({
  type: z.enum(['absolute', 'percent']),
  value: z.number().min(0),
}).refine((d) => d.type !== 'percent' || d.value <= 100, { message: 'a percent deadband is between 0 and 100', path: ['value'] });
export type OpcuaDeadband = z.infer<typeof OpcuaDeadband>;

/**
 * A sampling interval: a duration, or `0` — the server reports every change as it
 * happens (exception-based, OPC UA Part 4 5.12.1.2), which is what a production counter
 * wants and what costs a server least for tags it updates itself.
 */
export const SamplingInterval = z.union([z.literal('0').transform(() => 0), z.literal('0ms').transform(() => 0), Duration]);

export const OpcuaSubscriptionSettings = z.strictObject({
  /** How often the server sends changes; default: the device's poll_interval. */
  publishing_interval: Duration.optional(),
  /** How often the server samples each node; default: the publishing interval; 0 = every change. */
  sampling_interval: SamplingInterval.optional(),
  /** Changes the server keeps per item between two publishes (counters need > 1 to lose nothing). */
  queue_size: z.number().int().min(1).max(10_000).default(10),
  deadband: OpcuaDeadband.optional(),
  /** Monitored items created per request; lowered automatically to the server's limit. */
  max_items_per_request: z.number().int().min(1).max(50_000).default(1000),
  /**
   * Items per subscription. Servers cap notifications per publish response (often
   * 1000) and answer one response per publishing interval, so a large tag list is
   * spread over several subscriptions to keep every value on time.
   */
  max_items_per_subscription: z.number().int().min(1).max(100_000).default(1000),
});
export type OpcuaSubscriptionSettings = z.infer<typeof OpcuaSubscriptionSettings>;

export const OpcuaBusConfig = z.strictObject({
  id: z.string().min(1),
  type: z.literal('opcua'),
  endpoint: z.string().regex(/^opc\.tcp:\/\//, 'an OPC UA endpoint starts with opc.tcp://'),
  security_mode: OpcuaSecurityMode.default('none'),
  /** Default: none without security, basic256sha256 with sign / sign_and_encrypt. */
  security_policy: OpcuaSecurityPolicy.optional(),
  user: OpcuaUserIdentity.default({ type: 'anonymous' }),
  /** Request timeout. */
  timeout: Duration.default(5000),
  subscription: OpcuaSubscriptionSettings.default(OpcuaSubscriptionSettings.parse({})),
  /**
   * No notification, keep-alive or read answer for this long while connected means the
   * data stopped flowing even if the socket looks open: the session is rebuilt.
   */
  watchdog_timeout: Duration.default(30_000),
  /** Upper bound of the reconnect backoff. */
  reconnect_max: Duration.default(10_000),
}).superRefine((bus, ctx) => {
  if (bus.security_mode === 'none' && bus.security_policy && bus.security_policy !== 'none') {
    ctx.addIssue({ code: 'custom', path: ['security_policy'], message: `security_policy ${bus.security_policy} needs security_mode sign or sign_and_encrypt` });
  }
  if (bus.security_mode !== 'none' && bus.security_policy === 'none') {
    ctx.addIssue({ code: 'custom', path: ['security_policy'], message: `security_mode ${bus.security_mode} needs a security_policy other than none` });
  }
  if (bus.user.type === 'certificate' && bus.security_mode === 'none') {
    // An X.509 user token must be signed with the channel's policy; servers refuse it on None.
    ctx.addIssue({ code: 'custom', path: ['user', 'type'], message: 'a certificate user needs security_mode sign or sign_and_encrypt' });
  }
});
export type OpcuaBusConfig = z.infer<typeof OpcuaBusConfig>;

/** Fields an inline point may carry when its device sits on an OPC UA bus. */
export const OpcuaPointFields = {
  /** e.g. `ns=3;s=Line1.GoodParts`, `ns=2;i=1042` or `nsu=urn:acme:plc;s=Line1.GoodParts`. */
  node_id: z.string().optional(),
  /** With a driver: a browse path from the device `root`, e.g. `ecm:AcActivePowerTotal`. */
  browse_path: z.string().optional(),
  /** subscribe (default): the server reports changes; poll: read every poll_interval. */
  mode: z.enum(['subscribe', 'poll']).optional(),
  sampling_interval: SamplingInterval.optional(),
  queue_size: z.number().int().min(1).max(10_000).optional(),
  deadband: OpcuaDeadband.optional(),
};

/**
 * Fields of a device on an OPC UA bus that uses a profile (`driver:` with protocol opcua):
 *
 *   - id: press-1
 *     bus: plc1
 *     driver: opc-34100-energy-profile-e2
 *     root: "nsu=urn:acme:press;s=Press1.Energy"   # the object the profile's browse paths start from
 *     namespaces: { ecm: 4 }                        # only for a server that registers the URI differently
 */
export const OpcuaDeviceFields = {
  /** Node id of the object the profile's browse paths start from; prefer the `nsu=<uri>;` form. */
  root: z.string().min(1).optional(),
  /** Overrides a profile namespace alias: another URI, or a fixed namespace index. */
  namespaces: z.record(z.string(), z.union([z.string().min(1), z.number().int().min(0)])).optional(),
};

/** The security policy actually used for a bus. */
export function effectiveSecurityPolicy(bus: Pick<OpcuaBusConfig, 'security_mode' | 'security_policy'>): OpcuaSecurityPolicy {
  if (bus.security_mode === 'none') return 'none';
  return bus.security_policy && bus.security_policy !== 'none' ? bus.security_policy : 'basic256sha256';
}
