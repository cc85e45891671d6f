// modbus-serial is CommonJS with ESM-style typings; under NodeNext its default import
// is the module object, not the class. Loading it through require gives one stable
// handle, typed from the package's own declarations.
//
// serialport is loaded through modbus-serial's own resolution, so the gateway opens
// serial lines with exactly the serialport build modbus-serial was installed with.
import { createRequire } from 'node:module';
import type { ModbusRTU } from 'modbus-serial/ModbusRTU.js';
import type { IServiceVector, ServerTCP as ServerTCPType } from 'modbus-serial';

const require = createRequire(import.meta.url);
const lib = require('modbus-serial') as {
  new (): ModbusRTU;
  ServerTCP: new (vector: IServiceVector, options: { host?: string; port?: number; debug?: boolean; unitID?: number }) => ServerTCPType;
  ServerSerial?: new (vector: IServiceVector, options: Record<string, unknown>) => ServerTCPType;
};

export type ModbusClient = ModbusRTU;
export type { IServiceVector };
/**
 * modbus-serial's own client (the benchmark's bare read loop). The gateway's buses speak
 * through port.ts, which guards transaction and unit ids itself.
 */
export const createModbusClient = (): ModbusClient => new lib();
export const ServerTCP = lib.ServerTCP;
export const ServerSerial = lib.ServerSerial;

/** The part of serialport's SerialPort the gateway and simulator use. */
export interface SerialLine {
  readonly isOpen: boolean;
  open(cb: (err: Error | null) => void): void;
  close(cb?: (err: Error | null) => void): void;
  write(data: Buffer): boolean;
  on(event: 'data', cb: (data: Buffer) => void): this;
  on(event: 'close', cb: () => void): this;
  on(event: 'error', cb: (err: Error) => void): this;
  removeAllListeners(event?: string): this;
}

export interface SerialLineOptions {
  path: string;
  baudRate: number;
  parity?: 'none' | 'even' | 'odd';
  dataBits?: 7 | 8;
  stopBits?: 1 | 2;
}

/** Opens nothing yet: returns a serial line to open(), configured like the device. */
export function createSerialLine(options: SerialLineOptions): SerialLine {
  const serialRequire = createRequire(require.resolve('modbus-serial'));
  const { SerialPort } = serialRequire('serialport') as { SerialPort: new (o: Record<string, unknown>) => SerialLine };
  return new SerialPort({ ...options, autoOpen: false });
}
