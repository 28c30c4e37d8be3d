/** `npm start`'s build step: skipped when dist/ is current, rebuilt when any input says otherwise. */
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildInputs, staleness } from '../../../scripts/build.js';

const root = mkdtempSync(join(tmpdir(), 'dmf-build-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function write(path: string, at: number): void {
  mkdirSync(join(root, path, '..'), { recursive: true });
  writeFileSync(join(root, path), '//');
  utimesSync(join(root, path), at / 1000, at / 1000);
}

describe('build staleness', () => {
  const t0 = Date.parse('2026-12-01T00:00:00Z');
  write('src/index.ts', t0);
  write('src/shared/util.ts', t0);
  write('bin/dmf.ts', t0);
  write('tsconfig.json', t0);
  write('test/ignored.ts', t0);
  write('src/node_modules/x.ts', t0);

  it('reads the compiled folders and the configuration, nothing else', () => {
    expect(Object.keys(buildInputs(root)).sort()).toEqual([
      'bin/dmf.ts',
      'src/index.ts',
      'src/shared/util.ts',
      'tsconfig.json',
    ]);
  });

  it('is current only when nothing changed since the last build started and dist/ has its entry', () => {
    const inputs = buildInputs(root);
    const stamp = { startedAtMs: t0 + 1_000, inputs };
    expect(staleness(stamp, inputs, true)).toBeUndefined();
    expect(staleness(stamp, inputs, false)).toBe('dist/ has no build');
    expect(staleness(undefined, inputs, true)).toBe('no earlier build recorded');
    write('src/shared/util.ts', t0 + 5_000); // edited after the build
    expect(staleness(stamp, buildInputs(root), true)).toBe('src/shared/util.ts changed');
    write('src/shared/util.ts', t0 - 5_000); // a checkout of an older version
    expect(staleness(stamp, buildInputs(root), true)).toBe('src/shared/util.ts changed');
    write('src/shared/util.ts', t0);
    write('src/new.ts', t0);
    expect(staleness(stamp, buildInputs(root), true)).toBe('src/new.ts is new');
    rmSync(join(root, 'src/new.ts'));
    rmSync(join(root, 'bin/dmf.ts'));
    expect(staleness(stamp, buildInputs(root), true)).toBe('bin/dmf.ts went away');
  });
});
