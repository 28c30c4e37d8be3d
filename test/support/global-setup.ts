/**
 * The app's vitest global setup: the emulator's (one Azurite for the run, NODE_EXTRA_CA_CERTS with
 * the emulator CA for every worker; see `@dmf-functions/emulator/testing`).
 */
export { default } from '@dmf-functions/emulator/testing';
