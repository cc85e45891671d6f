// A simulated plant load: power varies smoothly with time, and every counter is the
// exact integral of its rate, so tests can compare the gateway's window energy with
// the true energy over any interval.

export interface LoadShape {
  /** Mean active power, W. */
  baseW: number;
  /** Amplitude of the slow oscillation around the mean, W (0 = constant load). */
  swingW: number;
  /** Period of the oscillation, s. */
  periodS: number;
  /** Phase offset, rad, so that several meters do not move in lockstep. */
  phase: number;
  powerFactor: number;
  /** Counter readings at t = 0 (kWh, kvarh, m3, ...). */
  energyAtZeroKwh: number;
}

export function loadShapeFor(seed: number): LoadShape {
  const r = mulberry32(seed);
  return {
    baseW: 20_000 + Math.round(r() * 80_000),
    swingW: 5_000 + Math.round(r() * 10_000),
    periodS: 120 + Math.round(r() * 480),
    phase: r() * 2 * Math.PI,
    powerFactor: 0.9 + r() * 0.08,
    energyAtZeroKwh: 1000 + Math.round(r() * 100_000),
  };
}

/** Active power at time t (s since the simulation's epoch), W. */
export function powerW(shape: LoadShape, tS: number): number {
  return shape.baseW + shape.swingW * Math.sin((2 * Math.PI * tS) / shape.periodS + shape.phase);
}

/** Energy counter at time t: the closed-form integral of powerW, kWh. */
export function energyKwh(shape: LoadShape, tS: number): number {
  const w = (2 * Math.PI) / shape.periodS;
  const integralWs = shape.baseW * tS - (shape.swingW / w) * (Math.cos(w * tS + shape.phase) - Math.cos(shape.phase));
  return shape.energyAtZeroKwh + integralWs / 3_600_000;
}

/**
 * Units of the simulated quantities that are not canonical ids (whose units come from
 * DESIGN.md's table). The simulated meter converts to the unit a profile declares.
 */
export const SIM_UNITS: Readonly<Record<string, string>> = {
  mass_flow_rate: 't/h',
  heat_power: 'kW_th',
  water_equivalent_flow: 'L/h',
  pressure: 'bar',
  temperature: 'degC',
  temperature_supply: 'degC',
  temperature_return: 'degC',
  temperature_difference: 'K',
};

/**
 * Every quantity a three-phase meter, a flow meter or a steam meter reports, at time t, in
 * canonical units (or those of SIM_UNITS). Every total is the exact integral of its rate:
 * energy of power, volume of flow, mass of mass flow, heat of heat power.
 */
export function canonicalValues(shape: LoadShape, tS: number): Record<string, number> {
  const p = powerW(shape, tS);
  const pf = shape.powerFactor;
  const s = p / pf;
  const q = Math.sqrt(Math.max(0, s * s - p * p));
  const vPhase = 230 + 2 * Math.sin(tS / 37 + shape.phase);
  const iPhase = s / 3 / vPhase;
  const e = energyKwh(shape, tS);
  const r = e * Math.tan(Math.acos(pf));
  const flowM3h = p / 10_000;
  const massTh = flowM3h / 10;
  return {
    voltage_l1: vPhase, voltage_l2: vPhase + 0.4, voltage_l3: vPhase - 0.3,
    voltage_l1_l2: vPhase * Math.sqrt(3), voltage_l2_l3: (vPhase + 0.1) * Math.sqrt(3), voltage_l3_l1: (vPhase - 0.1) * Math.sqrt(3),
    voltage_avg: vPhase, voltage_ln_avg: vPhase + 0.1 / 3, voltage_ll_avg: vPhase * Math.sqrt(3),
    current_l1: iPhase, current_l2: iPhase * 1.01, current_l3: iPhase * 0.99, current_n: iPhase * 0.05, current_avg: iPhase,
    current_sum: iPhase * 3,
    active_power_total: p, active_power_l1: p / 3, active_power_l2: p / 3, active_power_l3: p / 3,
    active_power_import_total: p, active_power_export_total: 0,
    reactive_power_total: q, reactive_power_l1: q / 3, reactive_power_l2: q / 3, reactive_power_l3: q / 3,
    apparent_power_total: s, apparent_power_l1: s / 3, apparent_power_l2: s / 3, apparent_power_l3: s / 3,
    power_factor_total: pf, power_factor_l1: pf, power_factor_l2: pf, power_factor_l3: pf,
    frequency: 50 + 0.02 * Math.sin(tS / 11),
    thd_voltage_l1: 2.1, thd_voltage_l2: 2.3, thd_voltage_l3: 2.2, thd_voltage_ln_avg: 2.2,
    thd_current_l1: 11.5, thd_current_l2: 12.5, thd_current_l3: 12, thd_current_avg: 12,
    active_energy_import_total: e,
    active_energy_export_total: 0,
    active_energy_net_total: e,
    active_energy_total: e,
    active_energy_combined_total: e,
    active_energy_sum_total: e,
    active_energy_import_l1: e / 3, active_energy_import_l2: e / 3, active_energy_import_l3: e / 3,
    active_energy_export_l1: 0, active_energy_export_l2: 0, active_energy_export_l3: 0,
    active_energy_import_t1: e * 0.625, active_energy_import_t2: e * 0.375,
    active_energy_export_t1: 0, active_energy_export_t2: 0,
    reactive_energy_import_total: r,
    reactive_energy_export_total: 0,
    reactive_energy_import_l1: r / 3, reactive_energy_import_l2: r / 3, reactive_energy_import_l3: r / 3,
    reactive_energy_export_l1: 0, reactive_energy_export_l2: 0, reactive_energy_export_l3: 0,
    reactive_energy_import_t1: r * 0.625, reactive_energy_import_t2: r * 0.375,
    reactive_energy_export_t1: 0, reactive_energy_export_t2: 0,
    reactive_energy_q1_total: r, reactive_energy_q2_total: 0, reactive_energy_q3_total: 0, reactive_energy_q4_total: 0,
    apparent_energy_total: e / pf,
    active_power_demand: p, maximum_demand: shape.baseW + shape.swingW,
    flow_rate: flowM3h,
    volume_total: e / 10,
    volume_forward_resettable: e / 10,
    volume_reverse_total: 0,
    mass_flow_rate: massTh,
    mass_total: e / 100,
    water_equivalent_flow: massTh * 1000,
    heat_total: (e * 3.6) / 1000,
    heat_power: p / 1000,
    temperature_supply: 90, temperature_return: 60, temperature_difference: 30,
    pressure: 1.0,
    temperature: 180,
    alarm_status: 0,
    production_count: Math.floor(e),
  };
}

/** Small deterministic PRNG so a seed always gives the same plant. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
