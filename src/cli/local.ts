/**
 * What the CLI finds of the local stack `npm start` runs: its data folder, the function key kept
 * there and the `KEY=value` lines it printed at its last start (the app's url, the storage and
 * Service Bus connection strings). The file names are a contract with devhost/start.ts, which
 * src/ cannot import: both sides name them, docs/operate.md lists them.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DmfFunctionsError } from '../shared/errors.js';
import { KEY_VARIABLES } from './api.js';

/** A failure of the CLI itself (bad arguments, a missing file): message and exit code 1. */
export class CliError extends DmfFunctionsError {
  constructor(message: string, options: { code?: string; cause?: unknown } = {}) {
    super(message, { code: options.code ?? 'CLI_ERROR', cause: options.cause });
  }
}

/** Variable naming the data folder of `npm start` (as devhost/start.ts reads it). */
export const START_DATA_DIR_VARIABLE = 'DMF_START_DATA_DIR';
/** File in the data folder holding the function key `npm start` keeps across restarts. */
export const FUNCTIONS_KEY_FILE = 'functions.key';
/** File in the data folder holding the `KEY=value` lines of the last `npm start`. */
export const STACK_LINES_FILE = 'stack.env';

/** The repository holding this CLI: the nearest folder up from this file with the project's package.json. */
export function projectRoot(from: string = dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      try {
        if ((JSON.parse(readFileSync(manifest, 'utf8')) as { name?: unknown }).name === 'dmf-functions')
          return dir;
      } catch {
        // not ours: keep looking
      }
    }
    if (dirname(dir) === dir) return process.cwd();
  }
}

/** The data folder of `npm start`: `DMF_START_DATA_DIR`, else `.local/start` in the repository. */
export function startDataDir(env: NodeJS.ProcessEnv): string {
  const given = env[START_DATA_DIR_VARIABLE];
  return given ? resolve(given) : join(projectRoot(), '.local', 'start');
}

/** `KEY=value` lines (as `npm start` prints them) as a record; other lines are ignored. */
export function parseKeyValueLines(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const m = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

/** The lines the last `npm start` recorded in `dataDir` (empty when it recorded none). */
export function recordedStackLines(dataDir: string): Record<string, string> {
  try {
    return parseKeyValueLines(readFileSync(join(dataDir, STACK_LINES_FILE), 'utf8'));
  } catch {
    return {};
  }
}

/** Where the function key came from, and every place looked at (for a 401's message). */
export interface FoundKey {
  key: string | undefined;
  /** The place that gave the key (`--key`, a variable name, the key file's path). */
  from: string | undefined;
  /** Each place in order, with what was found there. */
  looked: string[];
}

/** True when `url` is on this machine (the local stack): only then is npm start's key file read. */
export function isLoopbackUrl(url: string): boolean {
  try {
    return ['127.0.0.1', 'localhost', '[::1]'].includes(new URL(url).hostname);
  } catch {
    return false;
  }
}

/**
 * The function key: `--key`, else `DMF_FUNCTIONS_KEY` / `FUNCTIONS_KEY`, else the key file `npm
 * start` keeps — for the local stack only (`forUrl` on this machine): the local key is not sent
 * to another app.
 */
export function findFunctionsKey(
  flag: string | undefined,
  env: NodeJS.ProcessEnv,
  dataDir: string,
  forUrl = 'http://127.0.0.1',
): FoundKey {
  const looked: string[] = [];
  let key: string | undefined;
  let from: string | undefined;
  const take = (place: string, value: string | undefined, missing: string): void => {
    if (key !== undefined) looked.push(`${place} (not read)`);
    else if (value) {
      key = value;
      from = place;
      looked.push(`${place} (used)`);
    } else looked.push(`${place} (${missing})`);
  };
  take('--key', flag, 'not given');
  for (const name of KEY_VARIABLES) take(name, env[name], 'not set');
  const file = join(dataDir, FUNCTIONS_KEY_FILE);
  if (key === undefined && !isLoopbackUrl(forUrl)) {
    looked.push(`${file} (not read: ${forUrl} is not the local stack)`);
    return { key, from, looked };
  }
  let fromFile: string | undefined;
  if (key === undefined) {
    try {
      fromFile = readFileSync(file, 'utf8').trim() || undefined;
    } catch {
      fromFile = undefined;
    }
  }
  take(file, fromFile, existsSync(file) ? 'empty' : 'absent');
  return { key, from, looked };
}

/** The sentence a refused (401/403) call ends with: which key was sent, and every place looked at. */
export function keyRefusedHint(found: FoundKey): string {
  const places = found.looked.join(', ');
  return found.key === undefined
    ? `the app asks for a function key and none was found; looked at: ${places}. Give it with --key or FUNCTIONS_KEY (npm start prints it)`
    : `the function key from ${found.from ?? '?'} was refused; looked at: ${places}. Give the app's key with --key or FUNCTIONS_KEY (npm start prints it)`;
}

/**
 * A connection string `dmf drop` / `dmf send` need: the variable `npm start` prints
 * (`STORAGE_CONNECTION_STRING`, `SERVICEBUS_CONNECTION_STRING`), else the value the last
 * `npm start` recorded in its data folder. Throws {@link CliError} naming both places.
 */
export function findConnectionString(
  name: 'STORAGE_CONNECTION_STRING' | 'SERVICEBUS_CONNECTION_STRING',
  env: NodeJS.ProcessEnv,
  dataDir: string,
): string {
  const value = env[name] || recordedStackLines(dataDir)[name];
  if (value) return value;
  throw new CliError(
    `No ${name}: set it (npm start prints it; on Azure, the account's connection string), or run npm start, which records it in ${join(dataDir, STACK_LINES_FILE)}.`,
    { code: 'NO_CONNECTION_STRING' },
  );
}
