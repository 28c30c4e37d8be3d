// Loads an unpacked deployment package the way the Functions worker does, in a plain Node process
// (no tsx, no vitest): `@azure/functions-core` is answered by the local host's compiled stub
// (dist/devhost), everything else comes from the package folder. Prints one JSON line:
// { functions: [{ name, bindings }], hooks: [types], cjsFiles: [every CommonJS file loaded] }.
// Usage: node test/infra/load-package.mjs <repo root> <package folder>
import { createRequire } from 'node:module';
import process from 'node:process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [repoRoot, appRoot] = process.argv.slice(2);
if (!repoRoot || !appRoot) throw new Error('usage: load-package.mjs <repo root> <package folder>');
const { loadApp } = await import(pathToFileURL(join(repoRoot, 'dist', 'devhost', 'load-app.js')).href);
const registry = { functions: new Map(), hooks: [], log: () => {} };
// `main` comes from the package's own package.json, as the worker reads it.
await loadApp(registry, { appRoot });
const require = createRequire(import.meta.url);
process.stdout.write(
  `${JSON.stringify({
    functions: [...registry.functions.values()].map((f) => ({
      name: f.metadata.name,
      bindings: f.metadata.bindings,
    })),
    hooks: registry.hooks.map((h) => h.type),
    cjsFiles: Object.keys(require.cache),
  })}\n`,
);
