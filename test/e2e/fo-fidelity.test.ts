/**
 * The app against an emulator that refuses what F&O refuses (issue 14, "App: survive it"; issue 12
 * item 3). Host and emulator share one clock: the host's virtual clock, which jumps to the next
 * durable timer whenever the host is idle, so minutes of F&O time (a 90 s "not found" window, a
 * 10-minute 429 storm) pass in a moment while executions end exactly when the orchestrations see.
 */
import { describe, expect, it } from 'vitest';
import { buildPackage, DEFAULT_IMPORT_ACTIVITY_ID } from '@dmf-functions/emulator';
import { createVirtualClock } from '@dmf-functions/devhost';
import type { ExportJob, Job, RecurringImportResult, RecurringJob } from '../../src/shared/jobs/index.js';
import {
  customersPackage,
  eventually,
  exportProject,
  FAST_POLLING,
  readText,
  testConfig,
  useImportStack,
} from './helpers.js';

const clock = createVirtualClock({ autoAdvance: true });
const importProject = (name: string, over: Record<string, unknown> = {}): Record<string, unknown> => ({
  name,
  definitionGroupId: 'CustomerImport',
  environment: 'local',
  direction: 'import',
  polling: FAST_POLLING,
  ...over,
});

const s = useImportStack(() => ({
  clock,
  dmfConfig: testConfig((config) => {
    (config.dataProjects as unknown[]).push(
      // F&O reports its executions late: a minute of grace (the sample's)
      importProject('LateCustomers', { polling: { ...FAST_POLLING, notStartedGraceSeconds: 60 } }),
      // a data project F&O does not have yet: ImportFromPackage creates it from the package
      importProject('NewCustomers', { definitionGroupId: 'Brand-New-Customers' }),
      // an existing data project the configuration imports into without overwrite
      importProject('KeepCustomers', { overwrite: false }),
      // a project whose definition is its template
      importProject('TemplatedCustomers', { template: 'templated-customers.zip' }),
      exportProject(),
    );
    config.recurringActivities = [
      { id: DEFAULT_IMPORT_ACTIVITY_ID, environment: 'local', direction: 'import', polling: FAST_POLLING },
    ];
  }),
  emulator: { clock: { mode: 'external', now: () => clock.now() } },
}));

async function drop(path: string, body?: Buffer | string): Promise<Job> {
  const content = body ?? (await customersPackage({ prefix: path.replace(/\W/g, '').slice(-12) }));
  await s.containers.inbound.getBlockBlobClient(path).upload(content, Buffer.byteLength(content));
  await s.stack.host!.blobTriggers.scanNow();
  const file = path.split('/').pop();
  return eventually(async () => {
    const body = (await (await s.api('/api/jobs')).json()) as { jobs: Job[] };
    return body.jobs.find((j) => j.file === file);
  }, 30_000);
}

