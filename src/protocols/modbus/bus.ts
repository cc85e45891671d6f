import type { Logger } from 'pino';
import type { ModbusBusConfig } from '../../config/schema.js';
import type { ModbusFunction } from '../../profiles/schema.js';
import { BusUnreachableError, classifyModbusError, TransportError } from './errors.js';
import { bitsPerChar, rtuReadBytes, rtuSilenceMs } from './frames.js';
import { SerialLink, TcpLink, type ByteLink } from './link.js';
import { GuardedPort, type Framing } from './port.js';

export interface BusStats {
  requests: number;
  failures: number;
  timeouts: number;
  exceptions: number;
  /** Successful connects, the first one included. */
  connects: number;
  /** Connections lost or dropped after having been up. */
  disconnects: number;
}

/** Timing knobs of the device a request is for. */
export interface RequestOptions {
  timeoutMs: number;
  /** The connection must be this old before the device is asked anything (slow TCP gateways). */
  pauseAfterConnectMs?: number;
  /** Silence since this device's previous answer (devices that need time between requests). */
  pauseBetweenRequestsMs?: number;
}

/** What the scheduler and the commands need from a bus. */
export interface ModbusReader {
  readonly id: string;
  read(unitId: number, fn: ModbusFunction, address: number, count: number, options: RequestOptions): Promise<number[] | boolean[]>;
}

/** A read waiting for the bus. */
interface QueuedRead {
  unitId: number;
  fn: ModbusFunction;
  address: number;
  count: number;
  options: RequestOptions;
  resolve(data: number[] | boolean[]): void;
  reject(err: unknown): void;
}

interface Connection {
  link: ByteLink;
  port: GuardedPort;
  connectedAtMs: number;
  /** An answer came on this connection: a connection lost later was working, not refused. */
  answered: boolean;
  /** The bus closed it (timeouts, a retry on a new connection, close()). */
  dropped: boolean;
}

const FUNCTION_CODES = { coil: 1, discrete: 2, holding: 3, input: 4 } as const;

const FIRST_BACKOFF_MS = 500;
/** A Modbus TCP peer that lets several units time out in a row is probably half-dead: reconnect. */
const TCP_TIMEOUTS_BEFORE_RECONNECT = 3;
/**
 * Timeouts in a row, of any units, after which a Modbus TCP connection is renewed even when
 * they are all one unit's: more than one device's poll can make (1 + at most 5 retries), so
 * no other device answered between two polls. A bus with a single device behind a
 * half-dead connection (a gateway rebooted behind a NAT, a stuck server task) otherwise kept
 * that connection, and timed out, forever.
 */
const TCP_SILENT_STREAK_BEFORE_RECONNECT = 7;

export function framingOf(config: ModbusBusConfig): Framing {
  return config.type === 'modbus_tcp' ? 'mbap' : 'rtu';
}

/** The configured inter-frame delay, or the RTU 3.5-character silence on a serial line. */
export function interFrameDelayMs(config: ModbusBusConfig): number {
  if (config.inter_frame_delay !== undefined) return config.inter_frame_delay;
  if (config.type !== 'modbus_rtu') return 0;
  return Math.ceil(rtuSilenceMs(config.baud_rate, bitsPerChar(config.data_bits, config.parity, config.stop_bits)));
}

/**
 * Milliseconds one character takes on the bus's serial line, or 0 where the gateway does not
 * know the line: Modbus TCP, and RTU over TCP without the device server's baud_rate.
 */
export function charTimeMs(config: ModbusBusConfig): number {
  if (config.type === 'modbus_rtu') return (bitsPerChar(config.data_bits, config.parity, config.stop_bits) * 1000) / config.baud_rate;
  if (config.type === 'modbus_rtu_over_tcp' && config.baud_rate !== undefined) return (bitsPerChar() * 1000) / config.baud_rate;
  return 0;
}

