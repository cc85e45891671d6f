import { z } from 'zod';
import { isValidTimezone } from '../core/calendar.js';
import { Duration } from './duration.js';
import { AccountConfig, EnpiConfig, EnergySettings, EvaluationConfig } from './energy.js';
import { BridgeConfig } from './bridge.js';
import { OpcuaBusConfig, OpcuaDeviceFields, OpcuaPointFields } from './opcua.js';

/** A TCP port; a numeric string is accepted so that `${env:PORT}` works in containers. */
/** Default ports: Modbus TCP's registered port, and the usual one of serial device servers. */
export const MODBUS_TCP_PORT = 502;
export const RTU_OVER_TCP_PORT = 4001;

const Port = z.union([z.number(), z.string().regex(/^\d+$/, 'a port is a number').transform(Number)])
  .pipe(z.number().int().min(1, 'a port is 1..65535').max(65535, 'a port is 1..65535'));

// Letters of any script: a site may well be called 一号车间.
const Id = z.string().regex(/^[\p{L}\p{N}][\p{L}\p{N}_.-]*$/u, 'use letters, digits, "_", "-" or "." (no spaces, slashes or MQTT wildcards)');

export const GatewayConfig = z.strictObject({
  id: Id,
  site: Id,
  timezone: z.string().refine(isValidTimezone, 'unknown IANA time zone (e.g. Asia/Shanghai)').default('Asia/Shanghai'),
  data_dir: z.string().default('./data'),
});
export type GatewayConfig = z.infer<typeof GatewayConfig>;

const ModbusTiming = {
  timeout: Duration.default(1000),
  /** Silence kept between two frames on the bus (RS-485 devices need it). */
  inter_frame_delay: Duration.optional(),
  /** Reconnect backoff upper bound. */
  reconnect_max: Duration.default(30_000),
};

export const ModbusTcpBusConfig = z.strictObject({
  id: Id,
  type: z.literal('modbus_tcp'),
  host: z.string().min(1),
  port: Port.default(MODBUS_TCP_PORT),
  ...ModbusTiming,
});
export const ModbusRtuOverTcpBusConfig = z.strictObject({
  id: Id,
  type: z.literal('modbus_rtu_over_tcp'),
  host: z.string().min(1),
  port: Port.default(RTU_OVER_TCP_PORT),
  /** Serial speed behind the device server: frame times added to timeouts, and cycle estimates (9600 assumed when absent). */
  baud_rate: z.number().int().positive().optional(),
  ...ModbusTiming,
});
export const ModbusRtuBusConfig = z.strictObject({
  id: Id,
  type: z.literal('modbus_rtu'),
  path: z.string().min(1),
  baud_rate: z.number().int().positive().default(9600),
  parity: z.enum(['none', 'even', 'odd']).default('none'),
  data_bits: z.union([z.literal(7), z.literal(8)]).default(8),
  stop_bits: z.union([z.literal(1), z.literal(2)]).default(1),
  ...ModbusTiming,
});
export const BusConfig = z.discriminatedUnion('type', [
  ModbusTcpBusConfig, ModbusRtuOverTcpBusConfig, ModbusRtuBusConfig, OpcuaBusConfig,
]);
export type BusConfig = z.infer<typeof BusConfig>;
export type ModbusBusConfig = Exclude<BusConfig, { type: 'opcua' }>;

/** A point declared inline on a device (PLC tags, or a meter without a profile). */
export const InlinePointConfig = z.strictObject({
  id: z.string().regex(/^[a-z][a-z0-9_]*$/, 'point ids are snake_case'),
  unit: z.string().default(''),
  // Modbus: address, function and orders are checked by the profile point schema, which
  // takes them as manuals print them (2000H, function 4, word_order/byte_order).
  /** Modbus: 0-based on-wire address (a number, or hex text such as 2000H). */
  address: z.union([z.number().int().min(0).max(65535), z.string()]).optional(),
  /** Register table: coil, discrete, holding, input, or the read function code 1-4. */
  function: z.union([z.string(), z.number()]).optional(),
  type: z.string().optional(),
  order: z.string().optional(),
  word_order: z.string().optional(),
  byte_order: z.string().optional(),
  scale: z.number().optional(),
  offset: z.number().optional(),
  counter: z.strictObject({ max: z.number().positive().optional() }).optional(),
  // Modbus: the rest of a profile point's fields (checked like a profile's, see drivers/README.md).
  /** Type bit: which bit of the register, 0 = least significant. */
  bit: z.number().optional(),
  /** Type string: length in registers. */
  length: z.number().optional(),
  /** Raw values meaning "not available" (numbers, or 0x… strings for 64-bit patterns). */
  invalid: z.array(z.union([z.number(), z.string()])).optional(),
  /** Point ids or device settings multiplied in (CT/PT ratios). */
  multiply_by: z.array(z.string()).optional(),
  /** A point holding a power-of-ten exponent applied to this value. */
  scale_register: z.string().optional(),
  /** Read for other points, never published. */
  internal: z.boolean().optional(),
  /** Poll class of this point, e.g. 15m (at least the device's poll_interval). */
  interval: z.string().optional(),
  description: z.string().optional(),
  ...OpcuaPointFields,
});
export type InlinePointConfig = z.infer<typeof InlinePointConfig>;

