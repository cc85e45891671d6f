// The catalogue the Modbus benchmark reads with: the shipped drivers, plus the SDM630's
// first block alone. That block (input registers 0x0000–0x004F, 30 values including the
// import/export energy counters) is one 80-register read — the load the Node-RED
// reference figures in the issue were measured with — so the gateway can be compared
// with that flow like for like, besides the full SDM630 profile (three reads a poll).
import { loadCatalogueSync, type Catalogue } from '../src/profiles/catalogue.js';

export const FULL_DRIVER = 'eastron-sdm630';
export const BLOCK_DRIVER = 'eastron-sdm630-block1';
const BLOCK_END = 0x0050;

export function benchCatalogue(): Catalogue {
  const catalogue = loadCatalogueSync();
  const full = catalogue.get(FULL_DRIVER);
  if (!full) throw new Error(`no driver ${FULL_DRIVER}`);
  catalogue.set(BLOCK_DRIVER, {
    ...full,
    id: BLOCK_DRIVER,
    description: `${full.description ?? ''} Benchmark subset: the first block only (one 80-register read).`.trim(),
    points: full.points.filter((p) => p.address < BLOCK_END),
  });
  return catalogue;
}
