import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Runs the CLI from source (through tsx), as a user would run the installed binary. */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/main.ts', ...args], {
    cwd: ROOT, encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Starts the CLI as a long-running child (run, simulate, demo). */
export function spawnCli(args: string[], env: NodeJS.ProcessEnv = {}) {
  return spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', ...args], {
    cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Like runCli, without blocking this process (for a CLI talking to an in-process gateway). */
export function runCliAsync(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = spawnCli(args, env);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  return new Promise((resolve) => child.once('close', (code) => resolve({ code: code ?? -1, stdout, stderr })));
}

/** A `simulate` the test started: its first stdout write (the banner), its TCP port if it has one. */
export interface RunningSimulator {
  child: ChildProcess;
  banner: string;
  port: number | null;
  /** SIGTERM by PID; resolves with the exit code. */
  stop(): Promise<number | null>;
}

/**
 * Starts `simulate` and waits for its banner (the first write, notes included). A simulator
 * that does not start in time is killed, not left behind.
 */
export function startSimulator(args: string[]): Promise<RunningSimulator> {
  const child = spawnCli(['simulate', ...args]);
  const stop = () => new Promise<number | null>((res) => {
    if (child.exitCode !== null || child.signalCode !== null) { res(child.exitCode); return; }
    child.removeAllListeners('exit');
    child.once('exit', (code) => res(code));
    process.kill(child.pid!, 'SIGTERM');
  });
  let out = '';
  let err = '';
  child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop();
      reject(new Error(`simulate did not start: ${err}`));
    }, 60_000);
    child.once('exit', (code) => reject(new Error(`simulate exited ${code}: ${err}`)));
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (!out.includes('\n')) return;
      clearTimeout(timer);
      const port = /127\.0\.0\.1:(\d+)/.exec(out);
      resolve({ child, banner: out.trim(), port: port ? Number(port[1]) : null, stop });
    });
  });
}
