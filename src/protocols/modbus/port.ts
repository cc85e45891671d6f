import { EXCEPTION_NAMES, TransportError } from './errors.js';
import { judgePdu, mbapReadRequest, readDataBytes, rtuReadRequest, scanMbap, scanRtu, type Expectation } from './frames.js';
import type { ByteLink } from './link.js';

/** `mbap`: Modbus TCP (transaction ids); `rtu`: RTU frames with CRC, on a serial line or through TCP. */
export type Framing = 'mbap' | 'rtu';

export interface PortStats {
  /** Whole frames that reached us but did not answer the request in flight (stale, foreign unit, wrong length). */
  discardedFrames: number;
  /** Bytes thrown away on an RTU line (garbage, late answers, noise). */
  discardedBytes: number;
  /** Times a Modbus TCP stream stopped making sense and the connection was dropped. */
  desyncs: number;
}

/** Bytes kept while waiting for an RTU answer; the largest answer is 256 bytes. */
const RTU_RX_LIMIT = 512;

interface Pending {
  expect: Expectation;
  /** The RTU request frame as written, to tell its echo from the answer. */
  request: Buffer | undefined;
  fc: number;
  count: number;
  resolve(data: number[] | boolean[]): void;
  reject(err: TransportError): void;
  timer: NodeJS.Timeout;
}

/**
 * One read at a time over a byte link, and the guard that decides which bytes answer it.
 * A frame completes the request in flight only if it is its answer:
 *
 * - Modbus TCP: the transaction id must be the one just sent (16-bit, so a reply must be
 *   65,536 requests late to collide), and unit id, function and byte count must match.
 *   (modbus-serial's own TCP port keeps 256 ids and fails the request in flight when a stale
 *   reply carries another unit id; here such frames are dropped and counted.)
 * - RTU (serial, or RTU over TCP): there is no transaction id, so a frame counts only while a
 *   request is in flight, with the right unit id, function, byte count and CRC; bytes received
 *   before the request was written, or after it timed out, are dropped. A late answer that
 *   looks exactly like the next request's answer is kept off by the bus, which does not repeat
 *   a timed-out request's shape until the late answer could have arrived.
 *
 * Frames are built and parsed here rather than by modbus-serial's client: the guard has to
 * parse every answer anyway, and a TCP answer then needs no CRC computed just to be checked.
 */
export class GuardedPort {
  readonly stats: PortStats = { discardedFrames: 0, discardedBytes: 0, desyncs: 0 };
  private rx: Buffer = Buffer.alloc(0);
  private pending: Pending | null = null;
  private tid = 0;
  private closed = false;
  /** The port closed the link itself (a stream out of step, or close()). */
  private closing = false;

  constructor(private readonly link: ByteLink, readonly framing: Framing) {
    link.onData((data) => this.receive(data));
    link.onClose((err) => {
      this.closed = true;
      this.fail(new TransportError(`connection lost${err ? `: ${err.message}` : ''}`, 'connection', undefined, { cause: err }));
    });
  }

  get isOpen(): boolean {
    return !this.closed && this.link.isOpen;
  }

  /** Whether the link was closed by the other end (or went away), not by this port. */
  get closedByPeer(): boolean {
    return this.closed && !this.closing;
  }

  /**
   * Reads `count` registers (fc 3/4) or bits (fc 1/2) from one unit. Rejects with a
   * TransportError: `timeout`, `exception` (the device's answer), or `connection`.
   */
  read(unit: number, fc: 1 | 2 | 3 | 4, address: number, count: number, timeoutMs: number): Promise<number[] | boolean[]> {
    if (!this.isOpen) return Promise.reject(new TransportError('connection closed', 'connection'));
    if (this.pending) return Promise.reject(new TransportError('a request is already in flight', 'protocol'));
    return new Promise((resolve, reject) => {
      const expect: Expectation = { unit, fc, dataBytes: readDataBytes(fc, count) };
      const timer = setTimeout(() => {
        if (this.pending?.timer !== timer) return;
        this.pending = null;
        // Whatever still comes for it is dropped (RTU), or has a stale transaction id (TCP).
        if (this.framing === 'rtu') this.drop();
        reject(new TransportError('timeout', 'timeout'));
      }, timeoutMs);
      const request = this.framing === 'rtu' ? rtuReadRequest(unit, fc, address, count) : undefined;
      this.pending = { expect, request, fc, count, resolve, reject, timer };
      if (request) {
        // Nothing received before the request can be its answer.
        this.drop();
        this.link.write(request);
      } else {
        this.tid = (this.tid + 1) & 0xffff;
        this.link.write(mbapReadRequest(this.tid, unit, fc, address, count));
      }
    });
  }

