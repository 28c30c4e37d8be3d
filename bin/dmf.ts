#!/usr/bin/env node
/**
 * The `dmf` command (package.json `bin`, compiled to dist/bin/dmf.js). See src/cli/main.ts.
 *
 * The project runs on its own Node 22 (the devDependency `node@22`, first on the PATH of npm
 * scripts and `npx`). A `dmf` started by an older Node — `npm link`ed, on a machine whose `node` is
 * 20 — runs itself again on that Node 22 when it is installed, before loading anything that
 * declares Node 22: this file uses nothing newer than Node 18.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The minimum Node major the CLI's libraries declare. */
const NODE_MAJOR = 22;
/** Set in the environment of the re-run, so it never runs itself again. */
const RELAUNCHED = 'DMF_CLI_ON_PROJECT_NODE';

/** The project's own node binary (`node_modules/node/bin/node` up from here), if installed. */
function projectNode(): string | undefined {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    const candidate = join(
      dir,
      'node_modules',
      'node',
      'bin',
      process.platform === 'win32' ? 'node.exe' : 'node',
    );
    if (existsSync(candidate)) return candidate;
    if (dirname(dir) === dir) return undefined;
  }
}

const major = Number(process.versions.node.split('.')[0]);
const own = major < NODE_MAJOR && !process.env[RELAUNCHED] ? projectNode() : undefined;
if (own) {
  const child = spawn(own, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, [RELAUNCHED]: '1' },
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => {
    process.exitCode = code ?? (signal ? 1 : 0);
  });
} else {
  const { runCli } = await import('../src/cli/main.js');
  // exitCode, not exit(): lets piped stdout drain before the process ends
  process.exitCode = await runCli(process.argv.slice(2));
}
