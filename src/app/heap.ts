import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

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
 * Measured with `npm run bench -- modbus`: 200 meters RSS 149–154 → 137–141 MiB with CPU
 * per poll unchanged (231–251 vs 263–264 µs); 1,000 meters RSS 183–184 → 167–169 MiB, but
 * CPU per poll 217–247 → 245–258 µs (three runs each, 60 s warm-up): scavenging twice as
 * often promotes more short-lived objects, which the full collections then clear. Memory is
 * what an edge box runs short of first; a large installation that would rather spend the
 * memory starts `node --max-semi-space-size=16 dist/src/main.js run …` (README). 4 MiB saved
 * little more memory but cost 30 % more CPU.
 */
export const GATEWAY_NODE_OPTIONS = ['--max-semi-space-size=8'] as const;

/**
 * Runs one full collection now; false when V8 would not hand out its collector.
 *
 * The gateway calls it once, shortly after start-up. V8 runs its first full collection only
 * when the old generation reaches its initial limit, and until then start-up's garbage (the
 * config and the profile catalogue as parsed) and the first minute's promoted polls pile up:
 * RSS peaked at 146–152 MiB a minute or two in at 200 meters, then settled at 129–136. After
 * a full collection V8 sizes the old generation from what survived (HEAP_GROWING_PERCENT
 * above), so one early collection keeps that peak from forming: 200 meters with the full
 * SDM630 profile, RSS 146–147 → 125–129 MiB (`npm run bench -- modbus --phases=f200`, two
 * runs each), CPU within the runs' spread.
 *
 * The collector is reached as Jest's leak detector reaches it: exposed for a moment by flag,
 * taken from a fresh context, and the flag put back.
 */
/** When the gateway runs collectGarbageOnce: start-up is over and the first polls are stored. */
export const STARTUP_COLLECTION_MS = 10_000;

export function collectGarbageOnce(): boolean {
  const own = (globalThis as { gc?: unknown }).gc;
  let gc: unknown = own;
  if (typeof gc !== 'function') {
    setFlagsFromString('--expose-gc');
    try {
      gc = runInNewContext('gc');
    } finally {
      setFlagsFromString('--no-expose-gc');
    }
  }
  if (typeof gc !== 'function') return false;
  (gc as () => void)();
  return true;
}
