/**
 * The blob-event watcher of `npm run start:func` (scripts/blob-events.ts) against Azurite and a
 * stand-in for the blob extension's Event Grid webhook. The local host has no such endpoint (it
 * polls), so the stand-in applies the extension's own rules (azure-sdk-for-net,
 * Microsoft.Azure.WebJobs.Extensions.Storage.Blobs: BlobsExtensionConfigProvider.ConvertAsync /
 * ProcessEventsAsync / GetBlobTriggerMessage and the shared HttpRequestProcessor):
 * - `aeg-event-type: Notification`, else 400 (SubscriptionValidation and Unsubscribe aside);
 * - the body is a JSON array of events, or one event;
 * - per event, `data.url` is parsed with BlobUriBuilder (an IP host such as Azurite's puts the
 *   account in the first path segment) into container and blob name; `data.eTag` gets quotes
 *   added; `data.blobType` minus "Blob" must name a BlobType (Block, Page, Append);
 * - `functionName` (query) is the function id, `Host.Functions.{name}`; the answer is 202.
 */
import { createServer, type Server } from 'node:http';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isIP } from 'node:net';
import { BlobServiceClient } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { z } from 'zod';
import {
  DEFAULT_BLOB_TRIGGERS,
  blobCreatedEvent,
  blobWebhookUrl,
  parseBlobTriggers,
  startBlobEventWatcher,
} from '../../scripts/blob-events.js';
import { funcPort } from '../../scripts/start-func.js';
import { blobTriggerHookPairs } from './checks.js';

/** What the extension queues for one event (its BlobTriggerMessage). */
interface TriggerMessage {
  functionId: string;
  containerName: string;
  blobName: string;
  eTag: string;
  blobType: 'Block' | 'Page' | 'Append';
}

const eventSchema = z.object({
  data: z.object({
    url: z.string().url(),
    eTag: z.string().min(1),
    blobType: z.string(),
  }),
});

/** BlobUriBuilder's split of a blob URL into container and (decoded) blob name. */
function containerAndBlob(url: string): { container: string; blob: string } {
  const u = new URL(url);
  const segments = u.pathname.split('/').slice(1);
  // IP-style (Azurite, emulators): /{account}/{container}/{blob…}; else /{container}/{blob…}
  const rest = isIP(u.hostname) || u.hostname === 'localhost' ? segments.slice(1) : segments;
  return { container: rest[0] ?? '', blob: decodeURIComponent(rest.slice(1).join('/')) };
}

/** The stand-in webhook. `status` overrides the answer (e.g. a host still starting). */
function webhook(): {
  server: Server;
  messages: TriggerMessage[];
  refused: string[];
  status: { next?: number };
} {
  const messages: TriggerMessage[] = [];
  const refused: string[] = [];
  const status: { next?: number } = {};
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://x');
      const refuse = (code: number, why: string): void => {
        refused.push(why);
        res.writeHead(code).end(why);
      };
      if (status.next) {
        const code = status.next;
        delete status.next;
        return refuse(code, `answered ${code}`);
      }
      if (req.method !== 'POST' || url.pathname !== '/runtime/webhooks/blobs')
        return refuse(404, url.pathname);
      if (req.headers['aeg-event-type'] !== 'Notification') return refuse(400, 'aeg-event-type');
      const functionId = url.searchParams.get('functionName') ?? '';
      if (!/^Host\.Functions\.[A-Za-z0-9_]+$/.test(functionId))
        return refuse(400, `functionName ${functionId}`);
      let parsed: unknown;
      try {
        parsed = JSON.parse(body);
      } catch {
        return refuse(400, 'json');
      }
      const events = z.array(eventSchema).safeParse(Array.isArray(parsed) ? parsed : [parsed]);
      if (!events.success) return refuse(400, events.error.message);
      for (const e of events.data) {
        const blobType = e.data.blobType.replace('Blob', '');
        if (!['Block', 'Page', 'Append'].includes(blobType))
          return refuse(500, `blobType ${e.data.blobType}`);
        const { container, blob } = containerAndBlob(e.data.url);
        messages.push({
          functionId,
          containerName: container,
          blobName: blob,
          eTag: `"${e.data.eTag}"`,
          blobType: blobType as TriggerMessage['blobType'],
        });
      }
      res.writeHead(202).end();
    });
  });
  return { server, messages, refused, status };
}

const service = BlobServiceClient.fromConnectionString(inject('azuriteConnectionString'));
const suffix = randomBytes(4).toString('hex');
const inbound = `evt-inbound-${suffix}`;
const recurring = `evt-recurring-${suffix}`;
let hook: ReturnType<typeof webhook>;
let baseUrl = '';

beforeAll(async () => {
  await service.getContainerClient(inbound).create();
  hook = webhook();
  await new Promise<void>((done) => hook.server.listen(0, '127.0.0.1', done));
  const address = hook.server.address();
  baseUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
});

afterAll(async () => {
  await new Promise((done) => hook?.server.close(done));
  await service.getContainerClient(inbound).deleteIfExists();
  await service.getContainerClient(recurring).deleteIfExists();
});

