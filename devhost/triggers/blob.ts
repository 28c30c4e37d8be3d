import { BlobServiceClient } from '@azure/storage-blob';
import type { ContainerClient } from '@azure/storage-blob';
import { QueueServiceClient } from '@azure/storage-queue';
import type { AppRegistry, RegisteredFunction } from '../core-api.js';
import type { BindingServices } from '../bindings.js';
import type { RpcTypedData } from '../core-types.js';
import { invokeRegistered, stringOption } from '../invoke.js';
import type { HostLogger } from '../invoke.js';

/** Container where the host keeps blob receipts (as the Functions host does). */
export const HOSTS_CONTAINER = 'azure-webjobs-hosts';
/** Queue receiving blobs whose handler kept failing. */
export const BLOB_POISON_QUEUE = 'webjobs-blobtrigger-poison';
/** Attempts per blob version before it is recorded as poison (the host's maxDequeueCount). */
export const BLOB_MAX_ATTEMPTS = 5;
/** Host id used in receipt paths. */
export const RECEIPT_HOST_ID = 'devhost';

/** Options for {@link startBlobTriggers}. */
export interface BlobTriggerOptions {
  registry: AppRegistry;
  logger: HostLogger;
  /** Connection string for a binding's `connection` setting name (undefined → AzureWebJobsStorage). */
  connection: (name: string | undefined) => string | undefined;
  bindings: BindingServices;
  pollIntervalMs: number;
}

/** A compiled blob path pattern `container/prefix/{name}.ext`. */
export interface BlobPathPattern {
  container: string;
  /** Literal prefix of blob names (for listing). */
  prefix: string;
  /** Matches a blob name and yields its path parameters, or undefined. */
  match(blobName: string): Record<string, string> | undefined;
}

/** Compiles a blob trigger `path` (`{param}` segments bind to path parameters). */
export function compileBlobPath(path: string): BlobPathPattern {
  const slash = path.indexOf('/');
  const container = slash < 0 ? path : path.slice(0, slash);
  const blobPart = slash < 0 ? '' : path.slice(slash + 1);
  const names: string[] = [];
  let re = '';
  let last = 0;
  for (const m of blobPart.matchAll(/\{([^}]+)\}/g)) {
    re += blobPart.slice(last, m.index).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    re += '(.+?)';
    names.push(m[1] as string);
    last = (m.index ?? 0) + m[0].length;
  }
  const tail = blobPart.slice(last);
  re += tail.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  if (names.length === 0 && tail === '') re += '.+';
  const matcher = new RegExp(`^${re}$`);
  const brace = blobPart.indexOf('{');
  return {
    container,
    prefix: brace < 0 ? blobPart : blobPart.slice(0, brace),
    match(blobName) {
      const m = matcher.exec(blobName);
      if (!m) return undefined;
      return Object.fromEntries(names.map((n, i) => [n, m[i + 1] as string]));
    },
  };
}

/** How the app declared the trigger's parameter, which decides what the host reads. */
type BlobDelivery = 'bytes' | 'string' | 'sdk';

interface Watch {
  fn: RegisteredFunction;
  triggerName: string;
  pattern: BlobPathPattern;
  connectionString: string;
  /** The binding's connection setting name (what an SDK binding reference names). */
  connectionName: string;
  delivery: BlobDelivery;
}

/** The `source` of the blob extension's SDK binding data (its extension name). */
export const BLOB_SDK_BINDING_SOURCE = 'AzureStorageBlobs';

/**
 * What the blob extension hands an SDK-type binding (`sdkBinding: true`, i.e. binding property
 * `supportsDeferredBinding: 'true'`) instead of the content: ParameterBindingData version 1.0,
 * source `AzureStorageBlobs`, JSON content naming the connection setting, container and blob. The
 * blob itself is never read by the host.
 */
export function blobSdkBindingData(
  connectionName: string,
  containerName: string,
  blobName: string,
): RpcTypedData {
  return {
    modelBindingData: {
      version: '1.0',
      source: BLOB_SDK_BINDING_SOURCE,
      contentType: 'application/json',
      content: Buffer.from(
        JSON.stringify({ Connection: connectionName, ContainerName: containerName, BlobName: blobName }),
      ),
    },
  };
}

/** The delivery the trigger binding asks for: SDK reference, string, or bytes (the default). */
export function blobDelivery(binding: Record<string, unknown>): BlobDelivery {
  const properties = binding.properties as Record<string, unknown> | undefined;
  if (String(properties?.supportsDeferredBinding).toLowerCase() === 'true') return 'sdk';
  return stringOption(binding, 'dataType')?.toLowerCase() === 'string' ? 'string' : 'bytes';
}

