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
