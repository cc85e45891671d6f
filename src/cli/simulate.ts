import { loadCatalogueSync } from '../profiles/catalogue.js';
import type { DriverProfile } from '../profiles/schema.js';
import { SimulatedMeter, type LimitAnswer } from '../sim/modbus-meter.js';
import {
  startModbusRtuOverTcpSimulator, startModbusRtuSimulator, startModbusTcpSimulator, type SimServerHandle,
} from '../sim/modbus-server.js';
import { parityArg, parseCommandArgs } from './args.js';
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

/** A TCP port to listen on; 0 picks a free one. */
function portNumber(text: string): number {
  const n = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isInteger(n) || n > 65535) throw new UsageError(`--port is 0..65535 (0: any free port), got "${text}"`);
  return n;
}

function positive(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`${flag} must be a positive number, got "${text}"`);
  return n;
}

/** --max-registers: a per-request limit a Modbus request can have at all (1..125 registers). */
export function parseMaxRegisters(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isInteger(n) || n < 1 || n > 125) throw new UsageError(`--max-registers is an integer 1..125 (the most registers a Modbus read can ask), got "${text}"`);
  return n;
}

/** --limit-exception: what a read over the limit gets, 3 (the Modbus rule), 2 (what some meters answer) or silent (no answer). */
export function parseLimitException(text: string | undefined): LimitAnswer {
  if (text === undefined || text === '3') return 3;
  if (text === '2') return 2;
  if (text === 'silent') return 'silent';
  throw new UsageError(`--limit-exception is 2, 3 or silent, got "${text}"`);
}

/** "refused with exception 3", or "left unanswered". */
function limitAnswerText(answer: LimitAnswer): string {
  return answer === 'silent' ? 'left unanswered' : `refused with exception ${answer}`;
}

/** What the simulated meters refuse beyond the lenient default, for the banner; null when nothing more. */
export function refusalNote(
  meters: ReadonlyArray<{ profile: Pick<DriverProfile, 'id' | 'read'> }>,
  opts: { strict: boolean; maxRegisters?: number | undefined; limitException: LimitAnswer },
): string | null {
  const parts: string[] = [];
  if (opts.strict) parts.push('strict: registers outside each profile refused with exception 2');
  if (opts.maxRegisters !== undefined) {
    // A profile limit below the one asked stays: the option only lowers it.
    const lower = [...new Set(meters.filter((m) => (m.profile.read.max_registers ?? 125) < opts.maxRegisters!).map((m) => `${m.profile.id} over ${m.profile.read.max_registers}, its profile's limit`))];
    parts.push(`reads over ${opts.maxRegisters} registers ${limitAnswerText(opts.limitException)}${lower.length ? ` (${lower.join('; ')})` : ''}`);
  } else if (opts.limitException !== 3) {
    parts.push(`reads over each profile's max_registers ${limitAnswerText(opts.limitException)}`);
  }
  return parts.length ? parts.join('; ') : null;
}

/** The ratio options, by the multiply_by name they stand for. */
const RATIO_FLAGS = { ct_ratio: '--ct-ratio', pt_ratio: '--pt-ratio' } as const;
type RatioName = keyof typeof RATIO_FLAGS;
/** What a meter holds in its ratio registers when the option is not given. */
const DEFAULT_HELD: Readonly<Record<RatioName, number>> = { ct_ratio: 40, pt_ratio: 1 };

/** How a profile has a ratio: a register the meter holds, a setting of the gateway's, or not at all. */
export function ratioForm(profile: Pick<DriverProfile, 'points' | 'settings'>, name: string): 'register' | 'setting' | undefined {
  if (!profile.points.some((p) => p.multiply_by.includes(name))) return undefined;
  if (profile.points.some((p) => p.id === name)) return 'register';
  return Object.hasOwn(profile.settings, name) ? 'setting' : undefined;
}

/**
 * The ratios one simulated meter is built with, from --ct-ratio/--pt-ratio (`asked`, absent
 * when not given): a ratio register holds the asked ratio (40 and 1 by default); a ratio the
 * profile declares as a setting (a meter that does not know its transformers, such as the
 * DDSU666) shapes the values served, the secondary side, only when asked for, since the
 * gateway then needs the same number in the device's settings.
 */
export function meterRatios(
  profile: Pick<DriverProfile, 'points' | 'settings'>,
  asked: Partial<Record<RatioName, number>>,
): { ratios: Record<string, number>; settings: Record<string, number> } {
  const ratios: Record<string, number> = {};
  const settings: Record<string, number> = {};
  for (const name of Object.keys(RATIO_FLAGS) as RatioName[]) {
    const form = ratioForm(profile, name);
    if (form === 'register') ratios[name] = asked[name] ?? DEFAULT_HELD[name];
    else if (form === 'setting' && asked[name] !== undefined) settings[name] = asked[name];
  }
  return { ratios, settings };
}

