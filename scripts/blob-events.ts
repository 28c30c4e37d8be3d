/**
 * Event Grid for blob triggers under `func start`: the app's blob triggers use `source: 'EventGrid'`
 * (Flex Consumption has no polling blob trigger), and under Azure Functions Core Tools with Azurite
 * nothing sends them events, so they never fire. This watcher plays Event Grid's part: it lists the
 * watched containers in Azurite and, for each blob created (or overwritten) since it started, POSTs
 * the `Microsoft.Storage.BlobCreated` event Azure Storage would send to the blob extension's webhook,
 * `{functions}/runtime/webhooks/blobs?functionName=Host.Functions.{name}` — the endpoint the azd
 * postdeploy hook subscribes on Azure (infra/hooks/postdeploy.sh).
 *
 * What the webhook needs, from the extension's source (azure-sdk-for-net,
 * Microsoft.Azure.WebJobs.Extensions.Storage.Blobs: Config/BlobsExtensionConfigProvider.cs and the
 * shared HttpRequestProcessor): header `aeg-event-type: Notification` (else 400), a JSON array (or
 * one object) of events, and per event `data.url` (parsed with BlobUriBuilder into container and
 * blob name), `data.eTag` (without quotes: it adds them) and `data.blobType` (`BlockBlob` …); it
 * answers 202 and queues the invocation. The event shape is Event Grid's schema for Blob Storage
 * (Learn: "Azure Blob Storage as an Event Grid source").
 */
import { randomUUID } from 'node:crypto';
import type { BlobServiceClient } from '@azure/storage-blob';

/** The function → container pairs the azd postdeploy hook subscribes (its DMF_BLOB_TRIGGERS default). */
export const DEFAULT_BLOB_TRIGGERS =
  'importBlobTrigger=dmf-inbound recurringImportBlobTrigger=dmf-recurring-inbound';

/** A blob trigger and the container it watches. */
export interface BlobTriggerRoute {
  functionName: string;
  container: string;
}

/** Parses `function=container` pairs separated by spaces (DMF_BLOB_TRIGGERS). */
export function parseBlobTriggers(text: string): BlobTriggerRoute[] {
  return text
    .split(/\s+/)
    .filter(Boolean)
    .map((pair) => {
      const at = pair.indexOf('=');
      const functionName = pair.slice(0, at);
      const container = pair.slice(at + 1);
      if (at <= 0 || !container)
        throw new Error(`DMF_BLOB_TRIGGERS entry "${pair}" is not function=container`);
      return { functionName, container };
    });
}

/** An event in the Event Grid schema. */
export interface EventGridEvent {
  id: string;
  topic: string;
  subject: string;
  eventType: string;
  eventTime: string;
  data: Record<string, unknown>;
  dataVersion: string;
  metadataVersion: string;
}

/** The blob an event is about. */
export interface CreatedBlob {
  /** Storage account name (Azurite: devstoreaccount1). */
  accountName: string;
  container: string;
  /** Blob name (the path inside the container). */
  name: string;
  /** Blob URL, encoded as the SDK encodes it. */
  url: string;
  /** ETag as storage returns it (with or without quotes). */
  etag: string;
  contentLength: number;
  contentType?: string;
  /** `BlockBlob`, `AppendBlob` or `PageBlob`. */
  blobType: string;
}

let sequence = 0;

/** The `Microsoft.Storage.BlobCreated` event Azure Storage sends for `blob`. */
export function blobCreatedEvent(blob: CreatedBlob, now: Date = new Date()): EventGridEvent {
  sequence += 1;
  return {
    id: randomUUID(),
    topic: `/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/local/providers/Microsoft.Storage/storageAccounts/${blob.accountName}`,
    subject: `/blobServices/default/containers/${blob.container}/blobs/${blob.name}`,
    eventType: 'Microsoft.Storage.BlobCreated',
    eventTime: now.toISOString(),
    data: {
      api: 'PutBlob',
      clientRequestId: randomUUID(),
      requestId: randomUUID(),
      // Storage events carry the ETag without quotes; the extension adds them back.
      eTag: blob.etag.replace(/^"|"$/g, ''),
      contentType: blob.contentType ?? 'application/octet-stream',
      contentLength: blob.contentLength,
      blobType: blob.blobType,
      url: blob.url,
      sequencer: sequence.toString(16).padStart(32, '0'),
      storageDiagnostics: { batchId: randomUUID() },
    },
    dataVersion: '',
    metadataVersion: '1',
  };
}

