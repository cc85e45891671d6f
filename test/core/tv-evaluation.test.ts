// TV-5 (regression EnPI, CUSUM), TV-8 (亩产效益), TV-9 (intensity target), TV-10
// (green-factory quantities), reference §7. Floats are unavoidable here (ratios and
// regressions); tolerances match the reference's printed precision.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ashrae14, chainRates, degreeDays, fitOls, intensity, intensityChange, intensityProgress, predict, ratioBaseline, ratioImprovement, savingsAgainst } from '../../src/core/baseline.js';
import { classify, greenIndicators, greenScore, muFromM2, muIndicators, muScore, piecewiseShare, type MuScheme } from '../../src/core/evaluation.js';

describe('TV-5 regression EnPI, normalisation, CUSUM', () => {
  const P = [800, 900, 1_000, 1_100, 1_200, 1_300];
  const E = [52_000, 56_500, 61_000, 65_500, 70_000, 74_500];
  const model = fitOls(E, P.map((p) => [p]), ['production_t']);

  it('OLS fit E = 16,000 + 45·P with R² = 1', () => {
    expect(model?.coefficients[0]).toBeCloseTo(16_000, 6);
    expect(model?.coefficients[1]).toBeCloseTo(45, 9);
    expect(model?.r2).toBeCloseTo(1, 12);
    expect(model?.cvRmse).toBeCloseTo(0, 9);
  });

  it('ratio SEC falls with output although nothing improved (fixed-load effect)', () => {
    const r = ratioBaseline(E, P);
    expect(r?.perPeriod[0]).toBeCloseTo(65.0, 6);
    expect(r?.perPeriod[5]).toBeCloseTo(57.3, 1);
  });

  it('adjusted baseline, savings, CUSUM and model-EnPI improvement', () => {
    const s = savingsAgainst(model!, [58_000, 63_000, 66_800], [[1_000], [1_100], [1_200]]);
    expect(s.adjustedBaseline.map((x) => Math.round(x))).toEqual([61_000, 65_500, 70_000]);
    expect(s.savings.map((x) => Math.round(x))).toEqual([3_000, 2_500, 3_200]);
    expect(s.cusum.map((x) => Math.round(x))).toEqual([3_000, 5_500, 8_700]);
    expect(s.improvement * 100).toBeCloseTo(4.43, 2);
    expect(s.enpi.every((x) => x < 1)).toBe(true);
  });

  it('CV(RMSE), NMBE and ASHRAE 14 on a noisy two-variable model (production and HDD18)', () => {
    const prod = [800, 950, 1_010, 1_120, 1_180, 1_310, 900, 1_000, 1_050, 1_200, 1_250, 870];
    const temps = [[-2], [1], [6], [12], [18], [24], [27], [26], [20], [13], [5], [-1]].map(([t]) => Array(30).fill(t) as number[]);
    const hdd = temps.map((d) => degreeDays(d, 18, 'heating'));
    const noise = [300, -200, 150, -250, 100, 50, -150, 200, -100, 250, -300, -50];
    const e = prod.map((p, i) => 10_000 + 40 * p + 8 * (hdd[i] as number) + (noise[i] as number));
    const m = fitOls(e, prod.map((p, i) => [p, hdd[i] as number]), ['production_t', 'hdd18'])!;
    expect(m.coefficients[1]).toBeCloseTo(40, 0);
    expect(m.coefficients[2]).toBeCloseTo(8, 0);
    // definitions (reference §3.3), recomputed from the residuals
    const mean = e.reduce((a, b) => a + b, 0) / e.length;
    const ss = m.residuals.reduce((a, r) => a + r * r, 0);
    expect(m.cvRmse).toBeCloseTo(Math.sqrt(ss / (12 - 3)) / mean, 12);
    expect(Math.abs(m.nmbe)).toBeLessThan(1e-9); // OLS with an intercept: residuals sum to 0
    const check = ashrae14(m, 'monthly');
    expect(check.calibrated).toBe(true);
    expect(check.enoughPoints).toBe(true);
    expect(predict(m, [1_000, 0])).toBeCloseTo(m.coefficients[0]! + 1_000 * m.coefficients[1]!, 9);
  });

  it('collinear or too few periods give no model rather than nonsense', () => {
    expect(fitOls([1, 2, 3], [[1, 2], [2, 4], [3, 6]], ['a', 'b'])).toBeUndefined();
    expect(fitOls([1, 2], [[1], [2]], ['a'])).toBeUndefined();
  });

  it('property: OLS recovers an exact linear law', () => {
    fc.assert(fc.property(
      fc.double({ min: -1e4, max: 1e4, noNaN: true }), fc.double({ min: -100, max: 100, noNaN: true }),
      fc.uniqueArray(fc.integer({ min: 0, max: 5_000 }), { minLength: 3, maxLength: 24 }),
      (a, b, xs) => {
        const m = fitOls(xs.map((x) => a + b * x), xs.map((x) => [x]), ['x']);
        expect(m).toBeDefined();
        expect(m!.coefficients[1]).toBeCloseTo(b, 6);
        expect(m!.coefficients[0]).toBeCloseTo(a, 3);
      },
    ), { numRuns: 200 });
  });

  it('ratio improvement', () => {
    expect(ratioImprovement(65, 60)).toBeCloseTo(5 / 65, 12);
  });
});

