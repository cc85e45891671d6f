// A node-opcua server that serves the address space an OPC UA profile (`protocol: opcua`)
// expects, below one root object, with the raw values of a fixture. Used by the tests that
// instantiate every OPC UA profile end to end.
//
// It behaves like a real server in the ways profiles must cope with: instance NodeIds are
// assigned by the server (numeric, not the browse names), and `leadingNamespaces` registers
// unrelated namespaces first, so the profile's namespace URIs get other indexes than on a
// bare server.
import { join } from 'node:path';
import {
  coerceNodeId, DataType, OPCUACertificateManager, OPCUAServer, QualifiedName, StatusCode, StatusCodes, Variant,
  type AddressSpace, type Namespace, type UAObject,
} from 'node-opcua';
import { parseBrowsePath, type OpcuaProfile } from '../../profiles/opcua-schema.js';
import { freePort } from './free-port.js';

export const PROFILE_SIM_NAMESPACE = 'urn:energy-gateway:profile-simulator';

/** A raw value as the server holds it, before the profile's scale. */
export interface SimNodeValue {
  /** OPC UA built-in type name: Float, Double, UInt32, Int32, Int64, UInt64, Boolean, String. */
  data_type: string;
  value: number | string | boolean;
  /** A status name other than Good, e.g. BadSensorFailure or UncertainLastUsableValue. */
  status?: string;
}

export interface ProfileServerOptions {
  profile: OpcuaProfile;
  /** Raw values keyed by the address as the profile writes it (browse_path or node_id). Addresses without a value are not served. */
  values: Record<string, SimNodeValue>;
  /** Where the server keeps its certificate (a test's temp dir). */
  pkiDir: string;
  /** Unrelated namespaces registered before the profile's (default 2). */
  leadingNamespaces?: number;
}

export interface ProfileServer {
  readonly endpoint: string;
  /** The root object, as a device config writes it: `nsu=<sim namespace>;s=Machine1`. */
  readonly root: string;
  /** Index of each namespace URI on this server. */
  namespaceIndex(uri: string): number;
  /** Creates a profile point's node while running, as a PLC download would (browse_path or node_id as the profile writes it). */
  add(address: string, value: SimNodeValue): void;
  stop(): Promise<void>;
}

function dataTypeOf(name: string): DataType {
  const dt = (DataType as unknown as Record<string, DataType | undefined>)[name];
  if (dt === undefined) throw new Error(`unknown OPC UA data type "${name}"`);
  return dt;
}

function statusOf(name: string | undefined): StatusCode {
  if (name === undefined) return StatusCodes.Good;
  const code = (StatusCodes as unknown as Record<string, StatusCode | undefined>)[name];
  if (!code) throw new Error(`unknown status "${name}"`);
  return code;
}

function namespaceFor(addressSpace: AddressSpace, uri: string): Namespace {
  // The address space hands out the narrower INamespace type; the object is a full Namespace.
  return (addressSpace.getNamespace(uri) ?? addressSpace.registerNamespace(uri)) as Namespace;
}

/** Numeric instance ids, as a server assigns them: nothing to guess from a browse name. */
let nextInstanceId = 5000;
function instanceId(ns: Namespace): string {
  nextInstanceId += 1;
  return `ns=${ns.index};i=${nextInstanceId}`;
}

/** Builds the objects along a browse path below `root` and the variable at its end. */
function addBrowsePath(addressSpace: AddressSpace, root: UAObject, path: string, uris: Record<string, string>, value: SimNodeValue): void {
  const steps = parseBrowsePath(path);
  if (typeof steps === 'string') throw new Error(steps);
  let parent = root;
  steps.forEach((step, i) => {
    const uri = /^[0-9]+$/.test(step.prefix) ? addressSpace.getNamespaceUri(Number(step.prefix)) : uris[step.prefix];
    if (!uri) throw new Error(`no namespace for prefix ${step.prefix}`);
    const ns = namespaceFor(addressSpace, uri);
    const browseName = new QualifiedName({ name: step.name, namespaceIndex: ns.index });
    const existing = parent.getComponentByName(browseName);
    if (i < steps.length - 1) {
      parent = (existing as UAObject | null) ?? ns.addObject({ componentOf: parent, browseName, nodeId: instanceId(ns) });
      return;
    }
    const dataType = dataTypeOf(value.data_type);
    const variable = ns.addVariable({ componentOf: parent, browseName, nodeId: instanceId(ns), dataType, minimumSamplingInterval: 50 });
    variable.setValueFromSource(new Variant({ dataType, value: value.value }), statusOf(value.status), new Date());
  });
}

function addNodeId(addressSpace: AddressSpace, root: UAObject, text: string, value: SimNodeValue): void {
  const uri = text.startsWith('nsu=') ? text.slice(4, text.indexOf(';')) : undefined;
  if (uri) namespaceFor(addressSpace, uri);
  const nodeId = coerceNodeId(text, { namespaceArray: addressSpace.getNamespaceArray().map((n) => n.namespaceUri) });
  const ns = addressSpace.getNamespace(nodeId.namespace) as Namespace;
  const dataType = dataTypeOf(value.data_type);
  const variable = ns.addVariable({ componentOf: root, browseName: String(nodeId.value), nodeId, dataType, minimumSamplingInterval: 50 });
  variable.setValueFromSource(new Variant({ dataType, value: value.value }), statusOf(value.status), new Date());
}

export async function startProfileServer(options: ProfileServerOptions): Promise<ProfileServer> {
  const port = await freePort();
  const server = new OPCUAServer({
    port,
    hostname: '127.0.0.1',
    alternateHostname: ['127.0.0.1'],
    resourcePath: '',
    serverCertificateManager: new OPCUACertificateManager({ rootFolder: join(options.pkiDir, 'server'), automaticallyAcceptUnknownCertificate: true }),
    userCertificateManager: new OPCUACertificateManager({ rootFolder: join(options.pkiDir, 'user'), automaticallyAcceptUnknownCertificate: true }),
    allowAnonymous: true,
    buildInfo: { productName: 'energy-gateway profile simulator', manufacturerName: 'energy-gateway' },
    serverInfo: { applicationUri: 'urn:energy-gateway:profile-simulator:server', applicationName: { text: 'profile-simulator' } },
  });
  await server.initialize();
  const addressSpace = server.engine.addressSpace;
  if (!addressSpace) throw new Error('profile simulator: no address space');
  for (let i = 0; i < (options.leadingNamespaces ?? 2); i++) addressSpace.registerNamespace(`urn:energy-gateway:unrelated:${i}`);
  const simNs = namespaceFor(addressSpace, PROFILE_SIM_NAMESPACE);
  const root = simNs.addObject({ organizedBy: addressSpace.rootFolder.objects, browseName: 'Machine1', nodeId: `ns=${simNs.index};s=Machine1` });
  const add = (address: string, value: SimNodeValue): void => {
    const point = options.profile.points.find((p) => (p.browse_path ?? p.node_id) === address);
    if (point?.browse_path === undefined) addNodeId(addressSpace, root, address, value);
    else addBrowsePath(addressSpace, root, point.browse_path, options.profile.namespaces, value);
  };
  for (const point of options.profile.points) {
    const address = point.browse_path ?? point.node_id ?? '';
    const value = options.values[address];
    if (value) add(address, value);
  }
  await server.start();
  return {
    endpoint: `opc.tcp://127.0.0.1:${port}`,
    root: `nsu=${PROFILE_SIM_NAMESPACE};s=Machine1`,
    namespaceIndex: (uri) => addressSpace.getNamespaceIndex(uri),
    add,
    stop: () => server.shutdown(0),
  };
}
