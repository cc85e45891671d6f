// Sets of outbox sequence numbers as sorted, disjoint, non-adjacent inclusive ranges.
// A sink's acknowledgements are such a set: live records are acknowledged ahead of an
// older backlog that is still being replayed, so "everything up to a cursor" is not
// enough. In practice a set holds one range, two while a replay runs.

export type SeqRange = readonly [lo: number, hi: number];

/** The set with [lo, hi] added; touching ranges are merged. */
export function addRange(set: readonly SeqRange[], lo: number, hi: number): SeqRange[] {
  if (hi < lo) return [...set];
  const out: SeqRange[] = [];
  let a = lo;
  let b = hi;
  let placed = false;
  for (const [x, y] of set) {
    if (y < a - 1) {
      out.push([x, y]);
    } else if (x > b + 1) {
      if (!placed) {
        out.push([a, b]);
        placed = true;
      }
      out.push([x, y]);
    } else {
      a = Math.min(a, x);
      b = Math.max(b, y);
    }
  }
  if (!placed) out.push([a, b]);
  return out;
}

/** The parts of [lo, hi] that are not in the set, in order. */
export function subtractFrom(lo: number, hi: number, set: readonly SeqRange[]): SeqRange[] {
  const out: SeqRange[] = [];
  let next = lo;
  for (const [x, y] of set) {
    if (y < next) continue;
    if (x > hi) break;
    if (x > next) out.push([next, Math.min(x - 1, hi)]);
    next = Math.max(next, y + 1);
    if (next > hi) return out;
  }
  if (next <= hi) out.push([next, hi]);
  return out;
}

/** The parts of [lo, hi] that are in the set, in order. */
export function intersectWith(lo: number, hi: number, set: readonly SeqRange[]): SeqRange[] {
  const out: SeqRange[] = [];
  for (const [x, y] of set) {
    if (y < lo) continue;
    if (x > hi) break;
    out.push([Math.max(lo, x), Math.min(hi, y)]);
  }
  return out;
}

export function contains(set: readonly SeqRange[], seq: number): boolean {
  return set.some(([x, y]) => seq >= x && seq <= y);
}
