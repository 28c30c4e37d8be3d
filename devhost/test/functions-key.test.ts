import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { FUNCTIONS_KEY_FILE, persistentFunctionsKey } from '../stack.js';

const root = mkdtempSync(join(tmpdir(), 'dmf-key-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

test('npm start keeps its function key across restarts, private to the owner; a fresh data folder gets a new one', () => {
  const dataDir = join(root, 'start');
  const first = persistentFunctionsKey(dataDir);
  expect(first).toMatch(/^[A-Za-z0-9_-]{32}$/);
  expect(persistentFunctionsKey(dataDir)).toBe(first);
  expect(statSync(join(dataDir, FUNCTIONS_KEY_FILE)).mode & 0o777).toBe(0o600);
  rmSync(dataDir, { recursive: true });
  expect(persistentFunctionsKey(dataDir)).not.toBe(first);
});