describe('TV-8 亩产效益', () => {
  const ind = muIndicators({ land_m2: 50_000, tax_wan: 1_500, revenue_wan: 30_000, value_added_wan: 7_500, energy_tce: 3_000, pollutant_eq_t: 50, rd_wan: 900, staff: 500 });
  it.each([
    ['land_mu', 75.0], ['tax_per_mu', 20.0], ['revenue_per_mu', 400], ['value_added_per_mu', 100], ['revenue_per_tce', 10.0], ['value_added_per_tce', 2.5],
    ['revenue_per_pollutant_t', 600], ['value_added_per_pollutant_t', 150], ['rd_intensity', 0.03], ['labour_productivity', 15.0],
  ] as const)('%s = %d', (k, v) => {
    expect(ind[k]).toBeCloseTo(v, 9);
  });

  it('mu = m² × 0.0015 (1 mu = 666.67 m²)', () => {
    expect(muFromM2(666.6666666667)).toBeCloseTo(1, 9);
    expect(muFromM2(10_000)).toBeCloseTo(15, 12);
  });

  it('Huangyan formula (fixture) scores 76.655', () => {
    const scheme = JSON.parse(readFileSync(new URL('../fixtures/energy/huangyan-2022.json', import.meta.url), 'utf8')) as MuScheme;
    const s = muScore(ind, scheme);
    expect(s.terms.map((t) => Number(t.points.toFixed(3)))).toEqual([24.899, 14.689, 18.56, 0.304, 8.269, 9.934]);
    expect(s.total).toBeCloseTo(76.655, 3);
    // capped at 0.8 × benchmark: only 亩均增加值 (0.734) and 单位排放增加值 (0.030) stay below the cap
    const capped = muScore(ind, { ...scheme, terms: scheme.terms.map((t) => ({ ...t, cap: 0.8 })) });
    expect(capped.total).toBeCloseTo(30 * 0.8 + 14.689 + 20 * 0.8 + 0.304 + 10 * 0.8 + 10 * 0.8, 2);
  });

  it('classes by share, T in the base or not (Jining 2023: A 20, B 40, C 35, D 5 of 100)', () => {
    const ents = Array.from({ length: 100 }, (_, i) => ({ id: `e${i}`, score: 100 - i }));
    const cls = classify(ents, { mode: 'share', A: 0.2, B: 0.4, D: 0.05, base_includes_t: false });
    const count = (c: string) => [...cls.values()].filter((x) => x === c).length;
    expect([count('A'), count('B'), count('C'), count('D')]).toEqual([20, 40, 35, 5]);
    expect(cls.get('e0')).toBe('A');
    expect(cls.get('e99')).toBe('D');
    // 10 class-T enterprises: counted in the base, A becomes floor(0.2 × 110) = 22
    const withT = [...ents, ...Array.from({ length: 10 }, (_, i) => ({ id: `t${i}`, score: null }))];
    const c2 = classify(withT, { mode: 'share', A: 0.2, B: 0.4, D: 0.05, base_includes_t: true });
    expect([...c2.values()].filter((x) => x === 'A')).toHaveLength(22);
    expect(c2.get('t0')).toBe('T');
    const c3 = classify(withT, { mode: 'share', A: 0.2, B: 0.4, D: 0.05, base_includes_t: false });
    expect([...c3.values()].filter((x) => x === 'A')).toHaveLength(20);
  });

  it('classes by score thresholds', () => {
    const c = classify([{ id: 'x', score: 76.655 }, { id: 'y', score: 40 }], { mode: 'score', A: 90, B: 70, C: 50 });
    expect([c.get('x'), c.get('y')]).toEqual(['B', 'D']);
  });
});

