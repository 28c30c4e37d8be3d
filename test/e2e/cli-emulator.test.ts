/**
 * `dmf emulator` finds the emulator through its workspace package (`@dmf-functions/emulator/main`),
 * from the built CLI (dist/bin/dmf.js, from `npm run build`) and from the source under tsx, and from
 * any working directory.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { emulatorConfigJsonSchema } from '@dmf-functions/emulator';

const ROOT = join(import.meta.dirname, '..', '..');
const BUILT = join(ROOT, 'dist', 'bin', 'dmf.js');

function dmf(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const run = spawnSync(process.execPath, args, { cwd: tmpdir(), encoding: 'utf8', timeout: 60_000 });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

describe('dmf emulator', () => {
  it('runs the emulator from the built CLI, outside the repository', () => {
    if (!existsSync(BUILT)) throw new Error('dist/bin/dmf.js is missing: run `npm run build` first.');
    const help = dmf([BUILT, 'emulator', '--help']);
    expect(help.stderr).toBe('');
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/^Usage: npm run emulator/);
    expect(help.stdout).toContain('--state-file <file>');
    const schema = dmf([BUILT, 'emulator', '--print-config-schema']);
    expect(schema.status).toBe(0);
    expect(JSON.parse(schema.stdout)).toEqual(emulatorConfigJsonSchema());
  });

  it('runs the emulator from the CLI source under tsx', () => {
    const schema = dmf([
      '--import',
      import.meta.resolve('tsx'),
      join(ROOT, 'bin', 'dmf.ts'),
      'emulator',
      '--print-config-schema',
    ]);
    expect(schema.stderr).toBe('');
    expect(schema.status).toBe(0);
    expect(JSON.parse(schema.stdout)).toEqual(emulatorConfigJsonSchema());
  });
});
