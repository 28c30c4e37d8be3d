/**
 * Test support for suites that run the local host in their own process (public entry
 * `@dmf-functions/devhost/testing`): a host per test file on a virtual clock, resident-memory
 * measurement for bounded-memory tests, a lazy stream of zeros to upload and a raw HTTP POST that
 * sees an answer given mid-upload (fetch cannot). The host's own tests
 * use it, and so do the app's tests (durable, infra, end-to-end). It imports vitest, so only tests
 * import it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll } from 'vitest';
import { createVirtualClock, startHost, type RunningHost, type VirtualClock } from './index.js';

/**
 * One host per test file for the app at `appRoot` (HTTP and durable only, no triggers), on a
 * virtual clock that jumps to the next durable timer when the host is idle: started before the
 * file's tests, stopped (and its data dir removed) after them. `ready` receives host and clock.
 */
export function useTestHost(
  options: { appRoot: string; start: Date | number },
  ready: (host: RunningHost, clock: VirtualClock) => void,
): void {
  let dataDir: string | undefined;
  let host: RunningHost | undefined;
  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'dmf-host-'));
    const clock = createVirtualClock({ start: options.start, autoAdvance: true });
    host = await startHost({
      appRoot: options.appRoot,
      dataDir,
      clock,
      logger: () => {},
      startTriggers: false,
    });
    ready(host, clock);
  });
  afterAll(async () => {
    await host?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });
}

/** Runs `work` and reports the peak RSS growth over the RSS before it, in MB (sampled every 10 ms). */
export async function peakRssGrowthMb<T>(work: () => Promise<T>): Promise<{ result: T; growthMb: number }> {
  // Start from a collected heap so garbage from earlier tests does not count (vitest runs node with
  // --expose-gc only on request; without it the baseline is simply taken as is).
  (globalThis as { gc?: () => void }).gc?.();
  const baseline = process.memoryUsage().rss;
  let peak = baseline;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 10);
  try {
    const result = await work();
    peak = Math.max(peak, process.memoryUsage().rss);
    return { result, growthMb: (peak - baseline) / 1024 / 1024 };
  } finally {
    clearInterval(sampler);
  }
}

/** A stream of `total` zero bytes made lazily from one reused 64 KiB chunk (no big buffer). */
export function zeros(total: number): Readable {
  const chunk = Buffer.alloc(64 * 1024);
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= total) return void this.push(null);
      const n = Math.min(chunk.length, total - sent);
      sent += n;
      this.push(n === chunk.length ? chunk : chunk.subarray(0, n));
    },
  });
}

/**
 * POSTs `body` with node:http and resolves once the answer is in, even when the host answers and
 * closes the connection while the body is still being sent. `sentMb` is what left this side by then.
 */
export function postStream(
  url: string,
  headers: Record<string, string>,
  body: Readable,
): Promise<{ status: number; text: string; sentMb: number }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers });
    let socket: Socket | undefined;
    let status: number | undefined;
    let text = '';
    let done = false;
    const finish = (): void => {
      if (done || status === undefined) return;
      done = true;
      const sentMb = (socket?.bytesWritten ?? 0) / 1024 / 1024;
      body.unpipe(req);
      body.destroy();
      req.destroy();
      resolve({ status, text, sentMb });
    };
    req.on('socket', (s) => (socket = s));
    req.on('response', (res) => {
      status = res.statusCode;
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', finish);
      res.on('error', finish);
    });
    req.on('error', (err) => (status === undefined ? reject(err) : finish()));
    req.on('close', finish);
    body.pipe(req);
  });
}