describe('the app survives F&O as it is', () => {
  it('F&O answering "Execution details were not found" for 90 s (grace 60 s) does not fail the job: it ends Succeeded', async () => {
    await s.stack.emulator.control.setOptions({ notFoundWindowMs: 90_000 });
    try {
      const job = await s.waitForJob((await drop('local/LateCustomers/late.zip')).id, 60_000);
      expect(job.status).toBe('Succeeded');
      expect(job.errors).toEqual([]);
      // it kept asking past the grace, then F&O reported the execution
      const notFound = job.pollLog.filter((p) => p.answer === 'notFound');
      const startedAt = Date.parse(job.result!.timings.startedAt!);
      expect(Date.parse(notFound.at(-1)!.at) - startedAt).toBeGreaterThan(60_000);
      expect(job.pollLog.at(-1)?.foStatus).toBe('Succeeded');
      expect(job.result!.archivedTo).toContain('succeeded/');
    } finally {
      await s.stack.emulator.control.setOptions({ notFoundWindowMs: 50 });
    }
  }, 90_000);

  it('a 10-minute 429 storm on GetExecutionSummaryStatus delays the job (waited on durable timers) without failing it', async () => {
    await s.stack.emulator.control.setFault({
      route: 'GetExecutionSummaryStatus',
      kind: 'throttle',
      forMs: 600_000,
    });
    const stormStart = clock.now();
    try {
      const dropped = await drop('local/Customers/storm.zip');
      // while F&O throttles, the job says until when
      const throttled = await eventually(async () => {
        const job = (await (await s.api(`/api/jobs/${dropped.id}`)).json()) as Job;
        const final = job.status !== 'Running' && job.status !== 'Pending';
        return job.throttledUntil !== undefined || final ? job : undefined;
      }, 30_000);
      // under load the auto-advancing clock can carry the job past the storm before it is seen; the
      // throttled calls may be the start's own status check (not polls in its poll log): what follows
      // shows it waited the storm out (started after it, a handful of 429s)
      if (throttled.throttledUntil !== undefined) {
        expect(Date.parse(throttled.throttledUntil)).toBeGreaterThan(stormStart);
      }
      const job = await s.waitForJob(dropped.id, 60_000);
      expect(job.status).toBe('Succeeded');
      expect(job.throttledUntil).toBeUndefined();
      expect(Date.parse(job.result!.timings.startedAt!) - stormStart).toBeGreaterThanOrEqual(600_000);
      // Retry-After was honoured: a handful of calls in ten minutes, not a retry loop
      const throttledCalls = (await s.stack.emulator.control.calls()).filter(
        (c) => c.route === 'GetExecutionSummaryStatus' && c.status === 429,
      );
      expect(throttledCalls.length).toBeGreaterThan(0);
      expect(throttledCalls.length).toBeLessThan(10);
    } finally {
      await s.stack.emulator.control.clearFaults();
    }
  }, 90_000);

  it('an export whose first ExportToPackage answers the all-zero GUID is started again and succeeds', async () => {
    await s.stack.emulator.control.setFault({ route: 'ExportToPackage', kind: 'zeroExecutionId', times: 1 });
    const response = await s.api('/api/exports?environment=local&project=CustomersOut', { method: 'POST' });
    expect(response.status).toBe(202);
    const { id } = (await response.json()) as { id: string };
    const job = await eventually(async () => {
      const found = (await (await s.api(`/api/exports/${id}`)).json()) as ExportJob;
      return found.status === 'Pending' || found.status === 'Running' ? undefined : found;
    }, 60_000);
    expect(job.status).toBe('Succeeded');
    expect(job.result?.package?.bytes).toBeGreaterThan(0);
    const starts = (await s.stack.emulator.control.calls()).filter(
      (c) => c.route === 'ExportToPackage' && c.executionId === job.executionId,
    );
    expect(starts).toHaveLength(2);
  }, 90_000);

  it('an import into a data project F&O does not have yet succeeds (F&O creates it), with its F&O page and counts', async () => {
    const job = await s.waitForJob((await drop('local/NewCustomers/first.zip')).id, 60_000);
    expect(job.status).toBe('Succeeded');
    const project = (await s.stack.emulator.control.projects()).find((p) => p.name === 'Brand-New-Customers');
    expect(project).toMatchObject({ origin: 'package', direction: 'import' });
    // one F&O page per job, and the per entity counts F&O gives
    expect(new URL(job.executionPageUrl!).searchParams.get('executionId')).toBe(job.executionId);
    expect(job.executionPageUrl!.startsWith(s.stack.emulator.baseUrl)).toBe(true);
    expect(job.entityCounts).toEqual([
      expect.objectContaining({ entity: 'Customers V3', status: 'Succeeded', targetRecords: 3 }),
    ]);
    expect(job.result).toMatchObject({
      executionPageUrl: job.executionPageUrl,
      entityCounts: job.entityCounts,
    });
  }, 90_000);

  it('an import into an existing data project with "overwrite": false ends with an error that names the setting', async () => {
    const job = await s.waitForJob((await drop('local/KeepCustomers/keep.zip')).id, 60_000);
    expect(job.status).toBe('Failed');
    expect(job.errors).toHaveLength(1);
    expect(job.errors[0]!.code).toBe('DATA_PROJECT_EXISTS');
    expect(job.errors[0]!.message).toContain('"KeepCustomers" says "overwrite": false');
    expect(job.errors[0]!.message).toContain(
      "The data project 'CustomerImport' exists and overwrite has not been specified.",
    );
    // refused at once: one ImportFromPackage, no retry uploading the package again
    const imports = (await s.stack.emulator.control.calls()).filter(
      (c) => c.route === 'ImportFromPackage' && c.executionId === `dmffn-${job.id}`,
    );
    expect(imports).toHaveLength(1);
  }, 90_000);

  it('a package that would drop a mapped field of the project, or holds only a header, is refused before the upload', async () => {
    const template = await customersPackage({ rows: 0 });
    await s.containers.templates
      .getBlockBlobClient('templated-customers.zip')
      .upload(template, template.length);
    const stale = await buildPackage({
      definitionGroupName: 'CustomerImport',
      entities: [
        { entityName: 'Customers V3', columns: ['CUSTOMERACCOUNT', 'NAME'], rows: [['S-1', 'Stale']] },
      ],
    });
    const refused = await s.waitForJob((await drop('local/TemplatedCustomers/stale.zip', stale)).id, 60_000);
    expect(refused.status).toBe('Failed');
    expect(refused.errors.map((e) => e.code)).toEqual([
      'PACKAGE_CHANGES_DEFINITION',
      'PACKAGE_DROPS_MAPPING',
      'PACKAGE_FILE_LACKS_FIELDS',
    ]);
    expect(refused.errors[1]!.message).toContain("'CUSTOMERGROUPID' of entity 'Customers V3'");
    expect(refused.executionId).toBeUndefined();
    const headerOnly = await s.waitForJob(
      (await drop('local/TemplatedCustomers/empty.csv', 'CUSTOMERACCOUNT,NAME,CUSTOMERGROUPID\r\n')).id,
      60_000,
    );
    expect(headerOnly.status).toBe('Failed');
    expect(headerOnly.errors.map((e) => e.code)).toContain('PACKAGE_HAS_NO_RECORDS');
    const sent = (await s.stack.emulator.control.calls()).filter(
      (c) => c.route === 'GetAzureWriteUrl' || c.route === 'ImportFromPackage',
    );
    expect(
      sent.filter(
        (c) => c.executionId === `dmffn-${refused.id}` || c.executionId === `dmffn-${headerOnly.id}`,
      ),
    ).toEqual([]);
    // a good file of the same project still goes through
    const good = await s.waitForJob(
      (
        await drop(
          'local/TemplatedCustomers/good.csv',
          'CUSTOMERACCOUNT,NAME,CUSTOMERGROUPID\r\nT-1,Good,10\r\n',
        )
      ).id,
      60_000,
    );
    expect(good.status).toBe('Succeeded');
  }, 90_000);

  it('a recurring package import with errors ends PartiallySucceeded with the error files of its entities', async () => {
    const zip = await customersPackage({ prefix: 'RPK', rows: 2, bad: true });
    const path = `local/${DEFAULT_IMPORT_ACTIVITY_ID}/package-with-errors.zip`;
    const response = await s.api(`/api/recurring/imports?path=${encodeURIComponent(path)}`, {
      method: 'POST',
      body: zip,
    });
    expect(response.status).toBe(202);
    const { id } = (await response.json()) as { id: string };
    const result = await eventually(async () => {
      const r = (await (await s.api(`/api/recurring/imports/${id}`)).json()) as {
        runtimeStatus: string;
        result?: RecurringImportResult;
      };
      return r.runtimeStatus === 'Completed' ? r.result : undefined;
    }, 60_000);
    expect(result).toMatchObject({
      status: 'PartiallySucceeded',
      messageStatus: 'ProcessedWithErrors',
      dataJobState: 'ProcessedWithErrors',
      entities: ['Customers V3'],
    });
    expect(result.errors.some((e) => e.message.includes('#BAD#'))).toBe(true);
    const staging = result.errorFiles.find((f) => f.kind === 'staging' && f.entity === 'Customers V3');
    expect(staging).toBeDefined();
    expect(await readText(s.containers.results, staging!.path)).toContain('RPK-bad');
    expect(result.errorFiles.map((f) => f.kind)).toContain('executionErrors');
    expect(new URL(result.executionPageUrl!).searchParams.get('executionId')).toBe(result.executionId);
    const job = (await (await s.api(`/api/jobs/${id}`)).json()) as RecurringJob;
    expect(job).toMatchObject({ status: 'PartiallySucceeded', executionPageUrl: result.executionPageUrl });
  }, 90_000);
});
