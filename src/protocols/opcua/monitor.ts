// Subscriptions and monitored items of one session. Items are created in bulk (one
// request per chunk), each point keeps its own item so a bad node is retried on its
// own while the others keep reporting. node-opcua transfers or re-creates these
// objects after a reconnect; the source's watchdog covers the cases where it cannot.
import {
  AttributeIds, DataChangeFilter, DataChangeTrigger, DeadbandType, TimestampsToReturn,
  type ClientMonitoredItemBase, type ClientSession, type ClientSubscription, type DataValue,
  type MonitoringParametersOptions, type StatusCode,
} from 'node-opcua';
import type { Logger } from 'pino';
import type { OpcuaBusConfig, OpcuaDeadband } from '../../config/opcua.js';
import { isNodeMissing, statusText } from './data-value.js';
import type { PointRef } from './points.js';

export interface MonitorSink {
  /** A data change of a point (any status). */
  value(ref: PointRef, dv: DataValue): void;
  /** Item creation failed, or the server said the node is gone. */
  itemBad(ref: PointRef, status: StatusCode): void;
  /** The server is talking: a notification or (keepAlive) an empty keep-alive publish. */
  alive(keepAlive: boolean): void;
  /** A publish response with changes arrived (start of a batch). */
  received(): void;
}

const FILTER_REJECTED = new Set([
  'BadFilterNotAllowed', 'BadMonitoredItemFilterUnsupported', 'BadMonitoredItemFilterInvalid', 'BadDeadbandFilterInvalid',
]);

interface ItemParams {
  publishingMs: number;
  samplingMs: number;
  queueSize: number;
  deadband: OpcuaDeadband | undefined;
}

export function itemParams(bus: OpcuaBusConfig, ref: PointRef): ItemParams {
  const publishingMs = bus.subscription.publishing_interval ?? ref.pollIntervalMs;
  return {
    publishingMs,
    samplingMs: ref.point.sampling_interval_ms ?? bus.subscription.sampling_interval ?? publishingMs,
    queueSize: ref.point.queue_size ?? bus.subscription.queue_size,
    deadband: ref.point.deadband ?? bus.subscription.deadband,
  };
}

function monitoringParameters(p: ItemParams, withFilter: boolean): MonitoringParametersOptions {
  const params: MonitoringParametersOptions = { samplingInterval: p.samplingMs, queueSize: p.queueSize, discardOldest: true };
  if (withFilter && p.deadband && p.deadband.value > 0) {
    params.filter = new DataChangeFilter({
      trigger: DataChangeTrigger.StatusValue,
      deadbandType: p.deadband.type === 'percent' ? DeadbandType.Percent : DeadbandType.Absolute,
      deadbandValue: p.deadband.value,
    });
  }
  return params;
}

interface ItemState {
  ref: PointRef;
  params: ItemParams;
  sub: ClientSubscription;
  /** The item whose changes count; older ones (replaced by a retry) are ignored. */
  item?: ClientMonitoredItemBase;
  withFilter: boolean;
  retryMs: number;
  retryTimer?: NodeJS.Timeout;
}

export class SubscriptionSet {
  private readonly subs: ClientSubscription[] = [];
  private readonly states = new Map<string, ItemState>();
  private closed = false;
  private chunkSize: number;
  private reused = 0;

  constructor(
    private readonly session: ClientSession,
    private readonly bus: OpcuaBusConfig,
    private readonly refs: PointRef[],
    private readonly sink: MonitorSink,
    private readonly log: Logger,
  ) {
    this.chunkSize = bus.subscription.max_items_per_request;
  }

  get subscriptionCount(): number {
    return this.subs.length;
  }

  get itemCount(): number {
    let n = 0;
    for (const s of this.states.values()) if (s.item && !s.retryTimer) n += 1;
    return n;
  }

  async start(): Promise<void> {
    const byInterval = new Map<number, Array<{ ref: PointRef; params: ItemParams }>>();
    for (const ref of this.refs) {
      const params = itemParams(this.bus, ref);
      const list = byInterval.get(params.publishingMs) ?? [];
      list.push({ ref, params });
      byInterval.set(params.publishingMs, list);
    }
    const perSub = this.bus.subscription.max_items_per_subscription;
    for (const [publishingMs, all] of byInterval) {
      for (let i = 0; i < all.length; i += perSub) await this.subscribe(publishingMs, all.slice(i, i + perSub));
    }
  }

  private async subscribe(publishingMs: number, items: Array<{ ref: PointRef; params: ItemParams }>): Promise<void> {
    let sub: ClientSubscription;
    try {
      sub = await this.createSubscription(publishingMs);
    } catch (err) {
      // The server allows fewer subscriptions per session than we would like: share
      // the existing ones (preferably of the same interval) instead of failing.
      const existing = this.subs.filter((s) => s.publishingInterval === publishingMs);
      const pool = existing.length > 0 ? existing : this.subs;
      const reuse = pool[this.reused++ % Math.max(1, pool.length)];
      if (!/BadTooManySubscriptions/.test(String(err)) || !reuse) throw err;
      if (this.reused === 1) this.log.info({ subscriptions: this.subs.length }, 'opcua server limits subscriptions per session, sharing them');
      sub = reuse;
    }
    // Items sharing sampling, queue and deadband go in one bulk request.
    const byParams = new Map<string, typeof items>();
    for (const it of items) {
      const key = JSON.stringify([it.params.samplingMs, it.params.queueSize, it.params.deadband]);
      const list = byParams.get(key) ?? [];
      list.push(it);
      byParams.set(key, list);
    }
    for (const group of byParams.values()) {
      const states = group.map(({ ref, params }) => {
        const st: ItemState = { ref, params, sub, withFilter: true, retryMs: this.retryBaseMs() };
        this.states.set(ref.key, st);
        return st;
      });
      await this.createBulk(sub, states);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const st of this.states.values()) if (st.retryTimer) clearTimeout(st.retryTimer);
    // Deleting subscriptions is the session's job (closeSession deletes them); here
    // only the timers must stop.
  }