/** The blob extension's Event Grid webhook for `functionName` (the URL the azd hook subscribes). */
export function blobWebhookUrl(functionsBaseUrl: string, functionName: string, key?: string): string {
  const url = new URL('/runtime/webhooks/blobs', functionsBaseUrl);
  url.searchParams.set('functionName', `Host.Functions.${functionName}`);
  if (key) url.searchParams.set('code', key);
  return url.href;
}

/** Options of {@link startBlobEventWatcher}. */
export interface BlobEventWatcherOptions {
  blobService: BlobServiceClient;
  routes: readonly BlobTriggerRoute[];
  /** Where the Functions host listens, e.g. `http://localhost:7071`. */
  functionsBaseUrl: string;
  /** The host's `blobs_extension` system key, if it checks keys (Core Tools does not locally). */
  key?: string;
  /** Time between two listings. Default 2 000 ms. */
  intervalMs?: number;
  /**
   * Also deliver the blobs already there at start. Default false: like a new Event Grid
   * subscription, only blobs created afterwards raise events.
   */
  includeExisting?: boolean;
  /** Progress and failures. Default: none. */
  log?: (line: string) => void;
  /** HTTP client. Default the global fetch. */
  fetch?: typeof fetch;
  /** Scan every `intervalMs` from now on. Default true; false: only {@link BlobEventWatcher.scanOnce}. */
  autoStart?: boolean;
}

/** A running watcher. */
export interface BlobEventWatcher {
  /** Lists every container once and delivers what is new; resolves to the number of events accepted. */
  scanOnce(): Promise<number>;
  /** Stops the periodic scans (waits for one in progress). */
  stop(): Promise<void>;
}

/**
 * Watches the routes' containers and delivers a BlobCreated event per new blob version to its
 * function's webhook. A delivery the host refuses or cannot take (not started yet) is retried at
 * the next scan, as Event Grid retries; an accepted one (2xx) is not sent again.
 */
export function startBlobEventWatcher(options: BlobEventWatcherOptions): BlobEventWatcher {
  const log = options.log ?? (() => {});
  const post = options.fetch ?? fetch;
  const delivered = new Map<string, string>(); // container/name → etag
  let primed = options.includeExisting ?? false;
  let running: Promise<number> | undefined;
  let stopped = false;
  const accountName = options.blobService.accountName;

  const scan = async (): Promise<number> => {
    let accepted = 0;
    for (const route of options.routes) {
      const container = options.blobService.getContainerClient(route.container);
      const found: CreatedBlob[] = [];
      try {
        for await (const item of container.listBlobsFlat()) {
          found.push({
            accountName,
            container: route.container,
            name: item.name,
            url: container.getBlobClient(item.name).url,
            etag: item.properties.etag ?? '',
            contentLength: item.properties.contentLength ?? 0,
            ...(item.properties.contentType ? { contentType: item.properties.contentType } : {}),
            blobType: item.properties.blobType ?? 'BlockBlob',
          });
        }
      } catch (error) {
        if ((error as { statusCode?: number }).statusCode === 404) continue; // container not made yet
        log(`blob events: cannot list ${route.container}: ${(error as Error).message}`);
        continue;
      }
      for (const blob of found) {
        const id = `${blob.container}/${blob.name}`;
        if (delivered.get(id) === blob.etag) continue;
        if (!primed) {
          delivered.set(id, blob.etag);
          continue;
        }
        const url = blobWebhookUrl(options.functionsBaseUrl, route.functionName, options.key);
        try {
          const res = await post(url, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'aeg-event-type': 'Notification' },
            body: JSON.stringify([blobCreatedEvent(blob)]),
          });
          if (res.ok) {
            delivered.set(id, blob.etag);
            accepted += 1;
            log(`blob events: ${id} -> ${route.functionName} (${res.status})`);
          } else {
            log(
              `blob events: ${route.functionName} answered ${res.status} for ${id}; retrying at the next scan`,
            );
          }
        } catch (error) {
          log(
            `blob events: cannot reach ${options.functionsBaseUrl} (${(error as Error).message}); retrying`,
          );
        }
      }
    }
    primed = true;
    return accepted;
  };

  const scanOnce = (): Promise<number> => {
    running ??= scan().finally(() => (running = undefined));
    return running;
  };

  const interval = options.intervalMs ?? 2_000;
  let timer: NodeJS.Timeout | undefined;
  const loop = (): void => {
    if (stopped) return;
    void scanOnce().finally(() => {
      if (!stopped) timer = setTimeout(loop, interval);
    });
  };
  if (options.autoStart ?? true) loop();

  return {
    scanOnce,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running?.catch(() => 0);
    },
  };
}
