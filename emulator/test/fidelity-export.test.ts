/**
 * Conformance, raw HTTP (no app code): export quirks and the further documented actions.
 * Rule 4 (export part): ExportToPackage may answer the all-zero GUID (Microsoft's Logic App sample
 * Dynamics-AX-Integration d365_to_oneDrive_logic_app retries "until" it does not); GetExportedPackageUrl
 * can answer the nested `{"value":{"value":…}}` data-management-api.md shows; the export file size
 * limit of 256 MB (data-entities-data-packages.md). Rule 5: GetExecutionSummaryPageUrl (RIS
 * HttpClientHelper), GetEntityExecutionSummaryStatusList (shape undocumented) and ExportToPackagePreview
 * (data-management-api.md).
 */
import { describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../index.js';
import {
  action,
  customersPackage,
  executionErrors,
  importPackage,
  innerMessage,
  summary,
  unzip,
  useTestEmulator,
  valueOf,
} from './helpers.js';

const ZERO_GUID = '00000000-0000-0000-0000-000000000000';

let em: RunningEmulator, token: string;
useTestEmulator((e, t) => ([em, token] = [e, t]));

function exportBody(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    definitionGroupId: 'CustomerExport',
    packageName: 'customers',
    executionId: '',
    reExecute: false,
    legalEntityId: 'USMF',
    ...extra,
  };
}

async function seed(count: number, name = 'Customer'): Promise<void> {
  await em.control.seedRows(
    'Customers V3',
    'USMF',
    Array.from({ length: count }, (_, i) => ({ CUSTOMERACCOUNT: `E-${i + 1}`, NAME: `${name} ${i + 1}` })),
  );
}

async function packageRows(executionId: string): Promise<string[]> {
  const url = valueOf(await action(em, 'GetExportedPackageUrl', { executionId }, token)) as string;
  const files = await unzip(Buffer.from(await (await fetch(url)).arrayBuffer()));
  const csv = (files.get('Customers V3.csv') ?? Buffer.alloc(0)).toString('utf8').replace(/^\ufeff/, '');
  return csv.trim().split('\r\n').slice(1);
}

describe('rule 4 (export): the zero GUID, the nested url answer and the size limit', () => {
  it('ExportToPackage can answer the all-zero GUID and start nothing; retrying until it does not (the Logic App sample) gets an execution', async () => {
    await seed(2);
    await em.control.setFault({ route: 'ExportToPackage', kind: 'zeroExecutionId', times: 2 });
    const answers: string[] = [];
    for (let attempt = 0; attempt < 5; attempt++) {
      const id = valueOf(
        await action(em, 'ExportToPackage', exportBody({ executionId: 'logic-app-1' }), token),
      );
      answers.push(id as string);
      if (id !== ZERO_GUID) break;
    }
    expect(answers).toEqual([ZERO_GUID, ZERO_GUID, 'logic-app-1']);
    expect((await em.control.executions()).map((e) => e.executionId)).toEqual(['logic-app-1']);
    const calls = (await em.control.calls()).filter((c) => c.route === 'ExportToPackage');
    expect(calls.map((c) => c.fault)).toEqual(['zeroExecutionId', 'zeroExecutionId', undefined]);
    await em.control.advanceClock(2_000);
    expect(await summary(em, token, 'logic-app-1')).toBe('Succeeded');
  });

  it('the zero GUID follows the nested ExportToPackage shape when that switch is on', async () => {
    await em.control.setOptions({ exportResponseShape: 'nested' });
    await em.control.setFault({ route: 'ExportToPackageAsync', kind: 'zeroExecutionId', times: 1 });
    const r = await action(em, 'ExportToPackageAsync', exportBody(), token);
    expect((r.body as { value: unknown }).value).toEqual({ value: ZERO_GUID });
  });

  it('GetExportedPackageUrl can answer the nested shape of the docs (exportedPackageUrlShape: nested), "" until ready', async () => {
    await seed(1);
    await em.control.setOptions({ exportedPackageUrlShape: 'nested' });
    const id = valueOf(await action(em, 'ExportToPackage', exportBody(), token)) as string;
    const early = await action(em, 'GetExportedPackageUrl', { executionId: id }, token);
    expect(early.body).toEqual({
      '@odata.context': `${em.baseUrl}/data/$metadata#Edm.String`,
      value: { value: '' },
    });
    await em.control.advanceClock(2_000);
    const ready = (await action(em, 'GetExportedPackageUrl', { executionId: id }, token)).body as {
      value: { value: string };
    };
    const zip = await fetch(ready.value.value);
    expect(zip.status).toBe(200);
    await zip.arrayBuffer();
  });

  it('an export larger than the size limit fails (default 256 MB, maxExportPackageBytes), with no package', async () => {
    expect((await em.control.options()).maxExportPackageBytes).toBe(256 * 1024 * 1024);
    await seed(200, 'A customer name long enough to make the package grow quite a bit');
    await em.control.setOptions({ maxExportPackageBytes: 2_000 });
    const big = valueOf(await action(em, 'ExportToPackage', exportBody(), token)) as string;
    await em.control.advanceClock(2_000);
    expect(await summary(em, token, big)).toBe('Failed');
    const errors = await executionErrors(em, token, big);
    expect(errors[0]?.ErrorMessage).toMatch(/larger than the export file size limit of 2000 bytes/);
    expect(valueOf(await action(em, 'GetExportedPackageUrl', { executionId: big }, token))).toBe('');
    await em.control.setOptions({ maxExportPackageBytes: 1_000_000 });
    const fits = valueOf(await action(em, 'ExportToPackage', exportBody(), token)) as string;
    await em.control.advanceClock(2_000);
    expect(await summary(em, token, fits)).toBe('Succeeded');
    expect(await packageRows(fits)).toHaveLength(200);
  });
});

