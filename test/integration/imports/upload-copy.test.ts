/**
 * The package upload against the F&O emulator and Azurite: server side first (F&O's storage reads
 * our blob through a short read SAS, Put Block From URL), the bytes streamed through the function
 * only where the destination refuses that, the choice logged, the SAS never.
 */
import { randomBytes } from 'node:crypto';
import { BlobServiceClient, BlockBlobClient, type ContainerClient } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { RunningEmulator } from '@dmf-functions/emulator';
import { copySasLifetimeMs, uploadPackage } from '../../../src/activities/imports/uploadAndStart.js';
import type { Runtime } from '../../../src/shared/app/runtime.js';
import type { Logger } from '../../../src/shared/log/index.js';
import { copyUrlToSas } from '../../../src/shared/dmf/index.js';
import { blobReadSasUrl, NO_SAS_SIGNER } from '../../../src/shared/storage/index.js';
import { clientsFor, startTestEmulator } from '../dmf/emulator-setup.js';
import { startStorageFaultProxy, type StorageFaultProxy } from '../../support/storage-proxy.js';

const MIB = 1024 * 1024;

/**
 * A logger keeping its lines as given, fields included — without the redaction the app's logger
 * adds, so a SAS the code would log shows here.
 */
function recordingLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const at =
    (level: string) =>
    (message: string, fields?: unknown): void => {
      lines.push(`${level} ${message} ${JSON.stringify(fields ?? {})}`);
    };
  const logger: Logger = {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: () => logger,
  };
  return { logger, lines };
}

let service: BlobServiceClient;
let source: ContainerClient;

beforeAll(async () => {
  service = BlobServiceClient.fromConnectionString(inject('azuriteConnectionString'));
  source = service.getContainerClient(`upload-copy-${Date.now()}`);
  await source.createIfNotExists();
});
afterAll(async () => {
  await source?.deleteIfExists();
});

async function packageOf(name: string, bytes: Buffer): Promise<{ container: string; path: string }> {
  await source.getBlockBlobClient(name).uploadData(bytes);
  return { container: source.containerName, path: name };
}

describe('package upload: server-side copy', () => {
  let emu: RunningEmulator;
  beforeAll(async () => {
    emu = await startTestEmulator();
  });
  afterAll(async () => {
    await emu?.stop();
  });

  it('copies the package into the write url without passing its bytes through, and says so', async () => {
    const bytes = randomBytes(3 * MIB + 12345);
    const blob = await packageOf('big.zip', bytes);
    const { packages } = clientsFor(emu);
    const { blobUrl } = await packages.getAzureWriteUrl('copy-1.zip');
    const runtime = { blobService: service } as unknown as Runtime;
    const { logger, lines } = recordingLogger();
    const result = await uploadPackage(runtime, blob, blobUrl, logger);
    expect(result).toEqual({ bytes: bytes.length, mode: 'serverSideCopy' });
    const copied = await new BlockBlobClient(blobUrl).downloadToBuffer();
    expect(copied.equals(bytes)).toBe(true);
    expect(lines.some((l) => /copied server side .*Put Block From URL.*account key/.test(l))).toBe(true);
    expect(lines.join('\n')).not.toMatch(/sig=/);
  });

  it('copies block by block at the right offsets, each block from the version it started from', async () => {
    const bytes = randomBytes(3 * MIB + 12345);
    await packageOf('blocks.zip', bytes);
    const props = await source.getBlobClient('blocks.zip').getProperties();
    const { url } = await blobReadSasUrl(service, source.containerName, 'blocks.zip', {
      expiresOn: new Date(Date.now() + 60_000),
    });
    const { blobUrl } = await clientsFor(emu).packages.getAzureWriteUrl('copy-blocks.zip');
    const copied = await copyUrlToSas(url, blobUrl, {
      size: bytes.length,
      sourceEtag: props.etag!,
      blockSize: MIB,
      maxConcurrency: 2,
    });
    expect(copied).toMatchObject({ bytes: bytes.length, blocks: 4 });
    expect((await new BlockBlobClient(blobUrl).downloadToBuffer()).equals(bytes)).toBe(true);
    // the source changed since its properties were read: no block of another version is copied
    await packageOf('blocks.zip', randomBytes(bytes.length));
    const { blobUrl: again } = await clientsFor(emu).packages.getAzureWriteUrl('copy-blocks-2.zip');
    await expect(
      copyUrlToSas(url, again, { size: bytes.length, sourceEtag: props.etag!, blockSize: MIB }),
    ).rejects.toMatchObject({ status: 412, transient: true });
  });

  it('copies an empty package', async () => {
    const blob = await packageOf('empty.zip', Buffer.alloc(0));
    const { blobUrl } = await clientsFor(emu).packages.getAzureWriteUrl('copy-empty.zip');
    const runtime = { blobService: service } as unknown as Runtime;
    const result = await uploadPackage(runtime, blob, blobUrl, recordingLogger().logger);
    expect(result).toEqual({ bytes: 0, mode: 'serverSideCopy' });
    expect((await new BlockBlobClient(blobUrl).getProperties()).contentLength).toBe(0);
  });
});

