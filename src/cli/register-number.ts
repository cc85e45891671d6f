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

/**
 * The wire address a manual number stands for, when `address` reads as one: 30001–39999
 * is input register 0–9998 and 40001–49999 holding register 0–9998; six digits, 300001–
 * 365536 and 400001–465536, reach every register. Five-digit ones are also legal wire
 * addresses, so for those this is only a guess, for a hint after such an address could
 * not be read.
 */
export function manualNumberMeaning(address: number): { fn: 'input' | 'holding'; address: number } | undefined {
  if (address >= 30001 && address <= 39999) return { fn: 'input', address: address - 30001 };
  if (address >= 40001 && address <= 49999) return { fn: 'holding', address: address - 40001 };
  if (address >= 300001 && address <= 365536) return { fn: 'input', address: address - 300001 };
  if (address >= 400001 && address <= 465536) return { fn: 'holding', address: address - 400001 };
  return undefined;
}