describe('TV-9 intensity target tracking', () => {
  const e2020 = intensity(12_000, 24_000);
  const e2024 = intensity(13_500, 31_395.35);
  const target = { reduction: -0.17, baseYear: 2020, targetYear: 2025, source: 'user-entered; source unverified' };
  it('2020 0.50, 2024 0.43 → −14.0 %, progress 82.4 %, 2025 ceiling 0.415', () => {
    expect(e2020).toBe(0.5);
    expect(e2024).toBeCloseTo(0.43, 6);
    const p = intensityProgress(e2020, e2024, target);
    expect(p.change * 100).toBeCloseTo(-14.0, 3);
    expect(p.progress * 100).toBeCloseTo(82.4, 1);
    expect(p.ceiling).toBeCloseTo(0.415, 12);
    expect(p.target.source).toMatch(/unverified/);
  });
  it('chained −4 %, −3.5 %, −5 %, −3 % → −14.63 %; energy +2 % and VA +6 % → −3.77 %', () => {
    expect(chainRates([-0.04, -0.035, -0.05, -0.03]) * 100).toBeCloseTo(-14.63, 2);
    expect(intensityChange(0.02, 0.06) * 100).toBeCloseTo(-3.77, 2);
  });
});

describe('TV-10 green-factory quantities', () => {
  const ind = greenIndicators({
    land_m2: 50_000, building_footprint_m2: 20_000, structure_footprint_m2: 2_000, open_yard_m2: 1_000,
    buildings: [{ floor_area_m2: 32_000 }, { floor_area_m2: 8_000, storey_height_m: 10 }],
    output_value_wan: 30_000, energy_kgce: 3_000_000, co2_kg: 12_000_000,
    renewable_kgce: 1_200_000 * 0.1229, fresh_water_m3: 20_000, reused_water_m3: 180_000,
  });
  it.each([
    ['building_coverage', 0.46], ['plot_ratio', 0.96], ['output_value_per_m2', 0.6], ['output_value_per_mu', 400],
    ['energy_per_output_value', 100], ['co2_per_output_value', 400], ['water_reuse_rate', 0.9],
  ] as const)('%s = %d', (k, v) => {
    expect(ind[k]).toBeCloseTo(v, 9);
  });
  it('可再生能源利用率 = 147.48 tce / 3,000 tce = 4.92 %', () => {
    expect((ind.renewable_share ?? 0) * 100).toBeCloseTo(4.92, 2);
  });
  it('piecewise-linear scoring between 基准值 and 引领值, both directions', () => {
    const lower = { indicator: 'energy_per_output_value' as const, weight: 8, direction: 'lower' as const, base: 150, lead: 80 };
    expect(piecewiseShare(160, lower)).toBe(0);
    expect(piecewiseShare(150, lower)).toBe(0);
    expect(piecewiseShare(115, lower)).toBeCloseTo(0.5, 12);
    expect(piecewiseShare(80, lower)).toBe(1);
    expect(piecewiseShare(50, lower)).toBe(1);
    expect(piecewiseShare(150, { ...lower, at_base: 0.6 })).toBeCloseTo(0.6, 12);
    const s = greenScore(ind, { id: 't', source: 'test', terms: [lower, { indicator: 'water_reuse_rate', weight: 4, direction: 'higher', base: 0.8, lead: 0.95 }] });
    expect(s.total).toBeCloseTo(8 * (50 / 70) + 4 * (0.1 / 0.15), 9);
    expect(s.max).toBe(12);
  });
});
