// Config of `energy-gateway bridge`: MQTT (the `mqtt` section: broker, TLS, credentials)
// into InfluxDB (the `influx` section) through the bridge's own outbox. Owned by the
// delivery code; the root schema only places it.
import { z } from 'zod';

export const BridgeConfig = z.strictObject({
  /** Topic filters to subscribe to; records are recognised by their payload, status topics are ignored. */
  topics: z.array(z.string().min(1)).min(1).default(['energy/#']),
  /**
   * Shared subscription group: every bridge with the same group gets a share of the
   * messages ($share/<group>/<topic>), so several bridges split the load.
   */
  share_group: z.string().regex(/^[^/+#]+$/, 'a share group has no "/", "+" or "#"').optional(),
  /** MQTT client id; must be unique per bridge instance and stable across restarts (persistent session). Default energy-gateway-bridge-<gateway.id>. */
  client_id: z.string().min(1).optional(),
  /** Where the bridge keeps its outbox; default <gateway.data_dir>/bridge. */
  data_dir: z.string().optional(),
  /** Subscription QoS; 1 = a message is acknowledged only once it is stored. */
  qos: z.union([z.literal(0), z.literal(1)]).default(1),
});
export type BridgeConfig = z.infer<typeof BridgeConfig>;
