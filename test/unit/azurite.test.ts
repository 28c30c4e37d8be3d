import { BlobServiceClient } from '@azure/storage-blob';
import { describe, expect, inject, it } from 'vitest';

describe('shared Azurite from globalSetup', () => {
  it('stores and reads back a blob through the real SDK', async () => {
    const service = BlobServiceClient.fromConnectionString(inject('azuriteConnectionString'));
    const container = service.getContainerClient(`smoke-${Date.now()}`);
    await container.create();
    const blob = container.getBlockBlobClient('hello.txt');
    await blob.upload('hi', 2);
    const body = await blob.downloadToBuffer();
    expect(body.toString()).toBe('hi');
    await container.delete();
  });
});