describe('package upload: a destination that refuses to copy', () => {
  let emu: RunningEmulator;
  let proxy: StorageFaultProxy;
  beforeAll(async () => {
    // F&O's storage behind a proxy that answers Put Block From URL as a service without it would
    proxy = await startStorageFaultProxy(inject('azuriteConnectionString'));
    proxy.fail((req) => req.headers['x-ms-copy-source'] !== undefined, {
      status: 501,
      code: 'NotImplemented',
    });
    emu = await startTestEmulator({ storageConnectionString: proxy.connectionString });
  });
  afterAll(async () => {
    await emu?.stop();
    await proxy?.close();
  });

  it('streams the package through the function instead, and logs why', async () => {
    const bytes = randomBytes(MIB + 7);
    const blob = await packageOf('refused.zip', bytes);
    const { blobUrl } = await clientsFor(emu).packages.getAzureWriteUrl('copy-refused.zip');
    const runtime = { blobService: service } as unknown as Runtime;
    const { logger, lines } = recordingLogger();
    const result = await uploadPackage(runtime, blob, blobUrl, logger);
    expect(result).toEqual({ bytes: bytes.length, mode: 'streamed' });
    expect(proxy.failed).toHaveLength(1); // only the first block was tried
    expect((await new BlockBlobClient(blobUrl).downloadToBuffer()).equals(bytes)).toBe(true);
    expect(
      lines.some((l) => /warn .*streamed through the function .*refused a server-side copy.*501/.test(l)),
    ).toBe(true);
    expect(lines.join('\n')).not.toMatch(/sig=/);
  });
});

describe('read SAS of our blob', () => {
  it('is read-only, for one blob, and refused when the connection can sign none', async () => {
    await packageOf('sas.zip', Buffer.from('zip'));
    const { url, signedWith } = await blobReadSasUrl(service, source.containerName, 'sas.zip', {
      expiresOn: new Date(Date.now() + 60_000),
    });
    expect(signedWith).toBe('accountKey');
    expect(new URL(url).searchParams.get('sp')).toBe('r');
    expect((await new BlockBlobClient(url).downloadToBuffer()).toString()).toBe('zip');
    await expect(new BlockBlobClient(url).uploadData(Buffer.from('x'))).rejects.toMatchObject({
      statusCode: 403,
    });
    const anonymous = new BlobServiceClient(service.url);
    await expect(
      blobReadSasUrl(anonymous, source.containerName, 'sas.zip', {
        expiresOn: new Date(Date.now() + 60_000),
      }),
    ).rejects.toMatchObject({ code: NO_SAS_SIGNER });
    expect(copySasLifetimeMs(1024 * MIB)).toBe(19 * 60_000);
  });
});
