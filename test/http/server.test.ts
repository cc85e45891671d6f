import { afterEach, describe, expect, it } from 'vitest';
import { MetricsText, startHttp, type HealthSource } from '../../src/http/server.js';
import { silentLogger } from '../../src/log/logger.js';
import { Histogram } from '../../src/sinks/histogram.js';

let close: (() => Promise<void>) | null = null;
afterEach(async () => {
  await close?.();
  close = null;
});

async function serve(source: HealthSource): Promise<string> {
  const h = await startHttp('127.0.0.1:0', source, silentLogger());
  close = h.close;
  return `http://127.0.0.1:${h.port}`;
}

describe('health endpoints', () => {
  it('/healthz answers while the process runs; /readyz says why it is not ready', async () => {
    let ready: ReturnType<HealthSource['ready']> = { ready: false, reason: 'outbox is dropping records', outbox: { dropping: true } };
    const base = await serve({ ready: () => ready, metrics: () => '' });
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const r = await fetch(`${base}/readyz`);
    expect(r.status).toBe(503);
    expect(await r.json()).toEqual({ ready: false, reason: 'outbox is dropping records', outbox: { dropping: true } });
    ready = { ready: true, sinks: { influx: { state: 'down', pending: 12 } } };
    const ok = await fetch(`${base}/readyz`);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ ready: true, sinks: { influx: { state: 'down', pending: 12 } } });
    expect((await fetch(`${base}/nothing`)).status).toBe(404);
  });

  it('/metrics is Prometheus text with histograms and escaped labels', async () => {
    const h = new Histogram([0.01, 0.1, 1]);
    for (const v of [0.005, 0.05, 0.05, 2]) h.observe(v);
    const text = new MetricsText()
      .add('energy_gateway_outbox_depth', 'gauge', 'Records held', [{ labels: { class: 'telemetry' }, value: 3 }])
      .add('energy_gateway_odd', 'counter', 'Label escaping', [{ labels: { device: 'a "b"\\c\nd' }, value: 1 }])
      .histogram('energy_gateway_sink_latency_seconds', 'Latency', [{ labels: { sink: 'mqtt' }, histogram: h }])
      .toString();
    const base = await serve({ ready: () => ({ ready: true }), metrics: () => text });
    const res = await fetch(`${base}/metrics`);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const body = await res.text();
    expect(body).toContain('# TYPE energy_gateway_sink_latency_seconds histogram');
    expect(body).toContain('energy_gateway_sink_latency_seconds_bucket{sink="mqtt",le="0.01"} 1');
    expect(body).toContain('energy_gateway_sink_latency_seconds_bucket{sink="mqtt",le="0.1"} 3');
    expect(body).toContain('energy_gateway_sink_latency_seconds_bucket{sink="mqtt",le="1"} 3');
    expect(body).toContain('energy_gateway_sink_latency_seconds_bucket{sink="mqtt",le="+Inf"} 4');
    expect(body).toContain('energy_gateway_sink_latency_seconds_count{sink="mqtt"} 4');
    expect(body).toContain('energy_gateway_outbox_depth{class="telemetry"} 3');
    expect(body).toContain('energy_gateway_odd{device="a \\"b\\"\\\\c\\nd"} 1');
  });
});
