/**
 * The functions the app registers, read the way the Functions worker reads them: the app's entry
 * (src/index.ts) is imported with `@azure/functions-core` answered by the local host's registry
 * (`@dmf-functions/devhost`), so every `app.*` / `df.app.*` call lands there with its binding metadata.
 */
import { join } from 'node:path';
import { loadApp, type AppRegistry } from '@dmf-functions/devhost';
import type { RegisteredFunctionInfo } from './checks.js';

/** Options of {@link loadAppFunctions}. */
export interface LoadAppFunctionsOptions {
  /** Repository root. */
  appRoot: string;
  /** Entry file relative to appRoot. Default `src/index.ts` (the source of package.json `main`). */
  main?: string;
  /** App settings present while the app's modules load (as on Azure); restored afterwards. */
  env?: Readonly<Record<string, string>>;
}

/** Imports the app and returns every function it registers with its bindings. */
export async function loadAppFunctions(options: LoadAppFunctionsOptions): Promise<RegisteredFunctionInfo[]> {
  const registry: AppRegistry = { functions: new Map(), hooks: [], log: () => {} };
  const saved = new Map<string, string | undefined>();
  for (const [k, v] of Object.entries(options.env ?? {})) {
    saved.set(k, process.env[k]);
    process.env[k] = v;
  }
  try {
    await loadApp(registry, {
      appRoot: options.appRoot,
      main: join(options.appRoot, options.main ?? 'src/index.ts'),
    });
  } finally {
    for (const [k, v] of saved) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
  return [...registry.functions.values()].map((f) => ({
    name: f.metadata.name,
    bindings: f.metadata.bindings,
  }));
}
