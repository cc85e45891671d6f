// Child-process entry for load tests: serves the line simulator plus N changing tags
// so the client under test is measured alone. Started with fork(); reports
// `{ endpoint }` over IPC when ready and exits when the parent goes away.
import { Subscription } from 'node-opcua';
import { startLineSimulator } from './line.js';

const tags = Number(process.env.OPCUA_BENCH_TAGS ?? '10000');
const updateMs = Number(process.env.OPCUA_BENCH_UPDATE_MS ?? '1000');

// node-opcua servers cap notifications per publish response at 1000 by default.
if (process.env.OPCUA_SIM_MAX_NOTIFICATIONS_PER_PUBLISH) {
  Subscription.maxNotificationPerPublishHighLimit = Number(process.env.OPCUA_SIM_MAX_NOTIFICATIONS_PER_PUBLISH);
}
const sim = await startLineSimulator({ benchTags: tags, benchUpdateMs: updateMs, idleMs: 0 });
let stopping = false;
const stop = async (): Promise<void> => {
  if (stopping) return;
  stopping = true;
  await sim.stop().catch(() => undefined);
  process.exit(0);
};
process.on('disconnect', () => void stop());
process.on('SIGTERM', () => void stop());
process.send?.({ endpoint: sim.endpoint });
