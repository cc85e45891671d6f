// No Docker engine runs here, so this test does what the Dockerfile's runtime stage
// does, by hand: the same files in a clean directory, a production-only install, and
// the installed binary started from there.
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../support/cli.js';

const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
const runtimeStage = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));

describe('container runtime stage', () => {
  let dir: string;
  const run = (args: string[], env: NodeJS.ProcessEnv = {}) => spawnSync(process.execPath, [join(dir, 'dist/src/main.js'), ...args], {
    cwd: dir, encoding: 'utf8', env: { PATH: process.env.PATH, HOME: dir, ...env }, timeout: 60_000,
  });

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'eg-runtime-'));
    for (const line of runtimeStage.split('\n').filter((l) => l.startsWith('COPY '))) {
      const parts = line.split(/\s+/).slice(1);
      const from = parts[0]?.startsWith('--from=') ? parts.shift()!.slice('--from='.length) : null;
      const dest = parts.pop()!;
      for (const src of parts) {
        if (from === null) {
          cpSync(join(ROOT, src), join(dir, dest.endsWith('/') ? src : dest), { recursive: true });
        } else if (src === '/app/dist') {
          const tsc = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', join(dir, 'dist')], { encoding: 'utf8' });
          expect(tsc.status, tsc.stdout + tsc.stderr).toBe(0);
        } else if (src === '/app/node_modules') {
          const npm = spawnSync('npm', ['ci', '--omit=dev', '--no-audit', '--no-fund'], { cwd: dir, encoding: 'utf8', timeout: 540_000 });
          expect(npm.status, npm.stdout + npm.stderr).toBe(0);
        } else {
          throw new Error(`runtime stage copies ${src} from ${from}: teach this test how to lay it out`);
        }
      }
    }
  }, 600_000);

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('installs without dev dependencies', () => {
    expect(() => readFileSync(join(dir, 'node_modules/vitest/package.json'))).toThrow();
    expect(readFileSync(join(dir, 'node_modules/mqtt/package.json'), 'utf8')).toContain('"name": "mqtt"');
  });

  it('starts: --version prints the package version', () => {
    const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    const r = run(['--version']);
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe(version);
  });

  it('starts the way the image\'s entrypoint starts it: the file itself, through its shebang and node options', () => {
    expect(runtimeStage).toContain('ln -s /app/dist/src/main.js /usr/local/bin/energy-gateway && chmod +x /app/dist/src/main.js');
    const bin = join(dir, 'dist/src/main.js');
    chmodSync(bin, 0o755);
    const r = spawnSync(bin, ['--version'], { cwd: dir, encoding: 'utf8', env: { PATH: process.env.PATH, HOME: dir }, timeout: 60_000 });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('checks the shipped example config, and rejects a broken one with exit 2', () => {
    const ok = run(['check', '--config', 'config/example.yaml'], { MQTT_PASSWORD: 'a', INFLUX_PASSWORD: 'b', PLC1_PASSWORD: 'c' });
    expect(ok.stderr).toBe('');
    expect(ok.status).toBe(0);
    const bad = run(['check', '--config', join(ROOT, 'test/fixtures/configs/unknown-key.yaml')]);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('buses[0].speed: unknown key');
  });

  it('runs as a non-root user with a /data volume, a health check and the CLI as entrypoint', () => {
    expect(runtimeStage).toMatch(/^USER (?!root)\S+/m);
    expect(runtimeStage).toMatch(/^VOLUME \["\/data"\]/m);
    expect(runtimeStage).toMatch(/^HEALTHCHECK .*\n?.*healthz/m);
    expect(runtimeStage).toMatch(/^ENTRYPOINT \["energy-gateway"\]/m);
    expect(runtimeStage).toContain('/config/gateway.yaml');
    // The runtime image has no compiler: native modules come prebuilt from the build stage.
    expect(runtimeStage).not.toMatch(/apt-get install/);
  });
});
