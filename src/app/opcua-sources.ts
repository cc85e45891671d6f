import type { Logger } from 'pino';
import type { RootConfig } from '../config/schema.js';
import type { DevicePoll } from '../core/sample.js';
import type { DriverProfile } from '../profiles/schema.js';

export interface AcquisitionEvents {
  onPoll(poll: DevicePoll): void;
  onAvailability(device: string, state: 'online' | 'degraded' | 'offline', reason?: string): void;
}

export interface Source {
  stop(): Promise<void>;
}

/** Starts one OPC UA session per `opcua` bus that has devices. */
export async function startOpcuaSources(
  config: RootConfig,
  _catalogue: ReadonlyMap<string, DriverProfile>,
  _events: AcquisitionEvents,
  log: Logger,
): Promise<Source[]> {
  const opcuaBuses = config.buses.filter((b) => b.type === 'opcua');
  if (opcuaBuses.length > 0) log.warn({ buses: opcuaBuses.map((b) => b.id) }, 'opcua acquisition is not wired in yet');
  return [];
}
