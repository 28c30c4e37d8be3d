import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AZURE_LIMITS, formatTimeSpan, parseTimeSpan, startHost } from '../index.js';
import type { RunningHost } from '../index.js';
import { resolveLimits } from '../limits.js';
import { peakRssGrowthMb, postStream, zeros } from '../testing.js';

const appRoot = join(import.meta.dirname, 'fixtures', 'limits-app');
const MB = 1024 * 1024;
interface Probe {
  attempts: Record<string, number>;
  slowFinished: boolean;
  release?: () => void;
}
const probe = (): Probe => (globalThis as unknown as { __limitsProbe: Probe }).__limitsProbe;

let host: RunningHost;
let dataDir: string;
const logs: string[] = [];

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'devhost-limits-'));
  host = await startHost({
    appRoot,
    dataDir,
    logger: (level, _category, fn, message) => logs.push(`${level} ${fn}: ${message}`),
    startTriggers: false,
    // Shortened so the test need not wait 230 s; every other limit is Azure's.
    limits: { httpIdleTimeoutMs: 300 },
  });
});

afterAll(async () => {
  probe()?.release?.();
  await host?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

/** POSTs to the host under test. */
const post = (path: string, headers: Record<string, string>, body: Readable) =>
  postStream(`${host.baseUrl}${path}`, headers, body);

describe('request bodies (as the Functions front end: keys first, 100 MB cap)', () => {
  it('answers a keyless 2 GB POST 401 without reading it: the host’s memory stays flat', async () => {
    const { result, growthMb } = await peakRssGrowthMb(() =>
      post('/api/size', { 'content-length': String(2048 * MB) }, zeros(2048 * MB)),
    );
    console.info(
      `keyless 2 GB POST: ${result.status}, ${result.sentMb.toFixed(1)} MB sent, RSS +${growthMb.toFixed(1)} MB`,
    );
    expect(result.status).toBe(401);
    expect(result.sentMb).toBeLessThan(64);
    expect(growthMb).toBeLessThanOrEqual(64);
  });

  it('answers a body declared over 100 MB 413 before the function runs, without reading it', async () => {
    const { result, growthMb } = await peakRssGrowthMb(() =>
      post(
        '/api/size',
        { 'x-functions-key': host.functionsKey, 'content-length': String(101 * MB) },
        zeros(101 * MB),
      ),
    );
    console.info(
      `101 MB POST: ${result.status}, ${result.sentMb.toFixed(1)} MB sent, RSS +${growthMb.toFixed(1)} MB`,
    );
    expect(result.status).toBe(413);
    expect(result.text).toBe('');
    expect(result.sentMb).toBeLessThan(64);
    expect(growthMb).toBeLessThanOrEqual(64);
  });

  it('answers a chunked body that passes 100 MB 413 as soon as it does', async () => {
    const result = await post(
      '/api/size',
      { 'x-functions-key': host.functionsKey, 'transfer-encoding': 'chunked' },
      zeros(101 * MB),
    );
    expect(result.status).toBe(413);
  });

  it('hands a body under the cap to the function whole (buffered: the app did not enable HTTP streaming)', async () => {
    const result = await post(
      '/api/size',
      { 'x-functions-key': host.functionsKey, 'content-length': String(5 * MB) },
      zeros(5 * MB),
    );
    expect(result.status).toBe(200);
    expect(JSON.parse(result.text)).toEqual({ bytes: 5 * MB });
  });
});

describe('the front end’s idle timeout', () => {
  it('answers 502 when the function has not answered in time; the function keeps running', async () => {
    const res = await fetch(`${host.baseUrl}/api/slow`);
    expect(res.status).toBe(502);
    expect(await res.text()).toBe('');
    expect(probe().slowFinished).toBe(false);
    probe().release?.();
    await expect.poll(() => probe().slowFinished).toBe(true);
    expect(logs.join('\n')).toContain(
      "No response within the front end's idle timeout (300 ms): answered 502",
    );
  });
});

describe('functionTimeout from host.json (00:00:01 in the fixture)', () => {
  it('fails an activity that runs past it with the host’s message; the orchestrator sees the failure', async () => {
    const id = await host.durable.startNew('timeoutCaught');
    const final = await host.durable.waitForCompletion(id, 20_000);
    expect(final.runtimeStatus).toBe('Completed');
    expect(String(final.output)).toContain(
      "Activity function 'hangAlways' failed: Timeout value of 00:00:01 was exceeded by function: Functions.hangAlways",
    );
    expect(logs.join('\n')).toMatch(
      /Timeout value of 00:00:01 exceeded by function 'Functions\.hangAlways' \(Id: '[0-9a-f-]+'\)\. Initiating cancellation\./,
    );
  });

  it('lets the durable retry policy run the timed-out activity again', async () => {
    const id = await host.durable.startNew('timeoutRetry', { input: 'k1' });
    const final = await host.durable.waitForCompletion(id, 20_000);
    expect(final.runtimeStatus).toBe('Completed');
    expect(final.output).toBe('ok after 2');
    expect(probe().attempts.k1).toBe(2);
  });
});

describe('limit settings', () => {
  it('are Azure’s unless a test says otherwise', () => {
    expect(AZURE_LIMITS).toEqual({
      maxRequestBodyBytes: 104_857_600,
      httpIdleTimeoutMs: 230_000,
      functionTimeoutMs: 'host.json',
      jsonOnlyDurableStarts: true,
    });
    expect(host.limits).toMatchObject({ maxRequestBodyBytes: 104_857_600, functionTimeoutMs: 1000 });
    expect(resolveLimits(undefined, undefined).functionTimeoutMs).toBe(30 * 60_000);
    expect(resolveLimits(undefined, '-1').functionTimeoutMs).toBe(false);
    expect(resolveLimits({ maxRequestBodyBytes: false, functionTimeoutMs: false }, '00:05:00')).toMatchObject(
      {
        maxRequestBodyBytes: false,
        functionTimeoutMs: false,
      },
    );
    expect(() => resolveLimits(undefined, '30 minutes')).toThrow(/not a TimeSpan/);
  });

  it('read and print TimeSpans as .NET does', () => {
    expect(parseTimeSpan('00:30:00')).toBe(1_800_000);
    expect(parseTimeSpan('1.02:03:04.5')).toBe(((26 * 60 + 3) * 60 + 4.5) * 1000);
    expect(parseTimeSpan('-1')).toBe(false);
    expect(parseTimeSpan('ten')).toBeUndefined();
    expect(formatTimeSpan(1_800_000)).toBe('00:30:00');
    expect(formatTimeSpan(500)).toBe('00:00:00.5000000');
    expect(formatTimeSpan(26 * 3600_000)).toBe('1.02:00:00');
  });
});
