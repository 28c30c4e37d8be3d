/**
 * Test support for suites that run the local host in their own process (public entry
 * `@dmf-functions/devhost/testing`): resident-memory measurement for bounded-memory tests and a
 * lazy stream of zeros to upload. The host's own tests use it, and so do the app's end-to-end tests.
 */
import { Readable } from 'node:stream';

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
