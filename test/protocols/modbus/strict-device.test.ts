// A strict meter: it answers only for registers in its map and refuses any request that
// touches another one with exception 2 (illegal data address), as many real meters do for
// the holes between their documented registers. The planner coalesces a profile's points
// across small gaps, so such a meter refuses those blocks whole. Every profile of the
// catalogue is read here from a strict meter whose map is exactly the profile's points: every
// point must come back as it does from a lenient meter serving the same words, the refused
// blocks read in their runs from then on, never asked whole again. The map is the one
// `simulate --strict` serves (src/sim/register-map.ts).
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../../src/config/loader.js';
import type { ModbusBusConfig } from '../../../src/config/schema.js';
import type { PointValue } from '../../../src/core/sample.js';
import { silentLogger } from '../../../src/log/logger.js';
import type { ModbusPoint } from '../../../src/profiles/schema.js';
import { ModbusBus } from '../../../src/protocols/modbus/bus.js';
import { resolveModbusDevices } from '../../../src/protocols/modbus/device.js';
import { readDevice, type Refusal } from '../../../src/protocols/modbus/poll.js';
import { RegisterMap } from '../../../src/sim/register-map.js';
import { catalogue } from './helpers.js';
import { startScripted, type Scripted, type ScriptedRequest } from './scripted.js';

const TABLE_OF_FC: Record<number, ModbusPoint['function']> = { 3: 'holding', 4: 'input' };

/** The same word for a register on every request, so that two reads can be compared. */
const word = (fc: number, address: number) => (fc * 4099 + address * 31 + 7) & 0xffff;

const registerProfiles = [...catalogue.values()].filter((p) => p.points.length > 0 && p.points.every((pt) => pt.function === 'holding' || pt.function === 'input'));

let servers: Scripted[] = [];
afterEach(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  servers = [];
});

async function meter(map: RegisterMap | null): Promise<Scripted> {
  const server = await startScripted('mbap', (req: ScriptedRequest, reply) => {
    const table = TABLE_OF_FC[req.fc];
    const known = table !== undefined && (map === null || map.covers(table, req.address, req.count));
    if (!known) {
      reply.send(reply.frame(Buffer.from([req.unit, req.fc | 0x80, 2])));
      return;
    }
    const words = Array.from({ length: req.count }, (_, i) => word(req.fc, req.address + i));
    reply.send(reply.frame(reply.answerPdu(req.unit, req.fc, words)));
  });
  servers.push(server);
  return server;
}

interface TwoPolls {
  polls: Array<Record<string, PointValue>>;
  refusals: Refusal[];
  /** What the meter was asked in each poll. */
  asked: ScriptedRequest[][];
}

async function readTwice(driver: string, server: Scripted): Promise<TwoPolls> {
  const port = server.port;
  const config = parseConfigText(`version: 1
gateway: { id: gw, site: s }
buses: [{ id: panel, type: modbus_tcp, host: 127.0.0.1, port: ${port}, timeout: 500ms }]
devices:
  - { id: m, driver: ${driver}, bus: panel, unit_id: 1 }
`, 'strict.yaml');
  const { byBus, problems } = resolveModbusDevices(config, catalogue);
  expect(problems).toEqual([]);
  const device = byBus.get('panel')![0]!;
  const bus = new ModbusBus(config.buses[0] as ModbusBusConfig, silentLogger());
  const out: TwoPolls = { polls: [], refusals: [], asked: [] };
  try {
    for (let i = 0; i < 2; i++) {
      const refusal: Refusal = { error: null };
      const before = server.requests.length;
      out.polls.push(await readDevice(bus, device, device.classes, device.retries, refusal));
      out.refusals.push(refusal);
      out.asked.push(server.requests.slice(before));
    }
  } finally {
    await bus.close();
  }
  return out;
}

describe('a meter that refuses the holes between its registers', () => {
  it('the catalogue has register profiles to read', () => {
    expect(registerProfiles.length).toBeGreaterThanOrEqual(10);
  });

  it.each(registerProfiles.map((p) => [p.id, p] as const))('%s: every point read as from a lenient meter, split blocks never asked whole again', async (id, profile) => {
    const map = new RegisterMap(profile.points);
    const lenient = await meter(null);
    const strict = await meter(map);
    const expected = (await readTwice(id, lenient)).polls[0]!;
    const got = await readTwice(id, strict);

    for (const poll of got.polls) {
      // Same values and qualities as the coalesced read of the lenient meter (the words are
      // arbitrary, so a point may be invalid there, but then it is invalid here too).
      expect(poll).toEqual(expected);
      for (const v of Object.values(poll)) expect(v.quality).not.toBe('bad');
    }
    expect(got.refusals.map((r) => r.error)).toEqual([null, null]);
    // The second poll asks only what the strict meter serves: the blocks refused in the
    // first one are not asked whole again.
    const refusedFirst = got.asked[0]!.filter((r) => !coveredBy(map, r));
    expect(got.asked[1]!.filter((r) => !coveredBy(map, r))).toEqual([]);
    // Each refused block is reported once, with the request it was ("holding 8192+50").
    expect(got.refusals[0]!.split ?? []).toEqual(refusedFirst.map((r) => expect.stringContaining(`${TABLE_OF_FC[r.fc]} ${r.address}+${r.count} (read in `)));
    expect(got.refusals[1]!.split).toBeUndefined();
    expect(got.asked[1]!.length).toBe(got.asked[0]!.length - refusedFirst.length);
  }, 20_000);
});

function coveredBy(map: RegisterMap, r: ScriptedRequest): boolean {
  const table = TABLE_OF_FC[r.fc];
  return table !== undefined && map.covers(table, r.address, r.count);
}
