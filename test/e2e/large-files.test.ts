/**
 * Memory stays bounded whatever the file size (issue 12.7, issue 15): the real app under a local
 * host in its own process, whose resident memory is sampled from /proc. A keyless large POST, a
 * 100 MB body streamed into storage, and a 150 MB package through a direct upload url, imported.
 */
import { createWriteStream, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, describe, expect, it } from 'vitest';
import yazl from 'yazl';
import { DmfApiClient } from '../../src/cli/api.js';
import { createHeaderXml, createManifestXml, encodePackageXml } from '../../src/shared/packages/index.js';
import { request } from 'node:http';
import { postStream, zeros } from '@dmf-functions/devhost/testing';
import { CHILD_PROCESS_HOST, customersPackage, useImportStack } from './helpers.js';

const MB = 1024 * 1024;
const s = useImportStack(CHILD_PROCESS_HOST);
const work = mkdtempSync(join(tmpdir(), 'dmf-large-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Resident memory of a process in MB (Linux: VmRSS of /proc/{pid}/status). */
function rssMb(pid: number): number {
  const line = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(line?.[1] ?? 0) / 1024;
}

/** Runs `work` and reports the host's peak RSS growth over its RSS before, in MB (sampled every 20 ms). */
async function hostGrowthMb<T>(run: () => Promise<T>): Promise<{ result: T; growthMb: number }> {
  const pid = s.stack.childHost!.process.pid!;
  const baseline = rssMb(pid);
  let peak = baseline;
  const sampler = setInterval(() => (peak = Math.max(peak, rssMb(pid))), 20);
  try {
    const result = await run();
    peak = Math.max(peak, rssMb(pid));
    return { result, growthMb: peak - baseline };
  } finally {
    clearInterval(sampler);
  }
}

/**
 * POSTs `body` the way a careful client does with a large body: headers first, and the body only
 * when no answer came within a second (a refusal — 401, 413 — is then read before anything is
 * sent: the host answers it before reading the body and closes the connection).
 */
function postHeadersFirst(
  url: string,
  headers: Record<string, string>,
  body: Readable,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers });
    let answered = false;
    req.on('response', (res) => {
      answered = true;
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => {
        body.destroy();
        req.destroy();
        resolve({ status: res.statusCode ?? 0, text });
      });
    });
    req.on('error', (error) => {
      if (!answered) reject(error);
    });
    req.flushHeaders();
    setTimeout(() => {
      if (!answered) body.pipe(req);
    }, 1000);
  });
}

/** A "Customers V3" package of about `mb` MB written to disk without ever holding it in memory (stored). */
async function writeLargePackage(path: string, mb: number): Promise<void> {
  const columns = ['CUSTOMERACCOUNT', 'NAME', 'CUSTOMERGROUPID'];
  const filler = 'x'.repeat(4000);
  const rowBytes = Buffer.byteLength(`LRG-0000000,${filler},10\r\n`);
  const rows = Math.ceil((mb * MB) / rowBytes);
  let i = 0;
  const csv = Readable.from(
    (function* () {
      yield `${columns.join(',')}\r\n`;
      for (; i < rows; i++) yield `LRG-${String(i).padStart(7, '0')},${filler},10\r\n`;
    })(),
  );
  const zip = new yazl.ZipFile();
  zip.addBuffer(
    encodePackageXml(
      createManifestXml({
        entityName: 'Customers V3',
        dataFileName: 'Customers V3.csv',
        sourceFormat: 'CSV',
        definitionGroupName: 'CustomerImport',
        columns,
      }),
    ),
    'Manifest.xml',
  );
  zip.addBuffer(encodePackageXml(createHeaderXml({ description: 'CustomerImport' })), 'PackageHeader.xml');
  zip.addReadStream(csv, 'Customers V3.csv', { compress: false });
  zip.end();
  await pipeline(zip.outputStream, createWriteStream(path));
}

