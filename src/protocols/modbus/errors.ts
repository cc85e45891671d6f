/** Modbus exception codes (Modbus Application Protocol v1.1b3, §7). */
export const EXCEPTION_NAMES: Record<number, string> = {
  1: 'illegal function',
  2: 'illegal data address',
  3: 'illegal data value',
  4: 'server device failure',
  5: 'acknowledge',
  6: 'server device busy',
  7: 'negative acknowledge',
  8: 'memory parity error',
  10: 'gateway path unavailable',
  11: 'gateway target device failed to respond',
};

/**
 * Exceptions that mean "not now" rather than "never": the device is busy with something
 * else (5 acknowledge, 6 server device busy), or a gateway's serial side got no answer from
 * the device behind it (11), which is a gateway's way of reporting a timeout. Asked again
 * they usually succeed; an illegal address or function never will.
 */
export const TRANSIENT_EXCEPTIONS: ReadonlySet<number> = new Set([5, 6, 11]);

/**
 * Exceptions that answer one request, not the device: this function, these addresses or this
 * count are not served (a register a firmware variant lacks, a block across a hole). The
 * device is there and its other blocks can be read; asked again it answers the same.
 */
export const REFUSAL_EXCEPTIONS: ReadonlySet<number> = new Set([1, 2, 3]);

/** Whether the device answered this request with a refusal of the request itself (see REFUSAL_EXCEPTIONS). */
export function isRefusal(err: unknown): err is TransportError {
  return err instanceof TransportError && err.kind === 'exception' && err.exceptionCode !== undefined && REFUSAL_EXCEPTIONS.has(err.exceptionCode);
}

/**
 * No answer from the device: a timeout, or exception 11 from a TCP gateway (its serial side
 * got no answer from the device behind it: a timeout, reported).
 */
export function isNoAnswer(err: unknown): err is TransportError {
  return err instanceof TransportError && (err.kind === 'timeout' || (err.kind === 'exception' && err.exceptionCode === 11));
}

/** Whether asking again can help: no answer, a garbled one, or a transient exception. */
export function isRetryable(err: unknown): boolean {
  if (!(err instanceof TransportError)) return false;
  if (err.kind === 'timeout' || err.kind === 'protocol') return true;
  return err.kind === 'exception' && err.exceptionCode !== undefined && TRANSIENT_EXCEPTIONS.has(err.exceptionCode);
}

/**
 * A request that did not produce data. The scheduler retries and drives availability
 * from these; `kind` says whether the device answered (exception) or not (timeout,
 * connection).
 */
export class TransportError extends Error {
  constructor(
    message: string,
    readonly kind: 'timeout' | 'exception' | 'connection' | 'protocol',
    readonly exceptionCode?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'TransportError';
  }
}

/** Maps whatever modbus-serial threw to a TransportError. */
export function classifyModbusError(err: unknown): TransportError {
  if (err instanceof TransportError) return err;
  const e = err as { message?: string; modbusCode?: number; errno?: string; code?: string; name?: string };
  const message = e?.message ?? String(err);
  if (typeof e?.modbusCode === 'number') {
    const name = EXCEPTION_NAMES[e.modbusCode] ?? 'unknown exception';
    return new TransportError(`modbus exception ${e.modbusCode} (${name})`, 'exception', e.modbusCode, { cause: err });
  }
  if (/timed out/i.test(message) || e?.errno === 'ETIMEDOUT') return new TransportError('timeout', 'timeout', undefined, { cause: err });
  if (/crc|length|unit id|function code|transaction/i.test(message)) return new TransportError(message, 'protocol', undefined, { cause: err });
  return new TransportError(message, 'connection', undefined, { cause: err });
}

/**
 * The bus itself cannot be reached: its connection could not be opened, or it is waiting to
 * try again. No device's fault, and nothing was asked of any device.
 */
export class BusUnreachableError extends TransportError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'connection', undefined, options);
  }
}
