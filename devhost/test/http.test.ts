import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHost } from '../index.js';
import type { RunningHost } from '../index.js';

let host: RunningHost;
let dataDir: string;
const probe = (): { pre: number; post: number; logs?: string[] } =>
  (globalThis as unknown as { __devhostProbe: { pre: number; post: number; logs?: string[] } })
    .__devhostProbe;
const logged: string[] = [];

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'devhost-http-'));
  host = await startHost({
    appRoot: join(import.meta.dirname, 'fixtures', 'durable-app'),
    dataDir,
    functionsKey: 'test-key-123',
    logger: (_level, category, fn, message) => {
      if (category === 'user') logged.push(`${fn}: ${message}`);
    },
    startTriggers: false,
  });
});

afterAll(async () => {
  await host?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('HTTP triggers', () => {
  it('routes /api/{route} with route parameters and query, through the library (jsonBody → JSON)', async () => {
    const res = await fetch(`${host.baseUrl}/api/hello/world?q=1`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('application/json');
    expect(await res.json()).toEqual({ greeting: 'Hello world', q: '1' });
  });

  it('enforces authLevel function with the key in x-functions-key or ?code=', async () => {
    expect((await fetch(`${host.baseUrl}/api/secure`)).status).toBe(401);
    expect(
      (await fetch(`${host.baseUrl}/api/secure`, { headers: { 'x-functions-key': 'wrong' } })).status,
    ).toBe(401);
    const withHeader = await fetch(`${host.baseUrl}/api/secure`, {
      headers: { 'x-functions-key': 'test-key-123' },
    });
    expect(withHeader.status).toBe(200);
    expect(await withHeader.text()).toBe('secret');
    expect(withHeader.headers.get('set-cookie')).toBe('session=abc; Path=/; HttpOnly; SameSite=Strict');
    expect((await fetch(`${host.baseUrl}/api/secure?code=test-key-123`)).status).toBe(200);
  });

  it('answers 404 for unknown routes and 405 for a method the function does not accept', async () => {
    expect((await fetch(`${host.baseUrl}/api/nothing-here`)).status).toBe(404);
    expect((await fetch(`${host.baseUrl}/api/hello/world`, { method: 'DELETE' })).status).toBe(405);
  });

  it('runs the app’s pre- and post-invocation hooks around each invocation', async () => {
    const before = { ...probe() };
    await fetch(`${host.baseUrl}/api/hello/x`);
    expect(probe().pre).toBe(before.pre + 1);
    expect(probe().post).toBe(before.post + 1);
  });

  it('passes user logs through the app’s log hooks to the host logger', async () => {
    await fetch(`${host.baseUrl}/api/hello/logger`);
    expect(probe().logs).toContain('greeting logger');
    expect(logged).toContain('hello: greeting logger');
  });
});
