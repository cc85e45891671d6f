// OPC UA profiles (`protocol: opcua`): a machine or meter whose address space is fixed by
// its maker or by a companion specification. Instance NodeIds are chosen by each server,
// and namespace indexes differ from server to server, so a profile names its points by
// browse path from a root object the device config gives (`root:`), with browse names
// qualified by namespace URI (`namespaces:` aliases), never by index.
import { z } from 'zod';
import { Duration } from '../config/duration.js';
import { canonicalUnit } from './canonical.js';
import { PointId, ProfileHeaderFields, SNAKE_ID, Unit } from './schema.js';

/** One step of a browse path: the browse name and the namespace it lives in. */
export interface BrowseStep {
  /** A `namespaces:` alias of the profile, or a literal index ("0" is always the OPC UA base namespace). */
  prefix: string;
  name: string;
}

const STEP = /^([a-z][a-z0-9_]*|[0-9]+):([^/]+)$/;

/**
 * `ecm:AcActivePowerTotal` or `2:Energy/ecm:AcActivePowerTotal`: steps separated by "/",
 * each `<namespace alias or index>:<browse name>`. Returns a message for text that is not one.
 */
export function parseBrowsePath(text: string): BrowseStep[] | string {
  const parts = text.split('/');
  const steps: BrowseStep[] = [];
  for (const part of parts) {
    const m = STEP.exec(part.trim());
    if (!m) return `"${part}" is not <namespace alias>:<browse name> (e.g. ecm:AcActivePowerTotal)`;
    steps.push({ prefix: m[1]!, name: m[2]! });
  }
  return steps;
}

/** `ns=3;s=x`, `nsu=<uri>;i=5`, `i=2258`: the forms a NodeId string may take. */
const NODE_ID = /^((ns=\d+|nsu=[^;]+);)?(i=\d+|s=.+|g=[0-9a-fA-F-]{36}|b=[A-Za-z0-9+/=]+)$/;
export function isNodeIdText(text: string): boolean {
  return NODE_ID.test(text);
}

export const OpcuaProfilePoint = z.strictObject({
  id: PointId,
  /** Relative to the device's `root`; the usual way for standardised address spaces. */
  browse_path: z.string().min(1).optional().describe('browse path from the device root, e.g. ecm:AcActivePowerTotal (aliases from namespaces:)'),
  /** An absolute node id, for servers whose ids are fixed; prefer the `nsu=<uri>;` form. */
  node_id: z.string().min(1).optional().describe('absolute node id for fixed address spaces; prefer nsu=<namespace uri>;s=… over ns=<index>'),
  unit: Unit.default('').describe('unit of the published (scaled) value'),
  /** Published = value × scale + offset (e.g. 0.001 from W·h to kWh). */
  scale: z.number().refine((n) => n !== 0, 'scale must not be 0').optional().describe('multiplier: published = value × scale + offset'),
  offset: z.number().optional(),
  counter: z.strictObject({ max: z.number().positive().optional() }).optional().describe('cumulative counter; max = rollover value in published units'),
  mode: z.enum(['subscribe', 'poll']).optional().describe('subscribe (default) or poll every poll_interval'),
  sampling_interval: Duration.optional(),
  description: z.string().optional(),
});
export type OpcuaProfilePoint = z.infer<typeof OpcuaProfilePoint>;

/** An OPC UA profile as written in YAML. */
export const OpcuaProfileShape = z.strictObject({
  ...ProfileHeaderFields,
  protocol: z.literal('opcua'),
  /** alias → namespace URI, used as prefixes in browse paths. */
  namespaces: z.record(z.string().regex(SNAKE_ID, 'namespace aliases are snake_case'), z.string().min(1))
    .default({}).describe('alias → namespace URI for browse path prefixes (indexes differ between servers, URIs do not)'),
  points: z.array(OpcuaProfilePoint).min(1),
});

type Ctx = Pick<z.core.$RefinementCtx, 'addIssue'>;

/**
 * Problems of an OPC UA point list: duplicate ids, canonical units, one target per point,
 * browse path prefixes that name a namespace. Also used for a device's points merged
 * with its profile (paths start with 'points').
 */
export function checkOpcuaPoints(
  points: readonly Pick<OpcuaProfilePoint, 'id' | 'unit' | 'browse_path' | 'node_id'>[],
  namespaces: Readonly<Record<string, unknown>>,
  ctx: Ctx,
): void {
  const seen = new Set<string>();
  points.forEach((p, i) => {
    const at = (field: string): (string | number)[] => ['points', i, field];
    if (seen.has(p.id)) ctx.addIssue({ code: 'custom', path: at('id'), message: `duplicate point id "${p.id}"` });
    seen.add(p.id);
    if ((p.browse_path === undefined) === (p.node_id === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['points', i], message: 'give either browse_path (from the device root) or node_id, not both or neither' });
    }
    if (p.node_id !== undefined && !isNodeIdText(p.node_id)) {
      ctx.addIssue({ code: 'custom', path: at('node_id'), message: `"${p.node_id}" is not a node id (e.g. nsu=urn:vendor:plc;s=Line1.Energy or ns=3;i=1001)` });
    }
    if (p.browse_path !== undefined) {
      const steps = parseBrowsePath(p.browse_path);
      if (typeof steps === 'string') ctx.addIssue({ code: 'custom', path: at('browse_path'), message: steps });
      else {
        for (const s of steps) {
          if (!/^[0-9]+$/.test(s.prefix) && !(s.prefix in namespaces)) {
            ctx.addIssue({ code: 'custom', path: at('browse_path'), message: `unknown namespace alias "${s.prefix}" (declare it under namespaces:)` });
          }
        }
      }
    }
    const canonical = canonicalUnit(p.id);
    if (canonical && p.unit !== canonical.unit) {
      ctx.addIssue({
        code: 'custom', path: at('unit'),
        message: `${p.id} is ${canonical.quantity}, published in ${canonical.unit} (use scale), not "${p.unit}"`,
      });
    }
  });
}

/** One machine or meter with a fixed OPC UA address space: a YAML file under drivers/. */
export const OpcuaProfile = OpcuaProfileShape.superRefine((profile, ctx) => checkOpcuaPoints(profile.points, profile.namespaces, ctx));
export type OpcuaProfile = z.infer<typeof OpcuaProfile>;
