// Enterprise evaluations, pure: 亩产效益 (output per mu of land, reference §5) and the
// green-factory quantitative indicators (GB/T 36132-2025, §4). Weights, benchmarks,
// caps and cut-offs are NOT known for Shandong (§5.4, §10 items 20 and 24), so every
// scheme is configuration; nothing here encodes a provincial rule.

/** 1 亩 = 10000/15 m²; mu = m² × 0.0015 (reference §5.5). Land is stored in m². */
export const MU_PER_M2 = 0.0015;

export function muFromM2(m2: number): number {
  return m2 * MU_PER_M2;
}

// ---------------------------------------------------------------- 亩产效益

export interface MuInputs {
  land_m2: number;
  /** 实缴税收, 万元 */
  tax_wan: number;
  /** 营业(销售)收入, 万元 */
  revenue_wan: number;
  /** 工业增加值, 万元 */
  value_added_wan: number;
  /** 综合能耗, tce, on the basis the local scheme prescribes (当量 or 等价). */
  energy_tce: number;
  /** 主要污染物排放当量, t */
  pollutant_eq_t: number;
  /** R&D 经费支出, 万元 */
  rd_wan: number;
  /** 年平均从业人员 */
  staff: number;
  /** 用电量, kWh (for 单位电耗税收 of 规下 schemes) */
  electricity_kwh?: number | undefined;
}

/** Indicator values; ratios are fractions (rd_intensity 0.03 = 3 %). Null when the denominator is 0. */
export interface MuIndicators {
  land_mu: number;
  tax_per_mu: number | null;
  revenue_per_mu: number | null;
  value_added_per_mu: number | null;
  revenue_per_tce: number | null;
  value_added_per_tce: number | null;
  revenue_per_pollutant_t: number | null;
  value_added_per_pollutant_t: number | null;
  rd_intensity: number | null;
  labour_productivity: number | null;
  /** 万元 of tax per 万 kWh (Zhejiang 规下 example) */
  tax_per_10k_kwh: number | null;
}

const div = (a: number, b: number | undefined): number | null => (b === undefined || b === 0 ? null : a / b);

export function muIndicators(x: MuInputs): MuIndicators {
  const mu = muFromM2(x.land_m2);
  return {
    land_mu: mu,
    tax_per_mu: div(x.tax_wan, mu),
    revenue_per_mu: div(x.revenue_wan, mu),
    value_added_per_mu: div(x.value_added_wan, mu),
    revenue_per_tce: div(x.revenue_wan, x.energy_tce),
    value_added_per_tce: div(x.value_added_wan, x.energy_tce),
    revenue_per_pollutant_t: div(x.revenue_wan, x.pollutant_eq_t),
    value_added_per_pollutant_t: div(x.value_added_wan, x.pollutant_eq_t),
    rd_intensity: div(x.rd_wan, x.revenue_wan),
    labour_productivity: div(x.value_added_wan, x.staff),
    tax_per_10k_kwh: x.electricity_kwh === undefined ? null : div(x.tax_wan, x.electricity_kwh / 10_000),
  };
}

export interface MuScoreTerm {
  indicator: keyof MuIndicators;
  weight: number;
  /** x̄: county / industry benchmark or average; the term is weight × min(x / benchmark, cap). */
  benchmark: number;
  /** Upper bound of x / benchmark (none: uncapped). */
  cap?: number | undefined;
}

export interface MuScheme {
  id: string;
  /** Where the formula comes from (e.g. "Huangyan 2022 (Zhejiang), test fixture only"). */
  source: string;
  terms: MuScoreTerm[];
}

export interface MuScore {
  scheme: string;
  total: number;
  terms: Array<{ indicator: string; value: number | null; ratio: number | null; points: number }>;
  /** Indicators that were missing (null) and scored 0. */
  missing: string[];
}

