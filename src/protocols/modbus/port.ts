import { EventEmitter } from 'node:events';
import { expectationFor, judgePdu, scanMbap, scanRtu, toMbap, withCrc, type Expectation } from './frames.js';
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

/**
 * The guard between the wire and modbus-serial's client. It implements the port contract
 * the client expects (open/close/write/isOpen, 'data' with one RTU frame), and it only ever
 * hands over a frame that answers the request in flight:
 *
 * - Modbus TCP: the transaction id must be the one just sent (16-bit, so a reply must be
 *   65,536 requests late to collide), and unit id, function and byte count must match.
 *   modbus-serial's own TCP port keeps only 256 ids and fails the request in flight on a
 *   stale reply with another unit id; here such frames are dropped and counted.
 * - RTU (serial, or RTU-over-TCP): there is no transaction id, so a frame counts only while a
 *   request is in flight, with the right unit id, function, byte count and CRC; bytes received
 *   before the request was written, or after the client gave up on it, are dropped. A late
 *   answer that looks exactly like the next request's answer is kept off by the bus, which
 *   does not repeat a timed-out request's shape until the late answer could have arrived.
 */
export class GuardedPort extends EventEmitter {
  // modbus-serial's client keys its transaction slot by these. One request is in flight per
  // bus, so one slot is enough and the ids on the wire are ours (see `tid`).
  _transactionIdRead = 1;
  _transactionIdWrite = 1;
  readonly stats: PortStats = { discardedFrames: 0, discardedBytes: 0, desyncs: 0 };
  private rx: Buffer = Buffer.alloc(0);
  private expect: Expectation | null = null;
  private tid = 0;

  constructor(private readonly link: ByteLink, readonly framing: Framing) {
    super();
    link.onData((data) => this.receive(data));
    link.onClose((err) => {
      this.expect = null;
      this.emit('close', err);
    });
  }

  get isOpen(): boolean {
    return this.link.isOpen;
  }

  open(cb: (err?: Error | null) => void): void {
    this.link.open().then(() => cb(null), (err: Error) => cb(err));
  }

  close(cb?: (err?: Error | null) => void): void {
    void this.link.close().then(() => cb?.(null));
  }

  destroy(cb?: (err?: Error | null) => void): void {
    this.close(cb);
  }

  /** One request frame from the client, RTU form (unit, PDU, CRC). */
  write(frame: Buffer): void {
    this.expect = expectationFor(frame);
    if (this.framing === 'rtu') {
      // Nothing received before the request can be its answer.
      this.drop();
      this.link.write(Buffer.from(frame));
    } else {
      this.tid = (this.tid + 1) & 0xffff;
      this.link.write(toMbap(this.tid, frame));
    }
  }

  /** The client gave up on the request in flight (timeout): whatever comes for it is dropped. */
  abandon(): void {
    this.expect = null;
    if (this.framing === 'rtu') this.drop();
  }

  private receive(data: Buffer): void {
    this.rx = this.rx.length === 0 ? data : Buffer.concat([this.rx, data]);
    if (this.framing === 'mbap') this.receiveMbap();
    else this.receiveRtu();
  }

  private receiveMbap(): void {
    const scan = scanMbap(this.rx);
    this.rx = this.rx.subarray(scan.consumed);
    for (const f of scan.frames) {
      const e = this.expect;
      if (e && f.tid === this.tid && judgePdu(f.pdu, 0, f.pdu.length, e) !== 'foreign') {
        this.expect = null;
        this.emit('data', withCrc(f.pdu));
      } else {
        this.stats.discardedFrames += 1;
      }
    }
    if (scan.desync) {
      this.stats.desyncs += 1;
      this.rx = Buffer.alloc(0);
      this.expect = null;
      void this.link.close();
    }
  }

  private receiveRtu(): void {
    const e = this.expect;
    if (!e) {
      this.drop();
      return;
    }
    const scan = scanRtu(this.rx, e);
    if (scan.frame) {
      // Whatever came around the answer is noise: no other request is in flight.
      this.stats.discardedBytes += this.rx.length - scan.frame.length;
      const frame = Buffer.from(scan.frame);
      this.expect = null;
      this.rx = Buffer.alloc(0);
      this.emit('data', frame);
      return;
    }
    this.stats.discardedBytes += scan.consumed;
    this.rx = this.rx.subarray(scan.consumed);
    if (this.rx.length > RTU_RX_LIMIT) {
      this.stats.discardedBytes += this.rx.length - RTU_RX_LIMIT;
      this.rx = this.rx.subarray(this.rx.length - RTU_RX_LIMIT);
    }
  }

  private drop(): void {
    this.stats.discardedBytes += this.rx.length;
    this.rx = Buffer.alloc(0);
  }
}
