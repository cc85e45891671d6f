import { describe, expect, it } from 'vitest';
import { addRange, intersectWith, subtractFrom, type SeqRange } from '../../src/outbox/ranges.js';

describe('acknowledgement ranges', () => {
  it.each<[string, SeqRange[], [number, number], SeqRange[]]>([
    ['into empty', [], [1, 5], [[1, 5]]],
    ['after, touching', [[0, 10]], [11, 20], [[0, 20]]],
    ['after, apart', [[0, 10]], [12, 20], [[0, 10], [12, 20]]],
    ['before, apart', [[10, 20]], [0, 5], [[0, 5], [10, 20]]],
    ['bridging two', [[0, 10], [21, 30]], [11, 20], [[0, 30]]],
    ['inside', [[0, 10]], [3, 4], [[0, 10]]],
    ['overlapping several', [[0, 2], [5, 7], [9, 12], [20, 25]], [6, 10], [[0, 2], [5, 12], [20, 25]]],
    ['empty range ignored', [[0, 2]], [5, 4], [[0, 2]]],
  ])('add %s', (_name, set, [lo, hi], expected) => {
    expect(addRange(set, lo, hi)).toEqual(expected);
  });

  it.each<[string, [number, number], SeqRange[], SeqRange[]]>([
    ['nothing acked', [1, 10], [], [[1, 10]]],
    ['prefix acked', [1, 10], [[0, 4]], [[5, 10]]],
    ['hole in the middle', [1, 10], [[3, 5]], [[1, 2], [6, 10]]],
    ['all acked', [1, 10], [[0, 20]], []],
    ['two gaps', [1, 30], [[0, 5], [11, 20]], [[6, 10], [21, 30]]],
    ['unbounded end', [1, Number.POSITIVE_INFINITY], [[0, 5]], [[6, Number.POSITIVE_INFINITY]]],
  ])('subtract %s', (_name, [lo, hi], set, expected) => {
    expect(subtractFrom(lo, hi, set)).toEqual(expected);
  });

  it.each<[string, [number, number], SeqRange[], SeqRange[]]>([
    ['disjoint', [1, 10], [[20, 30]], []],
    ['clipped both sides', [5, 25], [[0, 10], [20, 30]], [[5, 10], [20, 25]]],
    ['covering', [5, 6], [[0, 10]], [[5, 6]]],
  ])('intersect %s', (_name, [lo, hi], set, expected) => {
    expect(intersectWith(lo, hi, set)).toEqual(expected);
  });
});