describe('the blob-event watcher of npm run start:func', () => {
  it('delivers one BlobCreated event per new blob version, in the shape the blob extension accepts', async () => {
    const inboundClient = service.getContainerClient(inbound);
    await inboundClient.getBlockBlobClient('usmf/Customers/before-start.zip').upload('x', 1);
    const watcher = startBlobEventWatcher({
      blobService: service,
      routes: [
        { functionName: 'importBlobTrigger', container: inbound },
        { functionName: 'recurringImportBlobTrigger', container: recurring }, // created later
      ],
      functionsBaseUrl: baseUrl,
      autoStart: false,
    });
    try {
      // A new subscription: what was there before raises nothing.
      expect(await watcher.scanOnce()).toBe(0);
      const name = 'usmf/Customers/USMF/customers 2026+ü#1.zip';
      const blob = inboundClient.getBlockBlobClient(name);
      await blob.upload('package bytes', 13, { blobHTTPHeaders: { blobContentType: 'application/zip' } });
      expect(await watcher.scanOnce()).toBe(1);
      expect(await watcher.scanOnce()).toBe(0); // delivered once
      const etag = (await blob.getProperties()).etag;
      expect(hook.refused).toEqual([]);
      expect(hook.messages).toEqual([
        {
          functionId: 'Host.Functions.importBlobTrigger',
          containerName: inbound,
          blobName: name,
          eTag: etag, // the extension's quoted ETag is the blob's own: receipts and reads match
          blobType: 'Block',
        },
      ]);

      // Overwritten: a new version, a new event; a container created later is picked up.
      await blob.upload('new bytes', 9);
      await service.getContainerClient(recurring).create();
      await service
        .getContainerClient(recurring)
        .getBlockBlobClient('usmf/ACT-1/orders.csv')
        .upload('a,b', 3);
      expect(await watcher.scanOnce()).toBe(2);
      expect(hook.messages.slice(1).map((m) => [m.functionId, m.containerName, m.blobName])).toEqual([
        ['Host.Functions.importBlobTrigger', inbound, name],
        ['Host.Functions.recurringImportBlobTrigger', recurring, 'usmf/ACT-1/orders.csv'],
      ]);
      expect(hook.messages[1]?.eTag).toBe((await blob.getProperties()).etag);

      // A host that cannot take it yet gets it again at the next scan.
      await inboundClient.getBlockBlobClient('usmf/Customers/late.zip').upload('y', 1);
      hook.status.next = 503;
      expect(await watcher.scanOnce()).toBe(0);
      expect(await watcher.scanOnce()).toBe(1);
      expect(hook.messages.at(-1)?.blobName).toBe('usmf/Customers/late.zip');
    } finally {
      await watcher.stop();
    }
  });

  it('sends the ETag without quotes, whichever form storage gave (the extension adds them)', () => {
    const base = {
      accountName: 'devstoreaccount1',
      container: 'dmf-inbound',
      name: 'a/b c.zip',
      url: 'http://127.0.0.1:10000/devstoreaccount1/dmf-inbound/a/b%20c.zip',
      contentLength: 1,
      blobType: 'BlockBlob',
    };
    const quoted = blobCreatedEvent({ ...base, etag: '"0x8DC0FFEE"' });
    expect(quoted.data.eTag).toBe('0x8DC0FFEE');
    expect(blobCreatedEvent({ ...base, etag: '0x8DC0FFEE' }).data.eTag).toBe('0x8DC0FFEE');
    expect(quoted).toMatchObject({
      eventType: 'Microsoft.Storage.BlobCreated',
      subject: '/blobServices/default/containers/dmf-inbound/blobs/a/b c.zip',
      dataVersion: '',
      metadataVersion: '1',
      data: { blobType: 'BlockBlob', url: base.url, contentLength: 1 },
    });
  });

  it('posts to the webhook the azd hook subscribes, for the same function → container pairs', () => {
    expect(blobWebhookUrl('http://localhost:7071', 'importBlobTrigger')).toBe(
      'http://localhost:7071/runtime/webhooks/blobs?functionName=Host.Functions.importBlobTrigger',
    );
    expect(blobWebhookUrl('http://localhost:7071', 'importBlobTrigger', 'k/+=')).toBe(
      'http://localhost:7071/runtime/webhooks/blobs?functionName=Host.Functions.importBlobTrigger&code=k%2F%2B%3D',
    );
    const hooks = join(import.meta.dirname, '..', '..', 'infra', 'hooks');
    const pairs = blobTriggerHookPairs({
      sh: readFileSync(join(hooks, 'postdeploy.sh'), 'utf8'),
      ps1: readFileSync(join(hooks, 'postdeploy.ps1'), 'utf8'),
    }).pairs;
    expect(parseBlobTriggers(DEFAULT_BLOB_TRIGGERS).map((r) => [r.functionName, r.container])).toEqual([
      ...pairs,
    ]);
    expect(() => parseBlobTriggers('importBlobTrigger')).toThrow(/not function=container/);
  });

  it('reads the port of the func start arguments', () => {
    expect(funcPort([])).toBe(7071);
    expect(funcPort(['--port', '7072'])).toBe(7072);
    expect(funcPort(['--cors', '*', '--port=7073'])).toBe(7073);
    expect(() => funcPort(['--port', 'x'])).toThrow(/invalid --port/);
  });
});
