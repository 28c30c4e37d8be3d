// Loads an unpacked deployment package the way the Functions worker does, in a plain Node process
// (no tsx, no vitest): `@azure/functions-core` is answered by the local host's compiled stub
// (`@dmf-functions/devhost/worker-stub`, built by npm run build), everything else comes from the
// package folder. Prints one JSON line:
// { functions: [{ name, bindings }], hooks: [types], cjsFiles: [every CommonJS file loaded] }.
// Usage: node test/infra/load-package.mjs <repo root> <package folder>
import { createRequire } from 'node:module';
import process from 'node:process';

const [repoRoot, appRoot] = process.argv.slice(2);
if (!repoRoot || !appRoot) throw new Error('usage: load-package.mjs <repo root> <package folder>');
// Resolved from the repository (where this script lives), not from the package folder.
const { loadApp } = await import('@dmf-functions/devhost/worker-stub');
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