export const DeviceConfig = z.strictObject({
  id: Id,
  bus: Id,
  /** A profile id from drivers/ (e.g. eastron-sdm630). */
  driver: z.string().optional(),
  unit_id: z.number().int('a unit id is a whole number 0..255 (1..247 on a serial line)')
    .min(0, 'a unit id is 0..255 (1..247 on a serial line)').max(255, 'a unit id is 0..255 (1..247 on a serial line)').default(1),
  poll_interval: Duration.default(5000),
  timeout: Duration.optional(),
  retries: z.number().int().min(0).max(5).default(0),
  /** Modbus: wait this long after the bus (re)connects before asking this device anything. */
  pause_after_connect: Duration.optional(),
  /** Modbus: silence between this device's previous answer and its next request. */
  pause_between_requests: Duration.optional(),
  /** Modbus: registers per request; can only lower the profile's limit (the protocol allows 125). */
  max_registers: z.number().int().min(1).max(125).optional(),
  /** Modbus: unused registers one request may span to join two runs of points (overrides the profile). */
  max_gap: z.number().int().min(0).max(124).optional(),
  /** Modbus: one request per point, for devices that reject block reads. */
  per_point: z.boolean().optional(),
  /** Modbus: poll interval of the profile's counters (energy, volume, ...) when slower than poll_interval. */
  counter_interval: Duration.optional(),
  /** Modbus: poll intervals of single points, by point id (e.g. { thd_voltage_l1: 1m }). */
  point_intervals: z.record(z.string(), Duration).optional(),
  /** Values for the profile's settings (e.g. ct_ratio when the meter does not hold it). */
  settings: z.record(z.string(), z.number()).optional(),
  /** Restrict a profile to these point ids. */
  only_points: z.array(z.string()).optional(),
  points: z.array(InlinePointConfig).optional(),
  /** OPC UA: `root` and `namespaces` for a `protocol: opcua` driver. */
  ...OpcuaDeviceFields,
  model: z.string().optional(),
  enabled: z.boolean().default(true),
});
export type DeviceConfig = z.infer<typeof DeviceConfig>;

export const MqttConfig = z.strictObject({
  url: z.string().min(1),
  topic_root: z.string().optional(),
  client_id: z.string().optional(),
  username: z.string().optional(),
  password: z.string().optional(),
  protocol_version: z.union([z.literal(4), z.literal(5)]).default(4),
  qos_telemetry: z.union([z.literal(0), z.literal(1)]).default(0),
  /** How long the broker keeps this client's session (subscriptions, queued messages) while it is away; MQTT 5. */
  session_expiry: Duration.default(7 * 86_400_000),
  /** Records per second at most when a backlog is replayed after an outage (live records go first); 0 = no limit. */
  replay_rate: z.number().int().min(0).default(1000),
  tls: z.strictObject({
    ca: z.string().optional(),
    cert: z.string().optional(),
    key: z.string().optional(),
    /** Turning this off is for lab brokers only; it is logged as a warning. */
    verify: z.boolean().default(true),
  }).optional(),
});
export type MqttConfig = z.infer<typeof MqttConfig>;

export const InfluxConfig = z.strictObject({
  url: z.string().url(),
  api: z.enum(['v1', 'v2']).default('v1'),
  database: z.string().optional(),
  retention_policy: z.string().optional(),
  username: z.string().optional(),
  password: z.string().optional(),
  org: z.string().optional(),
  bucket: z.string().optional(),
  token: z.string().optional(),
  batch_size: z.number().int().positive().default(5000),
  flush_interval: Duration.default(1000),
  timeout: Duration.default(10_000),
  /** Compress request bodies. */
  gzip: z.boolean().default(true),
  /** Records per second at most when a backlog is replayed after an outage (live records go first); 0 = no limit. */
  replay_rate: z.number().int().min(0).default(20_000),
  /** Longest wait between two attempts while InfluxDB is away (backoff with jitter up to this). */
  retry_max: Duration.default(30_000),
}).superRefine((c, ctx) => {
  if (c.api === 'v1' && !c.database) ctx.addIssue({ code: 'custom', path: ['database'], message: 'required when api is v1' });
  if (c.api === 'v2' && !c.bucket) ctx.addIssue({ code: 'custom', path: ['bucket'], message: 'required when api is v2' });
});
export type InfluxConfig = z.infer<typeof InfluxConfig>;

export const HttpConfig = z.strictObject({
  listen: z.string().default('0.0.0.0:8080'),
});
export type HttpConfig = z.infer<typeof HttpConfig>;

export const LoggingConfig = z.strictObject({
  level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal']).default('info'),
  pretty: z.boolean().optional(),
});
export type LoggingConfig = z.infer<typeof LoggingConfig>;

