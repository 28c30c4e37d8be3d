import { describe, expect, it } from 'vitest';
import type { Job } from '../../src/shared/jobs/index.js';
import {
  customersPackage,
  eventually,
  FAST_POLLING,
  useImportStack,
  testConfig,
  statusFault,
} from './helpers.js';

const s = useImportStack({
  dmfConfig: testConfig((config) => {
    const projects = config.dataProjects as Record<string, unknown>[];
    projects.push({
      name: 'SlowCustomers',
      definitionGroupId: 'CustomerImport',
      environment: 'local',
      direction: 'import',
      // 36 s of the host's virtual clock
      polling: { ...FAST_POLLING, deadlineHours: 0.01 },
    });
    projects.push({
      name: 'ImpatientCustomers',
      definitionGroupId: 'CustomerImport',
      environment: 'local',
      direction: 'import',
      polling: { ...FAST_POLLING, notStartedGraceSeconds: 5 },
    });
  }),
});

async function drop(path: string): Promise<void> {
  const zip = await customersPackage({ prefix: path.replace(/\W/g, '') });
  await s.containers.inbound.getBlockBlobClient(path).upload(zip, zip.length);
  await s.stack.host!.blobTriggers.scanNow();
}

async function jobWhere(predicate: (job: Job) => boolean): Promise<Job> {
  return eventually(async () => {
    const body = (await (await s.api('/api/jobs')).json()) as { jobs: Job[] };
    return body.jobs.find(predicate);
  }, 30_000);
}

describe('import pipeline resilience', () => {
  it('a terminated slot holder does not block the queue: the next import proceeds after a recheck', async () => {
    // The terminated holder's F&O execution still runs when the next import starts: real F&O fails
    // that parallel ImportFromPackage. The app does not wait for it yet (issue 14, "App: survive
    // it"), so this test opts into F&O's "Enhanced parallel package import" explicitly.
    await s.stack.emulator.control.setOptions({
      executionDurationMs: 4_000,
      enhancedParallelPackageImport: true,
    });
    await drop('local/Customers/holder.zip');
    const holder = await jobWhere(
      (j) => j.file === 'holder.zip' && j.stage === 'Polling' && j.foStatus !== undefined,
    );
    // the custom status tells where the job is
    expect(holder).toMatchObject({ status: 'Running', executionId: `dmffn-${holder.id}` });
    expect(Date.parse(holder.nextPollAt!)).not.toBeNaN();
    expect(['NotRun', 'Executing']).toContain(holder.foStatus);
    await drop('local/Customers/next-in-line.zip');
    const next = await jobWhere((j) => j.file === 'next-in-line.zip' && j.stage === 'WaitingForSlot');
    expect(await s.stack.host!.durable.terminate(holder.id, 'test: simulated crash')).toBe('ok');
    const done = await s.waitForJob(next.id, 60_000);
    expect(done.status).toBe('Succeeded');
    expect((await s.waitForJob(holder.id)).status).toBe('Canceled');
    await s.stack.emulator.control.setOptions({
      executionDurationMs: 300,
      enhancedParallelPackageImport: false,
    });
  }, 90_000);

  it('an import F&O does not finish before the deadline ends TimedOut and frees the slot', async () => {
    await s.stack.emulator.control.setOptions({ executionDurationMs: 600_000 });
    await drop('local/SlowCustomers/slow.zip');
    const slow = await jobWhere((j) => j.file === 'slow.zip');
    const job = await s.waitForJob(slow.id, 60_000);
    expect(job.status).toBe('TimedOut');
    expect(job.errors.map((e) => e.code)).toContain('IMPORT_TIMED_OUT');
    expect(job.result!.polls).toBeGreaterThan(1);
    await s.stack.emulator.control.setOptions({ executionDurationMs: 300 });
    // F&O keeps running the timed-out execution; let it finish so the next tests' imports do not
    // run in parallel with it (the strict emulator fails a parallel ImportFromPackage).
    await s.stack.emulator.control.advanceClock(600_000);
  }, 90_000);

  it('an upload that keeps failing ends Failed with the reason, and the slot goes to the next import', async () => {
    const asked = async (): Promise<number> =>
      (await s.stack.emulator.control.calls()).filter((c) => c.route === 'GetAzureWriteUrl').length;
    const before = await asked();
    await s.stack.emulator.control.setFault(statusFault('GetAzureWriteUrl', 400, 4));
    await drop('local/Customers/refused.zip');
    const refused = await s.waitForJob((await jobWhere((j) => j.file === 'refused.zip')).id, 60_000);
    expect(refused.status).toBe('Failed');
    expect(refused.errors[0]).toMatchObject({ code: 'IMPORT_START_FAILED' });
    expect(refused.errors[0]!.message).toContain('GetAzureWriteUrl');
    // a 400 is F&O's final word: asked once, not four times (issue 12.8)
    expect(await asked()).toBe(before + 1);
    await s.stack.emulator.control.clearFaults();
    await drop('local/Customers/after-refused.zip');
    const after = await s.waitForJob((await jobWhere((j) => j.file === 'after-refused.zip')).id, 60_000);
    expect(after.status).toBe('Succeeded');
  }, 90_000);

  it('a start that fails while F&O cannot even be asked about it ends Failed with both reasons, source archived', async () => {
    // a permanent refusal (as when the app registration lost its F&O user): the status activity throws
    await s.stack.emulator.control.setFault(statusFault('GetExecutionSummaryStatus', 403, 1000));
    try {
      await drop('local/Customers/unreachable.zip');
      const job = await s.waitForJob((await jobWhere((j) => j.file === 'unreachable.zip')).id, 60_000);
      expect(job.status).toBe('Failed');
      expect(job.errors[0]).toMatchObject({ code: 'IMPORT_START_FAILED' });
      expect(job.errors[0]!.message).toContain('HTTP 403');
      expect(job.errors[0]!.message).toContain('could not be checked');
      expect(job.result?.executionId).toBe(`dmffn-${job.id}`);
      const archived: string[] = [];
      for await (const blob of s.containers.archive.listBlobsFlat({ prefix: 'failed/' }))
        archived.push(blob.name);
      expect(archived.some((name) => name.endsWith('unreachable.zip'))).toBe(true);
    } finally {
      await s.stack.emulator.control.clearFaults();
    }
  }, 90_000);

  it('an execution F&O keeps answering "not found" for longer than the grace window ends Failed', async () => {
    await s.stack.emulator.control.setOptions({ notFoundWindowMs: 600_000, executionDurationMs: 600_000 });
    await drop('local/ImpatientCustomers/unknown.zip');
    const job = await s.waitForJob((await jobWhere((j) => j.file === 'unknown.zip')).id, 60_000);
    await s.stack.emulator.control.setOptions({ notFoundWindowMs: 50, executionDurationMs: 300 });
    expect(job.status).toBe('Failed');
    expect(job.errors[0]).toMatchObject({ code: 'DMF_EXECUTION_NOT_FOUND' });
    expect(job.errors[0]!.message).toContain('5 s after ImportFromPackage');
  }, 90_000);
});
