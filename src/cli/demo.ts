import { mkdtempSync, readFileSync, rmSync, createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGateway } from '../app/gateway.js';
import { parseConfigText } from '../config/loader.js';
import type { EnergyRecord, EnpiRecord } from '../core/records.js';
import type { TelemetryRecord } from '../core/telemetry.js';
import { createLogger } from '../log/logger.js';
import type { GatewayRecord } from '../pipeline/pipeline.js';
import { loadCatalogueSync } from '../profiles/catalogue.js';
import { startEmbeddedBroker } from '../sim/broker.js';
import { SimulatedMeter } from '../sim/modbus-meter.js';
import { startModbusTcpSimulator } from '../sim/modbus-server.js';
import { packageRoot } from '../version.js';
import { parseCommandArgs } from './args.js';
import { EXIT_OK, type Command } from './command.js';
import { untilSignal } from './signals.js';

export const demoCommand: Command = {
  name: 'demo',
  summary: 'run a simulated plant, an embedded broker and the gateway',
  usage: `energy-gateway demo [--mqtt-url URL] [--influx-url URL] [--influx-db NAME] [--data-dir DIR] [--duration SECONDS]

Starts three simulated meters (Modbus TCP), an embedded MQTT broker (unless
--mqtt-url or MQTT_URL is given) and the gateway with config/demo.yaml, and shows a
live summary. With --influx-url (or INFLUX_URL) it also writes to InfluxDB 1.x
(database --influx-db, default energy_demo). Ctrl-C stops everything. Logs go to
<data dir>/demo.log.`,
  async run(argv) {
    const { values } = parseCommandArgs(argv, {
      'mqtt-url': { type: 'string' },
      'influx-url': { type: 'string' },
      'influx-db': { type: 'string', default: 'energy_demo' },
      'data-dir': { type: 'string' },
      duration: { type: 'string' },
    });
    const dataDir = values['data-dir'] ?? mkdtempSync(join(tmpdir(), 'energy-gateway-demo-'));
    const ownsDataDir = values['data-dir'] === undefined;
    const catalogue = loadCatalogueSync();
    const profile = catalogue.get('eastron-sdm630');
    if (!profile) throw new Error('driver eastron-sdm630 missing from drivers/');

    const meters = [1, 2, 3].map((unitId) => new SimulatedMeter({ unitId, profile, seed: unitId }));
    const sim = await startModbusTcpSimulator(meters);
    const logFile = join(dataDir, 'demo.log');
    const log = createLogger({ level: 'info', pretty: false, destination: createWriteStream(logFile, { flags: 'a' }) });
    // node-opcua prints its own warnings to the console; in the demo they belong in the log.
    const { routeNodeOpcuaLogs } = await import('../protocols/opcua/node-opcua-log.js');
    routeNodeOpcuaLogs(log);
    // node-opcua loads only for the demo's line, not for every command.
    const { startLineSimulator } = await import('../sim/opcua/line.js');
    const line = await startLineSimulator({ securityModes: ['none'] });
    const mqttUrl = values['mqtt-url'] ?? process.env.MQTT_URL;
    const broker = mqttUrl ? null : await startEmbeddedBroker();
    const influxUrl = values['influx-url'] ?? process.env.INFLUX_URL;

    let text = readFileSync(join(packageRoot(), 'config', 'demo.yaml'), 'utf8');
    if (influxUrl) text += `influx: { url: "${influxUrl}", api: v1, database: ${values['influx-db']} }\n`;
    const config = parseConfigText(text, 'config/demo.yaml', {
      env: { ...process.env, DEMO_DATA_DIR: dataDir, DEMO_MODBUS_PORT: String(sim.port), DEMO_MQTT_URL: mqttUrl ?? broker!.url, DEMO_OPCUA_ENDPOINT: line.endpoint },
    });

    log.level = config.logging.level;
    const summary = new LiveSummary(config.devices.map((d) => d.id), Boolean(process.stdout.isTTY));
    const out = process.stdout;
    out.write(`energy-gateway demo — meters on modbus tcp 127.0.0.1:${sim.port}, press line on ${line.endpoint}, MQTT ${mqttUrl ?? `${broker!.url} (embedded)`}${influxUrl ? `, InfluxDB ${influxUrl}` : ''}\n`);
    out.write(`data and log: ${dataDir}   topics: energy/${config.gateway.site}/${config.gateway.id}/#   Ctrl-C to stop\n\n`);
    const interactive = Boolean(out.isTTY);
    const render = setInterval(() => {
      const frame = summary.render();
      out.write(interactive ? `\x1b[s${frame}\x1b[u` : `${frame}\n`);
    }, interactive ? 500 : 2000);
    const durationS = values.duration ? Number(values.duration) : undefined;
    const stopRequested = durationS ? new Promise((r) => setTimeout(r, durationS * 1000)) : untilSignal();
    // The summary runs while the gateway starts: the first values show as soon as they exist.
    const gateway = await startGateway(config, {
      log, catalogue,
      onRecord: (r) => summary.observe(r),
      onAvailability: (device, state) => summary.availability(device, state),
    });
    await stopRequested;
    clearInterval(render);
    if (interactive) out.write(`${summary.render()}\n`);
    out.write('\nstopping…\n');
    await gateway.stop();
    await sim.stop();
    await line.stop();
    await broker?.stop();
    if (ownsDataDir) rmSync(dataDir, { recursive: true, force: true });
    out.write('stopped.\n');
    return EXIT_OK;
  },
};

