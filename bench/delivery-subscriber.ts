// Child process of the delivery benchmark: subscribes to the benchmark's telemetry and
// records, per message, the time from the sample (ts_ms) to its arrival here.
import mqtt from 'mqtt';

const url = process.argv[2]!;
const latenciesMs: number[] = [];
const client = await mqtt.connectAsync(url, { clientId: `bench-subscriber-${process.pid}`, clean: true });
client.on('message', (_topic, payload) => {
  const now = Date.now();
  const ts = (JSON.parse(payload.toString()) as { ts_ms?: number }).ts_ms;
  if (typeof ts === 'number') latenciesMs.push(now - ts);
});
await client.subscribeAsync('bench/devices/+/telemetry', { qos: 0 });
process.on('message', (m: string) => {
  if (m === 'ready') process.send?.({ ready: true });
  if (m === 'report') process.send?.({ latenciesMs, received: latenciesMs.length });
});
