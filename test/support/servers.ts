// What system tests need beyond the servers themselves (bench/servers.ts): whether the
// binaries are there, and what a run without them does.
import { findBinary } from '../../bench/servers.js';

export * from '../../bench/servers.js';

/**
 * Which server binaries a system test lacks. Outside CI a developer without them gets a
 * skip and a warning saying what to install; with CI=true nothing is skipped and the
 * test fails on the missing binary (assertBinaries), so CI can never pass by skipping.
 */
export function systemTestAvailability(binaries: Array<{ name: string; debian: string }>): { skip: boolean; missing: string[]; reason: string } {
  const missing = binaries.filter((b) => !findBinary(b.name));
  if (missing.length === 0) return { skip: false, missing: [], reason: '' };
  const msg = missing.map((b) => `${b.name} (apt-get install ${b.debian})`).join(', ');
  const names = missing.map((b) => b.name);
  if (process.env.CI === 'true') return { skip: false, missing: names, reason: '' };
  const reason = `missing ${msg}; outside CI only (with CI=true this test fails instead)`;
  console.warn(`skipping system test: ${reason}`);
  return { skip: true, missing: names, reason };
}

export function assertBinaries(missing: string[]): void {
  if (missing.length > 0) throw new Error(`system test needs ${missing.join(', ')} (CI=true: missing binaries fail instead of skipping)`);
}

