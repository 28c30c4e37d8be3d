/**
 * Host keys besides the function key: the master key and the system key of the Durable extension's
 * webhooks (`durabletask_extension`), minted the way the Functions host mints them (random 32 bytes,
 * URL-safe base64) and kept in the host's secrets file so links handed out earlier stay valid
 * after a restart.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';

/** Name of the Durable extension's system key (`{extension}_extension`, as DefaultScriptWebHookProvider names it). */
export const DURABLE_SYSTEM_KEY_NAME = 'durabletask_extension';

/** Where the host keeps its keys under the data dir (the host's `secrets/host.json`). */
export const HOST_SECRETS_FILE = join('secrets', 'host.json');

/** The keys a running host accepts besides the function key. */
export interface HostKeys {
  /** `_master`: accepted wherever a function, admin or system key is. */
  masterKey: string;
  /** System keys by name; `durabletask_extension` opens `/runtime/webhooks/durabletask`. */
  systemKeys: Readonly<Record<string, string>>;
}

const keySchema = z.object({ name: z.string(), value: z.string().min(16) }).loose();
const secretsSchema = z.object({ masterKey: keySchema, systemKeys: z.array(keySchema) }).loose();

/** A new key value: 32 random bytes, URL-safe base64 (the host's generated keys). */
export function newKeyValue(): string {
  return randomBytes(32).toString('base64url');
}

/** Reads the keys a host keeps in `dataDir` (undefined when it has none yet). */
export function readHostKeys(dataDir: string): HostKeys | undefined {
  const file = join(dataDir, HOST_SECRETS_FILE);
  if (!existsSync(file)) return undefined;
  const parsed = secretsSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
  return {
    masterKey: parsed.masterKey.value,
    systemKeys: Object.fromEntries(parsed.systemKeys.map((k) => [k.name, k.value])),
  };
}

/**
 * The host's keys from `dataDir`, minting (and saving, owner-only) the master key and the Durable
 * system key when missing. Saved in the shape of the Functions host's secrets file.
 */
export function loadOrCreateHostKeys(dataDir: string): HostKeys {
  const kept = readHostKeys(dataDir);
  if (kept?.systemKeys[DURABLE_SYSTEM_KEY_NAME]) return kept;
  const keys: HostKeys = {
    masterKey: kept?.masterKey ?? newKeyValue(),
    systemKeys: { ...kept?.systemKeys, [DURABLE_SYSTEM_KEY_NAME]: newKeyValue() },
  };
  const file = join(dataDir, HOST_SECRETS_FILE);
  mkdirSync(join(dataDir, 'secrets'), { recursive: true, mode: 0o700 });
  const content = {
    masterKey: { name: 'master', value: keys.masterKey, encrypted: false },
    systemKeys: Object.entries(keys.systemKeys).map(([name, value]) => ({ name, value, encrypted: false })),
    source: 'devhost',
  };
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(content, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, file);
  return keys;
}
