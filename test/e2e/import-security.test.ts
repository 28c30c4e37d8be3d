/**
 * The input side of imports against hostile callers (issue 12): what a caller names is checked
 * before any blob name is formed or any blob is touched, url secrets stay out of durable state,
 * and the findings of the adversarial run each have their test here.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureEmulatorCertificates } from '@dmf-functions/emulator';
import { sendServiceBusMessages } from '@dmf-functions/devhost/servicebus';
import type { Job } from '../../src/shared/jobs/index.js';
import { patchDeclaredSize } from '../unit/packages/helpers.js';
import { customersPackage, eventually, list, readText, statusFault, useImportStack } from './helpers.js';

const s = useImportStack();
/** A url signature made up for each run (nothing secret is committed); `%2B` as a real one may hold. */
const SECRET = randomBytes(18).toString('hex');
const SIGNATURE = `sig=${SECRET}%2Bxyz`;

/** An https server (the emulator's certificate, trusted by the test workers) serving urls. */
let files: Server;
let filesOrigin = '';
const served = new Map<string, { status: number; body?: Buffer }>();
beforeAll(async () => {
  const certs = ensureEmulatorCertificates();
  files = createServer({ key: certs.serverKeyPem, cert: certs.serverCertPem }, (req, res) => {
    const entry = served.get(new URL(req.url ?? '/', 'https://x').pathname);
    res.statusCode = entry?.status ?? 404;
    res.end(entry?.body);
  });
  await new Promise<void>((resolve) => files.listen(0, '127.0.0.1', resolve));
  filesOrigin = `https://127.0.0.1:${(files.address() as { port: number }).port}`;
});
afterAll(() => new Promise<void>((resolve) => files.close(() => resolve())));

const post = (query: string, init: RequestInit): Promise<Response> =>
  s.api(`/api/imports?${query}`, { method: 'POST', ...init });
const json = (body: unknown): RequestInit => ({
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});
/** Sends an import command of the sample project with `fields`; resolves with its rejection record. */
async function rejectedCommand(
  messageId: string,
  fields: Record<string, unknown>,
): Promise<{ code: string; reason: string }> {
  await sendServiceBusMessages(s.stack.serviceBusConnectionString, 'dmf-commands', {
    messageId,
    body: JSON.stringify({ type: 'import', environment: 'local', definitionGroupId: 'Customers', ...fields }),
  });
  const record = await eventually(
    async () => (await list(s.containers.results, `rejected/commands/${messageId}/`))[0],
  );
  return JSON.parse(await readText(s.containers.results, record)) as { code: string; reason: string };
}

const callsTo = async (route: string): Promise<number> =>
  (await s.stack.emulator.control.calls()).filter((c) => c.route === route).length;

/** Every file under `dir`, read as text (the host's durable state: instances, histories, entities). */
function grepTree(dir: string, needle: string): string[] {
  const hits: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) hits.push(...grepTree(path, needle));
    else if (readFileSync(path).toString('latin1').includes(needle)) hits.push(path);
  }
  return hits;
}

