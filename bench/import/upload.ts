/**
 * Upload benchmark (not run in CI): a package blob (default 1 GiB, `BENCH_MIB` to change) put into
 * the SAS url the F&O emulator's GetAzureWriteUrl returns (same Azurite, disk mode) by the upload
 * activity's own function (`uploadPackage`: a server-side copy, Put Block From URL with a read SAS
 * of our blob), in a clean child process started with `--expose-gc` (RSS after a full GC, then
 * sampled every 10 ms), against the physical limit measured in the same run:
 *
 * - **limit**: Azurite's own server-side copy of the same blob, driven by a minimal loop of plain
 *   `@azure/storage-blob` calls (Put Block From URL + Put Block List) at two settings — 64 MiB × 8
 *   and 256 MiB × 4 blocks in flight — the faster one counts;
 * - for context: Azurite's write-only (Put Block of an 8 MiB buffer, 4 in flight) and read-only
 *   (a download, discarded) throughput, and the streaming path (the fallback: every byte through
 *   the process) in its own clean process.
 *
 * The order of the runs alternates from one repeat to the next (`BENCH_REPEATS`, default 3).
 * Goals: app ≥ 0.9 × limit, app RSS growth ≤ 16 MB. Run: `npx tsx --expose-gc bench/import/upload.ts`.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { machineLoad, median, round1 } from '../support/figures.js';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { BlobServiceClient, BlockBlobClient } from '@azure/storage-blob';
import { startAzurite, startEmulator } from '@dmf-functions/emulator';
import { DmfPackageClient } from '../../src/shared/dmf/index.js';
import { blobReadSasUrl } from '../../src/shared/storage/index.js';
import { runTrustingEmulatorCa } from '../support/trust-emulator-ca.js';

const MIB = 1024 * 1024;
const size = Number(process.env.BENCH_MIB ?? 1024) * MIB;
const repeats = Number(process.env.BENCH_REPEATS ?? 3);
const CHILD = fileURLToPath(new URL('./upload-child.ts', import.meta.url));

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

interface ChildResult {
  mode: string;
  bytes: number;
  mibPerSecond: number;
  rssPeakGrowthMb: number;
  rssAfterGrowthMb: number;
  destination: string;
  said: string[];
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-upload-'));
  const load = machineLoad();
  const azurite = await startAzurite({ location: join(dir, 'azurite') });
  const emulator = await startEmulator({ storageConnectionString: azurite.connectionString });
  try {
    const service = BlobServiceClient.fromConnectionString(azurite.connectionString);
    const inbound = service.getContainerClient('bench-inbound');
    await inbound.createIfNotExists();
    const source = inbound.getBlockBlobClient('package.zip');
    console.error(`Writing a ${size / MIB} MiB source blob…`);
    await source.uploadStream(generated(size), 8 * MIB, 4);
    await inbound.getBlockBlobClient('warm.zip').uploadData(randomBytes(MIB));
    const { ClientSecretCredential } = await import('@azure/identity');
    const packages = new DmfPackageClient({
      baseUrl: emulator.baseUrl,
      credential: new ClientSecretCredential(
        emulator.tenantId,
        emulator.credentials.clientId,
        emulator.credentials.clientSecret ?? '',
        { authorityHost: emulator.authorityHost, disableInstanceDiscovery: true },
      ),
      scope: emulator.credentials.scope,
    });
    await packages.getAzureWriteUrl('warm-up.zip');
    const writeUrl = async (tag: string): Promise<string> =>
      (await packages.getAzureWriteUrl(`${tag}-${Date.now()}.zip`)).blobUrl;
    const dropBlob = (url: string): Promise<unknown> =>
      new BlockBlobClient(url.split('?')[0]!, service.credential).deleteIfExists();

    const rawCopy = async (blockSize: number, concurrency: number): Promise<number> => {
      const url = await writeUrl('raw');
      const { url: from } = await blobReadSasUrl(service, 'bench-inbound', 'package.zip', {
        expiresOn: new Date(Date.now() + 3_600_000),
      });
      const target = new BlockBlobClient(url);
      const count = Math.ceil(size / blockSize);
      const ids = Array.from({ length: count }, (_, i) =>
        Buffer.from(`raw-${String(i).padStart(6, '0')}`).toString('base64'),
      );
      const started = performance.now();
      let next = 0;
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (next < count) {
            const i = next++;
            await target.stageBlockFromURL(
              ids[i]!,
              from,
              i * blockSize,
              Math.min(blockSize, size - i * blockSize),
            );
          }
        }),
      );
      await target.commitBlockList(ids);
      const mibs = size / MIB / ((performance.now() - started) / 1000);
      await dropBlob(url);
      return mibs;
    };
    const writeOnly = async (): Promise<number> => {
      const target = service.getContainerClient('bench-inbound').getBlockBlobClient(`w-${Date.now()}`);
      const block = randomBytes(8 * MIB);
      const count = Math.ceil(size / block.length);
      const ids = Array.from({ length: count }, (_, i) =>
        Buffer.from(`w-${String(i).padStart(6, '0')}`).toString('base64'),
      );
      const started = performance.now();
      let next = 0;
      await Promise.all(
        Array.from({ length: 4 }, async () => {
          while (next < count) await target.stageBlock(ids[next++]!, block, block.length);
        }),
      );
      await target.commitBlockList(ids);
      const mibs = size / MIB / ((performance.now() - started) / 1000);
      await target.deleteIfExists();
      return mibs;
    };
    const readOnly = async (): Promise<number> => {
      const started = performance.now();
      const body = (await source.download()).readableStreamBody as Readable;
      for await (const chunk of body) void chunk;
      return size / MIB / ((performance.now() - started) / 1000);
    };
    const child = (mode: 'app' | 'streamed'): Promise<ChildResult> =>
      new Promise((resolve, reject) => {
        const proc = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', CHILD], {
          env: {
            ...process.env,
            BENCH_UPLOAD_CHILD: JSON.stringify({
              connectionString: azurite.connectionString,
              emulator: {
                baseUrl: emulator.baseUrl,
                tenantId: emulator.tenantId,
                clientId: emulator.credentials.clientId,
                clientSecret: emulator.credentials.clientSecret ?? '',
                authorityHost: emulator.authorityHost,
                scope: emulator.credentials.scope,
              },
              container: 'bench-inbound',
              path: 'package.zip',
              warmPath: 'warm.zip',
              mode,
            }),
          },
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        let out = '';
        proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
        proc.on('exit', (code) => {
          if (code !== 0) return reject(new Error(`child (${mode}) exited with ${String(code)}`));
          resolve(JSON.parse(out.trim().split('\n').pop()!) as ChildResult);
        });
      });

    type Kind = 'limit 64 MiB × 8' | 'limit 256 MiB × 4' | 'write-only' | 'read-only' | 'app' | 'streamed';
    const runs: Record<Kind, { mibs: number; rssPeak?: number; rssAfter?: number; said?: string[] }[]> = {
      'limit 64 MiB × 8': [],
      'limit 256 MiB × 4': [],
      'write-only': [],
      'read-only': [],
      app: [],
      streamed: [],
    };
    const kinds = Object.keys(runs) as Kind[];
    for (let rep = 0; rep < repeats; rep++) {
      const order = rep % 2 === 0 ? kinds : [...kinds].reverse();
      for (const kind of order) {
        let figure: (typeof runs)[Kind][number];
        if (kind === 'limit 64 MiB × 8') figure = { mibs: await rawCopy(64 * MIB, 8) };
        else if (kind === 'limit 256 MiB × 4') figure = { mibs: await rawCopy(256 * MIB, 4) };
        else if (kind === 'write-only') figure = { mibs: await writeOnly() };
        else if (kind === 'read-only') figure = { mibs: await readOnly() };
        else {
          const r = await child(kind);
          if (r.bytes !== size) throw new Error(`${kind}: ${r.bytes} bytes of ${size}`);
          if (kind === 'app' && r.mode !== 'serverSideCopy')
            throw new Error(`app path ${r.mode}: ${r.said.join('; ')}`);
          await new BlockBlobClient(r.destination, service.credential).deleteIfExists();
          figure = {
            mibs: r.mibPerSecond,
            rssPeak: r.rssPeakGrowthMb,
            rssAfter: r.rssAfterGrowthMb,
            said: r.said,
          };
        }
        runs[kind].push(figure);
        console.error(
          `repeat ${rep + 1} ${kind}: ${JSON.stringify({ ...figure, mibs: round1(figure.mibs) })}`,
        );
      }
    }
    const med = (kind: Kind): number => round1(median(runs[kind].map((r) => r.mibs)));
    const limit = Math.max(med('limit 64 MiB × 8'), med('limit 256 MiB × 4'));
    const app = med('app');
    const appRss = Math.max(...runs.app.map((r) => r.rssPeak ?? 0));
    console.log(
      JSON.stringify(
        {
          machine: load.report(),
          mib: size / MIB,
          repeats,
          mibPerSecond: Object.fromEntries(
            kinds.map((k) => [k, { runs: runs[k].map((r) => round1(r.mibs)), median: med(k) }]),
          ),
          rssPeakGrowthMb: {
            app: runs.app.map((r) => round1(r.rssPeak ?? 0)),
            streamed: runs.streamed.map((r) => round1(r.rssPeak ?? 0)),
          },
          appSaid: runs.app[0]?.said,
          goals: {
            '≥ 0.9 × limit': `${round1((app / limit) * 100) / 100} (${app} of ${limit} MiB/s) ${app >= 0.9 * limit ? 'MET' : 'NOT MET'}`,
            'RSS growth ≤ 16 MB': `${round1(appRss)} MB ${appRss <= 16 ? 'MET' : 'NOT MET'}`,
          },
        },
        null,
        2,
      ),
    );
  } finally {
    await emulator.stop();
    await azurite.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await runTrustingEmulatorCa(main);
