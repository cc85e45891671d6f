// Energy baselines and performance tracking (ISO 50001/50006, IPMVP Option B/C,
// reference §3), and intensity-target tracking (§5.6). Pure functions over plain
// numbers: periods in, figures out.

export interface RatioBaseline {
  /** Specific energy consumption E/P over the baseline period. */
  sec: number;
  /** SEC of each period, to show the fixed-load effect (SEC = b + a/P). */
  perPeriod: number[];
}

/** Ratio EnPI baseline: ΣE / ΣP and the SEC of each period (undefined when ΣP is 0). */
export function ratioBaseline(energy: readonly number[], production: readonly number[]): RatioBaseline | undefined {
  const e = energy.reduce((a, b) => a + b, 0);
  const p = production.reduce((a, b) => a + b, 0);
  if (p === 0) return undefined;
  return { sec: e / p, perPeriod: energy.map((x, i) => x / (production[i] ?? NaN)) };
}

/** Ratio-EnPI improvement (SEC_B − SEC_R) / SEC_B; valid only when conditions are similar. */
export function ratioImprovement(secBaseline: number, secReporting: number): number {
  return (secBaseline - secReporting) / secBaseline;
}

export interface RegressionModel {
  /** [β0 (intercept), β1 … βk] for the variables in order. */
  coefficients: number[];
  variables: string[];
  n: number;
  /** Number of parameters, including the intercept. */
  p: number;
  r2: number;
  adjustedR2: number;
  /** sqrt(Σ(y−ŷ)²/(n−p)) / ȳ */
  cvRmse: number;
  /** Σ(y−ŷ) / ((n−p)·ȳ) */
  nmbe: number;
  residuals: number[];
}

export interface Ashrae14Check {
  granularity: 'monthly' | 'hourly';
  /** ASHRAE Guideline 14-2014: monthly |NMBE| ≤ 5 % and CV(RMSE) ≤ 15 %; hourly |NMBE| ≤ 10 % and CV(RMSE) ≤ 30 %. */
  calibrated: boolean;
  cvRmseLimit: number;
  nmbeLimit: number;
  /** Common extra screens (reference §3.3 [M]): R² ≥ 0.75 and n ≥ 12. */
  r2Ok: boolean;
  enoughPoints: boolean;
}

/**
 * Ordinary least squares E = β0 + Σ βk·xk by Householder QR (stable for the few,
 * possibly correlated variables of an energy model: production, HDD, CDD …).
 * Undefined when there are not more observations than parameters or the variables
 * are collinear.
 */
export function fitOls(y: readonly number[], x: readonly (readonly number[])[], variables: readonly string[]): RegressionModel | undefined {
  const n = y.length;
  const p = variables.length + 1;
  if (n <= p || x.length !== n) return undefined;
  // Design matrix with an intercept column, column-major copies for QR.
  const A: number[][] = Array.from({ length: p }, (_, j) => Array.from({ length: n }, (_, i) => (j === 0 ? 1 : (x[i]?.[j - 1] ?? NaN))));
  const b = [...y];
  const R: number[][] = Array.from({ length: p }, () => new Array<number>(p).fill(0));
  for (let k = 0; k < p; k++) {
    const col = A[k] as number[];
    let norm = 0;
    for (let i = k; i < n; i++) norm += (col[i] as number) ** 2;
    norm = Math.sqrt(norm);
    if (!(norm > 1e-12 * Math.max(1, Math.abs(col[k] as number)))) return undefined;
    const alpha = (col[k] as number) > 0 ? -norm : norm;
    const v = col.map((c, i) => (i < k ? 0 : i === k ? c - alpha : c));
    const vv = v.reduce((s, c) => s + c * c, 0);
    if (vv === 0) return undefined;
    const reflect = (target: number[]) => {
      let dot = 0;
      for (let i = k; i < n; i++) dot += (v[i] as number) * (target[i] as number);
      const f = (2 * dot) / vv;
      for (let i = k; i < n; i++) target[i] = (target[i] as number) - f * (v[i] as number);
    };
    for (let j = k; j < p; j++) reflect(A[j] as number[]);
    reflect(b);
    for (let j = k; j < p; j++) (R[k] as number[])[j] = (A[j] as number[])[k] as number;
  }
  for (let k = 0; k < p; k++) if (Math.abs((R[k] as number[])[k] as number) < 1e-10) return undefined;
  const beta = new Array<number>(p).fill(0);
  for (let k = p - 1; k >= 0; k--) {
    let s = b[k] as number;
    for (let j = k + 1; j < p; j++) s -= ((R[k] as number[])[j] as number) * (beta[j] as number);
    beta[k] = s / ((R[k] as number[])[k] as number);
  }
  const predict = (row: readonly number[]) => (beta[0] as number) + row.reduce((s, v, j) => s + (beta[j + 1] as number) * v, 0);
  const residuals = y.map((yi, i) => yi - predict(x[i] as number[]));
  const mean = y.reduce((a, c) => a + c, 0) / n;
  const ssRes = residuals.reduce((a, r) => a + r * r, 0);
  const ssTot = y.reduce((a, yi) => a + (yi - mean) ** 2, 0);
  const r2 = ssTot === 0 ? 1 : 1 - ssRes / ssTot;
  return {
    coefficients: beta,
    variables: [...variables],
    n,
    p,
    r2,
    adjustedR2: 1 - ((1 - r2) * (n - 1)) / (n - p),
    cvRmse: Math.sqrt(ssRes / (n - p)) / mean,
    nmbe: residuals.reduce((a, r) => a + r, 0) / ((n - p) * mean),
    residuals,
  };
}

