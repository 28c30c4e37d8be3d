import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlobServiceClient } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startHost } from '../index.js';
import type { RunningHost } from '../index.js';
import { peakRssGrowthMb } from '../testing.js';

interface BlobProbe {
  sdk: { client: Record<string, unknown>; name: string; properties: Record<string, unknown> }[];
  bytes: { isBuffer: boolean; text: string }[];
  strings: { type: string; value: unknown }[];
}
const probe = (): BlobProbe => (globalThis as unknown as { __blobProbe: BlobProbe }).__blobProbe;
const appRoot = join(import.meta.dirname, 'fixtures', 'blob-sdk-app');
const connectionString = inject('azuriteConnectionString');
const suffix = randomBytes(4).toString('hex');
const containers = { sdk: `sdk${suffix}`, bytes: `bytes${suffix}`, string: `string${suffix}` };
const service = BlobServiceClient.fromConnectionString(connectionString);
const MB = 1024 * 1024;

let host: RunningHost;
let dataDir: string;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'devhost-blob-sdk-'));
  for (const name of Object.values(containers)) await service.getContainerClient(name).createIfNotExists();
  host = await startHost({
    appRoot,
    dataDir,
    logger: () => {},
    env: {
      AzureWebJobsStorage: connectionString,
      SDK_CONTAINER: containers.sdk,
      BYTES_CONTAINER: containers.bytes,
      STRING_CONTAINER: containers.string,
    },
    blobPollIntervalMs: 60_000,
  });
});

afterAll(async () => {
  await host?.stop();
  for (const name of Object.values(containers)) await service.getContainerClient(name).deleteIfExists();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('blob trigger content, as the blob extension delivers it for the declared binding', () => {
  it('sdkBinding: hands a 500 MB blob over as a reference (AzureStorageBlobs binding data) without reading it', async () => {
    // A sparse page blob: 500 MB long, nothing uploaded, so no test buffer holds it either.
    await service
      .getContainerClient(containers.sdk)
      .getPageBlobClient('drop/big.zip')
      .create(500 * MB);
    const { growthMb } = await peakRssGrowthMb(() => host.blobTriggers.scanNow());
    console.info(`500 MB blob, sdkBinding trigger: RSS +${growthMb.toFixed(1)} MB`);
    expect(probe().sdk).toHaveLength(1);
    const [delivered] = probe().sdk;
    expect(delivered?.client).toEqual({
      source: 'AzureStorageBlobs',
      version: '1.0',
      contentType: 'application/json',
      reference: {
        Connection: 'AzureWebJobsStorage',
        ContainerName: containers.sdk,
        BlobName: 'drop/big.zip',
      },
    });
    expect(delivered?.name).toBe('drop/big.zip');
    expect(delivered?.properties).toMatchObject({ contentLength: 500 * MB });
    expect(growthMb).toBeLessThanOrEqual(64);
  });

  it('default binding: reads the blob and hands over its bytes', async () => {
    await service.getContainerClient(containers.bytes).getBlockBlobClient('a.txt').upload('bytes!', 6);
    await host.blobTriggers.scanNow();
    expect(probe().bytes).toEqual([{ isBuffer: true, text: 'bytes!' }]);
  });

  it('dataType string: hands over the content as a string', async () => {
    await service.getContainerClient(containers.string).getBlockBlobClient('a.txt').upload('text!', 5);
    await host.blobTriggers.scanNow();
    expect(probe().strings).toEqual([{ type: 'string', value: 'text!' }]);
  });
});
