/** The MQTT topic contract. Every topic the gateway uses is built here and nowhere else. */
export interface Topics {
  root: string;
  status(): string;
  availability(device: string): string;
  telemetry(device: string): string;
  energy(account: string, window: string): string;
  enpi(id: string, window: string): string;
  demand(account: string, window: string): string;
  event(kind: string): string;
}

export function defaultTopicRoot(site: string, gateway: string): string {
  return `energy/${site}/${gateway}`;
}

/** MQTT forbids wildcards in published topic levels; ids are validated, this is the last guard. */
function level(s: string): string {
  return s.replace(/[+#/]/g, '_');
}

export function createTopics(root: string): Topics {
  const r = root.replace(/\/+$/, '');
  return {
    root: r,
    status: () => `${r}/status`,
    availability: (device) => `${r}/devices/${level(device)}/availability`,
    telemetry: (device) => `${r}/devices/${level(device)}/telemetry`,
    energy: (account, window) => `${r}/energy/${level(account)}/${level(window)}`,
    enpi: (id, window) => `${r}/enpi/${level(id)}/${level(window)}`,
    demand: (account, window) => `${r}/demand/${level(account)}/${level(window)}`,
    event: (kind) => `${r}/events/${level(kind)}`,
  };
}
