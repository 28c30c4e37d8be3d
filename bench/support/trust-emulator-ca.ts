/**
 * Benchmarks call F&O's emulator over HTTPS from their own process. Node reads NODE_EXTRA_CA_CERTS
 * only at start, so a benchmark that does not trust the emulator's CA yet runs itself again with it.
 */
import { spawnSync } from 'node:child_process';
import { ensureEmulatorCertificates } from '@dmf-functions/emulator';
import { PROJECT_ROOT } from '@dmf-functions/devhost/stack';

/** Runs `main` in a process that trusts the emulator's CA (this one, or a re-run of it). */
export async function runTrustingEmulatorCa(main: () => Promise<void>): Promise<void> {
  const { caCertPath } = ensureEmulatorCertificates();
  if (process.env.NODE_EXTRA_CA_CERTS === caCertPath) {
    await main();
    return;
  }
  const run = spawnSync(process.execPath, process.execArgv.concat(process.argv.slice(1)), {
    cwd: PROJECT_ROOT,
    stdio: 'inherit',
    env: { ...process.env, NODE_EXTRA_CA_CERTS: caCertPath },
  });
  process.exit(run.status ?? 1);
}