describe('caller values are checked before any blob name is formed', () => {
  it('HTTP legalEntity escaping the layout: 400, nothing written anywhere (issue 12.1)', async () => {
    const evil = `../../../${s.names.results}/evil`;
    const response = await post(
      `environment=local&project=Customers&legalEntity=${encodeURIComponent(evil)}`,
      {
        body: await customersPackage(),
      },
    );
    expect(response.status).toBe(400);
    const body = (await response.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('LEGAL_ENTITY_INVALID');
    expect(body.error.message).toMatch(/F&O company ids are 1-4 letters or digits/);
    expect(await list(s.containers.results, 'evil')).toEqual([]);
    expect(await list(s.containers.inbound)).toEqual([]);
  });

  it('Service Bus legalEntityId escaping the layout: a readable rejection, nothing started', async () => {
    const rejection = await rejectedCommand(`le-${Date.now()}`, {
      legalEntityId: '../../x',
      url: `${filesOrigin}/never.zip`,
    });
    expect(rejection.code).toBe('COMMAND_INVALID');
    expect(rejection.reason).toMatch(/legalEntityId: must be an F&O legal entity/);
  });

  it('a blobPath in a container that is not a source (templates, outbound) is refused and stays (issue 12.2)', async () => {
    const zip = await customersPackage();
    await s.containers.templates.getBlockBlobClient('customers-v3.zip').upload(zip, zip.length);
    await s.containers.outbound.getBlockBlobClient('local/recurring/a/b').upload(zip, zip.length);
    const http = await post(
      'environment=local&project=Customers',
      json({ blobPath: `${s.names.templates}/customers-v3.zip` }),
    );
    expect(http.status).toBe(400);
    const body = (await http.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('SOURCE_CONTAINER_NOT_ALLOWED');
    expect(body.error.message).toMatch(/DMF_SOURCE_CONTAINERS.*Nothing was moved/);
    const refused = await rejectedCommand(`sc-${Date.now()}`, {
      blobPath: `${s.names.outbound}/local/recurring/a/b`,
    });
    expect(refused.code).toBe('SOURCE_CONTAINER_NOT_ALLOWED');
    expect(await list(s.containers.templates)).toEqual(['customers-v3.zip']);
    expect(await list(s.containers.outbound)).toEqual(['local/recurring/a/b']);
    expect(await list(s.containers.archive)).toEqual([]);
    // a path that climbs out of the container is refused too
    const climbing = await post(
      'environment=local&project=Customers',
      json({ blobPath: `${s.names.inbound}/../${s.names.templates}/customers-v3.zip` }),
    );
    expect(climbing.status).toBe(400);
    expect(((await climbing.json()) as { error: { code: string } }).error.code).toBe('BLOB_PATH_INVALID');
  });

  it('an RTL override in a file name is refused, not rewritten (issue 12.8)', async () => {
    const response = await post(
      `environment=local&project=Customers&fileName=${encodeURIComponent('invoice\u202Epiz.exe')}`,
      {
        body: await customersPackage(),
      },
    );
    expect(response.status).toBe(400);
    const body = (await response.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('FILE_NAME_INVALID');
    expect(body.error.message).toMatch(/bidirectional-text control U\+202E/);
  });
});

describe('what the app does with what it accepted', () => {
  it('a zip whose headers lie about a size fails validation; F&O never sees it (issue 12.8)', async () => {
    const before = await callsTo('ImportFromPackage');
    const liar = patchDeclaredSize(await customersPackage({ rows: 50 }), 'Customers V3.csv', 100);
    const response = await post('environment=local&project=Customers&fileName=liar.zip', { body: liar });
    expect(response.status).toBe(202);
    const job = await s.waitForJob(((await response.json()) as { id: string }).id);
    expect(job.status).toBe('Failed');
    expect(job.errors.map((e) => e.code)).toContain('PACKAGE_ENTRY_SIZE_MISMATCH');
    expect(await callsTo('ImportFromPackage')).toBe(before);
  });

  it("F&O's deterministic 400 is heard once: one upload, one ImportFromPackage (issue 12.8)", async () => {
    const urls = await callsTo('GetAzureWriteUrl');
    const starts = await callsTo('ImportFromPackage');
    await s.stack.emulator.control.setFault(statusFault('ImportFromPackage', 400, 10));
    try {
      const response = await post('environment=local&project=Customers&fileName=refused.zip', {
        body: await customersPackage({ prefix: 'REF' }),
      });
      const job = await s.waitForJob(((await response.json()) as { id: string }).id, 90_000);
      expect(job.status).toBe('Failed');
      expect(job.errors[0]?.message).toMatch(/400/);
      expect(await callsTo('GetAzureWriteUrl')).toBe(urls + 1);
      expect(await callsTo('ImportFromPackage')).toBe(starts + 1);
    } finally {
      await s.stack.emulator.control.clearFaults();
    }
  });

  it('a url import keeps the SAS out of durable state, logs and results (issue 12.6)', async () => {
    served.set('/pkgs/customers.zip', { status: 200, body: await customersPackage({ prefix: 'URL' }) });
    const url = `${filesOrigin}/pkgs/customers.zip?sv=2024-01-01&se=2099-01-01&sp=r&${SIGNATURE}`;
    const response = await post('environment=local&project=Customers', json({ url }));
    expect(response.status).toBe(202);
    const { id } = (await response.json()) as { id: string };
    const job = await s.waitForJob(id);
    expect(job).toMatchObject({ status: 'Succeeded', file: 'customers.zip' });
    expect(job.result?.source).toBe(`${filesOrigin}/pkgs/customers.zip`);
    // the host's durable state (instances, histories, custom status) never held the signature
    expect(grepTree(s.dataDir, SECRET)).toEqual([]);
    const status = await (await s.api(`/api/jobs/${id}`)).text();
    expect(status).not.toContain(SECRET);
    expect(s.logs.filter((l) => l.includes(SECRET))).toEqual([]);
    // the staged url is gone once its content was staged
    expect((await list(s.containers.archive, 'staging/')).filter((n) => n.includes('/url/'))).toEqual([]);
  });

  it("a url answering 500 does not hold the environment's queue (issue 12.8)", async () => {
    served.set('/pkgs/broken.zip', { status: 500 });
    const urlJob = await post(
      'environment=local&project=Customers',
      json({ url: `${filesOrigin}/pkgs/broken.zip?${SIGNATURE}` }),
    );
    const urlId = ((await urlJob.json()) as { id: string }).id;
    const file = await post('environment=local&project=Customers&fileName=behind.zip', {
      body: await customersPackage({ prefix: 'BEH' }),
    });
    const behind = await s.waitForJob(((await file.json()) as { id: string }).id, 30_000);
    expect(behind.status).toBe('Succeeded');
    // the file behind it went through while the url was still being retried
    const first = (await (await s.api(`/api/jobs/${urlId}`)).json()) as Job;
    expect(['Pending', 'Running']).toContain(first.status);
  });

  it('a late duplicate command for an imported file finds the finished job: no false import.rejected (issue 12.8)', async () => {
    const zip = await customersPackage({ prefix: 'LATE' });
    const path = 'local/Customers/late.zip';
    await s.containers.inbound.getBlockBlobClient(path).upload(zip, zip.length);
    const body = JSON.stringify({
      type: 'import',
      environment: 'local',
      definitionGroupId: 'Customers',
      blobPath: `${s.names.inbound}/${path}`,
    });
    await sendServiceBusMessages(s.stack.serviceBusConnectionString, 'dmf-commands', {
      messageId: 'late-1',
      body,
    });
    const started = await eventually(
      () =>
        s.logs.find((l) => /Started import imp-/.test(l) && l.includes('late-1')) ??
        s.logs.find((l) => /Started import imp-/.test(l)),
    );
    expect(started).toBeDefined();
    // the job archives the file; then the sender's late duplicate arrives
    await eventually(
      async () => ((await list(s.containers.inbound, path)).length === 0 ? true : undefined),
      45_000,
    );
    const finished = await eventually(async () => {
      const names = (await list(s.containers.results, `${path}/`)).filter((n) => n.endsWith('/result.json'));
      return names[0];
    }, 45_000);
    const jobId = finished.split('/').at(-2)!;
    await sendServiceBusMessages(s.stack.serviceBusConnectionString, 'dmf-commands', {
      messageId: 'late-2',
      body,
    });
    await eventually(() => s.logs.find((l) => l.includes(`already imported by job ${jobId}`)));
    expect(await list(s.containers.results, 'rejected/commands/late-2/')).toEqual([]);
    expect(s.events().filter((e) => (e.body as { subject?: string }).subject === 'commands/late-2')).toEqual(
      [],
    );
  });
});
