// Commissioning help: walk the address space from a node and list its variables with
// node id, data type and current value, so a user can copy node ids into the config.
import {
  AttributeIds, BrowseDirection, DataType, NodeClass, NodeClassMask, resolveNodeId, type BrowseDescriptionOptions,
  type BrowseResult, type ClientSession, type ReferenceDescription,
} from 'node-opcua';
import { qualityOf, statusText, variantValue } from './data-value.js';

export interface BrowsedVariable {
  node_id: string;
  /** Browse names from the start node, e.g. `Line1/GoodParts`. */
  path: string;
  data_type: string;
  value: number | string | boolean | null;
  quality: string;
  status: string;
}

export interface BrowseOptions {
  /** Default: the Objects folder (i=85). */
  startNodeId?: string;
  /** Levels below the start node. Default 3. */
  depth?: number;
  /** Stop after this many variables (a big PLC has hundreds of thousands). Default 5000. */
  maxVariables?: number;
}

const SERVER_OBJECT = 'ns=0;i=2253';
const HIERARCHICAL = 'ns=0;i=33';
const READ_CHUNK = 500;

async function browseAll(session: ClientSession, nodes: string[]): Promise<ReferenceDescription[][]> {
  const descs: BrowseDescriptionOptions[] = nodes.map((nodeId) => ({
    nodeId, browseDirection: BrowseDirection.Forward, referenceTypeId: HIERARCHICAL, includeSubtypes: true,
    nodeClassMask: NodeClassMask.Object | NodeClassMask.Variable, resultMask: 63,
  }));
  const results: BrowseResult[] = descs.length ? await session.browse(descs) : [];
  const out: ReferenceDescription[][] = [];
  for (const r of results) {
    const refs = [...(r.references ?? [])];
    let cp: Buffer | null | undefined = r.continuationPoint;
    while (cp && cp.length > 0) {
      const [next]: BrowseResult[] = await session.browseNext([cp], false);
      refs.push(...(next?.references ?? []));
      cp = next?.continuationPoint ?? null;
    }
    out.push(refs);
  }
  return out;
}

export async function browseVariables(session: ClientSession, options: BrowseOptions = {}): Promise<BrowsedVariable[]> {
  const start = resolveNodeId(options.startNodeId ?? 'i=85').toString();
  const depth = options.depth ?? 3;
  const maxVariables = options.maxVariables ?? 5000;
  const found: Array<{ node_id: string; path: string }> = [];
  const seen = new Set<string>([start]);
  let level: Array<{ node_id: string; path: string }> = [{ node_id: start, path: '' }];
  for (let d = 0; d < depth && level.length > 0 && found.length < maxVariables; d++) {
    const children = await browseAll(session, level.map((n) => n.node_id));
    const next: typeof level = [];
    children.forEach((refs, i) => {
      const parent = level[i];
      if (!parent) return;
      for (const ref of refs) {
        const id = ref.nodeId.toString();
        if (seen.has(id)) continue;
        seen.add(id);
        // The Server object is mostly diagnostics; browse it only when asked to.
        if (id === SERVER_OBJECT && start !== SERVER_OBJECT) continue;
        const entry = { node_id: id, path: parent.path ? `${parent.path}/${ref.browseName.name ?? ''}` : ref.browseName.name ?? '' };
        if (ref.nodeClass === NodeClass.Variable && found.length < maxVariables) found.push(entry);
        next.push(entry);
      }
    });
    level = next;
  }
  return describe(session, found);
}

interface TypeId { namespace: number; value: unknown; toString(): string }

/** Name of a built-in type (Double, UInt32 ...); undefined for derived or vendor types. */
function builtinName(t: TypeId): string | undefined {
  return t.namespace === 0 && typeof t.value === 'number' && t.value <= 25 ? DataType[t.value] : undefined;
}

async function describe(session: ClientSession, vars: Array<{ node_id: string; path: string }>): Promise<BrowsedVariable[]> {
  const out: BrowsedVariable[] = [];
  const typeNames = new Map<string, string>();
  for (let i = 0; i < vars.length; i += READ_CHUNK) {
    const chunk = vars.slice(i, i + READ_CHUNK);
    const dvs = await session.read(chunk.flatMap((v) => [
      { nodeId: v.node_id, attributeId: AttributeIds.Value },
      { nodeId: v.node_id, attributeId: AttributeIds.DataType },
    ]));
    const unknownTypes = new Set<string>();
    chunk.forEach((_, j) => {
      const t = dvs[2 * j + 1]?.value.value as TypeId | undefined;
      if (t && builtinName(t) === undefined) unknownTypes.add(t.toString());
    });
    const missing = [...unknownTypes].filter((t) => !typeNames.has(t));
    if (missing.length) {
      const names = await session.read(missing.map((nodeId) => ({ nodeId, attributeId: AttributeIds.BrowseName })));
      missing.forEach((t, k) => typeNames.set(t, (names[k]?.value.value as { name?: string } | undefined)?.name ?? t));
    }
    chunk.forEach((v, j) => {
      const dv = dvs[2 * j];
      const t = dvs[2 * j + 1]?.value.value as TypeId | undefined;
      const dataType = !t ? '' : builtinName(t) ?? typeNames.get(t.toString()) ?? t.toString();
      const value = dv ? variantValue(dv.value) : null;
      out.push({
        node_id: v.node_id, path: v.path, data_type: dataType,
        value: value === undefined ? (dv?.value.arrayType ? `[array of ${dv.value.value?.length ?? 0}]` : null) : value,
        quality: dv ? qualityOf(dv.statusCode) : 'bad',
        status: dv ? statusText(dv.statusCode) : '',
      });
    });
  }
  return out;
}
