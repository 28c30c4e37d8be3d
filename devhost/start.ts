/**
 * `npm start`: runs the whole pipeline locally on embedded defaults — Azurite (data in
 * `.local/start/azurite`), the F&O DMF emulator, the Service Bus broker and the local Functions host
 * with the built app and `samples/dmf.config.json` (or `--config <file>` / `DMF_CONFIG_FILE`).
 * Prints `KEY=value` lines, then `READY`, then a short guide. Ctrl-C stops everything; the next
 * `npm start` resumes durable state, with the same key and, where free, the same ports.
 *
 * Environment: DEVHOST_PORT (default 7071), DMF_START_DATA_DIR (default `.local/start`),
 * DMF_EMULATOR_SPEED (emulator clock speed, default 1), DMF_CONFIG_FILE (the configuration).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { BlobServiceClient } from '@azure/storage-blob';
import { isAbsolute, join, resolve } from 'node:path';
import {
  buildOrdersBatchPackage,
  buildPackage,
  emulatorEnvironmentLines,
  ensureEmulatorCertificates,
  SALES_ORDER_HEADERS_ENTITY,
  SALES_ORDER_LINES_ENTITY,
  SAMPLE_ORDER_HEADERS,
  SAMPLE_ORDER_LINES,
} from '@dmf-functions/emulator';
import { HOST_SECRETS_FILE } from './keys.js';
import {
  LOCAL_ENVIRONMENT,
  persistentFunctionsKey,
  PROJECT_ROOT,
  readSampleConfig,
  startLocalStack,
  type LocalStack,
  type StartLocalStackOptions,
} from './stack.js';
import {
  freeRecordedPorts,
  readRecordedPorts,
  recordStart,
  stackPorts,
  type StackPorts,
} from './start-state.js';

/** Templates the sample projects name (samples/dmf.config.json), as empty packages of their entities. */
const SAMPLE_TEMPLATES: Readonly<Record<string, () => Promise<Buffer>>> = {
  // CustomersCsv: a raw "Customers V3" CSV
  'customers-v3.zip': () =>
    buildPackage({
      definitionGroupName: 'CustomerImport',
      entities: [
        { entityName: 'Customers V3', columns: ['CUSTOMERACCOUNT', 'NAME', 'CUSTOMERGROUPID'], rows: [] },
      ],
    }),
  // OrdersBatch: a batch of a header CSV and a lines CSV, headers first (sequence 1, then 2)
  'orders-batch.zip': () => buildOrdersBatchPackage({ headers: [], lines: [] }),
  // the chain Orders: OrderHeaders, then OrderLines, one entity each
  'order-headers.zip': () =>
    buildPackage({
      definitionGroupName: 'OrderHeaders',
      entities: [
        {
          entityName: SALES_ORDER_HEADERS_ENTITY,
          fileName: 'orders-header.csv',
          columns: SAMPLE_ORDER_HEADERS.columns,
          rows: [],
        },
      ],
    }),
  'order-lines.zip': () =>
    buildPackage({
      definitionGroupName: 'OrderLines',
      entities: [
        {
          entityName: SALES_ORDER_LINES_ENTITY,
          fileName: 'orders-lines.csv',
          columns: SAMPLE_ORDER_LINES.columns,
          rows: [],
        },
      ],
    }),
};
/**
 * A container of the caller's that commands may name in `blobPath` (`dmf drop --container
 * dmf-staging`, then `dmf send`): no trigger watches it, so the command's blob is still there when
 * the command arrives. npm start lists it in DMF_SOURCE_CONTAINERS beside the inbound container.
 */
const STAGING_CONTAINER = 'dmf-staging';

const USAGE = `Usage: npm start [-- --config <file>]

Runs Azurite, the F&O emulator, the Service Bus broker and the local Functions host with the app.
  --config <file>   the configuration JSON (default: samples/dmf.config.json; or DMF_CONFIG_FILE).
                    Its environment "local" is pointed at the emulator; the file is checked with the
                    app's own rules (dmf config validate) before anything starts.
Environment: DEVHOST_PORT (7071), DMF_START_DATA_DIR (.local/start), DMF_EMULATOR_SPEED (1).
`;

/** A refusal of npm start itself: its message is printed as is, exit code 1. */
class StartError extends Error {}

