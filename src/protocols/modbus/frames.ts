// Pure Modbus framing: which bytes on the wire are the answer to the request in flight.
// Everything here is a function of its inputs, so the response path can be fuzzed.

const CRC_TABLE = (() => {
  const table = new Uint16Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xa001 : c >>> 1;
    table[n] = c;
  }
  return table;
})();

/** Modbus RTU CRC-16 (poly 0xA001, init 0xFFFF) over bytes [from, to). */
export function crc16(buf: Uint8Array, from = 0, to = buf.length): number {
  let crc = 0xffff;
  for (let i = from; i < to; i++) crc = (crc >>> 8) ^ CRC_TABLE[(crc ^ buf[i]!) & 0xff]!;
  return crc;
}

export type ReadFunctionCode = 1 | 2 | 3 | 4;

/** What the request in flight expects back. */
export interface Expectation {
  unit: number;
  fc: number;
  /** Data bytes of a normal answer (the byte-count field), or -1 when fc is not a read. */
  dataBytes: number;
}

/** Data bytes a read of `count` registers (fc 3/4) or bits (fc 1/2) returns. */
export function readDataBytes(fc: number, count: number): number {
  if (fc === 1 || fc === 2) return Math.ceil(count / 8);
  if (fc === 3 || fc === 4) return count * 2;
  return -1;
}

/**
 * Bytes a read puts on an RTU line: the request (unit, fc, address, count, CRC: 8) and its
 * answer (unit, fc, byte count, data, CRC).
 */
export function rtuReadBytes(fc: number, count: number): number {
  return 8 + 5 + readDataBytes(fc, count);
}

/** The expectation for an RTU request frame (unit, fc, address, count, CRC), as modbus-serial writes it. */
export function expectationFor(rtuRequest: Uint8Array): Expectation {
  const unit = rtuRequest[0] ?? 0;
  const fc = rtuRequest[1] ?? 0;
  const count = rtuRequest.length >= 6 ? ((rtuRequest[4]! << 8) | rtuRequest[5]!) : 0;
  return { unit, fc, dataBytes: readDataBytes(fc, count) };
}

/** Length of a normal RTU answer (address, fc, byte count, data, CRC). */
export function rtuAnswerLength(e: Expectation): number {
  return 3 + e.dataBytes + 2;
}

export type PduVerdict = 'answer' | 'exception' | 'foreign';

/**
 * Whether a PDU (unit id first, no CRC or MBAP) answers the expectation: a normal answer
 * with exactly the byte count asked for, or an exception for the same function. Anything
 * else — another unit, another function, a wrong length — is foreign and must not
 * complete the request.
 */
export function judgePdu(pdu: Uint8Array, from: number, length: number, e: Expectation): PduVerdict {
  if (length < 3 || pdu[from] !== e.unit) return 'foreign';
  const fc = pdu[from + 1]!;
  if (fc === (e.fc | 0x80)) return length === 3 ? 'exception' : 'foreign';
  if (fc !== e.fc || e.dataBytes < 0) return 'foreign';
  return pdu[from + 2] === e.dataBytes && length === 3 + e.dataBytes ? 'answer' : 'foreign';
}

export interface RtuScan {
  /** The accepted frame, CRC included, when one was found. */
  frame?: Buffer;
  /** Bytes at the start of the buffer that can be dropped (garbage, or up to the end of the frame). */
  consumed: number;
}

/**
 * Finds the answer to `e` in bytes received on an RTU line. Every offset where the unit id
 * and function match starts a candidate; a candidate is the answer only when it is complete,
 * its byte count is the one asked for, its CRC is right and it is not the echo of `request`.
 * Garbage before the answer is skipped; a candidate that is not complete yet keeps the bytes
 * from its start.
 */
export function scanRtu(buf: Buffer, e: Expectation, request?: Uint8Array): RtuScan {
  const normalLength = e.dataBytes >= 0 ? rtuAnswerLength(e) : -1;
  let keepFrom = buf.length;
  for (let i = 0; i < buf.length; i++) {
    if (buf[i] !== e.unit) continue;
    if (i + 1 >= buf.length) {
      keepFrom = Math.min(keepFrom, i);
      break;
    }
    const fc = buf[i + 1]!;
    const length = fc === e.fc ? normalLength : fc === (e.fc | 0x80) ? 5 : -1;
    if (length < 0) continue;
    if (i + length > buf.length) {
      keepFrom = Math.min(keepFrom, i);
      continue;
    }
    const crc = buf[i + length - 2]! | (buf[i + length - 1]! << 8);
    if (crc !== crc16(buf, i, i + length - 2)) continue;
    if (judgePdu(buf, i, length - 2, e) === 'foreign') continue;
    if (request !== undefined && isEcho(buf, i, length, request)) continue;
    return { frame: buf.subarray(i, i + length), consumed: i + length };
  }
  return { consumed: keepFrom };
}

/**
 * Whether the candidate at `from` is the echo of the request (an RS-485 adapter without echo
 * suppression hands the master its own frame back). The echo passes for an answer by
 * construction whenever the request's address high byte equals the byte count asked for and
 * 0x00 bytes follow it (the line held low at turnaround): the CRC register over a frame and
 * its own CRC is 0 and stays 0 over 0x00 bytes, so [request, 0x00 …] is a well-formed answer
 * of the address low byte, the count, the request's CRC and zeros. A genuine answer of
 * exactly these bytes cannot be told from it and is better lost (a timeout) than trusted.
 */