function defaultLink(config: ModbusBusConfig): ByteLink {
  if (config.type === 'modbus_rtu') {
    return new SerialLink({
      path: config.path, baudRate: config.baud_rate, parity: config.parity, dataBits: config.data_bits, stopBits: config.stop_bits,
    });
  }
  return new TcpLink(config.host, config.port, config.timeout);
}

/**
 * One physical bus — a serial port or a TCP host:port — shared by every unit id behind
 * it. Requests run strictly one at a time, with the configured silence between frames,
 * because RS-485 and most serial device servers cannot interleave transactions.
 * The connection is opened on first use and reopened with exponential backoff.
 */
export class ModbusBus implements ModbusReader {
  readonly stats: BusStats = { requests: 0, failures: 0, timeouts: 0, exceptions: 0, connects: 0, disconnects: 0 };
  readonly framing: Framing;
  private readonly interFrameMs: number;
  private readonly charMs: number;
  private conn: Connection | null = null;
  private connecting: Promise<Connection> | null = null;
  /** A request is on the bus; others wait in `waiting`, in order. */
  private busy = false;
  private readonly waiting: QueuedRead[] = [];
  private idleWaiters: Array<() => void> = [];
  private nextConnectAtMs = 0;
  private backoffMs = 0;
  private down = false;
  /**
   * Times here (frame ends, answers, connects, quarantines, backoff) are on the monotonic
   * clock, `monotonicMs()`: the wall clock can be stepped back (NTP correcting a clock that
   * ran fast), and a silence measured on it then lasted until the clock caught up again —
   * an hour's step held the bus for an hour. Its whole milliseconds also cut silences short
   * by up to one (a 20 ms inter-frame delay was 19.85 ms at the device).
   */
  private lastFrameEndMs = Number.NEGATIVE_INFINITY;
  private readonly lastAnswerMs = new Map<number, number>();
  /**
   * RTU has no transaction id: after a request of some shape (unit, function) timed out, its
   * answer may still come. The same shape is not asked again until then, so a late answer or
   * exception can never pass for a fresh one (other shapes are told apart by the port).
   */
  private readonly quarantine = new Map<string, number>();
  private timeoutsInARow = new Set<number>();
  private timeoutStreak = 0;
  /** Connections in a row the peer closed before they answered anything. */
  private unansweredCloses = 0;
  private closed = false;

  constructor(
    readonly config: ModbusBusConfig,
    private readonly log: Logger,
    private readonly createLink: (config: ModbusBusConfig) => ByteLink = defaultLink,
  ) {
    this.framing = framingOf(config);
    this.interFrameMs = interFrameDelayMs(config);
    this.charMs = charTimeMs(config);
  }

  get id(): string {
    return this.config.id;
  }

  get connected(): boolean {
    return this.conn !== null;
  }

  /** Frames and bytes the guard threw away on the current connection. */
  portStats(): GuardedPort['stats'] | null {
    return this.conn?.port.stats ?? null;
  }

  /** Reads registers or bits from one unit; serialized with every other request on this bus. */
  read(unitId: number, fn: ModbusFunction, address: number, count: number, options: RequestOptions): Promise<number[] | boolean[]> {
    if (this.busy) return new Promise((resolve, reject) => this.waiting.push({ unitId, fn, address, count, options, resolve, reject }));
    return this.run(unitId, fn, address, count, options);
  }

  /**
   * One request, then the next one waiting. A request on an idle bus is written before this
   * returns, so a caller can go on with other work while the device answers.
   */
  private async run(unitId: number, fn: ModbusFunction, address: number, count: number, options: RequestOptions): Promise<number[] | boolean[]> {
    this.busy = true;
    try {
      return await this.readNow(unitId, fn, address, count, options);
    } finally {
      this.busy = false;
      this.startNext();
    }
  }

  private startNext(): void {
    const next = this.waiting.shift();
    if (next) {
      this.run(next.unitId, next.fn, next.address, next.count, next.options).then(next.resolve, next.reject);
      return;
    }
    for (const wake of this.idleWaiters.splice(0)) wake();
  }

