import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from './command.js';

type Options = NonNullable<ParseArgsConfig['options']>;

/** --config FILE, which most commands take. */
export const CONFIG_OPTION = { config: { type: 'string', short: 'c' } } as const satisfies Options;

/** The options of commands that look at one device or all of a config's devices. */
export const DEVICE_QUERY_OPTIONS = {
  ...CONFIG_OPTION,
  device: { type: 'string', short: 'd' },
  json: { type: 'boolean' },
} as const satisfies Options;

/** node:util parseArgs with errors turned into usage errors (exit 2) and --help handled. */
export function parseCommandArgs<O extends Options>(argv: string[], options: O, allowPositionals = false) {
  try {
    return parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** --parity of a serial line: none, even or odd. */
export function parityArg(text: string): 'none' | 'even' | 'odd' {
  if (text !== 'none' && text !== 'even' && text !== 'odd') throw new UsageError(`--parity is none, even or odd, got "${text}"`);
  return text;
}

export function requireString(value: unknown, flag: string): string {
  if (typeof value !== 'string' || value === '') throw new UsageError(`missing ${flag}`);
  return value;
}
