/**
 * SDK-type blob trigger binding (`sdkBinding: true`) without `@azure/functions-extensions-blob`
 * (not available from our registry). With it the Functions host's blob extension hands the worker
 * a reference instead of the blob's bytes: ModelBindingData with source `AzureStorageBlobs` and JSON
 * content `{ Connection, ContainerName, BlobName }`. `@azure/functions` turns that into the
 * trigger's value through the factory registered for the source in
 * `@azure/functions-extensions-base`; ours returns the validated reference, and the triggers keep
 * reading what they need through the app's own storage clients. So no dropped file is ever loaded
 * whole into a function's memory.
 */
import { createRequire } from 'node:module';
import type { ResourceFactoryResolver as Resolver } from '@azure/functions-extensions-base';
import { z } from 'zod';

/** The `source` the blob extension gives its SDK binding data. */
export const BLOB_SDK_BINDING_SOURCE = 'AzureStorageBlobs';

/** What an SDK-bound blob trigger receives: where the blob is, not its content. */
export interface BlobReference {
  /** App setting naming the storage connection. */
  connection: string;
  containerName: string;
  blobName: string;
}

const BindingData = z.object({
  source: z.literal(BLOB_SDK_BINDING_SOURCE),
  content: z.instanceof(Uint8Array),
});
const Content = z.object({
  Connection: z.string(),
  ContainerName: z.string().min(1),
  BlobName: z.string().min(1),
});

/** Reads the blob extension's binding data into a {@link BlobReference} (throws on anything else). */
export function blobReferenceFromBindingData(data: unknown): BlobReference {
  const { content } = BindingData.parse(data);
  const parsed = Content.parse(JSON.parse(Buffer.from(content).toString('utf8')));
  return { connection: parsed.Connection, containerName: parsed.ContainerName, blobName: parsed.BlobName };
}

/** Registers the `AzureStorageBlobs` factory once per process (every SDK-bound blob trigger calls it). */
export function registerBlobSdkBinding(): void {
  // @azure/functions loads this package with require(): an ESM import would get a second copy with
  // its own, empty registry.
  const { ResourceFactoryResolver } = createRequire(import.meta.url)('@azure/functions-extensions-base') as {
    ResourceFactoryResolver: typeof Resolver;
  };
  const resolver = ResourceFactoryResolver.getInstance();
  if (!resolver.hasResourceFactory(BLOB_SDK_BINDING_SOURCE)) {
    resolver.registerResourceFactory(BLOB_SDK_BINDING_SOURCE, (data) => blobReferenceFromBindingData(data));
  }
}