/** An ISO date or epoch ms given to `flag` (--at, --epoch). */
function parseTime(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  const ms = /^\d+$/.test(text) ? Number(text) : Date.parse(text);
  if (!Number.isFinite(ms)) throw new UsageError(`${flag} takes an ISO time or epoch ms, got "${text}"`);
  return ms;
}

/** --at: a fixed simulation time (ISO date or epoch ms), so every read sees the same values. */
function parseAt(text: string | undefined): (() => number) | undefined {
  const ms = parseTime(text, '--at');
  return ms === undefined ? undefined : () => ms;
}

export const simulateCommand: Command = {
  name: 'simulate',
  summary: 'serve simulated meters over Modbus TCP, RTU or RTU over TCP',
  usage: `energy-gateway simulate [--driver ID] [--units LIST] [--meter ID@UNIT ...] [--host H] [--port P]
                        [--rtu PATH [--baud B] [--parity P]] [--rtu-over-tcp] [--ct-ratio N] [--pt-ratio N] [--seed N] [--at TIME] [--epoch TIME]
                        [--strict] [--max-registers N] [--limit-exception 2|3|silent]

Serves simulated meters built from driver profiles in drivers/: several unit ids behind one
port, mixed models allowed. Each meter's counters are the exact integral of the rates it
serves. Meters with CT/PT ratio registers serve secondary values and hold the ratios, as a
meter behind transformers does. Defaults: --driver eastron-sdm630 --units 1-3 --port 5020.
  --meter ID@UNIT   add one meter of driver ID at unit id UNIT (repeatable; mixes models)
  --rtu PATH        Modbus RTU on a serial port (e.g. one end of a socat pty pair)
  --baud B          RTU baud rate (default 9600); --parity none|even|odd (default none)
  --rtu-over-tcp    RTU frames on the TCP port, like a serial device server
  --ct-ratio N      CT ratio: held by meters with a ct_ratio register (default 40); for meters
                    whose profile has ct_ratio as a setting (chint-ddsu666), they serve the
                    secondary side of it, and the gateway's device needs settings: { ct_ratio: N }
  --pt-ratio N      PT ratio, the same way (default 1 in a register; no default as a setting)
                    A ratio no simulated meter has, or a register cannot hold, is refused.
  --seed N          changes every meter's load shape
  --at TIME         freeze time (ISO or epoch ms): every read returns the same values
  --epoch TIME      the meters' counters start at this time (ISO or epoch ms; default: now, or
                    --at), so a simulator restarted with the same --epoch goes on where the
                    last one stopped, like a meter that was only unreachable, not reset
Fussy meters, as many real ones are (the gateway then reads refused blocks in pieces):
  --strict          answer only for registers the profile's points cover (ratio and scale
                    registers included); a read touching any other register gets exception 2,
                    as meters that refuse the holes in their map do. Default: a read is
                    answered if it touches at least one point, the gaps as 0
  --max-registers N refuse a read of more than N registers (1..125) with exception 3; lowers
                    the profile's read.max_registers, never raises it
  --limit-exception 2|3|silent
                    the exception for a read over the limit (default 3; some meters answer 2),
                    or silent: no answer at all, as some meters ignore a read longer than they
                    serve (the gateway then finds shorter reads by their timeouts)`,
  async run(argv) {
    const { values } = parseCommandArgs(argv, {
      driver: { type: 'string', default: 'eastron-sdm630' },
      units: { type: 'string', default: '1-3' },
      meter: { type: 'string', multiple: true },
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '5020' },
      rtu: { type: 'string' },
      baud: { type: 'string', default: '9600' },
      parity: { type: 'string', default: 'none' },
      'rtu-over-tcp': { type: 'boolean' },
      'ct-ratio': { type: 'string' },
      'pt-ratio': { type: 'string' },
      seed: { type: 'string', default: '0' },
      at: { type: 'string' },
      epoch: { type: 'string' },
      strict: { type: 'boolean' },
      'max-registers': { type: 'string' },
      'limit-exception': { type: 'string' },
    });
    const catalogue = loadCatalogueSync();
    const wanted: Array<{ driver: string; unit: number }> = values.meter?.length
      ? values.meter.map((m) => {
        const [driver, unit] = m.split('@');
        if (!driver || !unit || !/^\d+$/.test(unit)) throw new UsageError(`bad --meter "${m}" (use e.g. eastron-sdm630@1)`);
        if (Number(unit) < 1 || Number(unit) > 247) throw new UsageError(`unit ids are 1..247, got "${m}"`);
        return { driver, unit: Number(unit) };
      })
      : parseUnitList(values.units).map((unit) => ({ driver: values.driver, unit }));
    const seen = new Set<number>();
    for (const w of wanted) {
      if (seen.has(w.unit)) throw new UsageError(`unit id ${w.unit} is used twice`);
      seen.add(w.unit);
    }
    const seed = Number(values.seed);
    const fussy = {
      strict: values.strict === true,
      maxRegisters: parseMaxRegisters(values['max-registers']),
      limitException: parseLimitException(values['limit-exception']),
    };
    const asked: Partial<Record<RatioName, number>> = {};
    for (const [name, flag] of Object.entries(RATIO_FLAGS) as [RatioName, string][]) {
      const text = values[flag.slice(2) as 'ct-ratio' | 'pt-ratio'];
      if (text !== undefined) asked[name] = positive(text, flag);
    }
    const now = parseAt(values.at);
    const epochMs = parseTime(values.epoch, '--epoch') ?? (now ? now() : undefined);
    const profiles = wanted.map(({ driver }) => {
      const profile = catalogue.get(driver);
      if (!profile) throw new UsageError(`unknown driver "${driver}" (known: ${[...catalogue.keys()].join(', ')})`);
      return profile;
    });
    // A ratio asked for that no meter has would be silently ignored: say so instead.
    for (const name of Object.keys(asked) as RatioName[]) {
      if (profiles.some((p) => ratioForm(p, name) !== undefined)) continue;
      const having = [...catalogue.values()].filter((p) => ratioForm(p, name) !== undefined).map((p) => p.id);
      throw new UsageError(`${RATIO_FLAGS[name]}: no simulated meter (${[...new Set(profiles.map((p) => p.id))].join(', ')}) has a ${name}, as a register or a setting; ${having.length ? `meters that do: ${having.join(', ')}` : 'no profile has one'}`);
    }
    const notes: string[] = [];
    const meters = wanted.map(({ driver, unit }, i) => {
      const profile = profiles[i]!;
      const { ratios, settings } = meterRatios(profile, asked);
      const meter = new SimulatedMeter({
        unitId: unit, profile, seed: seed * 1000 + unit, ratios, settings, ...(epochMs !== undefined ? { epochMs } : {}),
        strict: fussy.strict, limitException: fussy.limitException, ...(fussy.maxRegisters !== undefined ? { maxRegisters: fussy.maxRegisters } : {}),
      });
      for (const [name, wantedRatio] of Object.entries(ratios)) {
        const held = meter.ratio(name);
        if (asked[name as RatioName] !== undefined && held !== wantedRatio) {
          const p = profile.points.find((q) => q.id === name)!;
          throw new UsageError(`${RATIO_FLAGS[name as RatioName]} ${wantedRatio}: ${driver} holds ${name} in a ${p.type} register${p.scale !== 1 ? ` × ${p.scale}` : ''}, which cannot hold ${wantedRatio} (it would hold ${held})`);
        }
      }
      if (Object.keys(settings).length > 0) {
        const list = Object.entries(settings).map(([k, v]) => `${k}: ${v}`).join(', ');
        notes.push(`${driver}@${unit} holds no ratio register and serves the secondary side; its device needs settings: { ${list} }`);
      }
      return meter;
    });

    let server: SimServerHandle;
    let where: string;
    if (values.rtu !== undefined) {
      const parity = parityArg(values.parity);
      const baudRate = positive(values.baud, '--baud');
      server = await startModbusRtuSimulator(meters, { path: values.rtu, baudRate, parity }, now ? { now } : {});
      where = `modbus rtu ${values.rtu} at ${baudRate} baud`;
    } else {
      const start = values['rtu-over-tcp'] ? startModbusRtuOverTcpSimulator : startModbusTcpSimulator;
      server = await start(meters, { host: values.host, port: portNumber(values.port), ...(now ? { now } : {}) });
      where = `${values['rtu-over-tcp'] ? 'modbus rtu over tcp' : 'modbus tcp'} ${values.host}:${server.port}`;
    }
    const refusing = refusalNote(profiles.map((profile) => ({ profile })), fussy);
    if (refusing) notes.unshift(refusing);
    // One write: the banner and its notes reach a reader together.
    process.stdout.write([`simulating ${meters.length} meter(s) on ${where}: ${wanted.map((w) => `${w.driver}@${w.unit}`).join(', ')}`, ...notes.map((n) => `  ${n}`)].join('\n') + '\n');
    await untilSignal();
    await server.stop();
    return EXIT_OK;
  },
};
