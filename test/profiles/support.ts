// What the profile tests share.

/** The head of a minimal Modbus profile: a test appends its own `points:` (and more). */
export const PROFILE_HEAD = `schema: energy-gateway.driver/v1
id: test-meter
manufacturer: Test
model: T1
references: [{ title: register map, revision: "1" }]
protocol: modbus
`;