  private retryBaseMs(): number {
    return Math.min(1000, this.bus.reconnect_max);
  }

  private async createSubscription(publishingMs: number): Promise<ClientSubscription> {
    // Keep-alives at least three times per watchdog window, so a quiet but healthy
    // server never trips the watchdog.
    const keepAliveCount = Math.max(1, Math.min(1000, Math.floor(this.bus.watchdog_timeout / 3 / publishingMs)));
    const sub = await this.session.createSubscription2({
      requestedPublishingInterval: publishingMs,
      requestedMaxKeepAliveCount: keepAliveCount,
      requestedLifetimeCount: keepAliveCount * 6,
      maxNotificationsPerPublish: 0,
      publishingEnabled: true,
      priority: 10,
    });
    sub.on('keepalive', () => this.sink.alive(true));
    sub.on('received_notifications', () => {
      this.sink.received();
      this.sink.alive(false);
    });
    sub.on('status_changed', (status: StatusCode) => {
      this.log.warn({ status: statusText(status), subscription_id: sub.subscriptionId }, 'opcua subscription status changed');
    });
    sub.on('internal_error', (err: Error) => this.log.warn({ err }, 'opcua subscription error'));
    this.subs.push(sub);
    return sub;
  }

  private async createBulk(sub: ClientSubscription, states: ItemState[]): Promise<void> {
    for (let i = 0; i < states.length && !this.closed;) {
      const chunk = states.slice(i, i + this.chunkSize);
      const first = chunk[0];
      if (!first) break;
      let group;
      try {
        group = await sub.monitorItems(
          chunk.map((st) => ({ nodeId: st.ref.point.node_id, attributeId: AttributeIds.Value })),
          monitoringParameters(first.params, true),
          TimestampsToReturn.Both,
        );
      } catch (err) {
        // Some servers cap items per call below what they announce; halve and go on.
        if (/BadTooManyOperations/.test(String(err)) && this.chunkSize > 1) {
          this.chunkSize = Math.max(1, Math.floor(this.chunkSize / 2));
          this.log.info({ max_items_per_request: this.chunkSize }, 'opcua server limits items per request');
          continue;
        }
        throw err;
      }
      group.on('changed', (item: ClientMonitoredItemBase, dv: DataValue, index: number) => {
        const st = chunk[index];
        if (st && st.item === item) this.onChange(st, dv);
      });
      group.monitoredItems.forEach((item, index) => {
        const st = chunk[index];
        if (!st) return;
        st.item = item;
        if (item.statusCode.isNotGood()) this.onCreateFailed(st, item.statusCode);
      });
      i += chunk.length;
    }
  }

  private onChange(st: ItemState, dv: DataValue): void {
    if (isNodeMissing(dv.statusCode)) {
      // The node went away under a live item: this item will never recover by
      // itself, so drop it and re-create it later.
      this.sink.itemBad(st.ref, dv.statusCode);
      this.scheduleRetry(st);
      return;
    }
    this.sink.value(st.ref, dv);
  }

  private onCreateFailed(st: ItemState, status: StatusCode): void {
    if (FILTER_REJECTED.has(status.name) && st.withFilter && st.params.deadband) {
      this.log.warn({ device: st.ref.device, point: st.ref.point.id, node_id: st.ref.point.node_id, status: statusText(status) },
        'opcua deadband rejected by server, monitoring without it');
      st.withFilter = false;
      this.scheduleRetry(st, 0);
      return;
    }
    this.sink.itemBad(st.ref, status);
    this.scheduleRetry(st);
  }

  private scheduleRetry(st: ItemState, delayMs = st.retryMs): void {
    if (this.closed || st.retryTimer) return;
    const old = st.item;
    st.item = undefined;
    if (old) old.terminate().catch(() => undefined);
    st.retryTimer = setTimeout(() => {
      st.retryTimer = undefined;
      this.retry(st).catch((err: unknown) => {
        this.log.debug({ err, node_id: st.ref.point.node_id }, 'opcua item retry failed');
        this.scheduleRetry(st);
      });
    }, delayMs);
    st.retryTimer.unref();
    st.retryMs = Math.min(st.retryMs * 2, Math.max(this.retryBaseMs(), this.bus.reconnect_max));
  }

  private async retry(st: ItemState): Promise<void> {
    if (this.closed) return;
    const item = await st.sub.monitor(
      { nodeId: st.ref.point.node_id, attributeId: AttributeIds.Value },
      monitoringParameters(st.params, st.withFilter),
      TimestampsToReturn.Both,
    );
    if (this.closed) {
      await item.terminate().catch(() => undefined);
      return;
    }
    st.item = item;
    item.on('changed', (dv: DataValue) => {
      if (st.item === item) this.onChange(st, dv);
    });
    if (item.statusCode.isNotGood()) {
      this.onCreateFailed(st, item.statusCode);
      return;
    }
    st.retryMs = this.retryBaseMs();
  }
}
