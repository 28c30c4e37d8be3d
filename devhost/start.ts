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
import { BlobServiceClient } from '@azure/storage-blob';
import { join, resolve } from 'node:path';
import { buildPackage, emulatorEnvironmentLines, ensureEmulatorCertificates } from '@dmf-functions/emulator';
import { HOST_SECRETS_FILE } from './keys.js';
import { persistentFunctionsKey, PROJECT_ROOT, startLocalStack, type LocalStack } from './stack.js';

/** Template of the sample project `CustomersCsv` (samples/dmf.config.json). */
const SAMPLE_TEMPLATE = 'customers-v3.zip';

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

function printLines(stack: LocalStack, dataDir: string): void {
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
      'dmf-functions is running locally (Azurite, F&O emulator, Service Bus broker, Functions host).',
      `  Dashboard:       ${api}/dashboard   (key: FUNCTIONS_KEY above)`,
      '  Make a package:  npx tsx emulator/sample-package.ts customers.zip',
      '  Import it:       npx dmf import customers.zip --env local --project Customers --wait',
      `                   (or curl -X POST -H "x-functions-key: $FUNCTIONS_KEY" --data-binary @customers.zip \\`,
      `                    "${api}/imports?environment=local&project=Customers&fileName=customers.zip")`,
      '  Or drop it:      container dmf-inbound, blob local/Customers/customers.zip (any storage tool',
      '                   with STORAGE_CONNECTION_STRING); a raw CSV goes to local/CustomersCsv/<file>.csv',
      '  Or send a command to Service Bus queue dmf-commands: {"type":"import","environment":"local",',
      '                   "definitionGroupId":"CustomerImport","blobPath":"dmf-inbound/local/Customers/customers.zip"}',
      `  Watch:           npx dmf jobs   or   curl -H "x-functions-key: $FUNCTIONS_KEY" ${api}/jobs`,
      `  F&O side:        curl --cacert $DMF_CA_CERT ${stack.emulator.controlUrl}/executions`,
      '  Durable API:     /runtime/webhooks/durabletask/… takes the system key durabletask_extension',
      `                   (or the master key), kept in ${join(dataDir, 'devhost', HOST_SECRETS_FILE)}`,
      '  Stop with Ctrl-C; the next npm start resumes durable state from .local/start.',
      '',
    ].join('\n'),
  );
}

/**
 * Uploads the template package the sample project `CustomersCsv` names, so a raw CSV can be dropped
 * right away. An existing template (a user's own) is left alone.
 */
async function seedSampleTemplate(stack: LocalStack): Promise<void> {
  const containerName = stack.appSettings.DMF_TEMPLATES_CONTAINER ?? 'dmf-templates';
  const container = BlobServiceClient.fromConnectionString(stack.storageConnectionString).getContainerClient(
    containerName,
  );
  await container.createIfNotExists();
  const blob = container.getBlockBlobClient(SAMPLE_TEMPLATE);
  if (await blob.exists()) return;
  const template = await buildPackage({
    definitionGroupName: 'CustomerImport',
    entities: [
      { entityName: 'Customers V3', columns: ['CUSTOMERACCOUNT', 'NAME', 'CUSTOMERGROUPID'], rows: [] },
    ],
  });
  await blob.upload(template, template.length);
}

async function main(): Promise<void> {
  const certs = ensureEmulatorCertificates();
  if (process.env.NODE_EXTRA_CA_CERTS !== certs.caCertPath) {
    relaunchTrustingEmulatorCa(certs.caCertPath);
    return;
  }
  // npm runs this script in the workspace's folder; a relative DMF_START_DATA_DIR means the folder
  // npm start was typed in (INIT_CWD), as before the host became a workspace.
  const dataDir = process.env.DMF_START_DATA_DIR
    ? resolve(process.env.INIT_CWD ?? process.cwd(), process.env.DMF_START_DATA_DIR)
    : join(PROJECT_ROOT, '.local', 'start');
  const stack = await startLocalStack({
    dataDir,
    persistent: true,
    functionsKey: persistentFunctionsKey(dataDir),
    port: Number(process.env.DEVHOST_PORT ?? 7071),
    emulator: { clock: { mode: 'real', speed: Number(process.env.DMF_EMULATOR_SPEED ?? 1) } },
  });
  await seedSampleTemplate(stack);
  printLines(stack, dataDir);
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
