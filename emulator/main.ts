/**
 * `npm run emulator`: starts the F&O DMF emulator alone, prints `KEY=value` lines a client needs,
 * then `READY`, and runs until SIGINT/SIGTERM. Its flags are {@link USAGE} (`--help` prints them).
 */
import { parseArgs } from 'node:util';
import {
  emulatorConfigJsonSchema,
  emulatorEnvironmentLines,
  loadEmulatorConfig,
  startEmulator,
  type RunningEmulator,
} from './index.js';

/** The flags, each also as an environment variable. */
const USAGE = `Usage: npm run emulator -- [flags]   (or: dmf emulator [flags])

Starts the F&O DMF emulator, prints KEY=value lines a client needs, then READY; stops on SIGINT/SIGTERM.

Flags (each also as an environment variable):
  --config <file>                     DMF_EMULATOR_CONFIG
  --data-dir <dir>                    DMF_EMULATOR_DATA_DIR
  --storage-connection-string <cs>    DMF_EMULATOR_STORAGE_CONNECTION_STRING (default: own Azurite)
  --speed <factor>                    DMF_EMULATOR_SPEED (real clock speed factor, default 1)
  --manual-clock                      DMF_EMULATOR_MANUAL_CLOCK=1 (advance via the control API)
  --authority-port <port>             DMF_EMULATOR_AUTHORITY_PORT
  --port <port>                       DMF_EMULATOR_PORT (first environment's port)
  --options <json>                    DMF_EMULATOR_OPTIONS (switches, e.g. {"notFoundWindowMs":0})
  --state-file <file>                 DMF_EMULATOR_STATE_FILE (keep state across restarts)
  --verbose                           log lines on stderr (secrets redacted)
  --print-config-schema               print the config file's JSON Schema and exit
  --help                              print this text and exit
`;

const { values } = parseArgs({
  options: {
    config: { type: 'string' },
    'data-dir': { type: 'string' },
    'storage-connection-string': { type: 'string' },
    speed: { type: 'string' },
    'manual-clock': { type: 'boolean' },
    'authority-port': { type: 'string' },
    port: { type: 'string' },
    options: { type: 'string' },
    'state-file': { type: 'string' },
    verbose: { type: 'boolean' },
    'print-config-schema': { type: 'boolean' },
    help: { type: 'boolean' },
  },
});

if (values.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}

if (values['print-config-schema']) {
  process.stdout.write(`${JSON.stringify(emulatorConfigJsonSchema(), null, 2)}\n`);
  process.exit(0);
}

// Signal handlers come first: a signal during start-up, or right after READY, must still stop the
// emulator (its Azurite child, the state file's final save) instead of killing the process.
let running: RunningEmulator | undefined;
let stopRequested: string | undefined;
function stopRunning(emulator: RunningEmulator): void {
  emulator.stop().then(
    () => process.exit(0),
    (error: unknown) => {
      process.stderr.write(`[emulator] stop failed: ${String(error)}\n`);
      process.exit(1);
    },
  );
}
function onSignal(signal: string): void {
  if (stopRequested) return;
  stopRequested = signal;
  process.stderr.write(`[emulator] ${signal}: stopping\n`);
  if (running) stopRunning(running);
}
process.on('SIGINT', () => onSignal('SIGINT'));
process.on('SIGTERM', () => onSignal('SIGTERM'));

const env = process.env;
const configPath = values.config ?? env.DMF_EMULATOR_CONFIG;
const speed = Number(values.speed ?? env.DMF_EMULATOR_SPEED ?? 1);
const manual = values['manual-clock'] ?? env.DMF_EMULATOR_MANUAL_CLOCK === '1';
const authorityPort = values['authority-port'] ?? env.DMF_EMULATOR_AUTHORITY_PORT;
const port = values.port ?? env.DMF_EMULATOR_PORT;
try {
  let switches: Record<string, unknown>;
  try {
    switches = JSON.parse(values.options ?? env.DMF_EMULATOR_OPTIONS ?? '{}') as Record<string, unknown>;
  } catch (error) {
    throw new Error(`--options / DMF_EMULATOR_OPTIONS is not valid JSON: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const emulator = await startEmulator({
    ...switches,
    config: configPath,
    dataDir: values['data-dir'] ?? env.DMF_EMULATOR_DATA_DIR,
    stateFile: values['state-file'] ?? (env.DMF_EMULATOR_STATE_FILE || undefined),
    storageConnectionString:
      values['storage-connection-string'] ?? env.DMF_EMULATOR_STORAGE_CONNECTION_STRING,
    clock: manual ? { mode: 'manual' } : { mode: 'real', speed },
    ports: {
      authority: authorityPort ? Number(authorityPort) : undefined,
      environments: port
        ? { [loadEmulatorConfig(configPath).environments[0]?.name ?? 'default']: Number(port) }
        : undefined,
    },
    log: values.verbose ? (line) => process.stderr.write(`[emulator] ${line}\n`) : undefined,
  });
  running = emulator;
  if (stopRequested) {
    stopRunning(emulator);
  } else {
    for (const [key, value] of emulatorEnvironmentLines(emulator)) process.stdout.write(`${key}=${value}\n`);
    process.stdout.write('READY\n');
  }
} catch (error) {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}
