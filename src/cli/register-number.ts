// The register numbers manuals print: 3xxxx for input registers, 4xxxx for holding registers,
// 0xxxx coils, 1xxxx discrete inputs, counted from 1. Five digits only reach register 9999;
// beyond it manuals switch to six (register 8193 of the holding table is 48193, register 16415
// is 416415), so a five-digit number is never printed for an address it cannot stand for.
import type { ModbusFunction } from '../profiles/schema.js';

const TABLE_DIGIT: Record<ModbusFunction, number> = { coil: 0, discrete: 1, input: 3, holding: 4 };

/** Manual numbers of wire addresses [address, address + count), first and last, in one notation. */
export function manualRange(fn: ModbusFunction, address: number, count = 1): [string, string] {
  const first = address + 1;
  const last = address + count;
  const digits = last <= 9999 ? 4 : 5;
  const format = (n: number) => `${TABLE_DIGIT[fn]}${String(n).padStart(digits, '0')}`;
  return [format(first), format(last)];
}

/** The manual number of one wire address, e.g. input 0 → "30001", holding 16414 → "416415". */
export function manualNumber(fn: ModbusFunction, address: number): string {
  return manualRange(fn, address)[0];
}