  private receive(data: Buffer): void {
    this.rx = this.rx.length === 0 ? data : Buffer.concat([this.rx, data]);
    if (this.framing === 'mbap') this.receiveMbap();
    else this.receiveRtu();
    // The link may read its next bytes into the same memory: keep a copy of a partial frame.
    if (this.rx.length > 0 && this.rx.buffer === data.buffer) this.rx = Buffer.from(this.rx);
  }

  private receiveMbap(): void {
    const scan = scanMbap(this.rx);
    this.rx = this.rx.subarray(scan.consumed);
    if (scan.desync) {
      // Out of step means some length field lied, most likely that of the frame just before:
      // a truncated answer whose missing tail was taken from the next frame's first bytes (a
      // late answer's transaction id, in place of register bytes). None of these frames can
      // be trusted, not even one with the transaction id in flight.
      this.stats.discardedFrames += scan.frames.length;
      this.stats.desyncs += 1;
      this.rx = Buffer.alloc(0);
      this.fail(new TransportError('modbus tcp stream out of step (not MBAP)', 'connection'));
      this.closing = true;
      void this.link.close();
      return;
    }
    for (const f of scan.frames) {
      if (f.tid === this.tid && this.answer(f.pdu, 0, f.pdu.length)) continue;
      this.stats.discardedFrames += 1;
    }
  }

  private receiveRtu(): void {
    const p = this.pending;
    if (!p) {
      this.drop();
      return;
    }
    const scan = scanRtu(this.rx, p.expect, p.request);
    if (scan.frame) {
      // Whatever came around the answer is noise: no other request is in flight.
      this.stats.discardedBytes += this.rx.length - scan.frame.length;
      const frame = scan.frame;
      this.rx = Buffer.alloc(0);
      this.answer(frame, 0, frame.length - 2);
      return;
    }
    this.stats.discardedBytes += scan.consumed;
    this.rx = this.rx.subarray(scan.consumed);
    if (this.rx.length > RTU_RX_LIMIT) {
      this.stats.discardedBytes += this.rx.length - RTU_RX_LIMIT;
      this.rx = this.rx.subarray(this.rx.length - RTU_RX_LIMIT);
    }
  }

  /** Completes the request in flight with this PDU if it answers it; false if it does not. */
  private answer(pdu: Buffer, from: number, length: number): boolean {
    const p = this.pending;
    if (!p) return false;
    const verdict = judgePdu(pdu, from, length, p.expect);
    if (verdict === 'foreign') return false;
    this.pending = null;
    clearTimeout(p.timer);
    if (verdict === 'exception') {
      const code = pdu[from + 2]!;
      p.reject(new TransportError(`modbus exception ${code} (${EXCEPTION_NAMES[code] ?? 'unknown exception'})`, 'exception', code));
      return true;
    }
    const at = from + 3;
    if (p.fc === 3 || p.fc === 4) {
      const words = new Array<number>(p.count);
      for (let i = 0; i < p.count; i++) words[i] = pdu.readUInt16BE(at + i * 2);
      p.resolve(words);
    } else {
      const bits = new Array<boolean>(p.count);
      for (let i = 0; i < p.count; i++) bits[i] = ((pdu[at + (i >> 3)]! >> (i & 7)) & 1) === 1;
      p.resolve(bits);
    }
    return true;
  }

  private fail(err: TransportError): void {
    const p = this.pending;
    if (!p) return;
    this.pending = null;
    clearTimeout(p.timer);
    p.reject(err);
  }

  private drop(): void {
    this.stats.discardedBytes += this.rx.length;
    this.rx = Buffer.alloc(0);
  }

  close(): Promise<void> {
    this.closing = true;
    return this.link.close();
  }
}
