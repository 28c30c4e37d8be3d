/**
 * Test-run support for suites that talk to the emulator (public entry
 * `@dmf-functions/emulator/testing`): a vitest global setup that starts one Azurite for the whole
 * run and makes every test worker trust the emulator's CA. The emulator's own tests use it
 * (emulator/vitest.config.ts), and so does the app's test run (test/support/global-setup.ts).
 */
import { createHash } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { startAzurite } from './azurite.js';
import { ensureEmulatorCertificates } from './certs.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Connection string of the Azurite instance shared by the whole test run. */
    azuriteConnectionString: string;
    azuriteBlobEndpoint: string;
    /** Path of the F&O emulator's local CA (also in NODE_EXTRA_CA_CERTS of every worker). */
    emulatorCaCertPath: string;
  }
}

/**
 * Starts one Azurite for the whole run (random ports, in memory) and stops it afterwards.
 * Creates the F&O emulator's CA (once, in `.local/emulator/`) and puts it in NODE_EXTRA_CA_CERTS
 * before the workers are forked, so every worker's fetch/https/@azure/identity trusts the emulator.
 * Provides `azuriteConnectionString`, `azuriteBlobEndpoint` and `emulatorCaCertPath` to `inject()`.
 */
export default async function setupEmulatorTestRun(project: TestProject): Promise<() => Promise<void>> {
  const certs = ensureEmulatorCertificates();
  let existing = process.env.NODE_EXTRA_CA_CERTS;
  try {
    if (existing) readFileSync(existing);
  } catch {
    existing = undefined; // Node ignores an unreadable NODE_EXTRA_CA_CERTS too
  }
  if (existing && existing !== certs.caCertPath) {
    // NODE_EXTRA_CA_CERTS takes one file: keep the user's CAs and add ours. The name depends on the
    // content only, so concurrent runs share one file (written atomically).
    const content = `${readFileSync(existing, 'utf8')}\n${certs.caCertPem}`;
    const hash = createHash('sha256').update(content).digest('hex').slice(0, 16);
    const bundle = join(certs.dataDir, `ca-bundle-${hash}.pem`);
    const tmp = `${bundle}.${process.pid}.tmp`;
    writeFileSync(tmp, content);
    renameSync(tmp, bundle);
    process.env.NODE_EXTRA_CA_CERTS = bundle;
  } else {
    process.env.NODE_EXTRA_CA_CERTS = certs.caCertPath;
  }
  project.provide('emulatorCaCertPath', certs.caCertPath);
  const azurite = await startAzurite();
  project.provide('azuriteConnectionString', azurite.connectionString);
  project.provide('azuriteBlobEndpoint', azurite.blobEndpoint);
  return () => azurite.stop();
}
