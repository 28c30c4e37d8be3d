/**
 * Upload benchmark: a package blob (default 1 GiB, `BENCH_MIB` to change) streamed from the app's
 * storage into the SAS url GetAzureWriteUrl returns (F&O emulator, same Azurite, disk mode) the way
 * the upload activity does (`openBlobStream` + `uploadPackageToSas`, its block size and
 * concurrency), against a raw
 * `@azure/storage-blob` copy in the same run (download stream → `uploadStream`, 8 MiB × 5, the
 * SDK's usual settings). Prints throughput, the ratio and the peak RSS growth of each.
 * Goal: ratio ≥ 0.9, peak RSS ≤ 256 MB. Run: `npx tsx bench/import/upload.ts`.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { BlobServiceClient, BlockBlobClient } from '@azure/storage-blob';
import { startAzurite, startEmulator } from '@dmf-functions/emulator';
import { runTrustingEmulatorCa } from '../support/trust-emulator-ca.js';
import { DmfPackageClient, uploadPackageToSas } from '../../src/shared/dmf/index.js';
import { openBlobStream } from '../../src/shared/storage/index.js';
import { UPLOAD_BLOCK_SIZE, UPLOAD_CONCURRENCY } from '../../src/activities/imports/uploadAndStart.js';

const MIB = 1024 * 1024;
const size = Number(process.env.BENCH_MIB ?? 1024) * MIB;

/** Samples RSS while `run` works; returns its duration and the peak growth over the start. */
async function measure(run: () => Promise<void>): Promise<{ seconds: number; peakMb: number }> {
  global.gc?.();
  const base = process.memoryUsage().rss;
  let peak = base;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  const started = performance.now();
  await run();
  clearInterval(timer);
  peak = Math.max(peak, process.memoryUsage().rss);
  return { seconds: (performance.now() - started) / 1000, peakMb: (peak - base) / MIB };
}

/** `bytes` of incompressible data, generated as it is read (never held whole). */
function generated(bytes: number): Readable {
  let left = bytes;
  return new Readable({
    read() {
      const n = Math.min(left, 4 * MIB);
      left -= n;
      this.push(n > 0 ? randomBytes(n) : null);
    },
  });
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-upload-'));
  const azurite = await startAzurite({ location: join(dir, 'azurite') });
  const emulator = await startEmulator({ storageConnectionString: azurite.connectionString });
  try {
    const service = BlobServiceClient.fromConnectionString(azurite.connectionString);
    const inbound = service.getContainerClient('bench-inbound');
    await inbound.createIfNotExists();
    const source = inbound.getBlockBlobClient('package.zip');
    console.log(`Writing a ${size / MIB} MiB source blob…`);
    await source.uploadStream(generated(size), 8 * MIB, 4);

    const { ClientSecretCredential } = await import('@azure/identity');
    const credential = new ClientSecretCredential(
      emulator.tenantId,
      emulator.credentials.clientId,
      emulator.credentials.clientSecret ?? '',
      { authorityHost: emulator.authorityHost, disableInstanceDiscovery: true },
    );
    const packages = new DmfPackageClient({
      baseUrl: emulator.baseUrl,
      credential,
      scope: emulator.credentials.scope,
    });

    await packages.getAzureWriteUrl('warm-up.zip'); // token and connections, outside the timings
    const raw = await measure(async () => {
      const { blobUrl } = await packages.getAzureWriteUrl(`raw-${Date.now()}.zip`);
      const body = (await source.download()).readableStreamBody as Readable;
      await new BlockBlobClient(blobUrl).uploadStream(body, 8 * MIB, 5);
    });
    const app = await measure(async () => {
      const { blobUrl } = await packages.getAzureWriteUrl(`app-${Date.now()}.zip`);
      await uploadPackageToSas(blobUrl, await openBlobStream(inbound, 'package.zip'), {
        blockSize: UPLOAD_BLOCK_SIZE,
        maxConcurrency: UPLOAD_CONCURRENCY,
      });
    });
    const mbps = (r: { seconds: number }): number => size / MIB / r.seconds;
    console.log(
      `raw @azure/storage-blob copy: ${mbps(raw).toFixed(1)} MiB/s, peak RSS +${raw.peakMb.toFixed(0)} MB`,
    );
    console.log(
      `upload activity path:         ${mbps(app).toFixed(1)} MiB/s, peak RSS +${app.peakMb.toFixed(0)} MB`,
    );
    const ratio = mbps(app) / mbps(raw);
    console.log(
      `ratio ${ratio.toFixed(2)} (goal ≥ 0.9), peak RSS +${app.peakMb.toFixed(0)} MB (goal ≤ 256 MB): ${ratio >= 0.9 && app.peakMb <= 256 ? 'MET' : 'MISSED'}`,
    );
  } finally {
    await emulator.stop();
    await azurite.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await runTrustingEmulatorCa(main);