  private async readNow(
    unitId: number, fn: ModbusFunction, address: number, count: number, options: RequestOptions, again = false,
  ): Promise<number[] | boolean[]> {
    if (this.closed) throw new TransportError(`bus ${this.id} closed`, 'connection');
    // Connected (nearly always): no promise to wait for.
    const conn = this.conn ?? (await this.connect());
    // Only RTU quarantines shapes; Modbus TCP needs no key string per request.
    // The shape is unit and function, not the count: a late exception answer carries no count
    // (unit, fc | 0x80, code) and would otherwise fail the unit's next read of another count.
    const shape = this.framing === 'rtu' ? `${unitId}:${fn}` : '';
    const notBefore = Math.max(
      this.lastFrameEndMs + this.interFrameMs,
      conn.connectedAtMs + (options.pauseAfterConnectMs ?? 0),
      (this.lastAnswerMs.get(unitId) ?? Number.NEGATIVE_INFINITY) + (options.pauseBetweenRequestsMs ?? 0),
      this.quarantine.size === 0 ? 0 : this.quarantine.get(shape) ?? 0,
    );
    // A timer may fire a fraction of a millisecond early (it counts from the event loop's
    // cached time): wait again until the silence has really passed.
    for (let waitMs = notBefore - monotonicMs(); waitMs > 0; waitMs = notBefore - monotonicMs()) await sleep(Math.ceil(waitMs));
    if (this.conn !== conn) throw new TransportError(`bus ${this.id} connection lost`, 'connection');

    this.stats.requests += 1;
    const code = FUNCTION_CODES[fn];
    // A device's timeout is the time it may take to answer. On a slow serial line the request
    // and answer frames themselves take long (80 registers at 2400 baud: 0.7 s), so their
    // time on the wire comes on top, or a big read could never be answered in time.
    const timeoutMs = this.charMs === 0 ? options.timeoutMs : options.timeoutMs + Math.ceil(this.charMs * rtuReadBytes(code, count));
    try {
      // The port fails the request at once if the link goes away, not at its timeout.
      const data = await conn.port.read(unitId, code, address, count, timeoutMs);
      conn.answered = true;
      if (this.unansweredCloses > 0) {
        this.unansweredCloses = 0;
        this.backoffMs = 0;
      }
      if (this.timeoutsInARow.size > 0) this.timeoutsInARow.clear();
      this.timeoutStreak = 0;
      if (this.quarantine.size > 0) this.quarantine.delete(shape);
      this.lastAnswerMs.set(unitId, monotonicMs());
      return data;
    } catch (err) {
      const te = classifyModbusError(err);
      if (te.kind === 'connection' && conn.answered && !again && !this.closed) {
        // Some gateways and device servers close the connection after every answer. The next
        // request, written as soon as that answer came, crosses the close and is lost with
        // the connection, through no fault of the device. A connection that has answered
        // before gets the request once more on a new one (a read can be repeated); a peer
        // that is really gone fails that second attempt, which counts as the failure.
        this.drop(conn);
        return this.readNow(unitId, fn, address, count, options, true);
      }
      this.onRequestFailed(conn, te, unitId, shape, timeoutMs);
      throw te;
    } finally {
      this.lastFrameEndMs = monotonicMs();
    }
  }

  private onRequestFailed(conn: Connection, err: TransportError, unitId: number, shape: string, timeoutMs: number): void {
    this.stats.failures += 1;
    if (err.kind === 'exception') {
      this.stats.exceptions += 1;
      this.lastAnswerMs.set(unitId, monotonicMs());
      return;
    }
    if (err.kind === 'connection') {
      this.drop(conn);
      return;
    }
    if (err.kind === 'timeout') this.stats.timeouts += 1;
    if (this.framing === 'rtu') {
      this.quarantine.set(shape, monotonicMs() + timeoutMs);
      if (this.quarantine.size > 1024) this.pruneQuarantine();
    } else if (err.kind === 'timeout') {
      this.timeoutsInARow.add(unitId);
      this.timeoutStreak += 1;
      if (this.timeoutsInARow.size >= TCP_TIMEOUTS_BEFORE_RECONNECT || this.timeoutStreak >= TCP_SILENT_STREAK_BEFORE_RECONNECT) {
        this.log.warn({ bus: this.id, units: [...this.timeoutsInARow], timeouts: this.timeoutStreak }, 'modbus tcp peer stopped answering, reconnecting');
        this.timeoutsInARow.clear();
        this.timeoutStreak = 0;
        this.drop(conn);
      }
    }
  }

