// A meter served by the byte-scripted Modbus TCP server that answers each request by a rule:
// the words of its registers, an exception, or nothing. Shared by the tests of fussy meters.
import { afterEach } from 'vitest';
import type { ModbusBus } from '../../../src/protocols/modbus/bus.js';
import { makeBus } from './helpers.js';
import { startScripted, type Scripted, type ScriptedRequest } from './scripted.js';

/** The word a register holds, the same on every request (holding and input alike). */
export const word = (address: number) => (address * 7 + 1000) & 0xffff;

/** Answers an exception code, null to answer the words, or 'silent' not to answer. */
export type Rule = (req: ScriptedRequest) => number | null | 'silent';

export interface RuleMeter {
  server: Scripted;
  bus: ModbusBus;
  /** Requests the meter refused, since it started. */
  refused: ScriptedRequest[];
}

/**
 * Closes what a test registers with `closeAfter` (rule meters among them) after each test
 * of the calling file; call once at its top level.
 */
export function closingAfterEach(): { closeAfter: (close: () => Promise<void>) => void; ruleMeter: (rule: Rule) => Promise<RuleMeter> } {
  let closing: Array<() => Promise<void>> = [];
  afterEach(async () => {
    await Promise.all(closing.map((c) => c()));
    closing = [];
  });
  const closeAfter = (close: () => Promise<void>) => {
    closing.push(close);
  };
  const ruleMeter = async (rule: Rule): Promise<RuleMeter> => {
    const refused: ScriptedRequest[] = [];
    const server = await startScripted('mbap', (req, reply) => {
      const code = rule(req);
      if (code === 'silent') return;
      if (code !== null) {
        refused.push(req);
        reply.send(reply.frame(Buffer.from([req.unit, req.fc | 0x80, code])));
        return;
      }
      reply.send(reply.frame(reply.answerPdu(req.unit, req.fc, Array.from({ length: req.count }, (_, i) => word(req.address + i)))));
    });
    const bus = makeBus({ type: 'modbus_tcp', host: '127.0.0.1', port: server.port });
    closeAfter(async () => {
      await bus.close();
      await server.stop();
    });
    return { server, bus, refused };
  };
  return { closeAfter, ruleMeter };
}
