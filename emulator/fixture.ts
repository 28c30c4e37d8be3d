/**
 * The one F&O emulator fixture of the tests (public entry `@dmf-functions/emulator/fixture`): an
 * emulator on the run's shared Azurite, which the global setup (`./testing`) starts.
 */
import { inject } from 'vitest';
import { startEmulator, type RunningEmulator, type StartEmulatorOptions } from './index.js';

/**
 * Starts an emulator on the shared Azurite (vitest globalSetup) with a manual clock; `options`
 * override. The test workers must trust the emulator's CA, which the global setup arranges.
 */
export async function startTestEmulator(options: StartEmulatorOptions = {}): Promise<RunningEmulator> {
  if (!process.env.NODE_EXTRA_CA_CERTS) {
    throw new Error(
      'NODE_EXTRA_CA_CERTS is not set: the test workers must trust the emulator CA (.local/emulator/ca.pem); ' +
        'the vitest globalSetup sets it.',
    );
  }
  return startEmulator({
    storageConnectionString: inject('azuriteConnectionString'),
    clock: { mode: 'manual' },
    ...options,
  });
}
