// One vocabulary for units, shared by profiles, the energy core and every sink.
// Everything that leaves the process spells units exactly like this.
export const UNITS = [
  'V', 'A', 'W', 'kW', 'var', 'kvar', 'VA', 'kVA', '1', '%', 'Hz',
  'Wh', 'kWh', 'MWh', 'varh', 'kvarh', 'Mvarh', 'VAh', 'kVAh',
  'm3', 'Nm3', 'm3/h', 'Nm3/h', 'L', 'L/h', 't', 'kg', 't/h', 'kg/h',
  'GJ', 'MJ', 'kJ', 'MWh_th', 'kW_th', 'MW_th', 'GJ/h',
  'degC', 'K', 'kPa', 'MPa', 'bar',
  'count', 'count/h', 's', 'h', 'min', 'm/min', 'rpm',
  'kgce', 'tce', 'kgCO2', 'tCO2',
  '',
] as const;
export type Unit = (typeof UNITS)[number];

export function isUnit(u: string): u is Unit {
  return (UNITS as readonly string[]).includes(u);
}
