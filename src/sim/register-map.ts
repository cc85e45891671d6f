import { pointWidth, type ModbusPoint } from '../profiles/schema.js';

/**
 * The registers (and coils) a profile's points cover, by table: the map a strict meter
 * answers for. Ratio and scale registers are points of the profile, so they are in it. Many
 * real meters refuse, with exception 2, any request that touches a register between their
 * documented ones; the simulator (`simulate --strict`) and the tests of the gateway's
 * splitting of refused blocks both take the map from here, so they agree on what a hole is.
 */
export class RegisterMap {
  private readonly byTable = new Map<ModbusPoint['function'], Set<number>>();

  constructor(points: ReadonlyArray<Pick<ModbusPoint, 'function' | 'address' | 'type' | 'length'>>) {
    for (const p of points) {
      let table = this.byTable.get(p.function);
      if (!table) this.byTable.set(p.function, (table = new Set()));
      for (let i = 0; i < pointWidth(p); i++) table.add(p.address + i);
    }
  }

  /** Whether one register (or coil) of a table is in the map. */
  has(fn: ModbusPoint['function'], address: number): boolean {
    return this.byTable.get(fn)?.has(address) ?? false;
  }

  /** Whether every register of [address, address+count) is in the map: what a strict meter answers. */
  covers(fn: ModbusPoint['function'], address: number, count: number): boolean {
    const table = this.byTable.get(fn);
    if (!table) return false;
    for (let a = address; a < address + count; a++) if (!table.has(a)) return false;
    return true;
  }
}