/** The configuration file npm start runs, and where it was named; undefined: the sample. */
function configChoice(argv: readonly string[]): { path: string; from: string } | undefined {
  let fromArgs: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') {
      process.stdout.write(USAGE);
      process.exit(0);
    } else if (arg === '--config') {
      fromArgs = argv[++i];
      if (!fromArgs) throw new StartError(`npm start: --config needs a file.\n\n${USAGE}`);
    } else if (arg.startsWith('--config=')) fromArgs = arg.slice('--config='.length);
    else throw new StartError(`npm start: unknown argument "${arg}".\n\n${USAGE}`);
  }
  const given = fromArgs ?? process.env.DMF_CONFIG_FILE;
  if (!given) return undefined;
  // npm runs scripts in the project root; a relative path is the caller's (INIT_CWD: where npm was run)
  const base = process.env.INIT_CWD ?? process.cwd();
  return {
    path: isAbsolute(given) ? given : resolve(base, given),
    from: fromArgs !== undefined ? '--config' : 'DMF_CONFIG_FILE',
  };
}

/**
 * Reads and checks the configuration npm start was pointed at, with the app's own rules (the built
 * `dmf config validate`, in a process of its own: devhost/ never imports the app). Exits with the
 * app's list of problems when it would refuse the file.
 */
function readChosenConfig(choice: { path: string; from: string }): Record<string, unknown> {
  if (!existsSync(choice.path)) {
    throw new StartError(`npm start: ${choice.from} names ${choice.path}, which does not exist.`);
  }
  const cli = join(PROJECT_ROOT, 'dist', 'bin', 'dmf.js');
  const check = spawnSync(process.execPath, [cli, 'config', 'validate', choice.path], { encoding: 'utf8' });
  if (check.status !== 0) {
    throw new StartError(
      `npm start: ${choice.from} names ${choice.path}, which the app would refuse:\n${(check.stderr || check.stdout || String(check.error)).trim()}`,
    );
  }
  const config = JSON.parse(readFileSync(choice.path, 'utf8').replace(/^\uFEFF/, '')) as Record<
    string,
    unknown
  >;
  const environments = Array.isArray(config.environments)
    ? (config.environments as { name?: unknown }[])
    : [];
  if (!environments.some((e) => e.name === LOCAL_ENVIRONMENT)) {
    process.stderr.write(
      `npm start: ${choice.path} has no environment named "${LOCAL_ENVIRONMENT}": nothing is pointed at the emulator; its environments are used as written.\n`,
    );
  }
  return config;
}

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

/** The `KEY=value` lines npm start prints (a contract scripts read), in order. */
function stackLines(stack: LocalStack): [string, string][] {
  return [
    ['FUNCTIONS_BASE_URL', stack.functionsBaseUrl],
    ['FUNCTIONS_KEY', stack.functionsKey],
    ['STORAGE_CONNECTION_STRING', stack.storageConnectionString],
    ['SERVICEBUS_CONNECTION_STRING', stack.serviceBusConnectionString],
    // The emulator's own lines, exactly as `npm run emulator` prints them.
    ...emulatorEnvironmentLines(stack.emulator),
  ];
}

function printLines(
  stack: LocalStack,
  lines: readonly [string, string][],
  dataDir: string,
  sample: boolean,
): void {
  for (const [key, value] of lines) process.stdout.write(`${key}=${value}\n`);
  process.stdout.write('READY\n');
  const api = `${stack.functionsBaseUrl}/api`;
  // the commands are lines of docs/operate.md's "Try every workflow" (a test keeps them so)
  process.stdout.write(
    [
      '',
      'dmf-functions is running locally (Azurite, F&O emulator, Service Bus broker, Functions host).',
      `  Dashboard:  ${api}/dashboard   (key: FUNCTIONS_KEY above)`,
      ...(sample
        ? [
            '  Every workflow, one line each: docs/operate.md#try-every-workflow. In a second shell:',
            '    npx tsx emulator/sample-package.ts customers.zip',
            '    npx dmf import customers.zip --env local --project Customers --wait',
            '    npx dmf drop customers.zip --env local --project Customers --wait',
            '    npx dmf export --env local --project CustomerExport --out customers-export.zip',
            '    npx dmf jobs',
            '  A batch: local/OrdersBatch/<batchId>/orders-header.csv, …/orders-lines.csv, then …/_ready',
            '    (one job, one F&O execution: headers, then lines; see docs/batches.md)',
          ]
        : ['  Configuration: your file (the guide in docs/operate.md uses samples/dmf.config.json).']),
      `  F&O side:   curl --cacert "$DMF_CA_CERT" ${stack.emulator.controlUrl}/executions`,
      '  Durable API: /runtime/webhooks/durabletask/… takes the system key durabletask_extension',
      `              (or the master key), kept in ${join(dataDir, 'devhost', HOST_SECRETS_FILE)}`,
      `  Stop with Ctrl-C. The next npm start resumes durable state from ${dataDir}, with the same`,
      '  FUNCTIONS_KEY and the same ports where free, so exported variables stay valid.',
      '',
    ].join('\n'),
  );
}

