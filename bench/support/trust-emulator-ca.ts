/**
 * Benchmarks call F&O's emulator over HTTPS from their own process. Node reads NODE_EXTRA_CA_CERTS
 * only at start, so a benchmark that does not trust the emulator's CA yet runs itself again with it.
 */
import { spawnSync } from 'node:child_process';
import { ensureEmulatorCertificates } from '@dmf-functions/emulator';
import { PROJECT_ROOT } from '@dmf-functions/devhost/stack';

/** Runs `main` in a process that trusts the emulator's CA (this one, or a re-run of it), then ends the process. */
export async function runTrustingEmulatorCa(main: () => Promise<void>): Promise<void> {
  const { caCertPath } = ensureEmulatorCertificates();
  if (process.env.NODE_EXTRA_CA_CERTS === caCertPath) {
    await main();
    // An app loaded in this process (the in-process local host) leaves @azure/functions' HTTP stream
    // proxy listening: the library starts it at `app.setup({ enableHttpStream: true })` and offers
    // no way to close it, so the process would never end after the figures are printed.
    process.exit(process.exitCode ?? 0);
  }
  const run = spawnSync(process.execPath, process.execArgv.concat(process.argv.slice(1)), {
    cwd: PROJECT_ROOT,
    stdio: 'inherit',
    env: { ...process.env, NODE_EXTRA_CA_CERTS: caCertPath },
  });
  process.exit(run.status ?? 1);
}
