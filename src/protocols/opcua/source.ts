// One OPC UA bus = one client and one session, with every device's points on it.
//
// Lifecycle: a background loop builds a "generation" (client → session →
// subscriptions and pollers) and keeps it while data flows. node-opcua repairs short
// outages itself (secure channel re-opened, session re-activated, subscriptions
// transferred or re-created). The watchdog is the backstop: when no notification,
// keep-alive or read answer arrives for `watchdog_timeout`, the generation is thrown
// away and built again from scratch — a socket that looks open is not proof of data.
import { OPCUAClient, type ClientSession, type DataValue, type OPCUACertificateManager, type StatusCode } from 'node-opcua';
import type { Logger } from 'pino';
import type { OpcuaBusConfig } from '../../config/opcua.js';
import type { DevicePoll, PointValue } from '../../core/sample.js';
import { clientOptions, describeBus, userIdentity } from './client-options.js';
import { badPointValue, statusText, toPointValue } from './data-value.js';
import { PollEmitter } from './emitter.js';
import { itemParams, SubscriptionSet, type MonitorSink } from './monitor.js';
import { routeNodeOpcuaLogs } from './node-opcua-log.js';
import { Poller, type PollCounters, type PollSink } from './poller.js';
import { certificateInfo, createCertificateManager, newestRejected, pkiDir } from './pki.js';
import { pointRefs, type OpcuaDeviceSpec, type PointRef } from './points.js';
import { resolvePointRefs, type Unresolved } from './resolve.js';

export type { OpcuaDeviceSpec, OpcuaPointSpec } from './points.js';

export type AvailabilityState = 'online' | 'degraded' | 'offline';

export interface SourceEvents {
  /** One per device per publish/poll cycle with the changed/current values. */
  onPoll(poll: DevicePoll): void;
  onAvailability(device: string, state: AvailabilityState, reason?: string): void;
}

export interface OpcuaSourceOptions {
  dataDir: string;
  log: Logger;
  events: SourceEvents;
  /** Only used to print the exact `certs trust` command; `<config file>` when absent. */
  configPath?: string;
}

export interface OpcuaSourceStats {
  bus: string;
  connected: boolean;
  sessions_created: number;
  /** Connection attempts that ended in an error (refused login, untrusted certificate ...). */
  connect_failures: number;
  reconnects: number;
  watchdog_trips: number;
  subscriptions: number;
  monitored_items: number;
  notifications: number;
  keepalives: number;
  bad_values: number;
  /** Lookups of addresses (browse paths, namespaces) that had not resolved on the session. */
  address_retries: number;
  bad_points: Array<{ device: string; point: string; node_id: string; status: string }>;
  reads: number;
  read_errors: number;
  poll_overruns: number;
  polls_emitted: number;
  last_data_age_ms: number | null;
  notify_to_record_p50_ms: number | null;
  notify_to_record_p99_ms: number | null;
}

export interface OpcuaSource {
  start(): Promise<void>;
  stop(): Promise<void>;
  stats(): OpcuaSourceStats;
}

export function createOpcuaSource(bus: OpcuaBusConfig, devices: OpcuaDeviceSpec[], opts: OpcuaSourceOptions): OpcuaSource {
  return new Source(bus, devices, opts);
}

interface Generation {
  client?: OPCUAClient;
  session?: ClientSession;
  /** The first set holds what resolved at session start; later ones, points resolved by a retry. */
  subs: SubscriptionSet[];
  pollers: Poller[];
  /** Retries the addresses that did not resolve on this session. */
  resolveRetry?: NodeJS.Timeout;
  /** Setup finished: the session works and items exist. */
  ready: boolean;
  disposed: boolean;
  disposing?: Promise<void>;
  done: Promise<string>;
  fail(reason: string): void;
}

function newGeneration(): Generation {
  let fail: (reason: string) => void = () => undefined;
  const done = new Promise<string>((resolve) => { fail = resolve; });
  return { subs: [], pollers: [], ready: false, disposed: false, done, fail: (r) => fail(r) };
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(undefined), ms);
    p.then((v) => { clearTimeout(t); resolve(v); }, () => { clearTimeout(t); resolve(undefined); });
  });
}

