import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import {
  BLOB_SDK_BINDING_SOURCE,
  blobReferenceFromBindingData,
  registerBlobSdkBinding,
} from '../../../src/shared/app/sdkBinding.js';

const bindingData = (content: unknown, source = 'AzureStorageBlobs') => ({
  version: '1.0',
  source,
  contentType: 'application/json',
  content: Buffer.from(JSON.stringify(content)),
});

describe('blob SDK binding (AzureStorageBlobs model binding data)', () => {
  it('reads the reference the blob extension sends', () => {
    expect(
      blobReferenceFromBindingData(
        bindingData({
          Connection: 'AzureWebJobsStorage',
          ContainerName: 'dmf-inbound',
          BlobName: 'local/C/a.zip',
        }),
      ),
    ).toEqual({ connection: 'AzureWebJobsStorage', containerName: 'dmf-inbound', blobName: 'local/C/a.zip' });
  });

  it('refuses another source or an incomplete reference', () => {
    expect(() =>
      blobReferenceFromBindingData(
        bindingData({ Connection: 'c', ContainerName: 'x', BlobName: 'y' }, 'CosmosDB'),
      ),
    ).toThrow();
    expect(() =>
      blobReferenceFromBindingData(bindingData({ Connection: 'c', ContainerName: 'x' })),
    ).toThrow();
  });

  it('registers its factory in the registry @azure/functions resolves through (the CommonJS copy), once', () => {
    registerBlobSdkBinding();
    registerBlobSdkBinding();
    const { ResourceFactoryResolver } = createRequire(import.meta.url)(
      '@azure/functions-extensions-base',
    ) as {
      ResourceFactoryResolver: {
        getInstance(): { createClient(source: string, data: unknown): unknown };
      };
    };
    expect(
      ResourceFactoryResolver.getInstance().createClient(
        BLOB_SDK_BINDING_SOURCE,
        bindingData({ Connection: 'AzureWebJobsStorage', ContainerName: 'c', BlobName: 'b' }),
      ),
    ).toEqual({ connection: 'AzureWebJobsStorage', containerName: 'c', blobName: 'b' });
  });
});