describe('large files never pass through the host’s memory', () => {
  it('warms up (a small import), so the figures below are not the first request’s code loading', async () => {
    const r = await s.api('/api/imports?environment=local&project=Customers&fileName=warm.zip', {
      method: 'POST',
      body: await customersPackage({ prefix: 'WARM' }),
    });
    expect(r.status).toBe(202);
    expect((await s.waitForJob(((await r.json()) as { id: string }).id, 60_000)).status).toBe('Succeeded');
  });

  it('a keyless 1 GB POST: 401, host RSS +≤64 MB', async () => {
    const { result, growthMb } = await hostGrowthMb(() =>
      postHeadersFirst(
        `${s.stack.functionsBaseUrl}/api/imports?environment=local&project=Customers`,
        { 'content-length': String(1024 * MB) },
        zeros(1024 * MB),
      ),
    );
    console.info(`keyless 1 GB POST /api/imports: ${result.status}, host RSS +${growthMb.toFixed(1)} MB`);
    expect(result.status).toBe(401);
    expect(growthMb).toBeLessThanOrEqual(64);
  });

  it('a 100 MB body is streamed into the inbound blob: 202, host RSS +≤64 MB', async () => {
    const { result, growthMb } = await hostGrowthMb(() =>
      postStream(
        `${s.stack.functionsBaseUrl}/api/imports?environment=local&project=Customers&fileName=zeros.bin`,
        { 'x-functions-key': s.stack.functionsKey, 'content-length': String(100 * MB) },
        zeros(100 * MB),
      ),
    );
    console.info(`100 MB POST /api/imports: ${result.status}, host RSS +${growthMb.toFixed(1)} MB`);
    expect(result.status).toBe(202);
    expect(growthMb).toBeLessThanOrEqual(64);
    const stored = await s.containers.inbound
      .getBlobClient(`local/Customers/${(JSON.parse(result.text) as { id: string }).id}`)
      .exists();
    expect(stored).toBe(false); // the blob is named by its upload, not its job: checked below by size
    const sizes: number[] = [];
    for await (const b of s.containers.inbound.listBlobsFlat({ prefix: 'local/Customers/' })) {
      if (b.name.endsWith('-zeros.bin')) sizes.push(b.properties.contentLength ?? 0);
    }
    expect(sizes).toContain(100 * MB);
  });

  it('101 MB in the body: 413 before the app runs, and dmf import explains the upload url', async () => {
    const result = await postHeadersFirst(
      `${s.stack.functionsBaseUrl}/api/imports?environment=local&project=Customers&fileName=big.zip`,
      { 'x-functions-key': s.stack.functionsKey, 'content-length': String(101 * MB) },
      zeros(101 * MB),
    );
    expect(result.status).toBe(413);
    const file = join(work, 'just-over.zip');
    await pipeline(zeros(101 * MB), createWriteStream(file));
    const api = new DmfApiClient({ baseUrl: s.stack.functionsBaseUrl, key: s.stack.functionsKey });
    await expect(api.importFile(file, { environment: 'local', project: 'Customers' })).rejects.toThrow(
      /HTTP 413.*POST \/api\/uploads/s,
    );
  });

  it('a 150 MB package goes through the upload url and imports: host RSS grows less than the package', async () => {
    const file = join(work, 'customers-150.zip');
    await writeLargePackage(file, 150);
    expect(statSync(file).size).toBeGreaterThan(150 * MB);
    const api = new DmfApiClient({ baseUrl: s.stack.functionsBaseUrl, key: s.stack.functionsKey });
    const { result: job, growthMb } = await hostGrowthMb(async () => {
      const accepted = await api.importThroughUploadUrl(file, { environment: 'local', project: 'Customers' });
      expect(accepted.blobPath).toBe(`${s.names.inbound}/local/Customers/customers-150.zip`);
      for (;;) {
        // the emulator (in this process) reads the 150 MB package at ImportFromPackage and holds this
        // event loop meanwhile: a kept-alive connection the host closed in that time fails once
        const r = await s.api(`/api/jobs/${accepted.id}`).catch(() => undefined);
        if (r?.status === 200) {
          const j = (await r.json()) as { status: string; file: string; errors: unknown[] };
          if (j.status !== 'Pending' && j.status !== 'Running') return j;
        }
        await new Promise((done) => setTimeout(done, 500));
      }
    });
    console.info(`150 MB package via the upload url: ${job.status}, host RSS +${growthMb.toFixed(1)} MB`);
    expect(job).toMatchObject({ status: 'Succeeded', file: 'customers-150.zip' });
    // The whole import runs in this host: prepare and validate (every entry inflated, streamed), the
    // upload to F&O's url (8 MiB blocks × 5 in flight ≈ 40 MB by design) and the archive. Measured
    // +85 to +104 MB on a loaded 2-core machine, so the bound is "less than the package" rather than
    // a tight figure: a package held in memory whole would exceed it.
    expect(growthMb).toBeLessThanOrEqual(120);
  }, 600_000);
});
