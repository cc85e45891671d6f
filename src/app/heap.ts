import { setFlagsFromString } from 'node:v8';

/**
 * How far V8 lets the old generation grow past what survived the last full collection
 * before it collects again: 30 %, instead of V8's own factor, which goes up to 4× on a
 * fast machine. A gateway keeps a small live set (about 40 MB at a thousand meters) but
 * promotes many objects that die soon after (a poll batch waiting for its commit, a
 * publish waiting for its acknowledgement); with V8's factor that garbage piles up to
 * two or three times the live set and sits in RSS. Measured with `npm run bench --
 * modbus` at 1,000 meters: RSS 214–258 MiB → 176 MiB, CPU unchanged.
 */
export const HEAP_GROWING_PERCENT = 30;

const FLAG = '--heap-growing-percent';

/**
 * Applies HEAP_GROWING_PERCENT to this process, unless the operator chose a value with
 * `node --heap-growing-percent=N` (Node does not accept the flag in NODE_OPTIONS). V8
 * reads it at every full collection, so setting it after start-up takes effect.
 */
export function tuneHeapForGateway(execArgv: readonly string[] = process.execArgv): boolean {
  if (execArgv.some((a) => a.startsWith(FLAG))) return false;
  setFlagsFromString(`${FLAG}=${HEAP_GROWING_PERCENT}`);
  return true;
}

/**
 * Node options the gateway runs with: the shebang of src/main.ts carries them (so the
 * installed `energy-gateway` binary and the container's entrypoint get them), and the
 * benchmark starts the gateway under test with them. They must be given at start-up: V8
 * sizes the young generation once, when the heap is set up.
 *
 * `--max-semi-space-size=8` (MiB; V8's default on 64-bit is 16): the young generation is two
 * semi-spaces, and a gateway's allocation rate (20–25 kB per poll) grows both to their
 * maximum within seconds, so the default holds 32 MiB of mostly empty young space in RSS.
 * Half of it is enough: what a poll allocates dies within a second, so scavenging twice as
 * often copies hardly more. Measured with `npm run bench -- modbus` (two runs each): 200
 * meters RSS 149–152 → 137–141 MiB, 1,000 meters 181–183 → 165–168 MiB, CPU per poll within
 * the runs' spread (231–251 vs 263–264 µs; 242–250 vs 240–253 µs). 4 MiB saved a little more
 * memory but cost 30 % more CPU.
 */
export const GATEWAY_NODE_OPTIONS = ['--max-semi-space-size=8'] as const;
