// Profile scaling of OPC UA values (W·h → kWh and the like). Pure.

/**
 * Value × scale + offset. A scale such as 0.001 divides instead of multiplying, so
 * 1234500 W·h comes out as 1234.5 kWh rather than 1234.5000000000002.
 */
export function scaleValue(raw: number, scale = 1, offset = 0): number {
  let value = raw * scale;
  if (Math.abs(scale) < 1) {
    const divisor = Math.round(1 / scale);
    if (divisor !== 0 && Math.abs(1 / scale - divisor) < 1e-9 * Math.abs(divisor)) value = raw / divisor;
  }
  return offset === 0 ? value : value + offset;
}
