// Turns the configured addresses into the NodeIds this server uses, once per session:
// `nsu=<uri>;…` ids and browse-path namespaces are looked up in the server's namespace
// array (indexes may change when a server restarts or a PLC project is downloaded), and
// browse paths are translated from the device root. Points that cannot be resolved are
// returned with the status that says why, so they are reported bad, not silently dropped.
import {
  coerceNodeId, NodeId, ReferenceTypeIds, StatusCodes, type BrowsePathResult, type ClientSession, type StatusCode,
} from 'node-opcua';
import type { NamespaceRef, PointRef } from './points.js';

export interface Unresolved {
  ref: PointRef;
  status: StatusCode;
  /** What a user needs beyond the status name, e.g. which namespace is missing. */
  detail: string;
}

/** Browse paths translated per request: well under the limits servers announce. */
const TRANSLATE_CHUNK = 100;

class ResolveError extends Error {
  constructor(readonly status: StatusCode, message: string) {
    super(message);
  }
}

function namespaceIndex(ns: NamespaceRef, namespaceArray: readonly string[]): number {
  if ('index' in ns) return ns.index;
  const index = namespaceArray.indexOf(ns.uri);
  if (index < 0) throw new ResolveError(StatusCodes.BadNodeIdUnknown, `namespace ${ns.uri} is not on this server`);
  return index;
}

function nodeIdOn(text: string, namespaceArray: readonly string[]): NodeId {
  if (text.startsWith('nsu=')) {
    const uri = text.slice(4, text.indexOf(';'));
    if (!namespaceArray.includes(uri)) throw new ResolveError(StatusCodes.BadNodeIdUnknown, `namespace ${uri} is not on this server`);
    return coerceNodeId(text, { namespaceArray: [...namespaceArray] });
  }
  return coerceNodeId(text);
}

function needsNamespaces(ref: PointRef): boolean {
  return ref.point.node_id.startsWith('nsu=') || ref.point.browse_path !== undefined;
}

/** Resolves every point's address on this session; refs come back with concrete `ns=` node ids. */
export async function resolvePointRefs(session: ClientSession, refs: readonly PointRef[]): Promise<{ resolved: PointRef[]; unresolved: Unresolved[] }> {
  if (!refs.some(needsNamespaces)) return { resolved: [...refs], unresolved: [] };
  const namespaceArray = await session.readNamespaceArray();
  const resolved: PointRef[] = [];
  const unresolved: Unresolved[] = [];
  const toTranslate: Array<{ ref: PointRef; path: Parameters<ClientSession['translateBrowsePath']>[0] }> = [];
  const withNodeId = (ref: PointRef, nodeId: NodeId): PointRef => ({ ...ref, point: { ...ref.point, node_id: nodeId.toString() } });

  for (const ref of refs) {
    try {
      const target = ref.point.browse_path;
      if (!target) {
        resolved.push(ref.point.node_id.startsWith('nsu=') ? withNodeId(ref, nodeIdOn(ref.point.node_id, namespaceArray)) : ref);
        continue;
      }
      const elements = target.steps.map((s) => ({
        referenceTypeId: ReferenceTypeIds.HierarchicalReferences,
        isInverse: false,
        includeSubtypes: true,
        targetName: { namespaceIndex: namespaceIndex(s.namespace, namespaceArray), name: s.name },
      }));
      toTranslate.push({ ref, path: { startingNode: nodeIdOn(target.root, namespaceArray), relativePath: { elements } } });
    } catch (err) {
      if (err instanceof ResolveError) unresolved.push({ ref, status: err.status, detail: err.message });
      else unresolved.push({ ref, status: StatusCodes.BadNodeIdInvalid, detail: err instanceof Error ? err.message : String(err) });
    }
  }

  for (let i = 0; i < toTranslate.length; i += TRANSLATE_CHUNK) {
    const chunk = toTranslate.slice(i, i + TRANSLATE_CHUNK);
    const results: BrowsePathResult[] = await session.translateBrowsePath(chunk.map((c) => c.path));
    chunk.forEach(({ ref }, k) => {
      const result = results[k];
      const target = result?.targets?.[0]?.targetId;
      if (!result || result.statusCode.isNotGood() || !target) {
        const status = result?.statusCode ?? StatusCodes.BadNoMatch;
        unresolved.push({ ref, status, detail: `browse path not found from ${ref.point.browse_path?.root ?? '?'}` });
        return;
      }
      // A target on another server (serverIndex) cannot be read through this session.
      if (target.serverIndex !== 0) {
        unresolved.push({ ref, status: StatusCodes.BadNodeIdUnknown, detail: 'browse path leads to another server' });
        return;
      }
      resolved.push(withNodeId(ref, new NodeId(target.identifierType, target.value, target.namespace)));
    });
  }
  return { resolved, unresolved };
}
