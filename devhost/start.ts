/**
 * `npm start`: runs the whole pipeline locally on embedded defaults — Azurite (data in
 * `.local/start/azurite`), the F&O DMF emulator, the Service Bus broker and the local Functions host
 * with the built app and `samples/dmf.config.json`. Prints `KEY=value` lines, then `READY`, then a
 * short guide. Ctrl-C stops everything; the next `npm start` resumes durable state.
 *
 * Environment: DEVHOST_PORT (default 7071), DMF_START_DATA_DIR (default `.local/start`),
 * DMF_EMULATOR_SPEED (emulator clock speed, default 1).
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { ensureEmulatorCertificates } from '../emulator/certs.js';
import { emulatorEnvironmentLines } from '../emulator/index.js';
import { PROJECT_ROOT, startLocalStack, type LocalStack } from './stack.js';

/** Re-runs this script with the emulator's CA trusted: Node reads NODE_EXTRA_CA_CERTS at start only. */
function relaunchTrustingEmulatorCa(caCertPath: string): void {
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, NODE_EXTRA_CA_CERTS: caCertPath },
  });
  const forward = (signal: NodeJS.Signals): void => {
    child.kill(signal);
  };
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}

function printLines(stack: LocalStack): void {
  const lines: [string, string][] = [
    ['FUNCTIONS_BASE_URL', stack.functionsBaseUrl],
    ['FUNCTIONS_KEY', stack.functionsKey],
    ['STORAGE_CONNECTION_STRING', stack.storageConnectionString],
    ['SERVICEBUS_CONNECTION_STRING', stack.serviceBusConnectionString],
    // The emulator's own lines, exactly as `npm run emulator` prints them.
    ...emulatorEnvironmentLines(stack.emulator),
  ];
  for (const [key, value] of lines) process.stdout.write(`${key}=${value}\n`);
  process.stdout.write('READY\n');
  const api = `${stack.functionsBaseUrl}/api`;
  process.stdout.write(
    [
      '',
      'dmf-functions is running locally (F&O emulator, Azurite, Service Bus broker, Functions host).',
      `  Functions in this app: ${[...(stack.host?.functions.keys() ?? [])].join(', ') || '(see above)'}`,
      `  Call an HTTP function:  curl -H "x-functions-key: $FUNCTIONS_KEY" ${api}/jobs`,
      `  F&O emulator state:     curl --cacert $DMF_CA_CERT ${stack.emulator.controlUrl}/executions`,
      '  Drop a file for import: put a package in container dmf-inbound under local/CustomerImport/<file>.zip',
      '                          (Azure Storage Explorer or az storage blob upload with STORAGE_CONNECTION_STRING)',
      '  Stop with Ctrl-C; the next npm start resumes durable state from .local/start.',
      '',
    ].join('\n'),
  );
}

async function main(): Promise<void> {
  const certs = ensureEmulatorCertificates();
  if (process.env.NODE_EXTRA_CA_CERTS !== certs.caCertPath) {
    relaunchTrustingEmulatorCa(certs.caCertPath);
    return;
  }
  const dataDir = process.env.DMF_START_DATA_DIR ?? join(PROJECT_ROOT, '.local', 'start');
  const stack = await startLocalStack({
    dataDir,
    persistent: true,
    port: Number(process.env.DEVHOST_PORT ?? 7071),
    emulator: { clock: { mode: 'real', speed: Number(process.env.DMF_EMULATOR_SPEED ?? 1) } },
  });
  printLines(stack);
  let stopping = false;
  const shutdown = (): void => {
    if (stopping) return;
    stopping = true;
    process.stdout.write('Stopping…\n');
    stack.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(error);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exit(1);
});
