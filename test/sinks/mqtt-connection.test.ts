import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { mqttConnectOptions, mqttTraceWanted } from '../../src/sinks/mqtt/connection.js';
import type { MqttConfig } from '../../src/config/schema.js';

const config = { url: 'mqtt://127.0.0.1:1883', protocol_version: 4, session_expiry: 3_600_000 } as unknown as MqttConfig;

describe('mqtt connection options', () => {
  it.each([
    [undefined, false], ['', false], ['energy-gateway:*', false], ['mqttjs*', true], ['mqttjs:client', true],
    ['*', true], ['foo,mqttjs*', true], ['-mqttjs*', false], ['mqtt-packet', true],
  ])('DEBUG=%s: mqtt.js tracing wanted = %s', (value, wanted) => {
    expect(mqttTraceWanted(value === undefined ? {} : { DEBUG: value })).toBe(wanted);
  });

  it('silences mqtt.js tracing unless DEBUG asks for it', () => {
    const log = pino({ level: 'silent' });
    const before = process.env.DEBUG;
    try {
      delete process.env.DEBUG;
      const quiet = mqttConnectOptions(config, 'c', log);
      expect(typeof quiet.log).toBe('function');
      expect(quiet.log!('ignored')).toBeUndefined();
      process.env.DEBUG = 'mqttjs*';
      expect(mqttConnectOptions(config, 'c', log).log).toBeUndefined();
    } finally {
      if (before === undefined) delete process.env.DEBUG;
      else process.env.DEBUG = before;
    }
  });
});
