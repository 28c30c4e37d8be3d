/**
 * A working install looks like one (issue 16): on the machine's own Node (older than the project's
 * Node 22), `npm ci` prints no EBADENGINE warning and `npx dmf --help` prints the help only.
 * Skipped where the machine's Node is the project's (nothing to check).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runProcess } from '../support/process.js';

const ROOT = join(import.meta.dirname, '..', '..');

/** PATH without the node_modules/.bin folders npm scripts put first: what a user's shell has. */
const userPath = (process.env.PATH ?? '')
  .split(delimiter)
  .filter((dir) => !dir.includes('node_modules'))
  .join(delimiter);

/** The environment of a user's shell: no npm_* variables of the `npm test` running this. */
const userEnv = (): NodeJS.ProcessEnv => ({
  ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k))),
  PATH: userPath,
});

function machineNode(): { version: string } | undefined {
  try {
    const version = execFileSync('node', ['--version'], { env: userEnv(), encoding: 'utf8' }).trim();
    return { version };
  } catch {
    return undefined;
  }
}

const node = machineNode();
const older = node !== undefined && Number(/^v(\d+)/.exec(node.version)?.[1]) < 22;

describe.skipIf(!older)(
  `install on the machine's Node (${node?.version ?? 'none'}${older ? '' : ': skipped, not older than 22'})`,
  () => {
    it('npm ci prints no EBADENGINE warning', async () => {
      const run = await runProcess('npm', ['ci', '--dry-run'], { cwd: ROOT, env: userEnv() });
      expect(run.stderr + run.stdout).not.toContain('EBADENGINE');
      expect(run.code).toBe(0);
    }, 120_000);

    it('npx dmf --help prints the help and nothing else', async () => {
      expect(existsSync(join(ROOT, 'dist', 'bin', 'dmf.js'))).toBe(true);
      // a fresh npm cache: npx installs the project into it on the first call (the call that warned)
      const cache = mkdtempSync(join(tmpdir(), 'npm-cache-'));
      let run;
      try {
        run = await runProcess('npx', ['dmf', '--help'], {
          cwd: ROOT,
          env: { ...userEnv(), npm_config_cache: cache },
        });
      } finally {
        rmSync(cache, { recursive: true, force: true });
      }
      expect(run.stderr).toBe('');
      expect(run.stdout).toMatch(/^Usage: dmf /);
      expect(run.code).toBe(0);
    }, 60_000);
  },
);
