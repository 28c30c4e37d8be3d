/**
 * CLI entry of the local Functions host: `npx tsx devhost/main.ts [--app-root DIR] [--main GLOB]
 * [--data-dir DIR] [--port N] [--key KEY]`. Flags fall back to env DEVHOST_APP_ROOT, DEVHOST_MAIN,
 * DEVHOST_DATA_DIR, DEVHOST_PORT, DEVHOST_FUNCTIONS_KEY. App settings come from the environment and
 * from `Values` of local.settings.json in the app root (environment wins). Prints
 * `FUNCTIONS_BASE_URL=…`, `FUNCTIONS_KEY=…` and then `READY` on stdout.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { startHost } from './index.js';

const localSettingsSchema = z.object({ Values: z.record(z.string(), z.string()).optional() }).loose();

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'app-root': { type: 'string' },
      main: { type: 'string' },
      'data-dir': { type: 'string' },
      port: { type: 'string' },
      key: { type: 'string' },
    },
  });
  const appRoot = resolve(values['app-root'] ?? process.env.DEVHOST_APP_ROOT ?? process.cwd());
  const settingsFile = join(appRoot, 'local.settings.json');
  const fileSettings = existsSync(settingsFile)
    ? (localSettingsSchema.parse(JSON.parse(readFileSync(settingsFile, 'utf8'))).Values ?? {})
    : {};
  const env: Record<string, string> = { ...fileSettings };
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  const port = values.port ?? process.env.DEVHOST_PORT;
  const host = await startHost({
    appRoot,
    main: values.main ?? process.env.DEVHOST_MAIN,
    dataDir: values['data-dir'] ?? process.env.DEVHOST_DATA_DIR,
    port: port ? Number(port) : 7071,
    functionsKey: values.key ?? process.env.DEVHOST_FUNCTIONS_KEY,
    env,
  });
  process.stdout.write(`FUNCTIONS_BASE_URL=${host.baseUrl}\nFUNCTIONS_KEY=${host.functionsKey}\n`);
  for (const fn of host.functions.values()) {
    const trigger = Object.values(fn.metadata.bindings).find((b) => String(b.type).endsWith('Trigger'));
    process.stdout.write(`  ${fn.metadata.name}: ${String(trigger?.type)}\n`);
  }
  process.stdout.write('READY\n');
  let stopping = false;
  const shutdown = (): void => {
    if (stopping) return;
    stopping = true;
    host.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(err);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : err);
  process.exit(1);
});