/** An unresolved address is looked up again after this, doubling up to the maximum. */
const RESOLVE_RETRY_FIRST_MS = 5_000;
const RESOLVE_RETRY_MAX_MS = 60_000;

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

class Source implements OpcuaSource {
  private readonly log: Logger;
  private readonly refs: PointRef[];
  private readonly emitter: PollEmitter;
  private readonly watchdogMs: number;
  private readonly counters = {
    sessions_created: 0, connect_failures: 0, reconnects: 0, watchdog_trips: 0, notifications: 0, keepalives: 0, bad_values: 0, address_retries: 0,
  };
  private readonly pollCounters: PollCounters = { reads: 0, read_errors: 0, poll_overruns: 0 };
  private readonly bad = new Map<string, { ref: PointRef; status: string }>();
  private readonly availability = new Map<string, string>();
  private readonly readFailing = new Set<string>();
  private cm: OPCUACertificateManager | undefined;
  private gen: Generation | undefined;
  private loop: Promise<void> | undefined;
  private stopped = true;
  private wake: (() => void) | undefined;
  private watchdogTimer: NodeJS.Timeout | undefined;
  private connected = false;
  private offlineReason = 'connecting';
  private lastProblem: string | undefined;
  private lastDataMs: number | undefined;

  constructor(private readonly bus: OpcuaBusConfig, private readonly devices: OpcuaDeviceSpec[], private readonly opts: OpcuaSourceOptions) {
    // The caller may already have bound the bus; a second `bus` key would repeat it.
    this.log = opts.log.bindings().bus === bus.id ? opts.log : opts.log.child({ bus: bus.id });
    routeNodeOpcuaLogs(opts.log);
    this.refs = pointRefs(devices);
    this.emitter = new PollEmitter((poll) => opts.events.onPoll(poll));
    // A quiet server sends keep-alives; a poll-only device answers once per interval.
    // Either must fit several times into the window before the watchdog may bite.
    const slowestMs = Math.max(0, ...this.refs.map((r) => (r.point.mode === 'poll' ? r.pollIntervalMs : itemParams(bus, r).publishingMs)));
    this.watchdogMs = Math.max(bus.watchdog_timeout, slowestMs * 3);
  }

