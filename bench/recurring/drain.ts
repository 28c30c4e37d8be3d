/**
 * Recurring export drain benchmark (not run in CI): messages per second of the drain orchestration
 * against a naive sequential loop of the same requests (dequeue → download → store → ack) in the
 * same run, and duplicates (blobs per CorrelationId, downloads per message).
 *
 *   npx tsx bench/recurring/drain.ts [messages=1000]
 *
 * Needs NODE_EXTRA_CA_CERTS pointing at the emulator CA (.local/emulator/ca.pem; created on first
 * emulator start) so the app's HTTPS calls to the emulator are trusted: the script re-executes
 * itself with it when it is missing.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlobServiceClient } from '@azure/storage-blob';
import { createVirtualClock } from '@dmf-functions/devhost';
import { readSampleConfig, startLocalStack } from '@dmf-functions/devhost/stack';
import { DEFAULT_EXPORT_ACTIVITY_ID } from '@dmf-functions/emulator';
import { runTrustingEmulatorCa } from '../support/trust-emulator-ca.js';
import { createEnvironmentClients } from '../../src/shared/dmf/index.js';

const messages = Number(process.argv[2] ?? 1000);
const activityId = DEFAULT_EXPORT_ACTIVITY_ID;

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'dmf-bench-drain-'));
  const outbound = 'bench-outbound';
  const config = readSampleConfig();
  config.recurringActivities = [
    {
      id: activityId,
      environment: 'local',
      direction: 'export',
      schedule: '* * * * * *',
      maxMessagesPerRun: 1000,
    },
  ];
  const stack = await startLocalStack({
    dataDir,
    dmfConfig: config,
    clock: createVirtualClock({ autoAdvance: true }),
    logger: () => undefined,
    appSettings: { DMF_OUTBOUND_CONTAINER: outbound },
  });
  try {
    const control = stack.emulator.control;
    const seed = async (tag: string): Promise<string[]> => {
      const ids: string[] = [];
      for (let i = 0; i < messages; i++) {
        const { messageId } = await control.seedExportMessage({
          activityId,
          fileName: `${tag}-${i}.csv`,
          content: `A,B\r\n${tag}-${i},x\r\n`,
        });
        ids.push(messageId.toLowerCase());
      }
      return ids;
    };

    // naive sequential loop, same requests, same process
    const naiveIds = await seed('naive');
    const local = (config.environments as { name: string }[]).find((e) => e.name === 'local');
    const environment = {
      ...(local as object),
      url: stack.emulator.baseUrl,
      auth: {
        kind: 'clientSecret' as const,
        tenantId: stack.emulator.tenantId,
        clientId: stack.emulator.credentials.clientId,
        clientSecretSetting: 'SECRET',
        authorityHost: stack.emulator.authorityHost,
      },
    };
    const { recurring } = createEnvironmentClients(environment as never, {
      env: { SECRET: stack.emulator.credentials.clientSecret ?? '' },
    });
    const blobs = BlobServiceClient.fromConnectionString(stack.storageConnectionString).getContainerClient(
      `${outbound}-naive`,
    );
    await blobs.createIfNotExists();
    let started = Date.now();
    let naive = 0;
    for (;;) {
      const m = await recurring.dequeue(activityId);
      if (!m) break;
      const d = await recurring.download(m);
      await blobs.getBlockBlobClient(m.correlationId).uploadStream(d.stream);
      await recurring.ack(activityId, m);
      naive++;
    }
    const naiveSeconds = (Date.now() - started) / 1000;
    if (naive !== naiveIds.length) throw new Error(`naive loop handled ${naive} of ${naiveIds.length}`);

    // the drain orchestration
    const ids = await seed('drain');
    started = Date.now();
    const acked = async (): Promise<number> =>
      (await control.queues()).filter((q) => ids.includes(q.messageId.toLowerCase()) && q.status === 'Acked')
        .length;
    for (;;) {
      const done = await acked();
      if (done === ids.length) break;
      await fetch(`${stack.functionsBaseUrl}/admin/functions/recurringExportTimer`, {
        method: 'POST',
        headers: { 'x-functions-key': stack.functionsKey },
        body: '{}',
      });
      await new Promise((r) => setTimeout(r, 1000));
    }
    const drainSeconds = (Date.now() - started) / 1000;
    const container = BlobServiceClient.fromConnectionString(
      stack.storageConnectionString,
    ).getContainerClient(outbound);
    let stored = 0;
    for await (const b of container.listBlobsFlat({ prefix: `local/recurring/${activityId}/` }))
      if (ids.some((id) => b.name.endsWith(id))) stored++;
    const downloads = (await control.calls()).filter(
      (c) => c.route === 'download' && c.status === 200 && ids.includes((c.messageId ?? '').toLowerCase()),
    ).length;
    console.log(
      JSON.stringify(
        {
          messages,
          naive: { handled: naive, seconds: naiveSeconds, perSecond: +(naive / naiveSeconds).toFixed(1) },
          drain: {
            seconds: drainSeconds,
            perSecond: +(messages / drainSeconds).toFixed(1),
            blobs: stored,
            duplicateDownloads: downloads - messages,
          },
        },
        null,
        2,
      ),
    );
  } finally {
    await stack.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await runTrustingEmulatorCa(main);
