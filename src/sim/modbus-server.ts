import { ServerTCP, type IServiceVector } from '../protocols/modbus/lib.js';
import type { ModbusPoint } from '../profiles/schema.js';
import type { SimulatedMeter } from './modbus-meter.js';

export interface SimServerHandle {
  port: number;
  meters: Map<number, SimulatedMeter>;
  stop(): Promise<void>;
}

/** Serves several simulated meters, by unit id, on one Modbus TCP port. */
export async function startModbusTcpSimulator(meters: SimulatedMeter[], options: { host?: string; port?: number; now?: () => number } = {}): Promise<SimServerHandle> {
  const byUnit = new Map(meters.map((m) => [m.unitId, m]));
  const vector = buildVector(byUnit, options.now ?? Date.now);
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 0;
  const server = new ServerTCP(vector, { host, port, unitID: 255 });
  const actualPort = await new Promise<number>((resolve, reject) => {
    server.on('initialized', () => {
      const net = (server as unknown as { _server: import('node:net').Server })._server;
      const addr = net.address();
      resolve(typeof addr === 'object' && addr ? addr.port : port);
    });
    server.on('serverError', reject);
    server.on('error', reject);
  });
  return {
    port: actualPort,
    meters: byUnit,
    stop: () => new Promise<void>((resolve) => {
      const sockets = (server as unknown as { socks: Map<import('node:net').Socket, unknown> }).socks;
      for (const s of sockets.keys()) s.destroy();
      server.close(() => resolve());
    }),
  };
}

export function buildVector(byUnit: Map<number, SimulatedMeter>, now: () => number): IServiceVector {
  const read = (fn: ModbusPoint['function'], addr: number, len: number, unit: number): Array<number | boolean> => {
    const meter = byUnit.get(unit);
    // An absent unit does not answer at all, like a dead device on RS-485.
    if (!meter) throw { modbusErrorCode: 11, msg: 'gateway target device failed to respond' };
    const out = meter.read(fn, addr, len, now());
    if (!out) throw { modbusErrorCode: 2, msg: 'illegal data address' };
    return out;
  };
  return {
    getInputRegister: (addr: number, unit: number) => read('input', addr, 1, unit)[0] as number,
    getHoldingRegister: (addr: number, unit: number) => read('holding', addr, 1, unit)[0] as number,
    getMultipleInputRegisters: (addr: number, len: number, unit: number) => read('input', addr, len, unit) as number[],
    getMultipleHoldingRegisters: (addr: number, len: number, unit: number) => read('holding', addr, len, unit) as number[],
    getCoil: (addr: number, unit: number) => read('coil', addr, 1, unit)[0] as boolean,
    getDiscreteInput: (addr: number, unit: number) => read('discrete', addr, 1, unit)[0] as boolean,
  };
}
