// A device on an OPC UA bus → what the source polls: its profile's points (`driver:` with
// protocol opcua) placed under the device's `root`, then its inline points, which override
// profile points of the same id or add new ones. Pure; problems are config problems.
import type { DeviceConfig, InlinePointConfig } from '../../config/schema.js';
import { parseBrowsePath, type OpcuaProfile, type OpcuaProfilePoint } from '../../profiles/opcua-schema.js';
import type { BrowseTarget, NamespaceRef, OpcuaDeviceSpec, OpcuaPointSpec } from './points.js';

export type Problem = { path: (string | number)[]; message: string };

/** What device resolution needs of the catalogue: its OPC UA profiles, and which ids are Modbus ones. */
export interface OpcuaCatalogueView {
  opcua?: ReadonlyMap<string, OpcuaProfile>;
  has(id: string): boolean;
}

type Namespaces = Record<string, NamespaceRef>;

function namespacesOf(profile: OpcuaProfile | undefined, device: DeviceConfig): Namespaces {
  const out: Namespaces = {};
  for (const [alias, uri] of Object.entries(profile?.namespaces ?? {})) out[alias] = { uri };
  for (const [alias, ns] of Object.entries(device.namespaces ?? {})) out[alias] = typeof ns === 'number' ? { index: ns } : { uri: ns };
  return out;
}

/** The browse path as the source translates it, or a message saying what is wrong with it. */
function browseTarget(text: string, root: string, namespaces: Namespaces): BrowseTarget | string {
  const steps = parseBrowsePath(text);
  if (typeof steps === 'string') return steps;
  const out: BrowseTarget['steps'] = [];
  for (const s of steps) {
    const namespace: NamespaceRef | undefined = /^[0-9]+$/.test(s.prefix) ? { index: Number(s.prefix) } : namespaces[s.prefix];
    if (!namespace) return `unknown namespace alias "${s.prefix}" (the profile's namespaces: or the device's namespaces: declare it)`;
    out.push({ namespace, name: s.name });
  }
  return { root, steps: out };
}

type PointSource = Pick<OpcuaProfilePoint, 'id' | 'browse_path' | 'node_id' | 'scale' | 'offset' | 'counter' | 'mode' | 'sampling_interval'>
  & Partial<Pick<InlinePointConfig, 'queue_size' | 'deadband'>> & { unit: string };

function toSpec(p: PointSource, root: string | undefined, namespaces: Namespaces, at: (string | number)[], problems: Problem[]): OpcuaPointSpec | undefined {
  let node_id: string;
  let browse_path: BrowseTarget | undefined;
  if (p.browse_path !== undefined) {
    if (root === undefined) return undefined; // reported once per device by the caller
    const target = browseTarget(p.browse_path, root, namespaces);
    if (typeof target === 'string') {
      problems.push({ path: [...at, 'browse_path'], message: target });
      return undefined;
    }
    browse_path = target;
    node_id = `${root}/${p.browse_path}`;
  } else if (p.node_id !== undefined) {
    node_id = p.node_id;
  } else {
    problems.push({ path: [...at, 'node_id'], message: 'a point on an OPC UA bus needs a node_id (or, with a driver, a browse_path)' });
    return undefined;
  }
  const spec: OpcuaPointSpec = { id: p.id, node_id, unit: p.unit };
  if (browse_path) spec.browse_path = browse_path;
  if (p.scale !== undefined && p.scale !== 1) spec.scale = p.scale;
  if (p.offset !== undefined && p.offset !== 0) spec.offset = p.offset;
  if (p.mode) spec.mode = p.mode;
  if (p.counter) spec.counter = p.counter.max !== undefined ? { max: p.counter.max } : {};
  if (p.sampling_interval !== undefined) spec.sampling_interval_ms = p.sampling_interval;
  if (p.queue_size !== undefined) spec.queue_size = p.queue_size;
  if (p.deadband) spec.deadband = p.deadband;
  return spec;
}

function profileFor(device: DeviceConfig, index: number, catalogue: OpcuaCatalogueView, problems: Problem[]): OpcuaProfile | undefined {
  if (device.driver === undefined) return undefined;
  const profile = catalogue.opcua?.get(device.driver);
  if (profile) return profile;
  const known = [...(catalogue.opcua?.keys() ?? [])];
  const choices = known.length > 0 ? ` (OPC UA profiles: ${known.join(', ')})` : '';
  const message = catalogue.has(device.driver)
    ? `"${device.driver}" is a Modbus profile (a register map); a device on an OPC UA bus needs a profile with protocol: opcua, or inline points with node_id${choices}`
    : `unknown driver "${device.driver}"${choices}`;
  problems.push({ path: ['devices', index, 'driver'], message });
  return undefined;
}

export function resolveOpcuaDevice(device: DeviceConfig, index: number, catalogue: OpcuaCatalogueView): { spec?: OpcuaDeviceSpec; problems: Problem[] } {
  const problems: Problem[] = [];
  const profile = profileFor(device, index, catalogue, problems);
  const namespaces = namespacesOf(profile, device);
  const root = device.root;
  const needsRoot = [...(profile?.points ?? []), ...(device.points ?? [])].some((p) => p.browse_path !== undefined);
  if (needsRoot && root === undefined) {
    problems.push({
      path: ['devices', index, 'root'],
      message: `${profile ? `driver ${profile.id}` : 'a browse_path point'} addresses points from a root object: set root: to its node id (e.g. "nsu=urn:vendor:plc;s=Machine1.Energy")`,
    });
  }
  if (device.root !== undefined && !needsRoot) {
    problems.push({ path: ['devices', index, 'root'], message: 'no point of this device uses a browse_path, so root has no effect' });
  }

  let points: OpcuaPointSpec[] = [];
  profile?.points.forEach((p) => {
    // A profile point's own problems were reported when the catalogue loaded.
    const spec = toSpec(p, root, namespaces, ['devices', index, 'driver'], problems);
    if (spec) points.push(spec);
  });
  (device.points ?? []).forEach((p, j) => {
    const spec = toSpec(p, root, namespaces, ['devices', index, 'points', j], problems);
    if (!spec) return;
    points = points.filter((q) => q.id !== spec.id);
    points.push(spec);
  });
  if (device.only_points) {
    const keep = new Set(device.only_points);
    device.only_points.forEach((id, j) => {
      if (!points.some((p) => p.id === id)) problems.push({ path: ['devices', index, 'only_points', j], message: `no point "${id}" on this device` });
    });
    points = points.filter((p) => keep.has(p.id));
  }
  if (problems.length > 0) return { problems };
  return { spec: { id: device.id, points, poll_interval_ms: device.poll_interval }, problems };
}