export const OutboxConfig = z.strictObject({
  /** Upper bound of the on-disk queue; telemetry is dropped oldest-first beyond it. */
  max_bytes: z.number().int().positive().default(512 * 1024 * 1024),
  /** Telemetry older than this is dropped (intervals and EnPI are kept). */
  max_age_telemetry: Duration.default(7 * 86_400_000),
  /** Interval records (energy, EnPI, demand, events) older than this are dropped; they are never dropped for size before telemetry. */
  max_age_intervals: Duration.default(400 * 86_400_000),
  /**
   * Records are committed (and fsync'd) in groups at most this far apart: the floor of
   * the sample-to-broker latency. Each commit also stores the energy core's state.
   */
  commit_interval: Duration.default(100),
});
export type OutboxConfig = z.infer<typeof OutboxConfig>;

export const RootConfig = z.strictObject({
  version: z.literal(1),
  gateway: GatewayConfig,
  buses: z.array(BusConfig).default([]),
  devices: z.array(DeviceConfig).default([]),
  accounts: z.array(AccountConfig).default([]),
  enpi: z.array(EnpiConfig).default([]),
  energy: EnergySettings.default(EnergySettings.parse({})),
  evaluation: EvaluationConfig.optional(),
  mqtt: MqttConfig.optional(),
  influx: InfluxConfig.optional(),
  http: HttpConfig.optional(),
  logging: LoggingConfig.default({ level: 'info' }),
  outbox: OutboxConfig.default(OutboxConfig.parse({})),
  bridge: BridgeConfig.optional(),
});
export type RootConfig = z.infer<typeof RootConfig>;

/** Something found at a key of the raw document (a problem, or a warning: see warnings.ts). */
export type Problem = { path: (string | number)[]; message: string };
/** A section's item as written, before the schema: anything that is not an object reads as empty. */
export type Loose = Record<string, unknown>;
export const list = (v: unknown): Loose[] => (Array.isArray(v) ? v.map((x) => (x && typeof x === 'object' ? (x as Loose) : {})) : []);

/**
 * Cross-references between sections (duplicate ids, unknown bus or device). They
 * run on the raw document so that they are reported together with schema problems:
 * a user fixes a config in one pass, not one error at a time.
 */
export function crossCheck(raw: unknown): Problem[] {
  const cfg = raw && typeof raw === 'object' ? (raw as Loose) : {};
  const problems: Problem[] = [];
  const ids = (section: string) => {
    const seen = new Set<string>();
    list(cfg[section]).forEach((item, i) => {
      if (typeof item.id !== 'string') return;
      if (seen.has(item.id)) problems.push({ path: [section, i, 'id'], message: `duplicate id "${item.id}"` });
      seen.add(item.id);
    });
    return seen;
  };
  const buses = ids('buses');
  // One bus per physical line: two entries for one serial port would open it twice, and two
  // for one host:port would put two requests on one gateway at once.
  const lines = new Map<string, number>();
  list(cfg.buses).forEach((b, i) => {
    const key = b.type === 'modbus_rtu' && typeof b.path === 'string' ? `serial port ${b.path}`
      : (b.type === 'modbus_tcp' || b.type === 'modbus_rtu_over_tcp') && typeof b.host === 'string'
        ? `${b.host}:${String(b.port ?? (b.type === 'modbus_tcp' ? MODBUS_TCP_PORT : RTU_OVER_TCP_PORT))}` : undefined;
    if (key === undefined) return;
    const first = lines.get(key);
    if (first === undefined) lines.set(key, i);
    else problems.push({ path: ['buses', i], message: `${key} is already bus "${String(list(cfg.buses)[first]!.id)}": one bus per physical line, with all its devices on it` });
  });
  const devices = ids('devices');
  const accounts = ids('accounts');
  ids('enpi');
  list(cfg.devices).forEach((d, i) => {
    if (typeof d.bus === 'string' && !buses.has(d.bus)) {
      problems.push({ path: ['devices', i, 'bus'], message: `unknown bus "${d.bus}" (known: ${[...buses].join(', ') || 'none'})` });
    }
    if (d.driver === undefined && !(Array.isArray(d.points) && d.points.length > 0)) {
      problems.push({ path: ['devices', i], message: 'a device needs a driver or inline points' });
    }
  });
  list(cfg.accounts).forEach((a, i) => list(a.meters).forEach((m, j) => {
    if (typeof m.device === 'string' && !devices.has(m.device)) {
      problems.push({ path: ['accounts', i, 'meters', j, 'device'], message: `unknown device "${m.device}"` });
    }
  }));
  list(cfg.enpi).forEach((e, i) => {
    (Array.isArray(e.accounts) ? e.accounts : []).forEach((a: unknown, j: number) => {
      if (typeof a === 'string' && !accounts.has(a)) problems.push({ path: ['enpi', i, 'accounts', j], message: `unknown account "${a}"` });
    });
    const out = e.output && typeof e.output === 'object' ? (e.output as Loose) : {};
    if (typeof out.device === 'string' && !devices.has(out.device)) {
      problems.push({ path: ['enpi', i, 'output', 'device'], message: `unknown device "${out.device}"` });
    }
  });
  return problems;
}
