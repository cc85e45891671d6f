// `energy-gateway evaluate`: the year's 亩产效益 and green-factory indicators (and the
// energy-intensity target progress) from the `evaluation:` section of the config,
// printed as JSON lines. Scores appear only when a scheme is configured: neither the
// Shandong 亩产效益 weights nor the GB/T 36132-2025 weights are known (reference §10).
import { coefficient } from '../core/factors.js';
import { classify, greenIndicators, greenScore, muFromM2, muIndicators, muScore } from '../core/evaluation.js';
import { intensity, intensityProgress } from '../core/baseline.js';
import { ConfigError } from '../config/errors.js';
import { FactorError, factorProblems, loadSelectedFactors } from '../energy-io/factors.js';
import { CONFIG_OPTION, parseCommandArgs, requireString } from './args.js';
import { EXIT_OK, UsageError, type Command } from './command.js';
import { loadGatewayConfig } from './load-config.js';
import { parseReadings, replay, toPolls, type CliIo } from './compute.js';
import { readFile } from 'node:fs/promises';
import { engineConfigFrom } from '../app/engine-config.js';
import { completeEngineConfig } from '../energy-io/engine-config.js';
import type { RootConfig } from '../config/schema.js';
import type { DriverProfile } from '../profiles/schema.js';

const processIo: CliIo = { stdout: (t) => process.stdout.write(t), stderr: (t) => process.stderr.write(t) };

/** Missing inputs become NaN inside and null outside, so an indicator is never invented. */
const n = (v: number | undefined): number => v ?? Number.NaN;
const clean = (o: unknown): unknown =>
  JSON.parse(JSON.stringify(o, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v)));

const USAGE = `energy-gateway evaluate --config FILE --year YYYY [--readings FILE]

With --readings (the same CSV or JSON lines as \`compute\`), the year's energy is
computed by the gateway's energy engine from the readings — the site-level accounts'
kgce, kgCO2 and kWh over the year in the site time zone — and used instead of
energy_tce, co2_t and electricity_kwh from the config. Without it, the config's annual
figures are used. The output says which (energy_source).

Prints, as JSON lines, for the year's figures in the config's evaluation section:
  mu_evaluation   亩产效益 indicators (land in m², mu = m² × 0.0015), and the score and
                  class when evaluation.mu_scheme / mu_cutoffs are configured
  green_factory   单位产值综合能耗, 单位产值碳排放, 可再生能源利用率, 工业用水重复利用率,
                  容积率, 建筑系数, 单位用地面积产值; the score with evaluation.green_scheme
  intensity       energy per value added vs the base year and the target (its source
                  label is printed: the −17 % default is "source unverified")`;

