// Its own file: `app.setup({ enableHttpStream: true })` is process-wide state of @azure/functions.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHost } from '../index.js';
import type { RunningHost } from '../index.js';
import { peakRssGrowthMb, postStream, zeros } from '../testing.js';

const appRoot = join(import.meta.dirname, 'fixtures', 'stream-app');
const MB = 1024 * 1024;
let host: RunningHost;
let dataDir: string;
const logs: string[] = [];

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'devhost-stream-'));
  host = await startHost({
    appRoot,
    dataDir,
    logger: (level, _category, fn, message) => logs.push(`${level} ${fn}: ${message}`),
    startTriggers: false,
  });
});

afterAll(async () => {
  await host?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

/** POSTs to the host under test. */
const post = (path: string, headers: Record<string, string>, body: Readable) =>
  postStream(`${host.baseUrl}${path}`, headers, body);

describe('HTTP streaming (app.setup({ enableHttpStream: true }))', () => {
  it('asks the library for its capabilities and forwards requests to the worker’s HTTP proxy', () => {
    expect(host.httpStreamingUri).toMatch(/^http:\/\/localhost:\d+\/$/);
  });

  it('streams a body of the full 100 MB to the function: the host’s memory stays flat', async () => {
    const { result, growthMb } = await peakRssGrowthMb(() =>
      post(
        '/api/count',
        { 'x-functions-key': host.functionsKey, 'content-length': String(100 * MB) },
        zeros(100 * MB),
      ),
    );
    console.info(`streamed 100 MB POST: ${result.status}, RSS +${growthMb.toFixed(1)} MB`);
    expect(result.status).toBe(200);
    expect(JSON.parse(result.text)).toEqual({ bytes: 100 * MB });
    expect(growthMb).toBeLessThanOrEqual(64);
  });

  it('still checks the key first and caps the body at 100 MB (413)', async () => {
    const keyless = await post('/api/count', { 'content-length': String(1024 * MB) }, zeros(1024 * MB));
    expect(keyless.status).toBe(401);
    const declared = await post(
      '/api/count',
      { 'x-functions-key': host.functionsKey, 'content-length': String(101 * MB) },
      zeros(101 * MB),
    );
    expect(declared.status).toBe(413);
    const chunked = await post(
      '/api/count',
      { 'x-functions-key': host.functionsKey, 'transfer-encoding': 'chunked' },
      zeros(101 * MB),
    );
    expect(chunked.status).toBe(413);
  });

  it('passes route parameters, query, headers and body, and streams status and headers back', async () => {
    const res = await fetch(`${host.baseUrl}/api/echo/ada?q=7`, {
      method: 'POST',
      headers: { 'x-test': 'here', 'content-type': 'text/plain' },
      body: 'hello',
    });
    expect(res.status).toBe(201);
    expect(res.headers.get('x-echo')).toBe('yes');
    expect(await res.json()).toEqual({ name: 'ada', q: '7', header: 'here', text: 'hello' });
  });

  it('delivers an answer the function gives without reading the body', async () => {
    const res = await post('/api/refuse', { 'content-length': String(20 * MB) }, zeros(20 * MB));
    expect(res.status).toBe(400);
    expect(res.text).toBe('refused before reading');
  });

  it('answers 204 when the function returns nothing and 500 when it throws', async () => {
    expect((await fetch(`${host.baseUrl}/api/nothing`)).status).toBe(204);
    expect((await fetch(`${host.baseUrl}/api/boom`)).status).toBe(500);
    expect(logs.join('\n')).toContain('Error: boom');
  });
});
