import { MeterChannel } from './energy.js';
import { list, type Loose, type Problem as Warning } from './schema.js';

/**
 * What is legal but usually wrong across sections. Like crossCheck, on the raw document, so
 * the warnings come in the same pass as the problems of a config that does not load yet.
 */
export function crossWarnings(raw: unknown): Warning[] {
  const cfg = raw && typeof raw === 'object' ? (raw as Loose) : {};
  const warnings: Warning[] = [];
  // One channel twice in an account is a copy-paste, never a meaning: with one sign its energy
  // counts twice, with opposite signs it cancels out. The same device on two channels (import
  // minus export) is normal and not warned about.
  list(cfg.accounts).forEach((a, i) => {
    const seen = new Map<string, { j: number; sign: number }>();
    list(a.meters).forEach((m, j) => {
      const parsed = MeterChannel.safeParse(m);
      if (!parsed.success) return;
      const { device, point, sign } = parsed.data;
      const key = `${device}\u0000${point}`;
      const first = seen.get(key);
      if (first === undefined) {
        seen.set(key, { j, sign });
        return;
      }
      const effect = first.sign === sign
        ? 'its energy would count twice in this account'
        : 'with opposite signs the two cancel out and this account never sees its energy';
      warnings.push({ path: ['accounts', i, 'meters', j], message: `device "${device}" point ${point} is already meters[${first.j}]: ${effect}` });
    });
  });
  return warnings;
}
