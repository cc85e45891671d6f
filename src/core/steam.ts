// Specific enthalpy of steam from IAPWS-IF97 (IAPWS R7-97(2012)): region 4 for the
// saturation line and region 2 (Gibbs free energy, eq. 15–17) for saturated and
// superheated vapour. Used for the preferred enthalpy mode of steam accounting
// (reference §1.6): Q = m × (h − h_ref), kgce = Q × 0.03412 kgce/MJ.
//
// The numbers below are the coefficients of the IAPWS release (tables 10, 11 and 34),
// i.e. physical constants of the formulation, not tunable factors.

const R = 0.461526; // kJ/(kg·K), specific gas constant of water (IF97 eq. 1)

// Region 2, ideal-gas part (table 10): [J0, n0]
const R2_IDEAL: ReadonlyArray<readonly [number, number]> = [
  [0, -0.96927686500217e1], [1, 0.10086655968018e2], [-5, -0.5608791128302e-2], [-4, 0.71452738081455e-1],
  [-3, -0.40710498223928], [-2, 0.14240819171444e1], [-1, -0.4383951131945e1], [2, -0.28408632460772],
  [3, 0.21268463753307e-1],
];

// Region 2, residual part (table 11): [I, J, n]
const R2_RES: ReadonlyArray<readonly [number, number, number]> = [
  [1, 0, -0.17731742473213e-2], [1, 1, -0.17834862292358e-1], [1, 2, -0.45996013696365e-1],
  [1, 3, -0.57581259083432e-1], [1, 6, -0.5032527872793e-1], [2, 1, -0.33032641670203e-4],
  [2, 2, -0.18948987516315e-3], [2, 4, -0.39392777243355e-2], [2, 7, -0.43797295650573e-1],
  [2, 36, -0.26674547914087e-4], [3, 0, 0.20481737692309e-7], [3, 1, 0.43870667284435e-6],
  [3, 3, -0.3227767723857e-4], [3, 6, -0.15033924542148e-2], [3, 35, -0.40668253562649e-1],
  [4, 1, -0.78847309559367e-9], [4, 2, 0.12790717852285e-7], [4, 3, 0.48225372718507e-6],
  [5, 7, 0.22922076337661e-5], [6, 3, -0.16714766451061e-10], [6, 16, -0.21171472321355e-2],
  [6, 35, -0.23895741934104e2], [7, 0, -0.5905956432427e-17], [7, 11, -0.12621808899101e-5],
  [7, 25, -0.38946842435739e-1], [8, 8, 0.11256211360459e-10], [8, 36, -0.82311340897998e1],
  [9, 13, 0.19809712802088e-7], [10, 4, 0.10406965210174e-18], [10, 10, -0.10234747095929e-12],
  [10, 14, -0.10018179379511e-8], [16, 29, -0.80882908646985e-10], [16, 50, 0.10693031879409],
  [18, 57, -0.33662250574171], [20, 20, 0.89185845355421e-24], [20, 35, 0.30629316876232e-12],
  [20, 48, -0.42002467698208e-5], [21, 21, -0.59056029685639e-25], [22, 53, 0.37826947613457e-5],
  [23, 39, -0.12768608934681e-14], [24, 26, 0.73087610595061e-28], [24, 40, 0.55414715350778e-16],
  [24, 58, -0.9436970724121e-6],
];

// Region 4 saturation equation (table 34): n1 … n10
const R4 = [
  0.11670521452767e4, -0.72421316703206e6, -0.17073846940092e2, 0.12020824702470e5, -0.32325550322333e7,
  0.14915108613530e2, -0.48232657361591e4, 0.40511340542057e6, -0.23855557567849, 0.65017534844798e3,
] as const;

const n = (i: number): number => R4[i - 1] as number;

/** Saturation temperature (K) at pressure pMpa (IF97 eq. 31), valid 611.213 Pa … 22.064 MPa. */
export function saturationTemperatureK(pMpa: number): number {
  const beta = pMpa ** 0.25;
  const E = beta * beta + n(3) * beta + n(6);
  const F = n(1) * beta * beta + n(4) * beta + n(7);
  const G = n(2) * beta * beta + n(5) * beta + n(8);
  const D = (2 * G) / (-F - Math.sqrt(F * F - 4 * E * G));
  return (n(10) + D - Math.sqrt((n(10) + D) ** 2 - 4 * (n(9) + n(10) * D))) / 2;
}

/** Saturation pressure (MPa) at temperature tK (IF97 eq. 30), valid 273.15 K … 647.096 K. */
export function saturationPressureMpa(tK: number): number {
  const theta = tK + n(9) / (tK - n(10));
  const A = theta * theta + n(1) * theta + n(2);
  const B = n(3) * theta * theta + n(4) * theta + n(5);
  const C = n(6) * theta * theta + n(7) * theta + n(8);
  return ((2 * C) / (-B + Math.sqrt(B * B - 4 * A * C))) ** 4;
}

/** Specific enthalpy (kJ/kg) in region 2 at pMpa, tK (IF97 eq. 15, table 12 h = RT·τ·(γ0τ + γrτ)). */
export function region2EnthalpyKjPerKg(pMpa: number, tK: number): number {
  const pi = pMpa; // p* = 1 MPa
  const tau = 540 / tK; // T* = 540 K
  let g0tau = 0;
  for (const [J, nn] of R2_IDEAL) g0tau += nn * J * tau ** (J - 1);
  let grtau = 0;
  for (const [I, J, nn] of R2_RES) grtau += nn * pi ** I * J * (tau - 0.5) ** (J - 1);
  return R * tK * tau * (g0tau + grtau);
}

export interface SteamState {
  /** Absolute pressure, MPa. */
  pressureMpa: number;
  /** Metered temperature, °C; absent for saturated steam metered by pressure only. */
  temperatureC?: number | undefined;
}

export interface SteamEnthalpy {
  hKjPerKg: number;
  /** saturated: at or below saturation (wetness unknown, dry saturated vapour assumed). */
  phase: 'saturated' | 'superheated';
}

/**
 * Enthalpy of the metered steam. At or below saturation temperature the steam is taken
 * as dry saturated vapour (a wetness fraction is not measured); above, region 2.
 * Undefined outside the formulation's range (0.000611 … 22.064 MPa, ≤ 800 °C).
 */
export function steamEnthalpy(s: SteamState): SteamEnthalpy | undefined {
  const p = s.pressureMpa;
  if (!(p > 0.000611213 && p < 22.064)) return undefined;
  const tSat = saturationTemperatureK(p);
  const tK = s.temperatureC === undefined ? undefined : s.temperatureC + 273.15;
  if (tK !== undefined && tK > 1073.15) return undefined;
  if (tK === undefined || tK <= tSat) return { hKjPerKg: region2EnthalpyKjPerKg(p, tSat), phase: 'saturated' };
  return { hKjPerKg: region2EnthalpyKjPerKg(p, tK), phase: 'superheated' };
}

/** Heat in GJ carried by massT tonnes of steam of enthalpy h above reference enthalpy hRef (kJ/kg). */
export function steamHeatGj(massT: number, hKjPerKg: number, hRefKjPerKg: number): number {
  // t × kJ/kg = 1000 kg × kJ/kg = MJ; / 1000 → GJ
  return (massT * (hKjPerKg - hRefKjPerKg)) / 1000;
}
