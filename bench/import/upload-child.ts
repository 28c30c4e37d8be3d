/**
 * One measured upload in a clean process (started by bench/import/upload.ts with `--expose-gc`):
 * the upload activity's own function (`uploadPackage`: server-side copy, streaming only as a
 * fallback) or the streaming path alone, into a fresh GetAzureWriteUrl of the F&O emulator. A 1 MiB
 * warm-up upload first loads the code paths; then RSS after a full GC, sampled every 10 ms during
 * the upload, and after a GC again. Prints one JSON line.
 */
import { ClientSecretCredential } from '@azure/identity';
import { BlobServiceClient } from '@azure/storage-blob';
import {
  UPLOAD_BLOCK_SIZE,
  UPLOAD_CONCURRENCY,
  uploadPackage,
} from '../../src/activities/imports/uploadAndStart.js';
import type { Runtime } from '../../src/shared/app/runtime.js';
import { DmfPackageClient, uploadPackageToSas } from '../../src/shared/dmf/index.js';
import type { Logger } from '../../src/shared/log/index.js';
import { openBlobStream } from '../../src/shared/storage/index.js';

interface ChildInput {
  connectionString: string;
  emulator: {
    baseUrl: string;
    tenantId: string;
    clientId: string;
    clientSecret: string;
    authorityHost: string;
    scope: string;
  };
  container: string;
  path: string;
  warmPath: string;
  mode: 'app' | 'streamed';
}

const MIB = 1024 * 1024;
const input = JSON.parse(process.env.BENCH_UPLOAD_CHILD ?? '{}') as ChildInput;
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');

const modes: string[] = [];
const logger: Logger = {
  debug: () => undefined,
  info: (m) => void modes.push(m),
  warn: (m) => void modes.push(m),
  error: () => undefined,
  child: () => logger,
};
const service = BlobServiceClient.fromConnectionString(input.connectionString);
const runtime = { blobService: service } as unknown as Runtime;
const packages = new DmfPackageClient({
  baseUrl: input.emulator.baseUrl,
  credential: new ClientSecretCredential(
    input.emulator.tenantId,
    input.emulator.clientId,
    input.emulator.clientSecret,
    { authorityHost: input.emulator.authorityHost, disableInstanceDiscovery: true },
  ),
  scope: input.emulator.scope,
});

async function upload(path: string): Promise<{ url: string; mode: string; bytes: number }> {
  const { blobUrl } = await packages.getAzureWriteUrl(`bench-${input.mode}-${Date.now()}.zip`);
  if (input.mode === 'app') {
    const done = await uploadPackage(runtime, { container: input.container, path }, blobUrl, logger);
    return { url: blobUrl, mode: done.mode, bytes: done.bytes };
  }
  const stream = await openBlobStream(service.getContainerClient(input.container), path);
  const done = await uploadPackageToSas(blobUrl, stream, {
    blockSize: UPLOAD_BLOCK_SIZE,
    maxConcurrency: UPLOAD_CONCURRENCY,
  });
  return { url: blobUrl, mode: 'streamed', bytes: done.bytes };
}

await upload(input.warmPath); // code paths, token, connections
gc();
gc();
const base = process.memoryUsage().rss;
let peak = base;
const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10);
// the write url is asked for outside the timing
const { blobUrl } = await packages.getAzureWriteUrl(`bench-${input.mode}-${Date.now()}.zip`);
const started = performance.now();
let done: { mode: string; bytes: number };
if (input.mode === 'app') {
  done = await uploadPackage(runtime, { container: input.container, path: input.path }, blobUrl, logger);
} else {
  const stream = await openBlobStream(service.getContainerClient(input.container), input.path);
  done = {
    mode: 'streamed',
    ...(await uploadPackageToSas(blobUrl, stream, {
      blockSize: UPLOAD_BLOCK_SIZE,
      maxConcurrency: UPLOAD_CONCURRENCY,
    })),
  };
}
const seconds = (performance.now() - started) / 1000;
clearInterval(sampler);
peak = Math.max(peak, process.memoryUsage().rss);
gc();
const after = process.memoryUsage().rss;
console.log(
  JSON.stringify({
    mode: done.mode,
    bytes: done.bytes,
    seconds,
    mibPerSecond: done.bytes / MIB / seconds,
    rssBaseMb: base / MIB,
    rssPeakGrowthMb: (peak - base) / MIB,
    rssAfterGrowthMb: (after - base) / MIB,
    destination: blobUrl.split('?')[0],
    said: modes.filter((m) => /server side|streamed/.test(m)),
  }),
);