/** ŷ of the model for one period's relevant variables (the adjusted baseline Ê_B). */
export function predict(model: RegressionModel, row: readonly number[]): number {
  return model.coefficients.reduce((s, beta, j) => s + beta * (j === 0 ? 1 : (row[j - 1] ?? NaN)), 0);
}

export function ashrae14(model: RegressionModel, granularity: 'monthly' | 'hourly'): Ashrae14Check {
  const cvRmseLimit = granularity === 'monthly' ? 0.15 : 0.3;
  const nmbeLimit = granularity === 'monthly' ? 0.05 : 0.1;
  return {
    granularity,
    calibrated: model.cvRmse <= cvRmseLimit && Math.abs(model.nmbe) <= nmbeLimit,
    cvRmseLimit,
    nmbeLimit,
    r2Ok: model.r2 >= 0.75,
    enoughPoints: model.n >= 12,
  };
}

export interface SavingsReport {
  /** Adjusted baseline Ê_B(t) = f_B(x_t). */
  adjustedBaseline: number[];
  /** S_t = Ê_B(t) − E_R(t). */
  savings: number[];
  /** CUSUM_n = Σ S_t. */
  cusum: number[];
  /** Model EnPI E_R / Ê_B per period (below 1: improvement). */
  enpi: number[];
  /** (ΣÊ_B − ΣE_R) / ΣÊ_B. */
  improvement: number;
}

/** Savings against a regression baseline over reporting periods (IPMVP avoided energy, CUSUM). */
export function savingsAgainst(model: RegressionModel, reportingEnergy: readonly number[], reportingX: readonly (readonly number[])[]): SavingsReport {
  const adjustedBaseline = reportingX.map((row) => predict(model, row));
  const savings = adjustedBaseline.map((eb, i) => eb - (reportingEnergy[i] ?? NaN));
  const cusum: number[] = [];
  savings.reduce((acc, s) => {
    cusum.push(acc + s);
    return acc + s;
  }, 0);
  const sumB = adjustedBaseline.reduce((a, b) => a + b, 0);
  const sumR = reportingEnergy.reduce((a, b) => a + b, 0);
  return { adjustedBaseline, savings, cusum, enpi: adjustedBaseline.map((eb, i) => (reportingEnergy[i] ?? NaN) / eb), improvement: (sumB - sumR) / sumB };
}

/** Heating / cooling degree-days from daily mean temperatures (HDD18 / CDD26 in Chinese practice [M]). */
export function degreeDays(dailyMeanC: readonly number[], baseC: number, kind: 'heating' | 'cooling'): number {
  return dailyMeanC.reduce((s, t) => s + Math.max(0, kind === 'heating' ? baseC - t : t - baseC), 0);
}

// ---------------------------------------------------------------- intensity targets (§5.6)

/** A reduction target with where it comes from; the −17 % figure's source was not found. */
export interface IntensityTarget {
  /** e.g. −0.17 for "−17 % vs 2020". */
  reduction: number;
  baseYear: number;
  targetYear: number;
  /** Document, or "user-entered; source unverified". */
  source: string;
}

export interface IntensityProgress {
  baseIntensity: number;
  intensity: number;
  /** e_t / e_base − 1 (negative: a reduction). */
  change: number;
  /** change / target reduction, as a fraction (1 = target met). */
  progress: number;
  /** Highest intensity that still meets the target. */
  ceiling: number;
  target: IntensityTarget;
}

/** Energy per unit of value added: tce / 万元 (value added at base-year comparable prices). */
export function intensity(energyTce: number, valueAddedWan: number): number {
  return energyTce / valueAddedWan;
}

export function intensityProgress(baseIntensity: number, currentIntensity: number, target: IntensityTarget): IntensityProgress {
  const change = currentIntensity / baseIntensity - 1;
  return {
    baseIntensity,
    intensity: currentIntensity,
    change,
    progress: change / target.reduction,
    ceiling: baseIntensity * (1 + target.reduction),
    target,
  };
}

/** Cumulative rate of chained yearly rates: Π(1 + r) − 1. */
export function chainRates(rates: readonly number[]): number {
  return rates.reduce((acc, r) => acc * (1 + r), 1) - 1;
}

/** Year-on-year intensity change from energy growth and value-added growth: (1+gE)/(1+gVA) − 1. */
export function intensityChange(energyGrowth: number, valueAddedGrowth: number): number {
  return (1 + energyGrowth) / (1 + valueAddedGrowth) - 1;
}