export async function runEvaluate(argv: string[], io: CliIo = processIo): Promise<number> {
  const { values } = parseCommandArgs(argv, { ...CONFIG_OPTION, year: { type: 'string', short: 'y' }, readings: { type: 'string', short: 'r' } });
  const file = requireString(values.config, '--config');
  const year = requireString(values.year, '--year');
  if (!/^\d{4}$/.test(year)) throw new UsageError(`invalid --year "${year}"`);
  const { config, catalogue } = loadGatewayConfig(file);
  const ev = config.evaluation;
  if (!ev) throw new ConfigError([{ file, line: 0, path: 'evaluation', message: 'the evaluate command needs an evaluation section (land_m2, years …)' }]);
  const given = ev.years[year];
  if (!given) throw new ConfigError([{ file, line: 0, path: 'evaluation.years', message: `no figures for ${year} (have: ${Object.keys(ev.years).join(', ') || 'none'})` }]);
  let y = given;
  let energySource: 'config' | 'computed' = 'config';
  if (values.readings) {
    const computed = await yearEnergy(file, config, catalogue, values.readings, Number(year));
    y = { ...given, energy_tce: computed.kgce / 1000, co2_t: computed.kgco2 / 1000, ...(computed.kwh > 0 ? { electricity_kwh: computed.kwh } : {}) };
    energySource = 'computed';
  }

  const factors = await loadSelectedFactors(config.energy.factors).catch((err: unknown) => {
    throw err instanceof FactorError ? new ConfigError(factorProblems(file, err)) : err;
  });
  const elec = coefficient(factors.coal, 'electricity', 'kWh');
  const out = (o: unknown) => io.stdout(`${JSON.stringify(clean(o))}\n`);

  // 亩产效益
  const mu = muIndicators({
    land_m2: ev.land_m2, tax_wan: n(y.tax_wan), revenue_wan: n(y.revenue_wan), value_added_wan: n(y.value_added_wan),
    energy_tce: n(y.energy_tce), pollutant_eq_t: n(y.pollutant_eq_t), rd_wan: n(y.rd_wan), staff: n(y.staff),
    electricity_kwh: y.electricity_kwh,
  });
  const score = ev.mu_scheme ? muScore(mu, ev.mu_scheme) : undefined;
  const cls = score && ev.mu_cutoffs?.mode === 'score' ? classify([{ id: 'self', score: score.total }], ev.mu_cutoffs).get('self') : undefined;
  out({
    kind: 'mu_evaluation', year: Number(year), energy_source: energySource, energy_tce: y.energy_tce ?? null, land_m2: ev.land_m2, land_mu: muFromM2(ev.land_m2), indicators: mu,
    score: score ? { scheme: score.scheme, total: score.total, terms: score.terms, missing: score.missing, source: ev.mu_scheme?.source } : null,
    class: cls ?? null,
    note: cls === undefined && ev.mu_cutoffs?.mode === 'share' ? 'share cut-offs rank a whole list of enterprises; one enterprise gets no class' : undefined,
  });

  // Green factory
  const renewableKgce = (y.renewable_kwh ?? 0) * (elec?.perUnit ?? Number.NaN) + (y.renewable_tce ?? 0) * 1000;
  const green = greenIndicators({
    land_m2: ev.land_m2, building_footprint_m2: ev.building_footprint_m2, structure_footprint_m2: ev.structure_footprint_m2,
    open_yard_m2: ev.open_yard_m2, buildings: ev.buildings, output_value_wan: n(y.output_value_wan),
    energy_kgce: n(y.energy_tce) * 1000, co2_kg: n(y.co2_t) * 1000, renewable_kgce: renewableKgce,
    fresh_water_m3: n(y.fresh_water_m3), reused_water_m3: n(y.reused_water_m3),
  });
  const gs = ev.green_scheme ? greenScore(green, ev.green_scheme) : undefined;
  out({
    kind: 'green_factory', year: Number(year), indicators: green,
    score: gs ? { scheme: gs.scheme, total: gs.total, max: gs.max, terms: gs.terms, missing: gs.missing, source: ev.green_scheme?.source } : null,
    factor_sets: { coal: factors.coal.id, co2: factors.co2.id },
  });

  // Intensity target
  const t = ev.intensity_target;
  const base = ev.years[String(t.base_year)];
  if (base && Number(year) !== t.base_year) {
    const e0 = intensity(n(base.energy_tce), n(base.value_added_wan));
    const e1 = intensity(n(y.energy_tce), n(y.value_added_wan));
    const p = intensityProgress(e0, e1, { reduction: t.reduction, baseYear: t.base_year, targetYear: t.target_year, source: t.source });
    out({
      kind: 'intensity', year: Number(year), base_year: t.base_year, target_year: t.target_year, unit: 'tce/万元',
      base_intensity: p.baseIntensity, intensity: p.intensity, change: p.change, target_reduction: t.reduction,
      progress: p.progress, ceiling: p.ceiling, target_source: t.source,
    });
  }
  return EXIT_OK;
}

/**
 * The year's energy of the site-level accounts, computed by the engine from readings.
 * Each account is summed over one of its window lengths: windows tile time, so any one
 * length gives the whole year exactly.
 */
async function yearEnergy(file: string, config: RootConfig, catalogue: ReadonlyMap<string, DriverProfile>, readingsFile: string, year: number): Promise<{ kgce: number; kgco2: number; kwh: number }> {
  const site = config.accounts.filter((a) => a.level === 'site');
  if (site.length === 0) throw new UsageError('--readings needs at least one account with level: site (the plant boundary)');
  const engineConfig = await completeEngineConfig(engineConfigFrom(config, catalogue), config.energy).catch((err: unknown) => {
    throw err instanceof FactorError ? new ConfigError(factorProblems(file, err)) : err;
  });
  const polls = toPolls(parseReadings(readingsFile, await readFile(readingsFile, 'utf8')));
  const windowOf = new Map(site.map((a) => [a.id, a.windows[0]]));
  const yearFmt = new Intl.DateTimeFormat('en-US', { timeZone: config.gateway.timezone, year: 'numeric' });
  const total = { kgce: 0, kgco2: 0, kwh: 0 };
  replay(engineConfig, polls, undefined, (records) => {
    for (const r of records) {
      if (r.kind !== 'energy' || windowOf.get(r.account) !== r.window) continue;
      if (Number(yearFmt.format(r.start_ms)) !== year) continue;
      total.kgce += r.kgce ?? 0;
      total.kgco2 += r.kgco2 ?? 0;
      total.kwh += r.energy_kwh ?? 0;
    }
  });
  return total;
}

export const evaluateCommand: Command = {
  name: 'evaluate',
  summary: 'print the year\'s 亩产效益 and green-factory indicators from the evaluation section',
  usage: USAGE,
  run: (argv) => runEvaluate(argv),
};