const stripQuotes = (etag: string): string => etag.replace(/"/g, '');

/**
 * Polls the containers of blob triggers and delivers each blob version (ETag) once. Receipts are
 * blobs under `azure-webjobs-hosts/blobreceipts/…`, so a restart does not deliver again. A handler
 * that fails is retried on later scans; after 5 failed attempts the blob is recorded as poison: a
 * message goes to the `webjobs-blobtrigger-poison` queue and a receipt marks it done.
 */
export async function startBlobTriggers(
  options: BlobTriggerOptions,
): Promise<{ scanNow(): Promise<void>; stop(): Promise<void> }> {
  const watches: Watch[] = [];
  for (const fn of options.registry.functions.values()) {
    const entry = Object.entries(fn.metadata.bindings).find(([, b]) => b.type === 'blobTrigger');
    if (!entry) continue;
    const [triggerName, binding] = entry;
    const connectionString = options.connection(
      typeof binding.connection === 'string' ? binding.connection : undefined,
    );
    if (!connectionString) {
      options.logger(
        'error',
        'system',
        fn.metadata.name,
        `Blob trigger disabled: no connection string for ${stringOption(binding, 'connection') ?? 'AzureWebJobsStorage'}.`,
      );
      continue;
    }
    watches.push({
      fn,
      triggerName,
      pattern: compileBlobPath(stringOption(binding, 'path') ?? ''),
      connectionString,
      connectionName: stringOption(binding, 'connection') || 'AzureWebJobsStorage',
      delivery: blobDelivery(binding),
    });
  }
  const failures = new Map<string, number>();
  // Receipts already seen, so steady-state scans do not ask storage about every blob again.
  const known = new Set<string>();
  let stopped = false;
  let chain: Promise<void> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;

  const receiptName = (w: Watch, blobName: string, etag: string): string =>
    `blobreceipts/${RECEIPT_HOST_ID}/${w.fn.metadata.name}/${stripQuotes(etag)}/${w.pattern.container}/${blobName}`;

  const writeReceipt = async (
    hosts: ContainerClient,
    name: string,
    status: 'completed' | 'poison',
  ): Promise<void> => {
    await hosts.getBlockBlobClient(name).upload('', 0, { metadata: { status } });
  };

  const scanWatch = async (w: Watch): Promise<void> => {
    const service = BlobServiceClient.fromConnectionString(w.connectionString);
    const container = service.getContainerClient(w.pattern.container);
    if (!(await container.exists())) return;
    const hosts = service.getContainerClient(HOSTS_CONTAINER);
    await hosts.createIfNotExists();
    for await (const item of container.listBlobsFlat({ prefix: w.pattern.prefix, includeMetadata: true })) {
      if (stopped) return;
      const params = w.pattern.match(item.name);
      const etag = item.properties.etag;
      if (!params || !etag) continue;
      const receipt = receiptName(w, item.name, etag);
      if (known.has(receipt)) continue;
      if (await hosts.getBlobClient(receipt).exists()) {
        known.add(receipt);
        continue;
      }
      const blob = container.getBlobClient(item.name);
      let data: RpcTypedData;
      if (w.delivery === 'sdk') {
        data = blobSdkBindingData(w.connectionName, w.pattern.container, item.name);
      } else {
        // Without an SDK binding the extension reads the whole blob and sends its bytes, as here.
        let content: Buffer;
        try {
          content = await blob.downloadToBuffer();
        } catch {
          continue; // deleted or replaced meanwhile; the next scan sees the new version
        }
        data = w.delivery === 'string' ? { string: content.toString('utf8') } : { bytes: content };
      }
      const metadata: Record<string, RpcTypedData> = {
        BlobTrigger: { string: `${w.pattern.container}/${item.name}` },
        Uri: { string: blob.url },
        Properties: {
          json: JSON.stringify({
            ContentType: item.properties.contentType,
            ContentLength: item.properties.contentLength,
            ETag: etag,
            LastModified: item.properties.lastModified,
            CreatedOn: item.properties.createdOn,
            BlobType: item.properties.blobType,
          }),
        },
        Metadata: { json: JSON.stringify(item.metadata ?? {}) },
      };
      for (const [k, v] of Object.entries(params)) metadata[k] = { string: v };
      try {
        const response = await invokeRegistered(
          options.registry,
          w.fn,
          {
            inputData: [{ name: w.triggerName, data }, ...options.bindings.extraInputs(w.fn)],
            triggerMetadata: metadata,
          },
          options.logger,
        );
        await options.bindings.applyOutputs(w.fn, response.outputData ?? [], params);
        await writeReceipt(hosts, receipt, 'completed');
        known.add(receipt);
        failures.delete(receipt);
      } catch (err) {
        const count = (failures.get(receipt) ?? 0) + 1;
        failures.set(receipt, count);
        options.logger(
          'error',
          'system',
          w.fn.metadata.name,
          `Executed with error (attempt ${count}/${BLOB_MAX_ATTEMPTS}) for ${item.name}: ${err instanceof Error ? err.message : String(err)}`,
        );
        if (count >= BLOB_MAX_ATTEMPTS) {
          const queue = QueueServiceClient.fromConnectionString(w.connectionString).getQueueClient(
            BLOB_POISON_QUEUE,
          );
          await queue.createIfNotExists();
          const message = JSON.stringify({
            Type: 'BlobTrigger',
            FunctionId: `Host.Functions.${w.fn.metadata.name}`,
            BlobType: 'BlockBlob',
            ContainerName: w.pattern.container,
            BlobName: item.name,
            ETag: etag,
          });
          await queue.sendMessage(Buffer.from(message).toString('base64'));
          await writeReceipt(hosts, receipt, 'poison');
          known.add(receipt);
          failures.delete(receipt);
        }
      }
    }
  };

  // Each call scans after any scan in progress, so a caller sees blobs uploaded before the call.
  const scanNow = (): Promise<void> => {
    const run = chain.then(async () => {
      for (const w of watches) {
        try {
          await scanWatch(w);
        } catch (err) {
          options.logger(
            'warning',
            'system',
            w.fn.metadata.name,
            `Blob scan failed: ${err instanceof Error ? err.message : String(err)}`,
          );
        }
      }
    });
    chain = run;
    return run;
  };

  const loop = (): void => {
    if (stopped || watches.length === 0) return;
    timer = setTimeout(() => {
      void scanNow().finally(loop);
    }, options.pollIntervalMs);
  };
  if (watches.length > 0) {
    void scanNow().finally(loop);
  }
  return {
    scanNow,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await chain;
    },
  };
}
