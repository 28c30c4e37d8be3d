/**
 * The local host's vitest global setup: the emulator's (one Azurite for the run, which the blob
 * trigger tests use; see `@dmf-functions/emulator/testing`).
 */
export { default } from '@dmf-functions/emulator/testing';