  private pruneQuarantine(): void {
    const now = monotonicMs();
    for (const [k, until] of this.quarantine) if (until <= now) this.quarantine.delete(k);
  }

  private connect(): Promise<Connection> {
    if (this.conn) return Promise.resolve(this.conn);
    if (monotonicMs() < this.nextConnectAtMs) {
      return Promise.reject(new BusUnreachableError(`bus ${this.id} is waiting to reconnect`));
    }
    this.connecting ??= this.open().finally(() => { this.connecting = null; });
    return this.connecting;
  }

  private async open(): Promise<Connection> {
    const link = this.createLink(this.config);
    try {
      await link.open();
    } catch (err) {
      this.backOff();
      // The serial port library starts its messages with "Error: " (a stringified error),
      // which then stood in the middle of every availability reason.
      const why = String((err as Error).message).replace(/^Error: /, '');
      if (!this.down) {
        this.down = true;
        this.log.warn({ bus: this.id, err: why, retryInMs: this.backoffMs }, 'modbus bus connect failed');
      }
      await link.close();
      throw new BusUnreachableError(`cannot connect bus ${this.id}: ${why}`, { cause: err });
    }
    const port = new GuardedPort(link, this.framing);
    const conn: Connection = { link, port, connectedAtMs: monotonicMs(), answered: false, dropped: false };
    link.onClose((err) => {
      if (this.conn === conn) {
        this.conn = null;
        this.stats.disconnects += 1;
        if (!this.closed) this.log.warn({ bus: this.id, err: err?.message }, 'modbus bus connection lost');
      }
      // A peer that keeps accepting connections and closing them before it answers anything
      // (a device server at its connection limit, a port forwarded to nothing) is as good as
      // one that refuses: from its second such close in a row it is backed off from the same
      // way, or every request of every device would open a connection. Closes of the bus's
      // or port's own making (timeouts, garbage on the line) do not count.
      if (!conn.answered && !conn.dropped && conn.port.closedByPeer && !this.closed) {
        this.unansweredCloses += 1;
        if (this.unansweredCloses >= 2) this.backOff();
      }
    });
    if (this.down || this.stats.connects > 0) this.log.info({ bus: this.id }, 'modbus bus connected');
    this.down = false;
    this.stats.connects += 1;
    // Kept (and doubled) while the peer closes its connections unanswered; reset by an answer.
    if (this.unansweredCloses === 0) this.backoffMs = 0;
    this.quarantine.clear();
    this.timeoutsInARow.clear();
    this.timeoutStreak = 0;
    this.conn = conn;
    return conn;
  }

  /** The next connection waits: 0.5 s, then twice as long each time, up to reconnect_max. */
  private backOff(): void {
    this.backoffMs = Math.min(this.config.reconnect_max, Math.max(FIRST_BACKOFF_MS, this.backoffMs * 2));
    this.nextConnectAtMs = monotonicMs() + this.backoffMs;
  }

  private drop(conn: Connection): void {
    if (this.conn === conn) this.conn = null;
    conn.dropped = true;
    void conn.link.close();
  }

  async close(): Promise<void> {
    this.closed = true;
    // Reads still waiting fail at once now; the one on the bus ends at its answer or timeout.
    if (this.busy) await new Promise<void>((wake) => this.idleWaiters.push(wake));
    const conn = this.conn;
    this.conn = null;
    if (conn) await conn.link.close();
  }
}

/** Milliseconds on a clock that never jumps, with sub-millisecond resolution. */
function monotonicMs(): number {
  return performance.now();
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
