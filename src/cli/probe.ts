// `energy-gateway probe`: read a few registers of an unknown device and show them under every
// byte/word order and at the neighbouring addresses — the quickest way to find a swapped
// order or an off-by-one address (manual register 30001 is wire address 0).
import { BusConfig, type ModbusBusConfig } from '../config/schema.js';
import { createLogger } from '../log/logger.js';
import { ModbusBus } from '../protocols/modbus/bus.js';
import { probeDecodings, registerCount, type ProbeReading } from '../protocols/modbus/decode.js';
import { TransportError } from '../protocols/modbus/errors.js';
import { ORDERS } from '../profiles/order.js';
import { MODBUS_TCP_PORT, RTU_OVER_TCP_PORT } from '../config/schema.js';
import { parityArg, parseCommandArgs } from './args.js';
import { EXIT_FAILURE, EXIT_OK, UsageError, type Command } from './command.js';
import { manualNumber, manualNumberMeaning } from './register-number.js';

const USAGE = `energy-gateway probe --host H [--port P] --unit U --address A [--count N] [--function input|holding]
energy-gateway probe --path DEV [--baud B] [--parity P] [--stop-bits S] --unit U --address A ...

Reads N registers (default 2) at wire address A (0-based: manual register 30001 or 40001
is address 0) and at A-1 and A+1, and prints each reading as 16-, 32- or 64-bit integers
and floats under all four orders (ABCD, CDAB, BADC, DCBA). The plausible one tells the
order and whether the manual's addresses are off by one.
  --port P          default 502
  --rtu-over-tcp    the host is a serial device server passing RTU frames (default port 4001)
  --path DEV        a local serial port instead of a host (Modbus RTU), with --baud (9600),
                    --parity none|even|odd (none) and --stop-bits 1|2 (1)
  --function F      input (fc 4, default) or holding (fc 3)
  --timeout MS      default 1000
  --json            machine-readable output`;

interface ProbeRead {
  address: number;
  words: number[] | null;
  error?: string;
  decodings: ProbeReading[];
}

function intArg(text: string | undefined, flag: string, fallback: number | undefined, min: number, max: number): number {
  if (text === undefined) {
    if (fallback === undefined) throw new UsageError(`missing ${flag}`);
    return fallback;
  }
  const n = /^0x[0-9a-f]+$/i.test(text) ? Number.parseInt(text, 16) : Number(text);
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`${flag} must be an integer ${min}..${max}, got "${text}"`);
  return n;
}

function formatValue(r: ProbeReading): string {
  if (r.quality !== 'good' || r.value === null) return r.quality;
  // Floats in seven significant digits (what a float32 holds), also the huge ones that are
  // integers to JavaScript: String(1.44e22) has 17 digits and ran into the next column.
  if (typeof r.value === 'number' && (r.type.startsWith('float') || !Number.isInteger(r.value))) return String(Number(r.value.toPrecision(7)));
  return String(r.value);
}

function widthOf(type: ProbeReading['type']): number {
  return registerCount({ function: 'holding', type });
}

