/**
 * What `npm start` keeps in its data folder between starts, besides durable state: the ports of the
 * last start (reused when free, so a shell's exported variables stay valid across restarts) and the
 * `KEY=value` lines it printed (`dmf drop` / `dmf send` read the connection strings there when the
 * shell has none). The file names are a contract with src/cli/local.ts (which cannot import
 * devhost/); docs/operate.md lists them.
 */
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { LocalStack } from './stack.js';

/** Ports of the last start (`ports.json`). */
export const PORTS_FILE = 'ports.json';
/** The `KEY=value` lines of the last start (`stack.env`, owner-readable only: it holds keys). */
export const STACK_LINES_FILE = 'stack.env';

/** The ports a local stack listens on, besides the Functions host's (DEVHOST_PORT). */
export interface StackPorts {
  blob?: number;
  queue?: number;
  table?: number;
  serviceBus?: number;
  /** The emulator's token (authority) listener. */
  authority?: number;
  /** The emulator's environment listeners, by emulator environment name. */
  environments?: Record<string, number>;
}

const isPort = (value: unknown): value is number =>
  typeof value === 'number' && Number.isInteger(value) && value > 0 && value < 65536;

/** The ports recorded in `dataDir` (only well-formed entries; none when there is no record). */
export function readRecordedPorts(dataDir: string): StackPorts {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(join(dataDir, PORTS_FILE), 'utf8'));
  } catch {
    return {};
  }
  if (typeof raw !== 'object' || raw === null) return {};
  const record = raw as Record<string, unknown>;
  const out: StackPorts = {};
  for (const key of ['blob', 'queue', 'table', 'serviceBus', 'authority'] as const) {
    if (isPort(record[key])) out[key] = record[key];
  }
  if (typeof record.environments === 'object' && record.environments !== null) {
    const envs = Object.entries(record.environments as Record<string, unknown>).filter(
      (entry): entry is [string, number] => isPort(entry[1]),
    );
    if (envs.length > 0) out.environments = Object.fromEntries(envs);
  }
  return out;
}

/** True when nothing listens on `port` of `host` (a listener there can be opened and closed). */
export function isPortFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** The recorded ports that are free now (a taken one is left out: the service picks a new one). */
export async function freeRecordedPorts(recorded: StackPorts): Promise<StackPorts> {
  const out: StackPorts = {};
  for (const key of ['blob', 'queue', 'table', 'serviceBus', 'authority'] as const) {
    const port = recorded[key];
    if (port !== undefined && (await isPortFree(port))) out[key] = port;
  }
  for (const [name, port] of Object.entries(recorded.environments ?? {})) {
    if (await isPortFree(port)) (out.environments ??= {})[name] = port;
  }
  return out;
}

const portOf = (url: string): number | undefined => {
  const port = Number(new URL(url).port);
  return isPort(port) ? port : undefined;
};

/** The ports a running stack listens on. */
export function stackPorts(stack: LocalStack): StackPorts {
  const environments: Record<string, number> = {};
  for (const env of stack.emulator.environments) {
    const port = portOf(env.baseUrl);
    if (port !== undefined) environments[env.name] = port;
  }
  return {
    ...(stack.azurite
      ? {
          blob: portOf(stack.azurite.blobEndpoint),
          queue: portOf(stack.azurite.queueEndpoint),
          table: portOf(stack.azurite.tableEndpoint),
        }
      : {}),
    serviceBus: stack.broker.port,
    authority: portOf(stack.emulator.authorityHost),
    environments,
  };
}

/** Records the ports and the printed lines of this start in `dataDir`. */
export function recordStart(dataDir: string, ports: StackPorts, lines: readonly [string, string][]): void {
  writeFileSync(join(dataDir, PORTS_FILE), `${JSON.stringify(ports, null, 2)}\n`);
  const file = join(dataDir, STACK_LINES_FILE);
  writeFileSync(file, lines.map(([key, value]) => `${key}=${value}\n`).join(''), { mode: 0o600 });
  // an existing file keeps its mode on write: make sure it is the owner's only
  chmodSync(file, 0o600);
}
