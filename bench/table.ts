/** One measured figure: what, how much, in which unit, and the target it is held against. */
export interface BenchRow {
  suite: string;
  metric: string;
  value: number | string;
  unit: string;
  target?: string;
  /** true = meets the target, false = misses it, undefined = no target. */
  ok?: boolean;
}

export function formatTable(rows: BenchRow[]): string {
  const cells = rows.map((r) => [
    r.suite, r.metric,
    typeof r.value === 'number' ? formatNumber(r.value) : r.value,
    r.unit, r.target ?? '', r.ok === undefined ? '' : r.ok ? 'ok' : 'MISS',
  ]);
  const header = ['suite', 'metric', 'value', 'unit', 'target', ''];
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => `| ${c.map((x, i) => (i === 2 ? x.padStart(widths[i]!) : x.padEnd(widths[i]!))).join(' | ')} |`;
  return [line(header), `|${widths.map((w, i) => (i === 2 ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`, ...cells.map(line)].join('\n');
}

function formatNumber(v: number): string {
  if (Number.isInteger(v)) return v.toLocaleString('en-US');
  const abs = Math.abs(v);
  return abs >= 100 ? v.toFixed(0) : abs >= 1 ? v.toFixed(2) : v.toPrecision(3);
}
