import { loadCatalogueSync } from '../profiles/catalogue.js';
import { SimulatedMeter } from '../sim/modbus-meter.js';
import { startModbusTcpSimulator } from '../sim/modbus-server.js';
import { parseCommandArgs } from './args.js';
import { EXIT_OK, UsageError, type Command } from './command.js';
import { untilSignal } from './signals.js';

/** `1-3,7` → [1, 2, 3, 7] */
export function parseUnitList(text: string): number[] {
  const out: number[] = [];
  for (const part of text.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) throw new UsageError(`bad unit list "${text}" (use e.g. 1-3,7)`);
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    if (from < 1 || to > 247 || to < from) throw new UsageError(`unit ids are 1..247, got "${part}"`);
    for (let u = from; u <= to; u++) out.push(u);
  }
  return out;
}

export const simulateCommand: Command = {
  name: 'simulate',
  summary: 'serve simulated meters over Modbus TCP',
  usage: `energy-gateway simulate [--driver ID] [--units LIST] [--meter ID@UNIT ...] [--host H] [--port P] [--seed N]

Serves simulated meters built from driver profiles in drivers/: several unit ids
behind one Modbus TCP port. Each meter's energy counter is the exact integral of
the power it serves. Defaults: --driver eastron-sdm630 --units 1-3 --port 5020.
  --meter ID@UNIT  add one meter of driver ID at unit id UNIT (repeatable; mixes models)
  --seed N         changes every meter's load shape`,
  async run(argv) {
    const { values } = parseCommandArgs(argv, {
      driver: { type: 'string', default: 'eastron-sdm630' },
      units: { type: 'string', default: '1-3' },
      meter: { type: 'string', multiple: true },
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '5020' },
      seed: { type: 'string', default: '0' },
    });
    const catalogue = loadCatalogueSync();
    const wanted: Array<{ driver: string; unit: number }> = values.meter?.length
      ? values.meter.map((m) => {
        const [driver, unit] = m.split('@');
        if (!driver || !unit || !/^\d+$/.test(unit)) throw new UsageError(`bad --meter "${m}" (use e.g. eastron-sdm630@1)`);
        return { driver, unit: Number(unit) };
      })
      : parseUnitList(values.units).map((unit) => ({ driver: values.driver, unit }));
    const seed = Number(values.seed);
    const meters = wanted.map(({ driver, unit }) => {
      const profile = catalogue.get(driver);
      if (!profile) throw new UsageError(`unknown driver "${driver}" (known: ${[...catalogue.keys()].join(', ')})`);
      return new SimulatedMeter({ unitId: unit, profile, seed: seed * 1000 + unit });
    });
    const server = await startModbusTcpSimulator(meters, { host: values.host, port: Number(values.port) });
    process.stdout.write(`simulating ${meters.length} meter(s) on modbus tcp ${values.host}:${server.port}: ${wanted.map((w) => `${w.driver}@${w.unit}`).join(', ')}\n`);
    await untilSignal();
    await server.stop();
    return EXIT_OK;
  },
};
