// A simulated production line served over OPC UA (node-opcua), used by the demo, the
// tests and the benchmark. Node ids are stable and part of the demo contract:
//
//   ns=1;s=Line1.GoodParts     UInt32  count   good parts, monotonic (reset on shift change)
//   ns=1;s=Line1.ScrapParts    UInt32  count   scrap parts, monotonic (reset on shift change)
//   ns=1;s=Line1.MachineState  Int32   -       0 stopped, 1 running, 2 idle
//   ns=1;s=Line1.LineSpeed     Double  m/min   belt speed
//   ns=1;s=Line1.Power         Double  W       active power of the line
//   ns=1;s=Line1.Energy        Double  kWh     energy counter integrating Power
//   ns=1;s=Bench.T00000 …      Double  -       `benchTags` extra tags for load tests
//
// The model keeps running while the server is stopped, so `restart()` behaves like a
// PLC whose OPC UA server restarts while the machine keeps producing.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DataType, MessageSecurityMode, OPCUACertificateManager, OPCUAServer, SecurityPolicy, StatusCodes, Variant,
  type Namespace, type UAVariable,
} from 'node-opcua';
import { freePort } from './free-port.js';
import { LINE_TAGS, LineModel, type LineModelOptions, type LineTag } from './line-model.js';

export const LINE_APPLICATION_URI = 'urn:energy-gateway:line-simulator';

/** Node id of a line tag, e.g. `ns=1;s=Line1.GoodParts`. */
export function lineNodeId(tag: LineTag | string): string {
  return `ns=1;s=Line1.${tag}`;
}
export function benchNodeId(index: number): string {
  return `ns=1;s=Bench.T${String(index).padStart(5, '0')}`;
}

const TAG_TYPES: Record<LineTag, DataType> = {
  GoodParts: DataType.UInt32, ScrapParts: DataType.UInt32, MachineState: DataType.Int32,
  LineSpeed: DataType.Double, Power: DataType.Double, Energy: DataType.Double,
};

export type SimSecurityMode = 'none' | 'sign' | 'sign_and_encrypt';

export interface LineSimulatorOptions extends LineModelOptions {
  /** TCP port; 0 or absent picks a free one (kept across restarts). */
  port?: number;
  /** Where the server keeps its certificate; a temp dir when absent. Kept across restarts. */
  pkiDir?: string;
  /** Endpoint security offered. Default: none, sign and sign_and_encrypt. */
  securityModes?: SimSecurityMode[];
  /** Policies offered for sign/sign_and_encrypt. Default: the three current ones. */
  securityPolicies?: Array<'basic256sha256' | 'aes128_sha256_rsaoaep' | 'aes256_sha256_rsapss'>;
  /** username → password; enables user-name login. */
  users?: Record<string, string>;
  allowAnonymous?: boolean;
  /** Model time step. Default 100 ms. */
  tickMs?: number;
  /** Extra Double tags `ns=1;s=Bench.Txxxxx`, all changing every `benchUpdateMs`. */
  benchTags?: number;
  benchUpdateMs?: number;
}

export interface LineSimulator {
  readonly endpoint: string;
  readonly port: number;
  readonly model: LineModel;
  /** The server's certificate (DER), e.g. to compute the thumbprint a test must trust. */
  certificate(): Buffer;
  /** Stops the OPC UA server, waits `downMs`, starts it again on the same port and certificate. */
  restart(opts?: { downMs?: number }): Promise<void>;
  /** Stops only the OPC UA server (the line keeps producing); `startServer()` brings it back. */
  stopServer(): Promise<void>;
  startServer(): Promise<void>;
  /** Removes a node from the address space (e.g. `ns=1;s=Line1.ScrapParts`), as a PLC download would. */
  deleteNode(nodeId: string): void;
  /** Puts a deleted node back. */
  restoreNode(nodeId: string): void;
  /** A shift change now. */
  resetCounters(): void;
  stop(): Promise<void>;
}

const POLICY: Record<string, SecurityPolicy> = {
  basic256sha256: SecurityPolicy.Basic256Sha256,
  aes128_sha256_rsaoaep: SecurityPolicy.Aes128_Sha256_RsaOaep,
  aes256_sha256_rsapss: SecurityPolicy.Aes256_Sha256_RsaPss,
};
const MODE: Record<SimSecurityMode, MessageSecurityMode> = {
  none: MessageSecurityMode.None,
  sign: MessageSecurityMode.Sign,
  sign_and_encrypt: MessageSecurityMode.SignAndEncrypt,
};