/** What the demo shows: latest power and counter per device, last closed windows per account. */
class LiveSummary {
  private readonly devices = new Map<string, { powerW?: number; energyKwh?: number; state: string; polls: number }>();
  private readonly windows = new Map<string, EnergyRecord>();
  private readonly enpis = new Map<string, EnpiRecord>();
  private records = 0;

  constructor(deviceIds: string[], private readonly ansi: boolean) {
    for (const id of deviceIds) this.devices.set(id, { state: 'starting', polls: 0 });
  }

  availability(device: string, state: string): void {
    const d = this.devices.get(device);
    if (d) d.state = state;
  }

  observe(r: GatewayRecord): void {
    this.records += 1;
    if (r.kind === 'telemetry') {
      const t = r as TelemetryRecord;
      const d = this.devices.get(t.device);
      if (!d) return;
      d.polls += 1;
      const p = t.values.active_power_total;
      const e = t.values.active_energy_import_total;
      if (p?.quality === 'good' && typeof p.value === 'number') d.powerW = p.value;
      if (e?.quality === 'good' && typeof e.value === 'number') d.energyKwh = e.value;
    } else if (r.kind === 'energy') {
      this.windows.set(`${r.account}/${r.window}`, r);
    } else if (r.kind === 'enpi') {
      this.enpis.set(`${r.enpi}/${r.window}`, r);
    }
  }

  render(): string {
    const lines: string[] = [];
    const time = new Date().toLocaleTimeString('en-GB', { hour12: false });
    lines.push(`\x1b[2K${time}  records stored: ${this.records}`);
    lines.push('\x1b[2K' + ['device'.padEnd(14), 'state'.padEnd(9), 'power kW'.padStart(10), 'counter kWh'.padStart(14), 'polls'.padStart(7)].join(' '));
    for (const [id, d] of this.devices) {
      lines.push('\x1b[2K' + [
        id.padEnd(14), d.state.padEnd(9),
        (d.powerW === undefined ? '-' : (d.powerW / 1000).toFixed(2)).padStart(10),
        (d.energyKwh === undefined ? '-' : d.energyKwh.toFixed(3)).padStart(14),
        String(d.polls).padStart(7),
      ].join(' '));
    }
    lines.push('\x1b[2K');
    lines.push('\x1b[2K' + ['account'.padEnd(16), 'window'.padEnd(7), 'start'.padEnd(9), 'kWh'.padStart(10), 'kgce'.padStart(9), 'kgCO2'.padStart(9), 'coverage'.padStart(9)].join(' '));
    const sorted = [...this.windows.values()].sort((a, b) => a.account.localeCompare(b.account) || a.window.localeCompare(b.window));
    if (sorted.length === 0) lines.push('\x1b[2K(first interval closes within a few seconds)');
    for (const w of sorted) {
      lines.push('\x1b[2K' + [
        w.account.padEnd(16), w.window.padEnd(7),
        new Date(w.start_ms).toLocaleTimeString('en-GB', { hour12: false }).padEnd(9),
        fmt(w.energy_kwh ?? w.quantity, 3).padStart(10), fmt(w.kgce, 2).padStart(9), fmt(w.kgco2, 2).padStart(9),
        `${Math.round(w.coverage * 100)}%`.padStart(9),
      ].join(' '));
    }
    lines.push('\x1b[2K');
    lines.push('\x1b[2K' + ['EnPI'.padEnd(16), 'window'.padEnd(7), 'start'.padEnd(9), 'parts'.padStart(7), 'kWh/part'.padStart(10), 'kgce/part'.padStart(10), 'kgCO2/part'.padStart(11), 'status'.padStart(11)].join(' '));
    for (const e of [...this.enpis.values()].sort((a, b) => a.enpi.localeCompare(b.enpi) || a.window.localeCompare(b.window))) {
      lines.push('\x1b[2K' + [
        e.enpi.padEnd(16), e.window.padEnd(7),
        new Date(e.start_ms).toLocaleTimeString('en-GB', { hour12: false }).padEnd(9),
        fmt(e.output, 0).padStart(7), fmt(e.kwh_per_unit, 4).padStart(10), fmt(e.kgce_per_unit, 5).padStart(10),
        fmt(e.kgco2_per_unit, 4).padStart(11), e.status.padStart(11),
      ].join(' '));
    }
    // Clear-line codes only on a terminal: piped output stays plain text.
    return lines.map((l) => (this.ansi ? l : l.replace('\x1b[2K', ''))).join('\n');
  }
}

function fmt(v: number | null | undefined, digits: number): string {
  return typeof v === 'number' ? v.toFixed(digits) : '-';
}
