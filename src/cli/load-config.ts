import { opcuaProblems } from '../app/opcua-sources.js';
import { resolveModbusDevices } from '../protocols/modbus/device.js';
import { loadConfig } from '../config/loader.js';
import type { RootConfig } from '../config/schema.js';
import { loadCatalogueSync, type Catalogue } from '../profiles/catalogue.js';

/** The one way commands load a config: schema, cross-references and driver checks together. */
export function loadGatewayConfig(file: string): { config: RootConfig; catalogue: Catalogue } {
  const catalogue = loadCatalogueSync();
  const config = loadConfig(file, { checks: [(cfg) => resolveModbusDevices(cfg, catalogue).problems, (cfg) => opcuaProblems(cfg, catalogue)] });
  return { config, catalogue };
}