export async function startLineSimulator(options: LineSimulatorOptions = {}): Promise<LineSimulator> {
  const port = options.port || (await freePort());
  const ownPkiDir = options.pkiDir === undefined;
  const pkiDir = options.pkiDir ?? mkdtempSync(join(tmpdir(), 'line-sim-pki-'));
  const tickMs = options.tickMs ?? 100;
  const benchTags = options.benchTags ?? 0;
  const benchUpdateMs = options.benchUpdateMs ?? 1000;
  const model = new LineModel(Date.now(), options);
  const deleted = new Set<string>();
  const modes = options.securityModes ?? ['none', 'sign', 'sign_and_encrypt'];
  const policies = options.securityPolicies ?? ['basic256sha256', 'aes128_sha256_rsaoaep', 'aes256_sha256_rsapss'];

  let server: OPCUAServer | undefined;
  let namespace: Namespace | undefined;
  const variables = new Map<string, UAVariable>();
  let benchValue = 0;
  let benchTsMs = Date.now();

  const addLineVariable = (tag: LineTag, parent: import('node-opcua').UAObject): void => {
    const nodeId = lineNodeId(tag);
    if (deleted.has(nodeId) || !namespace) return;
    const v = namespace.addVariable({
      componentOf: parent, browseName: tag, nodeId, dataType: TAG_TYPES[tag], minimumSamplingInterval: 50,
    });
    v.setValueFromSource(new Variant({ dataType: TAG_TYPES[tag], value: model.current[tag] }), StatusCodes.Good, new Date());
    variables.set(nodeId, v);
  };

  const startServer = async (): Promise<void> => {
    if (server) return;
    const serverCertificateManager = new OPCUACertificateManager({
      rootFolder: join(pkiDir, 'server'), automaticallyAcceptUnknownCertificate: true,
    });
    const userCertificateManager = new OPCUACertificateManager({
      rootFolder: join(pkiDir, 'user'), automaticallyAcceptUnknownCertificate: true,
    });
    const users = options.users ?? {};
    const s = new OPCUAServer({
      port,
      hostname: '127.0.0.1',
      alternateHostname: ['127.0.0.1'],
      resourcePath: '',
      serverCertificateManager,
      userCertificateManager,
      allowAnonymous: options.allowAnonymous ?? true,
      securityModes: modes.map((m) => MODE[m]),
      securityPolicies: [
        ...(modes.includes('none') ? [SecurityPolicy.None] : []),
        ...policies.map((p) => POLICY[p]).filter((p): p is SecurityPolicy => p !== undefined),
      ],
      userManager: { isValidUser: (username: string, password: string) => users[username] === password },
      buildInfo: { productName: 'energy-gateway line simulator', manufacturerName: 'energy-gateway' },
      serverInfo: { applicationUri: LINE_APPLICATION_URI, applicationName: { text: 'line-simulator' } },
      // The simulator is a test fixture: keep its own limits out of the way of load tests.
      serverCapabilities: { maxSessions: 50, operationLimits: { maxMonitoredItemsPerCall: 0, maxNodesPerRead: 0 } },
      maxConnectionsPerEndpoint: 50,
    });
    await s.initialize();
    const addressSpace = s.engine.addressSpace;
    if (!addressSpace) throw new Error('simulator address space missing');
    namespace = addressSpace.getOwnNamespace();
    const line = namespace.addObject({ organizedBy: addressSpace.rootFolder.objects, browseName: 'Line1', nodeId: 'ns=1;s=Line1' });
    variables.clear();
    for (const tag of LINE_TAGS) addLineVariable(tag, line);
    if (benchTags > 0) {
      const bench = namespace.addObject({ organizedBy: addressSpace.rootFolder.objects, browseName: 'Bench', nodeId: 'ns=1;s=Bench' });
      for (let i = 0; i < benchTags; i++) {
        const v = namespace.addVariable({
          componentOf: bench, browseName: `T${String(i).padStart(5, '0')}`, nodeId: benchNodeId(i), dataType: DataType.Double,
          minimumSamplingInterval: 100,
        });
        v.setValueFromSource(new Variant({ dataType: DataType.Double, value: benchValue }), StatusCodes.Good, new Date(benchTsMs));
        variables.set(benchNodeId(i), v);
      }
    }
    await s.start();
    server = s;
  };

  const stopServer = async (): Promise<void> => {
    const s = server;
    server = undefined;
    namespace = undefined;
    variables.clear();
    if (s) await s.shutdown(0);
  };

  const publish = (nodeId: string, dataType: DataType, value: number, tsMs: number): void => {
    const v = variables.get(nodeId);
    if (v) v.setValueFromSource(new Variant({ dataType, value }), StatusCodes.Good, new Date(tsMs));
  };

  const tick = setInterval(() => {
    const nowMs = Date.now();
    for (const tag of model.step(nowMs)) publish(lineNodeId(tag), TAG_TYPES[tag], model.current[tag], nowMs);
  }, tickMs);
  const benchTick = benchTags > 0
    ? setInterval(() => {
      benchValue += 1;
      benchTsMs = Date.now();
      if (!server) return;
      for (let i = 0; i < benchTags; i++) publish(benchNodeId(i), DataType.Double, benchValue + i / 100_000, benchTsMs);
    }, benchUpdateMs)
    : undefined;

  try {
    await startServer();
  } catch (err) {
    clearInterval(tick);
    if (benchTick) clearInterval(benchTick);
    throw err;
  }

  return {
    endpoint: `opc.tcp://127.0.0.1:${port}`,
    port,
    model,
    certificate() {
      if (!server) throw new Error('simulator server is stopped');
      return Buffer.from(server.getCertificate());
    },
    async restart({ downMs = 0 } = {}) {
      await stopServer();
      if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
      await startServer();
    },
    stopServer,
    startServer,
    deleteNode(nodeId) {
      deleted.add(nodeId);
      const v = variables.get(nodeId);
      variables.delete(nodeId);
      if (v && server?.engine.addressSpace) server.engine.addressSpace.deleteNode(v);
    },
    restoreNode(nodeId) {
      if (!deleted.delete(nodeId)) return;
      const tag = nodeId.replace(/^ns=1;s=Line1\./, '') as LineTag;
      const line = server?.engine.addressSpace?.findNode('ns=1;s=Line1');
      if (LINE_TAGS.includes(tag) && line) addLineVariable(tag, line as import('node-opcua').UAObject);
    },
    resetCounters() {
      model.resetCounters();
    },
    async stop() {
      clearInterval(tick);
      if (benchTick) clearInterval(benchTick);
      await stopServer();
      if (ownPkiDir) rmSync(pkiDir, { recursive: true, force: true });
    },
  };
}