export function muScore(ind: MuIndicators, scheme: MuScheme): MuScore {
  const terms = scheme.terms.map((t) => {
    const value = ind[t.indicator];
    if (value === null || t.benchmark === 0) return { indicator: t.indicator, value, ratio: null, points: 0 };
    const raw = value / t.benchmark;
    const ratio = t.cap === undefined ? raw : Math.min(raw, t.cap);
    return { indicator: t.indicator, value, ratio, points: t.weight * ratio };
  });
  return {
    scheme: scheme.id,
    total: terms.reduce((s, t) => s + t.points, 0),
    terms,
    missing: terms.filter((t) => t.value === null).map((t) => t.indicator),
  };
}

export type MuClass = 'A' | 'B' | 'C' | 'D' | 'T';

/**
 * Class cut-offs. `share`: rank by score; the top share_A of the base is A, the
 * next share_B is B, the bottom share_D is D, the rest C (Dezhou 2024: A ≤ 20 %,
 * D ≥ 5 %; Jining 2023: A 20 %, B 40 %, C 35 %, D 5 %). Whether class T (暂不评价)
 * counts in the base varies, so it is a setting. `score`: fixed score thresholds.
 */
export type MuCutoffs =
  | { mode: 'share'; A: number; B: number; D: number; base_includes_t: boolean }
  | { mode: 'score'; A: number; B: number; C: number };

export interface RankedEnterprise {
  id: string;
  /** null: class T (new, start-up or not yet comparable). */
  score: number | null;
}

/** Classifies enterprises; A is rounded down (≤ share), D rounded up (≥ share). Ties keep input order. */
export function classify(enterprises: readonly RankedEnterprise[], cutoffs: MuCutoffs): Map<string, MuClass> {
  const out = new Map<string, MuClass>();
  const rated = enterprises.filter((e) => e.score !== null);
  for (const e of enterprises) if (e.score === null) out.set(e.id, 'T');
  if (cutoffs.mode === 'score') {
    for (const e of rated) {
      const s = e.score as number;
      out.set(e.id, s >= cutoffs.A ? 'A' : s >= cutoffs.B ? 'B' : s >= cutoffs.C ? 'C' : 'D');
    }
    return out;
  }
  const base = cutoffs.base_includes_t ? enterprises.length : rated.length;
  const nA = Math.min(rated.length, Math.floor(cutoffs.A * base + 1e-9));
  const nB = Math.min(rated.length - nA, Math.floor(cutoffs.B * base + 1e-9));
  const nD = Math.min(rated.length - nA - nB, Math.ceil(cutoffs.D * base - 1e-9));
  const ranked = rated.map((e, i) => ({ ...e, i })).sort((a, b) => (b.score as number) - (a.score as number) || a.i - b.i);
  ranked.forEach((e, rank) => {
    const cls: MuClass = rank < nA ? 'A' : rank < nA + nB ? 'B' : rank >= ranked.length - nD ? 'D' : 'C';
    out.set(e.id, cls);
  });
  return out;
}

// ---------------------------------------------------------------- green factory

export interface Building {
  /** Floor area, m² (计容建筑面积 before the height rule). */
  floor_area_m2: number;
  /** Storey height, m: a storey higher than 8 m counts double (《工业项目建设用地控制指标》 [M]). */
  storey_height_m?: number | undefined;
}

export interface GreenInputs {
  land_m2: number;
  /** 建筑物 + 构筑物 footprint and 露天堆场/操作场地, m² */
  building_footprint_m2: number;
  structure_footprint_m2: number;
  open_yard_m2: number;
  buildings: Building[];
  /** 工业总产值, 万元 */
  output_value_wan: number;
  /** 综合能耗, kgce */
  energy_kgce: number;
  /** CO2, kg */
  co2_kg: number;
  /** Renewable energy used (e.g. self-consumed PV), kgce on the same basis as energy_kgce. */
  renewable_kgce: number;
  fresh_water_m3: number;
  reused_water_m3: number;
}

