import { describe, expect, it } from 'vitest';
import { createVirtualClock } from '@dmf-functions/devhost';
import type { Job } from '../../src/shared/jobs/index.js';
import {
  customersPackage,
  eventually,
  FAST_POLLING,
  useImportStack,
  testConfig,
  statusFault,
} from './helpers.js';

// host and emulator share the host's virtual clock: F&O's minutes pass when the host is idle, and
// executions end exactly when the orchestrations (and the slot's rechecks) see them end
const clock = createVirtualClock({ autoAdvance: true });
const s = useImportStack({
  clock,
  emulator: { clock: { mode: 'external', now: () => clock.now() } },
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
  }),
});

async function drop(path: string): Promise<void> {
  const zip = await customersPackage({ prefix: path.replace(/\W/g, '') });
  await s.containers.inbound.getBlockBlobClient(path).upload(zip, zip.length);
  await s.stack.host!.blobTriggers.scanNow();
}

/**
 * The first job whose live view matches: the list (the job index) names the jobs, each job's own
 * route has its live stage, F&O status and next poll, which the index does not keep.
 */
async function jobWhere(predicate: (job: Job) => boolean): Promise<Job> {
  return eventually(async () => {
    const body = (await (await s.api('/api/jobs')).json()) as { jobs: Job[] };
    for (const listed of body.jobs) {
      const response = await s.api(`/api/jobs/${listed.id}`);
      if (response.status !== 200) continue;
      const job = (await response.json()) as Job;
      if (predicate(job)) return job;
    }
    return undefined;
  }, 30_000);
}

/** When the emulator received the job's ImportFromPackage (emulator time). */
async function importCalledAt(jobId: string): Promise<number> {
  const call = (await s.stack.emulator.control.calls()).find(
    (c) => c.route === 'ImportFromPackage' && c.executionId === `dmffn-${jobId}`,
  );
  return Date.parse(call!.startedAt);
}

describe('import pipeline resilience', () => {
  it('a terminated slot holder keeps the slot until F&O has finished its execution; then the next import proceeds', async () => {
    // strict F&O: a second ImportFromPackage while the holder's execution runs would fail (DMF2025);
    // it runs 5 minutes, so the waiter's rechecks (every minute) find it running a few times
    await s.stack.emulator.control.setOptions({ executionDurationMs: 300_000 });
    await drop('local/Customers/holder.zip');
    const listed = await jobWhere((j) => j.file === 'holder.zip' && j.stage === 'Polling');
    // the list shows the stage; F&O's status and the next poll are live, on the job's own page
    const holder = await eventually(async () => {
      const job = (await (await s.api(`/api/jobs/${listed.id}`)).json()) as Job;
      return job.foStatus !== undefined && job.nextPollAt !== undefined ? job : undefined;
    }, 30_000);
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
    // the next import was started only once F&O had finished the holder's execution
    expect(await s.stack.emulator.control.overlaps()).toEqual([]);
    const holderExecution = (await s.stack.emulator.control.executions()).find(
      (e) => e.executionId === `dmffn-${holder.id}`,
    );
    expect(holderExecution?.status).toBe('Succeeded');
    expect(await importCalledAt(done.id)).toBeGreaterThanOrEqual(Date.parse(holderExecution!.endAt));
    await s.stack.emulator.control.setOptions({ executionDurationMs: 300 });
  }, 90_000);

  it('an import F&O does not finish before the deadline ends TimedOut ("check F&O") and keeps the slot until F&O is done', async () => {
    await s.stack.emulator.control.setOptions({ executionDurationMs: 600_000 });
    await drop('local/SlowCustomers/slow.zip');
    const slow = await jobWhere((j) => j.file === 'slow.zip');
    const job = await s.waitForJob(slow.id, 60_000);
    expect(job.status).toBe('TimedOut');
    expect(job.errors.map((e) => e.code)).toEqual(['IMPORT_TIMED_OUT']);
    expect(job.errors[0]!.message).toContain(`check F&O for execution dmffn-${slow.id}`);
    expect(job.result!.polls).toBeGreaterThan(1);
    expect(job.executionPageUrl).toContain('mi=DMFExecutionSummary');
    await s.stack.emulator.control.setOptions({ executionDurationMs: 300 });
    // F&O still runs the timed-out execution: the next import waits (asking F&O on its rechecks)
    // and starts once F&O has finished it — never in parallel with it
    await drop('local/Customers/after-slow.zip');
    const after = await s.waitForJob((await jobWhere((j) => j.file === 'after-slow.zip')).id, 60_000);
    expect(after.status).toBe('Succeeded');
    const slowExecution = (await s.stack.emulator.control.executions()).find(
      (e) => e.executionId === `dmffn-${slow.id}`,
    );
    expect(await importCalledAt(after.id)).toBeGreaterThanOrEqual(Date.parse(slowExecution!.endAt));
    const askedAboutSlow = (await s.stack.emulator.control.calls()).filter(
      (c) =>
        c.route === 'GetExecutionSummaryStatus' &&
        c.executionId === `dmffn-${slow.id}` &&
        Date.parse(c.startedAt) > Date.parse(job.result!.timings.finishedAt),
    );
    expect(askedAboutSlow.length).toBeGreaterThan(0);
    expect(await s.stack.emulator.control.overlaps()).toEqual([]);
  }, 90_000);

  it('an upload that keeps failing ends Failed with the reason, and the slot goes to the next import', async () => {
    // a refusal (4xx) after F&O said it did not know the execution: nothing runs, no retry
    const asked = async (): Promise<number> =>
      (await s.stack.emulator.control.calls()).filter((c) => c.route === 'GetAzureWriteUrl').length;
    const before = await asked();
    await s.stack.emulator.control.setFault(statusFault('GetAzureWriteUrl', 400, 4));
    await drop('local/Customers/refused.zip');
    const refused = await s.waitForJob((await jobWhere((j) => j.file === 'refused.zip')).id, 60_000);
    expect(refused.status).toBe('Failed');
    expect(refused.errors[0]).toMatchObject({ code: 'IMPORT_START_FAILED' });
    expect(refused.errors[0]!.message).toContain('GetAzureWriteUrl');
    expect(refused.executionId).toBeUndefined();
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

  it('an execution F&O never reports is asked about until the deadline: TimedOut, outcome unknown — check F&O', async () => {
    await s.stack.emulator.control.setOptions({ notFoundWindowMs: 600_000, executionDurationMs: 600_000 });
    try {
      await drop('local/SlowCustomers/unknown.zip');
      const job = await s.waitForJob((await jobWhere((j) => j.file === 'unknown.zip')).id, 60_000);
      expect(job.status).toBe('TimedOut');
      expect(job.errors.map((e) => e.code)).toEqual(['DMF_EXECUTION_UNCONFIRMED']);
      expect(job.errors[0]!.message).toContain(`unknown — check F&O for execution dmffn-${job.id}`);
      expect(job.pollLog.every((p) => p.answer === 'notFound')).toBe(true);
      expect(job.result!.archivedTo).toContain('failed/');
    } finally {
      await s.stack.emulator.control.setOptions({ notFoundWindowMs: 50, executionDurationMs: 300 });
    }
  }, 90_000);
});
