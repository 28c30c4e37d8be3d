/**
 * `npm run start:func [-- func start arguments]`: runs the built app under Azure Functions Core
 * Tools (`func start`) together with the blob-event watcher (scripts/blob-events.ts), so the
 * Event Grid blob triggers fire when files land in Azurite, as they do on Azure through the
 * subscriptions the azd postdeploy hook creates. Storage comes from `AzureWebJobsStorage` (the
 * environment, else local.settings.json `Values`, else `UseDevelopmentStorage=true`); the
 * function → container pairs from DMF_BLOB_TRIGGERS (default: the hook's). DMF_BLOB_EVENTS=off runs
 * `func start` alone. Ctrl-C stops both.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BlobServiceClient } from '@azure/storage-blob';
import { z } from 'zod';
import { DEFAULT_BLOB_TRIGGERS, parseBlobTriggers, startBlobEventWatcher } from './blob-events.js';

const localSettingsSchema = z.object({ Values: z.record(z.string(), z.string()).optional() }).loose();

/** The `--port` of `func start` arguments (Core Tools' default 7071). */
export function funcPort(args: readonly string[]): number {
  const at = args.findIndex((a) => a === '--port' || a === '-p');
  const inline = args.find((a) => a.startsWith('--port='))?.slice('--port='.length);
  const value = inline ?? (at >= 0 ? args[at + 1] : undefined);
  const port = Number(value ?? 7071);
  if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new Error(`invalid --port ${value ?? ''}`);
  return port;
}

function main(): void {
  const root = resolve(fileURLToPath(new URL('..', import.meta.url)));
  const args = process.argv.slice(2);
  const settingsFile = join(root, 'local.settings.json');
  const values = existsSync(settingsFile)
    ? (localSettingsSchema.parse(JSON.parse(readFileSync(settingsFile, 'utf8'))).Values ?? {})
    : {};
  const setting = (name: string): string | undefined => process.env[name] ?? values[name];

  const func = spawn('func', ['start', ...args], {
    cwd: root,
    stdio: 'inherit',
    shell: process.platform === 'win32',
  });
  func.on('error', (error) => {
    console.error(
      `Cannot run func (${error.message}): install Azure Functions Core Tools (https://aka.ms/func-core-tools), or run the app with npm start.`,
    );
    process.exit(1);
  });

  const watcher =
    setting('DMF_BLOB_EVENTS') === 'off'
      ? undefined
      : startBlobEventWatcher({
          blobService: BlobServiceClient.fromConnectionString(
            setting('AzureWebJobsStorage') ?? 'UseDevelopmentStorage=true',
          ),
          routes: parseBlobTriggers(setting('DMF_BLOB_TRIGGERS') ?? DEFAULT_BLOB_TRIGGERS),
          functionsBaseUrl: `http://localhost:${funcPort(args)}`,
          ...(setting('DMF_BLOBS_EXTENSION_KEY') ? { key: setting('DMF_BLOBS_EXTENSION_KEY') } : {}),
          log: (line) => console.log(line),
        });

  const forward = (signal: NodeJS.Signals): void => {
    func.kill(signal);
  };
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  func.on('exit', (code, signal) => {
    void (watcher?.stop() ?? Promise.resolve()).finally(() => process.exit(code ?? (signal ? 1 : 0)));
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
