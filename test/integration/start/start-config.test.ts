/**
 * `npm start -- --config <file>` / `DMF_CONFIG_FILE` (issue 16): the file is checked with the app's
 * own rules before anything starts, and refused with the list of its problems.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '@dmf-functions/devhost/stack';
import { runProcess } from '../../support/process.js';

const dir = mkdtempSync(join(tmpdir(), 'dmf-start-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
beforeAll(() => {
  if (!existsSync(join(PROJECT_ROOT, 'dist', 'bin', 'dmf.js'))) throw new Error('run `npm run build` first');
});

const start = (args: string[], env: Record<string, string> = {}): ReturnType<typeof runProcess> =>
  runProcess(process.execPath, ['--import', 'tsx', join('devhost', 'start.ts'), ...args], {
    cwd: PROJECT_ROOT,
    env: {
      ...process.env,
      DMF_START_DATA_DIR: join(dir, 'data'),
      DEVHOST_PORT: '0',
      DMF_CONFIG_FILE: '',
      ...env,
    },
  });

describe('npm start with another configuration', () => {
  it('--config with a file the app would refuse: exit 1 with every problem and its path', async () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(
      bad,
      JSON.stringify({
        environments: [{ name: 'local', url: 'http://plain', auth: { kind: 'managedIdentity' } }],
        dataProjects: [{ name: 'P', definitionGroupId: 'G', environment: 'nope', direction: 'import' }],
      }),
    );
    const run = await start(['--config', bad]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`npm start: --config names ${bad}, which the app would refuse:`);
    expect(run.stderr).toContain('environments[0].url: must be an https:// URL');
    expect(run.stderr).toContain('dataProjects[0].environment');
    expect(run.stdout).not.toContain('READY');
    // nothing was started: no data folder
    expect(existsSync(join(dir, 'data'))).toBe(false);
  });

  it('DMF_CONFIG_FILE naming no file, relative to where npm was run: exit 1 saying so', async () => {
    const run = await start([], { DMF_CONFIG_FILE: 'missing.json', INIT_CWD: dir });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(
      `npm start: DMF_CONFIG_FILE names ${join(dir, 'missing.json')}, which does not exist.`,
    );
  });

  it('an unknown argument: exit 1 with the usage', async () => {
    const run = await start(['--confg', 'x.json']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('unknown argument "--confg"');
    expect(run.stderr).toContain('Usage: npm start [-- --config <file>]');
  });
});
