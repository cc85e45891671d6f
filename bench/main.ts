// `npm run bench [-- suite ...]`: runs benchmark suites and prints one table.
// Each suite is a module bench/<name>.ts exporting `run(args): Promise<BenchRow[]>`.
// Figures go into the README's benchmark section; they are not test assertions.
import { formatTable, type BenchRow } from './table.js';

type Suite = { run(args: string[]): Promise<BenchRow[]> };
const SUITE_NAMES = ['modbus', 'delivery', 'opcua'];
const SUITES: Record<string, () => Promise<Suite>> = Object.fromEntries(
  SUITE_NAMES.map((name) => [name, () => import(`./${name}.js`) as Promise<Suite>]),
);

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const names = args.filter((a) => !a.startsWith('-'));
  const selected = names.length > 0 ? names : Object.keys(SUITES);
  const rows: BenchRow[] = [];
  for (const name of selected) {
    const load = SUITES[name];
    if (!load) {
      process.stderr.write(`unknown suite "${name}" (known: ${Object.keys(SUITES).join(', ')})\n`);
      process.exitCode = 2;
      return;
    }
    let suite: Suite;
    try {
      suite = await load();
    } catch (err) {
      process.stderr.write(`suite ${name} is not available: ${(err as Error).message}\n`);
      continue;
    }
    process.stderr.write(`running ${name}…\n`);
    rows.push(...(await suite.run(args.filter((a) => a.startsWith('-')))));
  }
  process.stdout.write(`${formatTable(rows)}\n`);
}

await main();
