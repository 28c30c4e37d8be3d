/**
 * Waiting for the import benchmarks' jobs: every job writes one result JSON into the results
 * container, so a bench is done when `count` of them are there.
 */
import type { ContainerClient } from '@azure/storage-blob';
import type { ImportResult } from '../../src/shared/jobs/index.js';

/** What {@link waitForResults} needs to wait and report. */
export interface WaitForResultsOptions {
  /** The app's results container. */
  results: ContainerClient;
  /** Results to wait for. */
  count: number;
  /** The host's clock now (ms), and when the first file was dropped on it. */
  clockNow: () => number;
  firstDropAt: number;
  /** Wall time (ms) the bench started, for the progress lines and the give-up rule. */
  started: number;
  /** Errors the host logged so far (appended to as it runs). */
  hostLog: readonly string[];
}

/**
 * The results of `count` jobs, printing progress every 15 s. Throws when no job finished within a
 * minute while the host logged errors: a bench whose drops all fail (a configuration the host
 * refuses, say) would otherwise wait forever.
 */
export async function waitForResults(options: WaitForResultsOptions): Promise<ImportResult[]> {
  const { results, count, clockNow, firstDropAt, started, hostLog } = options;
  const finished: ImportResult[] = [];
  const seen = new Set<string>();
  let lastReport = 0;
  while (finished.length < count) {
    for await (const blob of results.listBlobsFlat()) {
      if (!blob.name.endsWith('/result.json') || seen.has(blob.name)) continue;
      seen.add(blob.name);
      const body = await results.getBlobClient(blob.name).downloadToBuffer();
      finished.push(JSON.parse(body.toString('utf8')) as ImportResult);
    }
    if (Date.now() - lastReport > 15_000) {
      lastReport = Date.now();
      console.log(
        `  ${finished.length}/${count} done — clock +${((clockNow() - firstDropAt) / 1000).toFixed(0)} s, wall ${((Date.now() - started) / 1000).toFixed(0)} s`,
      );
    }
    if (finished.length === 0 && hostLog.length > 0 && Date.now() - started > 60_000)
      throw new Error(`no job finished in a minute; the host logged: ${hostLog[0]}`);
    if (finished.length < count) await new Promise((r) => setTimeout(r, 500));
  }
  return finished;
}