function isEcho(buf: Uint8Array, from: number, length: number, request: Uint8Array): boolean {
  const n = Math.min(length, request.length);
  for (let k = 0; k < n; k++) if (buf[from + k] !== request[k]) return false;
  return true;
}

/** One Modbus TCP (MBAP) frame: transaction id and PDU with the unit id first. */
export interface MbapFrame {
  tid: number;
  pdu: Buffer;
}

export interface MbapScan {
  frames: MbapFrame[];
  consumed: number;
  /**
   * The stream does not look like MBAP at all (protocol id not 0, impossible length). A TCP
   * stream cannot be resynchronised reliably, so the caller drops the connection.
   */
  desync: boolean;
}

const MBAP_HEADER = 6;
/** A PDU is at most 253 bytes; with the unit id, the MBAP length field is at most 254. */
const MBAP_MAX_LENGTH = 254;

/** Splits received bytes into MBAP frames; an incomplete frame stays for the next call. */
export function scanMbap(buf: Buffer): MbapScan {
  const frames: MbapFrame[] = [];
  let at = 0;
  while (buf.length - at >= MBAP_HEADER) {
    const protocol = buf.readUInt16BE(at + 2);
    const length = buf.readUInt16BE(at + 4);
    if (protocol !== 0 || length < 2 || length > MBAP_MAX_LENGTH) return { frames, consumed: buf.length, desync: true };
    if (buf.length - at < MBAP_HEADER + length) break;
    frames.push({ tid: buf.readUInt16BE(at), pdu: buf.subarray(at + MBAP_HEADER, at + MBAP_HEADER + length) });
    at += MBAP_HEADER + length;
  }
  // A partial header already shows its protocol id: not 0 means the stream is out of step
  // now (the previous frame's length lied), not once more bytes have come.
  if (buf.length - at >= 4 && buf.readUInt16BE(at + 2) !== 0) return { frames, consumed: buf.length, desync: true };
  return { frames, consumed: at, desync: false };
}

/** An MBAP frame for an RTU request frame (its CRC dropped). */
export function toMbap(tid: number, rtuRequest: Uint8Array): Buffer {
  const pduLength = rtuRequest.length - 2;
  const out = Buffer.allocUnsafe(MBAP_HEADER + pduLength);
  out.writeUInt16BE(tid & 0xffff, 0);
  out.writeUInt16BE(0, 2);
  out.writeUInt16BE(pduLength, 4);
  out.set(rtuRequest.subarray(0, pduLength), MBAP_HEADER);
  return out;
}

/**
 * A read request as one MBAP frame: what toMbap(tid, rtuReadRequest(…)) makes, in one
 * buffer instead of three and without the CRC it then drops.
 *
 * Request frames come from Node's buffer pool (allocUnsafe, every byte written here):
 * Buffer.alloc makes a small zero-filled array inside V8's heap, which the socket write
 * then has to move out to memory of its own first (measured: about 1 µs of CPU more per
 * request written).
 */
export function mbapReadRequest(tid: number, unit: number, fc: number, address: number, count: number): Buffer {
  const out = Buffer.allocUnsafe(MBAP_HEADER + 6);
  out.writeUInt16BE(tid & 0xffff, 0);
  out.writeUInt16BE(0, 2);
  out.writeUInt16BE(6, 4);
  out.writeUInt8(unit, 6);
  out.writeUInt8(fc, 7);
  out.writeUInt16BE(address, 8);
  out.writeUInt16BE(count, 10);
  return out;
}

/** A PDU with a CRC appended: the RTU form modbus-serial's client parses. */
export function withCrc(pdu: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(pdu.length + 2);
  out.set(pdu, 0);
  out.writeUInt16LE(crc16(out, 0, pdu.length), pdu.length);
  return out;
}

/** A read request as an RTU frame: unit, fc, address, count, CRC. */
export function rtuReadRequest(unit: number, fc: number, address: number, count: number): Buffer {
  const pdu = Buffer.allocUnsafe(6);
  pdu.writeUInt8(unit, 0);
  pdu.writeUInt8(fc, 1);
  pdu.writeUInt16BE(address, 2);
  pdu.writeUInt16BE(count, 4);
  return withCrc(pdu);
}

/**
 * Bits on the wire per character: start bit, data bits, parity bit, stop bits. Used for
 * the RTU silent interval (3.5 characters) and for cycle-time estimates.
 */
export function bitsPerChar(dataBits = 8, parity: 'none' | 'even' | 'odd' = 'none', stopBits = 1): number {
  return 1 + dataBits + (parity === 'none' ? 0 : 1) + stopBits;
}

/**
 * The RTU inter-frame silence: 3.5 character times, and a fixed 1.75 ms above 19200 baud
 * (Modbus over Serial Line v1.02, §2.5.1.1).
 */
export function rtuSilenceMs(baudRate: number, charBits = 11): number {
  if (baudRate > 19_200) return 1.75;
  return (3.5 * charBits * 1000) / baudRate;
}
