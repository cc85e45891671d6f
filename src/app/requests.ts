// Operator entries sent to a running gateway over MQTT: a meter replacement (old final
// and new initial reading), production output entered by hand, or a manual quantity.
// The gateway applies each to the energy core, commits the result, and only then
// acknowledges the MQTT message, so an entry survives a gateway restart in between.
//
//   request:  <root>/requests/<replacement|output|quantity>   QoS 1, JSON below
//   response: <root>/responses/<request_id>                   QoS 1, { request_id, ok, error?, events }
import mqtt, { type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { MqttConfig } from '../config/schema.js';
import type { Engine } from '../core/engine.js';
import type { EngineRecord } from '../core/records.js';
import { mqttConnectOptions } from '../sinks/mqtt/connection.js';

const Common = {
  request_id: z.string().min(1).max(100).regex(/^[A-Za-z0-9_.-]+$/, 'request ids are letters, digits, "_", "-", "."'),
  by: z.string().max(200).optional(),
  note: z.string().max(2000).optional(),
};

export const ReplacementRequest = z.strictObject({
  ...Common,
  device: z.string().min(1),
  point: z.string().default('active_energy_import_total'),
  ts_ms: z.number().int().positive(),
  old_final: z.number().finite(),
  new_initial: z.number().finite(),
  old_serial: z.string().optional(),
  new_serial: z.string().optional(),
});
export type ReplacementRequest = z.infer<typeof ReplacementRequest>;

const Span = { start_ms: z.number().int(), end_ms: z.number().int(), quantity: z.number().finite().nonnegative() };
export const OutputRequest = z.strictObject({ ...Common, enpi: z.string().min(1), ...Span })
  .refine((r) => r.end_ms > r.start_ms, { message: 'end_ms must be after start_ms', path: ['end_ms'] });
export type OutputRequest = z.infer<typeof OutputRequest>;
export const QuantityRequest = z.strictObject({ ...Common, account: z.string().min(1), ...Span })
  .refine((r) => r.end_ms > r.start_ms, { message: 'end_ms must be after start_ms', path: ['end_ms'] });
export type QuantityRequest = z.infer<typeof QuantityRequest>;

export const RequestResponse = z.strictObject({
  request_id: z.string(),
  ok: z.boolean(),
  error: z.string().optional(),
  events: z.array(z.unknown()),
});
export type RequestResponse = z.infer<typeof RequestResponse>;

/** Clocks of the operator's laptop and the edge box may differ this much. */
const MAX_CLOCK_SKEW_MS = 60_000;

export const REQUEST_KINDS = ['replacement', 'output', 'quantity'] as const;
export type RequestKind = (typeof REQUEST_KINDS)[number];

export function requestTopic(root: string, kind: RequestKind): string {
  return `${root}/requests/${kind}`;
}
export function responseTopic(root: string, requestId: string): string {
  return `${root}/responses/${requestId}`;
}

/** Validates one request and applies it through `apply`; never throws. */
export function handleRequest(kind: string, payload: unknown, apply: (entry: (engine: Engine) => EngineRecord[]) => EngineRecord[], nowMs: number = Date.now()): RequestResponse {
  const requestId = typeof (payload as { request_id?: unknown })?.request_id === 'string' ? (payload as { request_id: string }).request_id : 'unknown';
  const fail = (error: string): RequestResponse => ({ request_id: requestId, ok: false, error, events: [] });
  let entry: ((engine: Engine) => EngineRecord[]) | null = null;
  if (kind === 'replacement') {
    const r = ReplacementRequest.safeParse(payload);
    if (!r.success) return fail(formatIssues(r.error));
    // Readings of a swap that has not happened yet would make the old meter's last
    // readings look out of order; a replacement is entered once it is done.
    if (r.data.ts_ms > nowMs + MAX_CLOCK_SKEW_MS) return fail('ts_ms is in the future: enter a replacement after the swap');
    const { request_id: _id, ...rest } = r.data;
    entry = (engine) => engine.recordReplacement(stripUndefined(rest));
  } else if (kind === 'output') {
    const r = OutputRequest.safeParse(payload);
    if (!r.success) return fail(formatIssues(r.error));
    const { request_id: _id, ...rest } = r.data;
    entry = (engine) => engine.recordOutput(stripUndefined(rest));
  } else if (kind === 'quantity') {
    const r = QuantityRequest.safeParse(payload);
    if (!r.success) return fail(formatIssues(r.error));
    const { request_id: _id, ...rest } = r.data;
    entry = (engine) => engine.recordQuantity(stripUndefined(rest));
  } else {
    return fail(`unknown request "${kind}" (use ${REQUEST_KINDS.join(', ')})`);
  }
  try {
    const events = apply(entry);
    return { request_id: requestId, ok: true, events };
  } catch (err) {
    return fail(err instanceof Error ? err.message : String(err));
  }
}

function formatIssues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || '(request)'}: ${i.message}`).join('; ');
}

function stripUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

/**
 * Listens for requests on its own persistent MQTT session (requests sent while the
 * gateway is down wait at the broker) and acknowledges each only after it is committed.
 */
export class RequestListener {
  private client: MqttClient | null = null;

  constructor(
    private readonly config: MqttConfig,
    private readonly root: string,
    private readonly clientId: string,
    private readonly apply: (entry: (engine: Engine) => EngineRecord[]) => EngineRecord[],
    private readonly log: Logger,
  ) {}

  start(): void {
    const client = mqtt.connect(this.config.url, mqttConnectOptions(this.config, this.clientId, this.log));
    // mqtt.js sends the PUBACK only after handleMessage calls back: the request is
    // acknowledged once its effect is committed (MQTT 3.1.1 and 5 alike).
    client.handleMessage = (packet, callback) => {
      const topic = packet.topic;
      const kind = topic.slice(`${this.root}/requests/`.length);
      let payload: unknown;
      try {
        payload = JSON.parse(packet.payload.toString());
      } catch {
        payload = null;
      }
      const response = payload === null
        ? { request_id: 'unknown', ok: false, error: 'request is not JSON', events: [] }
        : handleRequest(kind, payload, this.apply);
      if (response.ok) this.log.info({ kind, request_id: response.request_id, events: response.events.length }, 'operator request applied');
      else this.log.warn({ kind, request_id: response.request_id, error: response.error }, 'operator request refused');
      client.publishAsync(responseTopic(this.root, response.request_id), JSON.stringify(response), { qos: 1 })
        .catch((err: unknown) => this.log.warn({ err }, 'request response not published'));
      callback();
    };
    client.on('connect', () => {
      client.subscribeAsync(`${this.root}/requests/+`, { qos: 1 })
        .catch((err: unknown) => this.log.warn({ err }, 'request subscription failed'));
    });
    client.on('error', (err) => this.log.debug({ err }, 'request listener mqtt error'));
    this.client = client;
  }

  async stop(): Promise<void> {
    await this.client?.endAsync();
  }
}