  start(): Promise<void> {
    if (!this.stopped) return Promise.resolve();
    this.stopped = false;
    this.cm = createCertificateManager(this.opts.dataDir);
    this.loop = this.run();
    const checkMs = Math.max(100, Math.min(1000, Math.floor(this.watchdogMs / 5)));
    // Without points there is no data to expect, so nothing to watch.
    if (this.refs.length > 0) this.watchdogTimer = setInterval(() => this.checkWatchdog(), checkMs);
    return Promise.resolve();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.watchdogTimer) clearInterval(this.watchdogTimer);
    this.wake?.();
    const gen = this.gen;
    if (gen) {
      gen.fail('stopped');
      // A connect still retrying (server unreachable) only ends when its client does.
      await this.dispose(gen);
    }
    await this.loop;
    this.emitter.flush();
    await this.cm?.dispose();
    this.cm = undefined;
  }

  stats(): OpcuaSourceStats {
    const p50 = this.emitter.latency.quantile(0.5);
    const p99 = this.emitter.latency.quantile(0.99);
    return {
      bus: this.bus.id,
      connected: this.connected,
      ...this.counters,
      subscriptions: (this.gen?.subs ?? []).reduce((n, subs) => n + subs.subscriptionCount, 0),
      monitored_items: (this.gen?.subs ?? []).reduce((n, subs) => n + subs.itemCount, 0),
      bad_points: [...this.bad.values()].map(({ ref, status }) => ({ device: ref.device, point: ref.point.id, node_id: ref.point.node_id, status })),
      ...this.pollCounters,
      polls_emitted: this.emitter.polls,
      last_data_age_ms: this.lastDataMs === undefined ? null : Date.now() - this.lastDataMs,
      notify_to_record_p50_ms: p50 ?? null,
      notify_to_record_p99_ms: p99 ?? null,
    };
  }

  // ---- lifecycle ----

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      const gen = newGeneration();
      this.gen = gen;
      let reason: string;
      try {
        await this.open(gen);
        failures = 0;
        reason = await gen.done;
      } catch (err) {
        reason = errorText(err);
        if (!gen.disposed && !this.stopped) {
          this.counters.connect_failures += 1;
          this.connectFailed(err, gen);
        }
        failures += 1;
      }
      await this.dispose(gen);
      if (this.stopped) break;
      if (reason !== 'watchdog') await this.sleep(Math.min(this.bus.reconnect_max, 500 * 2 ** Math.min(failures, 10)));
    }
  }

  private async open(gen: Generation): Promise<void> {
    const cm = this.cm;
    if (!cm) throw new Error('source stopped');
    // Trust decisions made with `opcua certs trust` in another process count now.
    await cm.reloadCertificates().catch(() => undefined);
    const client = OPCUAClient.create(clientOptions(this.bus, { dataDir: this.opts.dataDir, certificateManager: cm }));
    gen.client = client;
    client.on('backoff', () => {
      if (!gen.disposed) this.problem('server unreachable', { endpoint: this.bus.endpoint }, 'opcua server unreachable');
    });
    client.on('connection_lost', () => {
      if (!gen.disposed) this.goOffline('connection lost');
    });
    client.on('connection_reestablished', () => {
      this.counters.reconnects += 1;
      this.log.info({ endpoint: this.bus.endpoint }, 'opcua connection re-established');
    });
    await client.connect(this.bus.endpoint);
    if (gen.disposed) return;
    const session = await client.createSession(userIdentity(this.bus));
    gen.session = session;
    this.counters.sessions_created += 1;
    session.on('session_restored', () => this.log.info({}, 'opcua session restored'));
    session.on('session_repaired', () => this.log.info({}, 'opcua session repaired'));
    session.on('session_closed', (status: StatusCode) => {
      if (!gen.disposed) gen.fail(`session closed: ${statusText(status)}`);
    });

    // Namespace indexes and browse paths are looked up again for every session: a server
    // restart or a PLC download may have moved them.
    const { resolved, unresolved } = await resolvePointRefs(session, this.refs);
    if (gen.disposed) return;
    this.reportUnresolved(unresolved);
    await this.attach(gen, session, resolved);
    if (gen.disposed) return;
    gen.ready = true;
    this.lastDataMs = Date.now();
    this.goOnline();
    if (unresolved.length > 0) this.retryUnresolved(gen, session, unresolved.map((u) => u.ref), RESOLVE_RETRY_FIRST_MS);
  }

  private reportUnresolved(unresolved: readonly Unresolved[]): void {
    for (const { ref, status, detail } of unresolved) {
      this.markBad(ref, `${statusText(status)}: ${detail}`);
      this.emitter.push(ref.device, ref.point.id, badPointValue(ref.point.unit, status));
    }
  }

  /** Starts monitoring or polling resolved points, next to what the session already has. */
  private async attach(gen: Generation, session: ClientSession, resolved: readonly PointRef[]): Promise<void> {
    const subscribed = resolved.filter((r) => r.point.mode !== 'poll');
    const polled = resolved.filter((r) => r.point.mode === 'poll');
    if (subscribed.length > 0) {
      const subs = new SubscriptionSet(session, this.bus, subscribed, this.monitorSink(gen), this.log);
      gen.subs.push(subs);
      await subs.start();
    }
    if (gen.disposed) return;
    if (polled.length > 0) {
      const poller = new Poller(session, polled, this.pollSink(gen), this.pollCounters, this.bus.timeout);
      gen.pollers.push(poller);
      poller.start();
    }
  }

  /**
   * An address that did not resolve (a node a PLC download has not created yet, a
   * namespace registered late) is looked up again on its own, with backoff, on the same
   * session: the points that work keep their subscriptions.
   */
  private retryUnresolved(gen: Generation, session: ClientSession, refs: PointRef[], delayMs: number): void {
    if (gen.disposed || refs.length === 0) return;
    gen.resolveRetry = setTimeout(() => {
      gen.resolveRetry = undefined;
      void (async () => {
        try {
          const { resolved, unresolved } = await resolvePointRefs(session, refs);
          if (gen.disposed) return;
          this.counters.address_retries += 1;
          if (resolved.length > 0) {
            this.log.info({ points: resolved.map((r) => `${r.device}/${r.point.id}`) }, 'opcua addresses resolved on retry');
            await this.attach(gen, session, resolved);
          }
          this.reportUnresolved(unresolved);
          this.retryUnresolved(gen, session, unresolved.map((u) => u.ref), Math.min(delayMs * 2, RESOLVE_RETRY_MAX_MS));
        } catch (err) {
          // The session itself is in trouble: the watchdog and reconnect logic handle that.
          this.log.debug({ err }, 'opcua address retry failed');
          this.retryUnresolved(gen, session, refs, Math.min(delayMs * 2, RESOLVE_RETRY_MAX_MS));
        }
      })();
    }, delayMs);
    gen.resolveRetry.unref();
  }

  /** Idempotent: stop() may abort a generation the run loop disposes too. */
  private dispose(gen: Generation): Promise<void> {
    gen.disposed = true;
    gen.disposing ??= (async () => {
      if (gen.resolveRetry) clearTimeout(gen.resolveRetry);
      for (const p of gen.pollers) p.stop();
      for (const subs of gen.subs) await subs.close();
      if (gen.session) await withTimeout(gen.session.close(true), 2000);
      if (gen.client) await withTimeout(gen.client.disconnect(), 3000);
    })();
    return gen.disposing;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => { this.wake = undefined; resolve(); }, ms);
      this.wake = () => { clearTimeout(t); this.wake = undefined; resolve(); };
    });
  }

  private checkWatchdog(): void {
    const gen = this.gen;
    if (!gen?.ready || gen.disposed || this.lastDataMs === undefined) return;
    const silenceMs = Date.now() - this.lastDataMs;
    if (silenceMs <= this.watchdogMs) return;
    this.counters.watchdog_trips += 1;
    this.log.warn({ silence_ms: silenceMs, watchdog_timeout_ms: this.watchdogMs }, 'opcua watchdog: no data, rebuilding session');
    this.goOffline(`no data for ${Math.round(silenceMs / 1000)} s`);
    gen.fail('watchdog');
  }

  // ---- connection state ----

  private connectFailed(err: unknown, gen: Generation): void {
    const text = errorText(err);
    if (/BadCertificateUntrusted|BadSecurityChecksFailed.*certificate|certificate verification failed/i.test(text)) {
      const cert = this.rejectedServerCertificate(gen);
      const tp = cert?.thumbprint ?? '<thumbprint>';
      this.problem(`server certificate not trusted (thumbprint ${tp})`, {
        endpoint: this.bus.endpoint,
        thumbprint: tp,
        subject: cert?.subject,
        rejected_dir: `${pkiDir(this.opts.dataDir)}/rejected`,
        fix: `energy-gateway opcua certs trust ${tp} --config ${this.opts.configPath ?? '<config file>'}`,
      }, 'opcua server certificate not trusted', 'error');
      return;
    }
    this.problem(`connect failed: ${text}`, { err, ...describeBus(this.bus) }, 'opcua connect failed');
  }

  private rejectedServerCertificate(gen: Generation): { thumbprint: string; subject: string } | undefined {
    const raw = gen.client?.serverCertificate;
    const der = Array.isArray(raw) ? raw[0] : raw;
    if (der) {
      try {
        return certificateInfo(Buffer.from(der));
      } catch {
        // fall through to the rejected folder
      }
    }
    return newestRejected(this.opts.dataDir);
  }

  /** Logs a connection problem once (until it changes or the connection works) and goes offline. */
  private problem(reason: string, data: Record<string, unknown>, msg: string, level: 'warn' | 'error' = 'warn'): void {
    if (this.lastProblem !== reason) {
      this.lastProblem = reason;
      this.log[level](data, msg);
    }
    this.goOffline(reason);
  }

  private goOffline(reason: string): void {
    if (this.connected) this.log.warn({ reason }, 'opcua offline');
    this.connected = false;
    this.offlineReason = reason;
    for (const d of this.devices) this.updateAvailability(d.id);
  }

  private goOnline(): void {
    if (!this.connected) this.log.info(describeBus(this.bus), 'opcua online');
    this.connected = true;
    this.lastProblem = undefined;
    for (const d of this.devices) this.updateAvailability(d.id);
  }

  private updateAvailability(device: string): void {
    let state: AvailabilityState;
    let reason: string | undefined;
    if (!this.connected) {
      state = 'offline';
      reason = this.offlineReason;
    } else {
      const bad = [...this.bad.values()].filter((b) => b.ref.device === device);
      state = bad.length > 0 ? 'degraded' : 'online';
      if (bad.length > 0) reason = `bad nodes: ${bad.map((b) => `${b.ref.point.id} ${b.ref.point.node_id} ${b.status}`).join('; ')}`;
    }
    const key = `${state}|${reason ?? ''}`;
    if (this.availability.get(device) === key) return;
    this.availability.set(device, key);
    this.opts.events.onAvailability(device, state, reason);
  }

  // ---- values ----

  private alive(gen: Generation): void {
    if (gen.disposed) return;
    this.lastDataMs = Date.now();
    // After node-opcua repaired the session by itself, data is the proof we are back.
    if (!this.connected && gen.ready) this.goOnline();
  }

  private accept(ref: PointRef, dv: DataValue): void {
    const pv = toPointValue(dv, ref.point.unit, ref.point);
    if (pv.quality === 'bad') this.markBad(ref, statusText(dv.statusCode));
    else this.markGood(ref);
    this.emitter.push(ref.device, ref.point.id, pv);
  }

  private markBad(ref: PointRef, status: string): void {
    this.counters.bad_values += 1;
    const was = this.bad.get(ref.key);
    if (was?.status === status) return;
    this.bad.set(ref.key, { ref, status });
    // Logged on entering the bad state only; a retry answering with another Bad code
    // (BadNodeIdInvalid → BadNodeIdUnknown) just updates the reported status.
    if (!was) this.log.warn({ device: ref.device, point: ref.point.id, node_id: ref.point.node_id, status }, 'opcua node bad');
    // While offline the device is reported offline; goOnline() re-evaluates.
    if (this.connected) this.updateAvailability(ref.device);
  }

  private markGood(ref: PointRef): void {
    if (!this.bad.delete(ref.key)) return;
    this.log.info({ device: ref.device, point: ref.point.id, node_id: ref.point.node_id }, 'opcua node recovered');
    if (this.connected) this.updateAvailability(ref.device);
  }

  private monitorSink(gen: Generation): MonitorSink {
    return {
      value: (ref, dv) => {
        if (gen.disposed) return;
        this.counters.notifications += 1;
        this.accept(ref, dv);
      },
      itemBad: (ref, status) => {
        if (gen.disposed) return;
        this.markBad(ref, statusText(status));
        this.emitter.push(ref.device, ref.point.id, badPointValue(ref.point.unit, status));
      },
      alive: (keepAlive) => {
        if (keepAlive) this.counters.keepalives += 1;
        this.alive(gen);
      },
      received: () => this.emitter.markReceived(),
    };
  }

  private pollSink(gen: Generation): PollSink {
    return {
      values: (refs, dvs) => {
        if (gen.disposed) return;
        const device = refs[0]?.device;
        if (device && this.readFailing.delete(device)) this.log.info({ device }, 'opcua read recovered');
        this.emitter.markReceived();
        refs.forEach((ref, i) => {
          const dv = dvs[i];
          if (dv) this.accept(ref, dv);
        });
      },
      readFailed: (device, err) => {
        if (gen.disposed || this.readFailing.has(device)) return;
        this.readFailing.add(device);
        this.log.warn({ err, device }, 'opcua read failed');
      },
      alive: () => this.alive(gen),
    };
  }
}