/**
 * Creates the containers files are dropped into (a fresh Azurite has none: `dmf drop` and storage
 * tools need them) and uploads the template packages the sample projects name (`CustomersCsv`,
 * `OrdersBatch`, the chain `Orders`), so raw CSVs and batches can be dropped right away. An existing
 * template (a user's own) is left alone.
 */
async function prepareStorage(stack: LocalStack, inbound: string): Promise<void> {
  const service = BlobServiceClient.fromConnectionString(stack.storageConnectionString);
  const recurringInbound = stack.appSettings.DMF_RECURRING_INBOUND_CONTAINER ?? 'dmf-recurring-inbound';
  for (const name of [inbound, STAGING_CONTAINER, recurringInbound]) {
    await service.getContainerClient(name).createIfNotExists();
  }
  const containerName = stack.appSettings.DMF_TEMPLATES_CONTAINER ?? 'dmf-templates';
  const container = service.getContainerClient(containerName);
  await container.createIfNotExists();
  for (const [name, build] of Object.entries(SAMPLE_TEMPLATES)) {
    const blob = container.getBlockBlobClient(name);
    if (await blob.exists()) continue;
    const template = await build();
    await blob.upload(template, template.length);
  }
}

async function main(): Promise<void> {
  // arguments first: --help and a wrong argument answer at once
  const choice = configChoice(process.argv.slice(2));
  const certs = ensureEmulatorCertificates();
  if (process.env.NODE_EXTRA_CA_CERTS !== certs.caCertPath) {
    relaunchTrustingEmulatorCa(certs.caCertPath);
    return;
  }
  const dmfConfig = choice ? readChosenConfig(choice) : readSampleConfig();
  // the stack hands the app DMF_CONFIG; the app refuses both settings at once
  delete process.env.DMF_CONFIG_FILE;
  // npm runs this script in the workspace's folder; a relative DMF_START_DATA_DIR means the folder
  // npm start was typed in (INIT_CWD), as before the host became a workspace.
  const dataDir = process.env.DMF_START_DATA_DIR
    ? resolve(process.env.INIT_CWD ?? process.cwd(), process.env.DMF_START_DATA_DIR)
    : join(PROJECT_ROOT, '.local', 'start');
  const inbound = process.env.DMF_INBOUND_CONTAINER || 'dmf-inbound';
  const options = (ports: StackPorts): StartLocalStackOptions => ({
    dataDir,
    persistent: true,
    dmfConfig,
    functionsKey: persistentFunctionsKey(dataDir),
    port: Number(process.env.DEVHOST_PORT ?? 7071),
    ports,
    appSettings: {
      DMF_SOURCE_CONTAINERS: process.env.DMF_SOURCE_CONTAINERS || `${inbound},${STAGING_CONTAINER}`,
    },
    emulator: {
      clock: { mode: 'real', speed: Number(process.env.DMF_EMULATOR_SPEED ?? 1) },
      ports: {
        ...(ports.authority ? { authority: ports.authority } : {}),
        ...(ports.environments ? { environments: ports.environments } : {}),
      },
    },
  });
  // the last start's ports, where free: a shell's exported variables stay valid across restarts
  const reused = await freeRecordedPorts(readRecordedPorts(dataDir));
  let stack: LocalStack;
  try {
    stack = await startLocalStack(options(reused));
  } catch (error) {
    // a port taken between the check and the start: start once more on free ones
    if (Object.keys(reused).length === 0 || !String((error as Error).stack ?? error).includes('EADDRINUSE'))
      throw error;
    stack = await startLocalStack(options({}));
  }
  await prepareStorage(stack, inbound);
  const lines = stackLines(stack);
  recordStart(dataDir, stackPorts(stack), lines);
  printLines(stack, lines, dataDir, choice === undefined);
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
  if (error instanceof StartError) console.error(error.message);
  else console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exit(1);
});
