// `energy-gateway evaluate`: TV-8, TV-9 and TV-10 figures from a config file.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runEvaluate } from '../../src/cli/evaluate.js';
import { UsageError } from '../../src/cli/command.js';
import { ConfigError } from '../../src/config/errors.js';

const CONFIG = new URL('../fixtures/energy/plant.yaml', import.meta.url).pathname;

async function evaluate(args: string[]): Promise<{ code: number; out: Array<Record<string, unknown>> }> {
  let text = '';
  const code = await runEvaluate(args, { stdout: (t) => { text += t; }, stderr: () => {} });
  return { code, out: text.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('evaluate', () => {
  it('prints 亩产效益, green-factory and intensity records for the year', async () => {
    const { code, out } = await evaluate(['--config', CONFIG, '--year', '2024']);
    expect(code).toBe(0);
    expect(out.map((r) => r.kind)).toEqual(['mu_evaluation', 'green_factory', 'intensity']);
    const [mu, green, intensity] = out as [Record<string, any>, Record<string, any>, Record<string, any>];

    expect(mu.land_mu).toBeCloseTo(75, 9);
    expect(mu.indicators.tax_per_mu).toBeCloseTo(20, 9);
    expect(mu.indicators.revenue_per_mu).toBeCloseTo(400, 9);
    expect(mu.indicators.rd_intensity).toBeCloseTo(0.03, 9);
    expect(mu.score.scheme).toBe('huangyan-2022');
    // this year's value added is at 2020 prices (TV-9), far above TV-8's: the score passes A's threshold (90)
    expect(mu.score.total).toBeCloseTo(30 * (20 / 24.097) + 20 * (31_395.35 / 75 / 136.16) + 20 * (31_395.35 / 13_500 / 2.694)
      + 10 * (31_395.35 / 50 / 4929.81) + 10 * (31_395.35 / 500 / 18.14) + 10 * (0.03 / 0.0302), 6);
    expect(mu.class).toBe('A');

    // TV-10: PV 1.2 GWh × 0.1229 (from the selected factor set) over 13,500 tce here
    expect(green.indicators.renewable_share).toBeCloseTo((1_200_000 * 0.1229) / 13_500_000, 9);
    expect(green.indicators.plot_ratio).toBeCloseTo(0.96, 9);
    expect(green.indicators.building_coverage).toBeCloseTo(0.46, 9);
    expect(green.indicators.output_value_per_mu).toBeCloseTo(400, 9);
    expect(green.indicators.water_reuse_rate).toBeCloseTo(0.9, 9);
    expect(green.indicators.energy_per_output_value).toBeCloseTo(450, 9);
    expect(green.score.max).toBe(12);

    // TV-9
    expect(intensity.change * 100).toBeCloseTo(-14.0, 3);
    expect(intensity.progress * 100).toBeCloseTo(82.4, 1);
    expect(intensity.ceiling).toBeCloseTo(0.415, 9);
    expect(intensity.target_source).toMatch(/source unverified/);
  });

  it('missing figures give null indicators, never invented ones', async () => {
    const { out } = await evaluate(['--config', CONFIG, '--year', '2020']);
    const mu = out[0] as Record<string, any>;
    expect(mu.indicators.tax_per_mu).toBeNull();
    expect(mu.indicators.value_added_per_tce).toBeCloseTo(2, 9);
    expect(out.map((r) => r.kind)).toEqual(['mu_evaluation', 'green_factory']);
  });

  it('a year without figures or a config without an evaluation section is a config error; a bad year a usage error', async () => {
    await expect(evaluate(['--config', CONFIG, '--year', '2019'])).rejects.toBeInstanceOf(ConfigError);
    await expect(evaluate(['--config', CONFIG, '--year', '24'])).rejects.toBeInstanceOf(UsageError);
    const dir = mkdtempSync(join(tmpdir(), 'eg-eval-'));
    const noEval = join(dir, 'no-eval.yaml');
    writeFileSync(noEval, readFileSync(CONFIG, 'utf8').split('\nevaluation:')[0] ?? '');
    await expect(evaluate(['--config', noEval, '--year', '2024'])).rejects.toBeInstanceOf(ConfigError);
  });
  it('with --readings, takes the year\'s energy from the engine over the readings, split at the new year in the site time zone', async () => {
    // 100 kWh per hour on the site meter from 23:00 on 31 Dec 2023 to 01:00 on 1 Jan 2024 (Shanghai):
    // only the second hour belongs to 2024.
    const start = Date.parse('2023-12-31T23:00:00+08:00');
    const rows = ['ts,device,point,value'];
    for (let m = 0; m <= 120; m++) rows.push(`${start + m * 60_000},incomer,active_energy_import_total,${(5000 + (100 * m) / 60).toFixed(6)}`);
    const readings = join(mkdtempSync(join(tmpdir(), 'eg-eval-')), 'readings.csv');
    writeFileSync(readings, `${rows.join('\n')}\n`);
    const r = await evaluate(['--config', CONFIG, '--year', '2024', '--readings', readings]);
    expect(r.code).toBe(0);
    const mu = r.out.find((o) => o.kind === 'mu_evaluation')!;
    expect(mu.energy_source).toBe('computed');
    // 100 kWh × 0.1229 kgce/kWh (GB/T 2589-2020 当量值) = 12.29 kgce = 0.01229 tce
    expect(mu.energy_tce as number).toBeCloseTo(0.01229, 9);
    const withoutReadings = await evaluate(['--config', CONFIG, '--year', '2024']);
    expect(withoutReadings.out.find((o) => o.kind === 'mu_evaluation')).toMatchObject({ energy_source: 'config', energy_tce: 13500 });
  });
});