export const probeCommand: Command = {
  name: 'probe',
  summary: 'show registers under every byte/word order and at address ±1',
  usage: USAGE,
  async run(argv) {
    const { values } = parseCommandArgs(argv, {
      host: { type: 'string' },
      port: { type: 'string', short: 'p' },
      path: { type: 'string' },
      baud: { type: 'string' },
      parity: { type: 'string' },
      'stop-bits': { type: 'string' },
      'rtu-over-tcp': { type: 'boolean' },
      unit: { type: 'string', short: 'u' },
      address: { type: 'string', short: 'a' },
      count: { type: 'string', short: 'n' },
      function: { type: 'string', short: 'f' },
      timeout: { type: 'string' },
      json: { type: 'boolean' },
    });
    if ((values.host === undefined) === (values.path === undefined)) throw new UsageError('give either --host or --path');
    const unit = intArg(values.unit, '--unit', undefined, 0, 255);
    // The config refuses these on a serial line too: probing one could only time out.
    if ((values.path !== undefined || values['rtu-over-tcp']) && (unit < 1 || unit > 247)) {
      throw new UsageError(`--unit on a serial line is 1..247; ${unit === 0 ? '0 is broadcast, which no device answers' : `${unit} is reserved`}`);
    }
    const sixDigits = values.address !== undefined && /^\d{6}$/.test(values.address) ? manualNumberMeaning(Number(values.address)) : undefined;
    if (sixDigits) {
      throw new UsageError(`--address is the wire address (0..65535); ${values.address} is how manuals number ${sixDigits.fn} register address ${sixDigits.address}: `
        + `try --function ${sixDigits.fn} --address ${sixDigits.address}`);
    }
    const address = intArg(values.address, '--address', undefined, 0, 65535);
    const count = intArg(values.count, '--count', 2, 1, 4);
    if (count === 3) throw new UsageError('--count is 1, 2 or 4 (16-, 32- or 64-bit values)');
    if (address + count - 1 > 65535) throw new UsageError(`--address ${address} with --count ${count} runs past register 65535`);
    const fn = values.function ?? 'input';
    if (fn !== 'input' && fn !== 'holding') throw new UsageError(`--function is input or holding, got "${fn}"`);
    const timeoutMs = intArg(values.timeout, '--timeout', 1000, 1, 60_000);
    const parity = parityArg(values.parity ?? 'none');
    const raw = values.path !== undefined
      ? {
        type: 'modbus_rtu', path: values.path, baud_rate: intArg(values.baud, '--baud', 9600, 1, 4_000_000),
        parity, stop_bits: intArg(values['stop-bits'], '--stop-bits', 1, 1, 2),
      }
      : {
        type: values['rtu-over-tcp'] ? 'modbus_rtu_over_tcp' : 'modbus_tcp', host: values.host,
        port: intArg(values.port, '--port', values['rtu-over-tcp'] ? RTU_OVER_TCP_PORT : MODBUS_TCP_PORT, 1, 65535),
      };
    const busConfig = BusConfig.parse({ id: 'probe', timeout: `${timeoutMs}ms`, ...raw }) as ModbusBusConfig;
    const bus = new ModbusBus(busConfig, createLogger({ level: 'error', pretty: false, destination: process.stderr }));
    const options = { timeoutMs };

    const reads: ProbeRead[] = [];
    try {
      // One request around the address when the device allows it; else each reading on its own.
      const from = Math.max(0, address - 1);
      const to = Math.min(65535, address + count);
      let block: number[] | null = null;
      // A read of the address alone, when the block was refused or not answered.
      let alone: number[] | null = null;
      try {
        block = await bus.read(unit, fn, from, to - from + 1, options) as number[];
      } catch (err) {
        if (!(err instanceof TransportError) || err.kind === 'connection') throw err;
        // Many serial meters ignore a request that touches an address they do not map, so
        // a block without an answer is tried piece by piece too — unless the address itself
        // gets no answer either: then the unit is silent, and that is what to report.
        if (err.kind !== 'exception') alone = await bus.read(unit, fn, address, count, options) as number[];
      }
      for (const at of [address - 1, address, address + 1]) {
        if (at < 0 || at + count - 1 > 65535) continue;
        let words: number[] | null = block ? block.slice(at - from, at - from + count) : at === address ? alone : null;
        let error: string | undefined;
        if (!words) {
          try {
            words = await bus.read(unit, fn, at, count, options) as number[];
          } catch (err) {
            if (!(err instanceof TransportError)) throw err;
            error = err.message;
          }
        }
        const decodings = words ? probeDecodings(words).filter((r) => widthOf(r.type) === count) : [];
        reads.push({ address: at, words, decodings, ...(error ? { error } : {}) });
      }
    } catch (err) {
      if (!(err instanceof TransportError)) throw err;
      process.stderr.write(`energy-gateway probe: unit ${unit}: ${err.message}\n`);
      return EXIT_FAILURE;
    } finally {
      await bus.close();
    }

    // The neighbours are a courtesy; the address asked for must be readable.
    const code = reads.find((r) => r.address === address)?.words ? EXIT_OK : EXIT_FAILURE;
    const meant = code === EXIT_OK ? undefined : manualNumberMeaning(address);
    if (meant) {
      // The commonest commissioning slip: the manual's register number typed as the address.
      process.stderr.write(`hint: ${address} is how manuals number ${meant.fn} register address ${meant.address}; `
        + `try --function ${meant.fn} --address ${meant.address}\n`);
    }
    if (values.json) {
      process.stdout.write(`${JSON.stringify({ unit, function: fn, address, count, reads })}\n`);
      return code;
    }
    const out: string[] = [];
    for (const r of reads) {
      const mark = r.address === address ? '' : r.address < address ? '   (A-1)' : '   (A+1)';
      out.push(`address ${r.address} (manual ${manualNumber(fn, r.address)})${mark}: ${r.words ? r.words.map((w) => w.toString(16).padStart(4, '0')).join(' ') : `not readable: ${r.error}`}`);
      const types = [...new Set(r.decodings.map((d) => d.type))];
      for (const type of types) {
        const cells = ORDERS.map((o) => {
          // 16-bit values have no word order: CDAB reads as ABCD, DCBA as BADC.
          const d = r.decodings.find((x) => x.type === type && x.order === o)
            ?? r.decodings.find((x) => x.type === type && x.order === (o === 'CDAB' ? 'ABCD' : 'BADC'));
          return `${o} ${d ? formatValue(d) : '-'}`;
        });
        // A cell longer than its column (a 64-bit integer) still keeps a space before the next.
        out.push(`  ${type.padEnd(8)} ${cells.map((c) => c.padEnd(25)).join(' ').trimEnd()}`);
      }
    }
    process.stdout.write(`${out.join('\n')}\n`);
    return code;
  },
};
