/** `emulator/sample-package.ts`, the README's first step: its flags, and never a file named after one. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const SCRIPT = join(import.meta.dirname, '..', 'sample-package.ts');
const dir = mkdtempSync(join(tmpdir(), 'sample-package-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const run = (...args: string[]): { status: number | null; stdout: string; stderr: string } => {
  const r = spawnSync(process.execPath, ['--import', import.meta.resolve('tsx'), SCRIPT, ...args], {
    cwd: dir,
    encoding: 'utf8',
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
};

describe('sample-package.ts', () => {
  it('--help and -h print the usage and write no file', () => {
    for (const flag of ['--help', '-h']) {
      const r = run(flag);
      expect(r.status).toBe(0);
      expect(r.stdout).toContain('Usage: npx tsx emulator/sample-package.ts');
    }
    expect(readdirSync(dir)).toEqual([]);
  });

  it('an unknown flag is refused (exit 2), not taken as the file name', () => {
    const r = run('--out', 'x.zip');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('Unknown option --out');
    expect(readdirSync(dir)).toEqual([]);
  });

  it('writes the package to the file named', () => {
    expect(run('customers.zip').status).toBe(0);
    expect(readdirSync(dir)).toEqual(['customers.zip']);
  });
});
