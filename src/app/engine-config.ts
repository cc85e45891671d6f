import type { EngineChannel, EngineConfig } from '../core/engine-config.js';
import type { RootConfig } from '../config/schema.js';
import type { OpcuaProfile } from '../profiles/opcua-schema.js';
import type { DriverProfile } from '../profiles/schema.js';

/** The driver catalogue as the engine config reads it: Modbus maps, and OPC UA profiles where loaded. */
type ProfileLookup = ReadonlyMap<string, DriverProfile> & { readonly opcua?: ReadonlyMap<string, OpcuaProfile> };

/**
 * The energy core's configuration, taken from the parsed config and the driver
 * catalogue: which channels are counters, and where each one rolls over.
 */
export function engineConfigFrom(config: RootConfig, catalogue: ProfileLookup): EngineConfig {
  const devices = new Map(config.devices.map((d) => [d.id, d]));
  const channels = new Map<string, EngineChannel>();
  const addChannel = (device: string, point: string) => {
    const key = `${device}/${point}`;
    if (channels.has(key)) return;
    const dev = devices.get(device);
    const inline = dev?.points?.find((p) => p.id === point);
    const profile = dev?.driver ? catalogue.get(dev.driver) ?? catalogue.opcua?.get(dev.driver) : undefined;
    const fromProfile: { counter?: { max?: number | undefined } | undefined; unit?: string } | undefined = profile?.points.find((p) => p.id === point);
    const counter = inline?.counter ?? fromProfile?.counter;
    const unit = inline?.unit ?? fromProfile?.unit;
    const channel: EngineChannel = { device, point, kind: counter || !isPower(point) ? 'counter' : 'power' };
    if (unit) channel.unit = unit;
    if (counter?.max !== undefined) channel.counter = { max: counter.max };
    channels.set(key, channel);
  };
  for (const a of config.accounts) for (const m of a.meters) addChannel(m.device, m.point);
  for (const e of config.enpi) if (e.output.device) addChannel(e.output.device, e.output.point);
  return {
    timezone: config.gateway.timezone,
    graceMs: config.energy.grace,
    accounts: config.accounts,
    enpi: config.enpi,
    channels: [...channels.values()],
  };
}

function isPower(point: string): boolean {
  return /(^|_)power(_|$)/.test(point) && !/energy/.test(point);
}
