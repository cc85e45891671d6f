import type { PointValue } from '../../core/sample.js';
import { applyDerived } from '../../profiles/derive.js';
import type { PollClass } from '../../profiles/planner.js';
import type { ModbusReader } from './bus.js';
import { decodeValue, registerCount, type Decoded } from './decode.js';
import type { ModbusDevice } from './device.js';
import { TransportError } from './errors.js';

/**
 * Reads every request of the given poll classes from one device, in plan order. The first
 * request that fails ends the device's turn (it is skipped for the rest of its cycle): the
 * error is thrown and nothing of this poll is published.
 */
export async function readDevice(
  reader: ModbusReader,
  device: ModbusDevice,
  classes: readonly PollClass[],
  retries: number = device.retries,
): Promise<Record<string, PointValue>> {
  const decoded: Record<string, Decoded> = {};
  const options = device.requestOptions;
  for (const c of classes) {
    for (const req of c.requests) {
      let data: number[] | boolean[];
      for (let attempt = 0; ; attempt++) {
        try {
          data = await reader.read(device.unitId, req.function, req.address, req.count, options);
          break;
        } catch (err) {
          // An exception is the device's answer; asking again will not change it.
          const retryable = err instanceof TransportError && (err.kind === 'timeout' || err.kind === 'protocol');
          if (!retryable || attempt >= retries) throw withRequest(err, req);
        }
      }
      // decodeResponse's loop, writing straight into this poll's result (no per-request object).
      for (const p of req.points) {
        const start = p.address - req.address;
        decoded[p.id] = decodeValue(p, data.slice(start, start + registerCount(p)) as number[] | boolean[]);
      }
    }
  }
  return applyDerived(device.source, decoded, device.settings);
}

/** Requests one poll of these classes costs. */
export function requestCount(classes: readonly PollClass[]): number {
  return classes.reduce((n, c) => n + c.requests.length, 0);
}

/** The error with the request that failed in its message: "which block?" is the first question at commissioning. */
function withRequest(err: unknown, req: PollClass['requests'][number]): unknown {
  if (!(err instanceof TransportError) || err.kind === 'connection') return err;
  const at = `${req.function} ${req.address}+${req.count}`;
  return new TransportError(`${err.message} (reading ${at})`, err.kind, err.exceptionCode, { cause: err });
}