export interface GreenIndicators {
  /** 单位产值综合能耗, kgce/万元 (↓) */
  energy_per_output_value: number | null;
  /** 单位产值碳排放量, kgCO2/万元 (↓) */
  co2_per_output_value: number | null;
  /** 可再生能源利用率, fraction (↑); denominator convention unverified [M]. */
  renewable_share: number | null;
  /** 工业用水重复利用率 = V_r / (V_i + V_r), fraction (↑) */
  water_reuse_rate: number | null;
  /** 容积率 (↑) */
  plot_ratio: number | null;
  /** 建筑系数, fraction (↑) */
  building_coverage: number | null;
  /** 单位用地面积产值, 万元/m² (↑) */
  output_value_per_m2: number | null;
  /** 单位用地面积产值, 万元/亩 */
  output_value_per_mu: number | null;
}

/** 计容建筑面积 with storeys above 8 m counted twice. */
export function countedFloorArea(buildings: readonly Building[]): number {
  return buildings.reduce((s, b) => s + b.floor_area_m2 * ((b.storey_height_m ?? 0) > 8 ? 2 : 1), 0);
}

export function greenIndicators(x: GreenInputs): GreenIndicators {
  return {
    energy_per_output_value: div(x.energy_kgce, x.output_value_wan),
    co2_per_output_value: div(x.co2_kg, x.output_value_wan),
    renewable_share: div(x.renewable_kgce, x.energy_kgce),
    water_reuse_rate: div(x.reused_water_m3, x.fresh_water_m3 + x.reused_water_m3),
    plot_ratio: div(countedFloorArea(x.buildings), x.land_m2),
    building_coverage: div(x.building_footprint_m2 + x.structure_footprint_m2 + x.open_yard_m2, x.land_m2),
    output_value_per_m2: div(x.output_value_wan, x.land_m2),
    output_value_per_mu: div(x.output_value_wan, muFromM2(x.land_m2)),
  };
}

/**
 * Piecewise-linear score of one indicator between a 基准值 (base) and a 引领值 (lead):
 * `below_base` beyond the base on the bad side, `at_base` at the base, linear to full
 * at the lead, full beyond it. Direction ↑ (higher is better) or ↓.
 */
export interface GreenScoreTerm {
  indicator: keyof GreenIndicators;
  weight: number;
  direction: 'higher' | 'lower';
  base: number;
  lead: number;
  /** Share of the weight at the base value (default 0). */
  at_base?: number | undefined;
  /** Share of the weight worse than the base (default 0). */
  below_base?: number | undefined;
}

export interface GreenScheme {
  id: string;
  source: string;
  terms: GreenScoreTerm[];
}

export function piecewiseShare(value: number, t: GreenScoreTerm): number {
  const atBase = t.at_base ?? 0;
  const below = t.below_base ?? 0;
  // Map to "higher is better" so one rule serves both directions.
  const v = t.direction === 'higher' ? value : -value;
  const base = t.direction === 'higher' ? t.base : -t.base;
  const lead = t.direction === 'higher' ? t.lead : -t.lead;
  if (v < base) return below;
  if (v >= lead || lead === base) return 1;
  return atBase + ((1 - atBase) * (v - base)) / (lead - base);
}

export interface GreenScore {
  scheme: string;
  total: number;
  max: number;
  terms: Array<{ indicator: string; value: number | null; share: number; points: number }>;
  missing: string[];
}

export function greenScore(ind: GreenIndicators, scheme: GreenScheme): GreenScore {
  const terms = scheme.terms.map((t) => {
    const value = ind[t.indicator];
    const share = value === null ? 0 : piecewiseShare(value, t);
    return { indicator: t.indicator, value, share, points: share * t.weight };
  });
  return {
    scheme: scheme.id,
    total: terms.reduce((s, t) => s + t.points, 0),
    max: scheme.terms.reduce((s, t) => s + t.weight, 0),
    terms,
    missing: terms.filter((t) => t.value === null).map((t) => t.indicator),
  };
}