describe('rule 5: GetExecutionSummaryPageUrl, GetEntityExecutionSummaryStatusList, ExportToPackagePreview', () => {
  it('GetExecutionSummaryPageUrl answers the url of the execution\'s page (RIS writes it into an Internet shortcut); unknown ids answer ""', async () => {
    const id = await importPackage(
      em,
      token,
      await customersPackage('CUSTOMERACCOUNT,NAME\r\nS-1,ok\r\nS-2,#BAD#\r\n'),
    );
    await em.control.advanceClock(2_000);
    const r = await action(em, 'GetExecutionSummaryPageUrl', { executionId: id }, token);
    expect((r.body as Record<string, unknown>)['@odata.context']).toBe(
      `${em.baseUrl}/data/$metadata#Edm.String`,
    );
    const url = new URL(valueOf(r) as string);
    expect(url.origin).toBe(em.baseUrl);
    expect(url.searchParams.get('mi')).toBe('DMFExecutionSummary');
    expect(url.searchParams.get('cmp')).toBe('USMF');
    expect(url.searchParams.get('executionId')).toBe(id);
    const page = await fetch(url);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('PartiallySucceeded');
    expect(html).toContain('Customers V3');
    expect(valueOf(await action(em, 'GetExecutionSummaryPageUrl', { executionId: 'nope' }, token))).toBe('');
    const missing = await action(em, 'GetExecutionSummaryPageUrl', {}, token);
    expect(missing.status).toBe(400);
  });

  it('GetEntityExecutionSummaryStatusList answers one entry per entity: its status, then its counts once final', async () => {
    const id = await importPackage(
      em,
      token,
      await customersPackage('CUSTOMERACCOUNT,NAME\r\nL-1,ok\r\nL-2,#BAD#\r\nL-3,ok\r\n'),
    );
    await em.control.advanceClock(500);
    const running = await action(em, 'GetEntityExecutionSummaryStatusList', { executionId: id }, token);
    expect(running.body).toEqual({
      '@odata.context': `${em.baseUrl}/data/$metadata#Collection(Microsoft.Dynamics.DataEntities.DMFEntityExecutionStatus)`,
      value: [
        {
          EntityName: 'Customers V3',
          Company: 'USMF',
          Status: 'Executing',
          StagingRecords: 0,
          StagingErrorCount: 0,
          TargetRecords: 0,
          TargetErrorCount: 0,
        },
      ],
    });
    await em.control.advanceClock(2_000);
    expect(
      valueOf(await action(em, 'GetEntityExecutionSummaryStatusList', { executionId: id }, token)),
    ).toEqual([
      {
        EntityName: 'Customers V3',
        Company: 'USMF',
        Status: 'PartiallySucceeded',
        StagingRecords: 3,
        StagingErrorCount: 1,
        TargetRecords: 2,
        TargetErrorCount: 0,
      },
    ]);
    const unknown = await action(em, 'GetEntityExecutionSummaryStatusList', { executionId: 'nope' }, token);
    expect(unknown.status).toBe(400);
    expect(innerMessage(unknown.body)).toBe('Execution details were not found for execution id: nope');
  });

  it('ExportToPackagePreview(Async) exports at most `count` rows per entity (0 = all); `count` is required', async () => {
    await seed(5);
    const two = valueOf(
      await action(em, 'ExportToPackagePreview', exportBody({ count: 2 }), token),
    ) as string;
    const all = valueOf(
      await action(em, 'ExportToPackagePreviewAsync', exportBody({ count: '0' }), token),
    ) as string;
    await em.control.advanceClock(2_000);
    expect(await packageRows(two)).toHaveLength(2);
    expect(await packageRows(all)).toHaveLength(5);
    const noCount = await action(em, 'ExportToPackagePreview', exportBody(), token);
    expect(noCount.status).toBe(400);
    expect(innerMessage(noCount.body)).toContain("'count'");
    const statuses = valueOf(
      await action(em, 'GetEntityExecutionSummaryStatusList', { executionId: two }, token),
    );
    expect(statuses).toEqual([
      expect.objectContaining({ EntityName: 'Customers V3', Status: 'Succeeded', TargetRecords: 2 }),
    ]);
  });
});
