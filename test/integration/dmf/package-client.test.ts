import { createHash, randomBytes } from 'node:crypto';
import { text } from 'node:stream/consumers';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { caughtAs } from '../../support/caught.js';
import type { RunningEmulator } from '@dmf-functions/emulator';
import {
  DmfApiError,
  DmfPackageClient,
  downloadSasStream,
  uploadPackageToSas,
} from '../../../src/shared/dmf/index.js';
import {
  clientsFor,
  customerPackage,
  emulatorTime,
  startLosingProxy,
  startTestEmulator,
  streamOf,
  routesAcrossTokenExpiry,
  routesDuring,
  throttledOnce,
} from './emulator-setup.js';

const caught = caughtAs(DmfApiError);

/** ImportFromPackage of an uploaded CustomerImport package under a given execution id. */
function startAs(client: DmfPackageClient, packageUrl: string, executionId: string): Promise<string> {
  return client.importFromPackage({
    packageUrl,
    definitionGroupId: 'CustomerImport',
    executionId,
    legalEntityId: 'USMF',
  });
}

describe('DmfPackageClient against the F&O emulator', () => {
  let emu: RunningEmulator;
  let packages: DmfPackageClient;

  /** Seeds one customer and starts an export of CustomerExport (USMF); its execution id. */
  async function exportOneCustomer(account: string, packageName: string): Promise<string> {
    await emu.control.seedRows('Customers V3', 'USMF', [{ CustomerAccount: account, Name: account }]);
    return packages.exportToPackage({
      definitionGroupId: 'CustomerExport',
      packageName,
      legalEntityId: 'USMF',
    });
  }

  beforeAll(async () => {
    emu = await startTestEmulator();
    packages = clientsFor(emu).packages;
  });
  afterAll(async () => {
    await emu?.stop();
  });
  afterEach(async () => {
    await emu.control.clearFaults();
  });

  /** Uploads a package and starts its import; returns the execution id. */
  async function importRows(rows: string[][], client = packages): Promise<string> {
    const { blobUrl } = await client.getAzureWriteUrl(`customers-${Date.now()}-${Math.random()}.zip`);
    const uploaded = await uploadPackageToSas(blobUrl, streamOf(await customerPackage(rows)));
    expect(uploaded.bytes).toBeGreaterThan(0);
    return client.importFromPackage({
      packageUrl: blobUrl,
      definitionGroupId: 'CustomerImport',
      legalEntityId: 'USMF',
    });
  }

  it('imports a package: write url, upload, start, not-found window, status until Succeeded', async () => {
    const executionId = await importRows([
      ['INT-0001', 'Contoso Retail'],
      ['INT-0002', 'Fabrikam'],
    ]);
    const notYet = await caught(packages.getExecutionSummaryStatus(executionId));
    expect(notYet.code).toBe('DMF_EXECUTION_NOT_FOUND');
    expect(notYet.transient).toBe(true);
    await emu.control.advanceClock(600);
    expect(['NotRun', 'Executing']).toContain(await packages.getExecutionSummaryStatus(executionId));
    await emu.control.advanceClock(5_000);
    expect(await packages.getExecutionSummaryStatus(executionId)).toBe('Succeeded');
    expect(await packages.getExecutionErrors(executionId)).toEqual([]);
    expect(await packages.getImportStagingErrorFileUrl(executionId, 'Customers V3')).toBeUndefined();
    expect(await packages.generateImportTargetErrorKeysFile(executionId, 'Customers V3')).toBe(false);
    const rows = await emu.control.rows('Customers V3', 'USMF');
    expect(rows.map((r) => r.CustomerAccount ?? r.CUSTOMERACCOUNT)).toEqual(
      expect.arrayContaining(['INT-0001', 'INT-0002']),
    );
  });

  it('reports staging errors, the staging error file and the target error keys file', async () => {
    const executionId = await importRows([
      ['INT-0101', 'Good'],
      ['INT-0102', 'Bad #BAD# name'],
    ]);
    await emu.control.advanceClock(10_000);
    expect(await packages.getExecutionSummaryStatus(executionId)).toBe('PartiallySucceeded');
    const errors = await packages.getExecutionErrors(executionId);
    expect(errors).toHaveLength(1);
    expect(errors[0]?.errorMessage).toContain('#BAD#');
    const stagingUrl = await packages.getImportStagingErrorFileUrl(executionId, 'Customers V3');
    expect(stagingUrl).toBeDefined();
    expect(await text((await downloadSasStream(stagingUrl!)).stream)).toContain('INT-0102');
    expect(await packages.generateImportTargetErrorKeysFile(executionId, 'Customers V3')).toBe(true);
    expect(await packages.getImportTargetErrorKeysFileUrl(executionId, 'Customers V3')).toBeUndefined();
    await emu.control.advanceClock(1_000);
    const keysUrl = await packages.getImportTargetErrorKeysFileUrl(executionId, 'Customers V3');
    expect(await text((await downloadSasStream(keysUrl!)).stream)).toContain('INT-0102');
  });

  it('uploads a multi-block stream to the write SAS and reads it back byte for byte', async () => {
    const { blobUrl } = await packages.getAzureWriteUrl('multi-block.zip');
    const bytes = randomBytes(5 * 1024 * 1024 + 123);
    const uploaded = await uploadPackageToSas(blobUrl, streamOf(bytes), {
      blockSize: 1024 * 1024,
      maxConcurrency: 2,
    });
    expect(uploaded.bytes).toBe(bytes.length);
    // The write SAS is sp=rw, so it can be read back with the plain-GET helper.
    const download = await downloadSasStream(blobUrl);
    expect(download.contentLength).toBe(bytes.length);
    const back = Buffer.concat(await download.stream.toArray());
    expect(createHash('sha256').update(back).digest('hex')).toBe(
      createHash('sha256').update(bytes).digest('hex'),
    );
  });

  it('starts ImportFromPackageAsync with the given execution id', async () => {
    const { blobUrl } = await packages.getAzureWriteUrl('async.zip');
    await uploadPackageToSas(blobUrl, streamOf(await customerPackage([['INT-0201', 'Async']])));
    const id = await packages.importFromPackageAsync({
      packageUrl: blobUrl,
      definitionGroupId: 'CustomerImport',
      executionId: 'int-async-1',
      legalEntityId: 'USMF',
    });
    expect(id).toBe('int-async-1');
    await emu.control.advanceClock(10_000);
    expect(await packages.getExecutionSummaryStatus(id)).toBe('Succeeded');
  });

  it('exports: url empty until ready, then a SAS downloaded without a token; nested answers accepted', async () => {
    const id = await exportOneCustomer('EXP-1', 'customers-export');
    expect(await packages.getExportedPackageUrl(id)).toBeUndefined();
    await emu.control.advanceClock(10_000);
    expect(await packages.getExecutionSummaryStatus(id)).toBe('Succeeded');
    const url = await packages.getExportedPackageUrl(id);
    const download = await downloadSasStream(url!);
    const bytes = Buffer.concat(await download.stream.toArray());
    expect(bytes.subarray(0, 2).toString('latin1')).toBe('PK');

    await emu.control.setOptions({ exportResponseShape: 'nested' });
    try {
      const nested = await packages.exportToPackageAsync({
        definitionGroupId: 'CustomerExport',
        packageName: 'p2',
        executionId: 'int-nested-1',
        legalEntityId: 'USMF',
      });
      expect(nested).toBe('int-nested-1');
    } finally {
      await emu.control.setOptions({ exportResponseShape: 'plain' });
    }
  });

  it("throws F&O's innererror for an existing data project without overwrite, without retrying", async () => {
    // F&O creates unknown import projects from the package; an existing one needs overwrite (RIS #54, #75).
    const error = await caught(
      packages.importFromPackage({
        packageUrl: 'https://x/p.zip',
        definitionGroupId: 'CustomerImport',
        legalEntityId: 'USMF',
        overwrite: false,
      }),
    );
    expect(error.code).toBe('DMF_HTTP_400');
    expect(error.innerMessage).toContain(
      "The data project 'CustomerImport' exists and overwrite has not been specified.",
    );
    expect(error.transient).toBe(false);
  });

  it('honours Retry-After on 429: the call log shows the gap', async () => {
    const throttled = await throttledOnce(
      emu,
      'GetExecutionSummaryStatus',
      5,
      async ({ packages: client }) => {
        const error = await caught(client.getExecutionSummaryStatus('no-such-execution'));
        expect(error.code).toBe('DMF_EXECUTION_NOT_FOUND');
      },
    );
    expect(throttled.statuses).toEqual([429, 400]);
    expect(throttled.gapMs).toBeGreaterThanOrEqual(5_000);
    expect(throttled.delays).toEqual([5_000]);
  });

  it('backs off and retries 503 and connection resets', async () => {
    const time = emulatorTime(emu);
    const { packages: client } = clientsFor(emu, { retry: time.retry });
    await emu.control.setFault({ route: 'GetAzureWriteUrl', kind: 'status', status: 503, times: 1 });
    await emu.control.setFault({ route: 'GetAzureWriteUrl', kind: 'reset', times: 1 });
    const result = await client.getAzureWriteUrl('retry.zip');
    expect(result.blobUrl).toContain('retry.zip');
    expect(time.delays).toHaveLength(2);
    expect(time.delays[1]!).toBeGreaterThan(time.delays[0]! / 2);
  });

  it('resends a failed start only after GetExecutionSummaryStatus says "not found"', async () => {
    const time = emulatorTime(emu);
    const { packages: client } = clientsFor(emu, { retry: time.retry });
    const { blobUrl } = await client.getAzureWriteUrl('checked.zip');
    await uploadPackageToSas(blobUrl, streamOf(await customerPackage([['INT-0301', 'Checked']])));
    await emu.control.setFault({ route: 'ImportFromPackage', kind: 'status', status: 500, times: 1 });
    const calls = await routesDuring(emu, async () => {
      expect(await startAs(client, blobUrl, 'int-checked-1')).toBe('int-checked-1');
    });
    expect(calls).toEqual([
      'ImportFromPackage 500',
      'GetExecutionSummaryStatus 400',
      'ImportFromPackage 200',
    ]);
    expect((await emu.control.executions()).filter((e) => e.executionId === 'int-checked-1')).toHaveLength(1);
  });

  it('does not resend a start that F&O registered although its answer was lost', async () => {
    await emu.control.setOptions({ notFoundWindowMs: 0 });
    const proxy = await startLosingProxy(emu.baseUrl);
    try {
      const { credential } = clientsFor(emu);
      const client = new DmfPackageClient({
        baseUrl: proxy.url,
        credential,
        scope: `${emu.baseUrl}/.default`,
        retry: emulatorTime(emu).retry,
      });
      const { blobUrl } = await client.getAzureWriteUrl('lost-answer.zip');
      await uploadPackageToSas(blobUrl, streamOf(await customerPackage([['INT-0401', 'Lost']])));
      proxy.loseNextAnswer('ImportFromPackage');
      const calls = await routesDuring(emu, async () => {
        expect(await startAs(client, blobUrl, 'int-lost-1')).toBe('int-lost-1');
      });
      expect(calls).toEqual(['ImportFromPackage 200', 'GetExecutionSummaryStatus 200']);
    } finally {
      await proxy.close();
      await emu.control.setOptions({ notFoundWindowMs: 500 });
    }
  });

  it('refreshes the token once when F&O answers 401 for an expired token', async () => {
    const { packages: client } = clientsFor(emu);
    expect(await routesAcrossTokenExpiry(emu, (name) => client.getAzureWriteUrl(name))).toEqual([
      'openid-configuration 200',
      'token 200',
      'GetAzureWriteUrl 200',
      'GetAzureWriteUrl 401',
      'openid-configuration 200',
      'token 200',
      'GetAzureWriteUrl 200',
    ]);
  });

  it('rejects an expired write SAS (DMF_SAS_REJECTED) and an import from an expired url (400)', async () => {
    await emu.control.setFault({ route: 'GetAzureWriteUrl', kind: 'sasExpiry', seconds: -60, times: 1 });
    const expired = await packages.getAzureWriteUrl('expired.zip');
    const error = await caught(
      uploadPackageToSas(expired.blobUrl, streamOf(await customerPackage([['X', 'Y']]))),
    );
    expect(error.code).toBe('DMF_SAS_REJECTED');
    expect(error.message).not.toMatch(/sig=/);

    const { blobUrl } = await packages.getAzureWriteUrl('late.zip');
    await uploadPackageToSas(blobUrl, streamOf(await customerPackage([['INT-0501', 'Late']])));
    await emu.control.advanceClock(36 * 60_000);
    const late = await caught(
      packages.importFromPackage({
        packageUrl: blobUrl,
        definitionGroupId: 'CustomerImport',
        legalEntityId: 'USMF',
      }),
    );
    expect(late.code).toBe('DMF_HTTP_400');
    expect(late.innerMessage).toMatch(/expired/);
  });

  it('rejects an expired read SAS with DMF_SAS_REJECTED', async () => {
    const id = await exportOneCustomer('EXP-2', 'p');
    await emu.control.advanceClock(10_000);
    await emu.control.setFault({ route: 'GetExportedPackageUrl', kind: 'sasExpiry', seconds: -60, times: 1 });
    const url = await packages.getExportedPackageUrl(id);
    const error = await caught(downloadSasStream(url!));
    expect(error.code).toBe('DMF_SAS_REJECTED');
  });
});
