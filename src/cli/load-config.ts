import { opcuaProblems } from '../app/opcua-sources.js';
import { resolveModbusDevices } from '../protocols/modbus/device.js';
import { formatWarning, type ConfigProblem } from '../config/errors.js';
import { loadConfigWithWarnings } from '../config/loader.js';
import type { RootConfig } from '../config/schema.js';
import { loadCatalogueSync, type Catalogue } from '../profiles/catalogue.js';

/**
 * The one way commands load a config: schema, cross-references and driver checks together,
 * with the warnings of the same pass (legal, but usually wrong). A ConfigError carries them too.
 */
export function loadGatewayConfig(file: string): { config: RootConfig; catalogue: Catalogue; warnings: ConfigProblem[] } {
  const catalogue = loadCatalogueSync();
  const { config, warnings } = loadConfigWithWarnings(file, {
    checks: [(cfg) => resolveModbusDevices(cfg, catalogue), (cfg) => opcuaProblems(cfg, catalogue)],
  });
  return { config, catalogue, warnings };
}

/** Each warning as `warning: file:line path: message` on stderr, so stdout stays the command's output. */
export function printWarnings(warnings: readonly ConfigProblem[]): void {
  for (const w of warnings) process.stderr.write(`${formatWarning(w)}\n`);
}
