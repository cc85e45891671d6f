// modbus-serial is CommonJS with ESM-style typings; under NodeNext its default import
// is the module object, not the class. Loading it through require gives one stable
// handle, typed from the package's own declarations.
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
export const createModbusClient = (): ModbusClient => new lib();
export const ServerTCP = lib.ServerTCP;
export const ServerSerial = lib.ServerSerial;
