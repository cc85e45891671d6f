// Reads a golden driver fixture and replays it through the planner, decoder and derivation,
// exactly as a poll would: the register image answers every planned read.
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { z } from 'zod';
import type { PointValue } from '../../src/core/sample.js';
import { applyDerived } from '../../src/profiles/derive.js';
import { planProfile, type ReadRequest } from '../../src/profiles/planner.js';
import type { DriverProfile, ModbusFunction } from '../../src/profiles/schema.js';
import { decodeResponse, type Decoded } from '../../src/protocols/modbus/decode.js';

const Block = z.strictObject({
  address: z.number().int().min(0).max(65535),
  words: z.array(z.union([z.number().int().min(0).max(0xffff), z.boolean()])).min(1),
});
const Expected = z.union([
  z.number(), z.string(), z.boolean(),
  z.strictObject({ value: z.union([z.number(), z.string(), z.boolean(), z.null()]).optional(), quality: z.enum(['good', 'uncertain', 'invalid', 'bad', 'stale']) }),
]);
export const DriverFixture = z.strictObject({
  profile: z.string(),
  settings: z.record(z.string(), z.number()).default({}),
  registers: z.strictObject({
    coil: z.array(Block).optional(),
    discrete: z.array(Block).optional(),
    holding: z.array(Block).optional(),
    input: z.array(Block).optional(),
  }),
  expected: z.record(z.string(), Expected),
});
export type DriverFixture = z.infer<typeof DriverFixture>;

export function readFixture(path: string): DriverFixture {
  return DriverFixture.parse(parse(readFileSync(path, 'utf8')));
}

type Image = Map<ModbusFunction, Map<number, number | boolean>>;

function imageOf(fixture: DriverFixture): Image {
  const image: Image = new Map();
  for (const [fn, blocks] of Object.entries(fixture.registers) as [ModbusFunction, z.infer<typeof Block>[] | undefined][]) {
    const cells = new Map<number, number | boolean>();
    for (const block of blocks ?? []) block.words.forEach((w, i) => cells.set(block.address + i, w));
    image.set(fn, cells);
  }
  return image;
}

/** What a device holding this image answers to one read; unknown cells read as 0/false. */
export function answer(image: Image, request: ReadRequest): number[] | boolean[] {
  const cells = image.get(request.function) ?? new Map<number, number | boolean>();
  const bits = request.function === 'coil' || request.function === 'discrete';
  return Array.from({ length: request.count }, (_, i) => cells.get(request.address + i) ?? (bits ? false : 0)) as number[] | boolean[];
}

export interface Replay {
  requests: ReadRequest[];
  decoded: Record<string, Decoded>;
  values: Record<string, PointValue>;
}

export function replayFixture(profile: DriverProfile, fixture: DriverFixture): Replay {
  const image = imageOf(fixture);
  const requests = planProfile(profile, 5000).flatMap((c) => c.requests);
  const decoded: Record<string, Decoded> = {};
  for (const request of requests) Object.assign(decoded, decodeResponse(request, answer(image, request)));
  return { requests, decoded, values: applyDerived(profile, decoded, fixture.settings) };
}

/** Expected value and quality of one point, in the long form. */
export function expectation(e: DriverFixture['expected'][string]): { value: number | string | boolean | null; quality: string } {
  if (typeof e === 'object') return { value: e.value ?? null, quality: e.quality };
  return { value: e, quality: 'good' };
}
