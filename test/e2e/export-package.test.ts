import { type ContainerClient } from '@azure/storage-blob';
import { describe, expect, it } from 'vitest';
import { sendServiceBusMessages } from '@dmf-functions/devhost/servicebus';
import type { ExportJob, ExportResult } from '../../src/shared/jobs/index.js';
import {
  customersPackage,
  eventually,
  list,
  readText,
  useImportStack,
  exportProject,
  testConfig,
  statusFault,
  outcomeFault,
} from './helpers.js';

/** The export instances whose input matches. */
async function exports(
  matches: (input: Record<string, unknown>) => boolean,
): Promise<{ instanceId: string; runtimeStatus: string }[]> {
  const statuses = await s.stack.host!.durable.queryStatuses({});
  return statuses.filter(
    (st) => st.name === 'exportPackage' && matches((st.input ?? {}) as Record<string, unknown>),
  );
}
const nightly = (input: Record<string, unknown>): boolean => input.project === 'CustomersNightly';

async function waitForExport(id: string, timeoutMs = 45_000): Promise<ExportJob> {
  return eventually(async () => {
    const r = await s.api(`/api/exports/${id}`);
    if (r.status !== 200) return undefined;
    const job = (await r.json()) as ExportJob;
    return job.status === 'Pending' || job.status === 'Running' ? undefined : job;
  }, timeoutMs);
}

const s = useImportStack({
  dmfConfig: testConfig((c) => {
    (c.dataProjects as unknown[]).push(
      exportProject({ unpack: true }),
      exportProject({ name: 'CustomersNightly', schedule: '* * * * * *' }),
    );
  }),
});
const outbound = (): ContainerClient => s.containers.outbound;

describe('package export', () => {
  it('round trip: imported rows come back in the exported package, stored zipped and unpacked', async () => {
    const zip = await customersPackage({ prefix: 'RT', rows: 4 });
    const imported = await s.api('/api/imports?environment=local&project=Customers&fileName=rt.zip', {
      method: 'POST',
      headers: { 'content-type': 'application/zip' },
      body: zip,
    });
    expect(imported.status).toBe(202);
    const importJob = await s.waitForJob(((await imported.json()) as { id: string }).id);
    expect(importJob.status).toBe('Succeeded');

    const response = await s.api('/api/exports?environment=local&project=CustomersOut', { method: 'POST' });
    expect(response.status).toBe(202);
    const accepted = (await response.json()) as { id: string; statusUrl: string };
    expect(accepted.statusUrl).toMatch(new RegExp(`/api/exports/${accepted.id}$`));
    const job = await waitForExport(accepted.id);
    expect(job).toMatchObject({ status: 'Succeeded', stage: 'Done', kind: 'export', errors: [] });
    const result = job.result!;
    expect(result.executionId).toBe(`dmffn-${accepted.id}`);
    const day = new Date(result.timings.requestedAt);
    const folder = `local/CustomersOut/${day.getUTCFullYear()}/${String(day.getUTCMonth() + 1).padStart(2, '0')}/${String(day.getUTCDate()).padStart(2, '0')}`;
    expect(result.package?.path).toBe(`${folder}/CustomersOut-${accepted.id}.zip`);
    expect(result.package?.bytes).toBeGreaterThan(0);
    const names = await list(outbound(), folder);
    expect(names).toContain(result.package!.path);
    const csvPath = result.unpacked.map((b) => b.path).find((p) => p.toLowerCase().endsWith('.csv'));
    expect(csvPath).toBeDefined();
    expect(result.unpacked.map((b) => b.path)).toEqual(
      expect.arrayContaining([`${folder}/CustomersOut-${accepted.id}/Manifest.xml`]),
    );
    const csv = await readText(outbound(), csvPath!);
    for (let i = 0; i < 4; i++) expect(csv).toContain(`RT-${i}`);
    // the result JSON and the event
    const [, ...resultPath] = result.resultBlob!.split('/');
    const stored = JSON.parse(await readText(s.containers.results, resultPath.join('/'))) as ExportResult;
    expect(stored.id).toBe(accepted.id);
    const event = await eventually(() => s.events().find((e) => e.messageId === accepted.id));
    expect((event.body as { type: string }).type).toBe('com.dmf-functions.export.completed');
    // exactly one F&O export for the job
    const exports = (await s.stack.emulator.control.executions()).filter(
      (e) => e.executionId === result.executionId,
    );
    expect(exports).toHaveLength(1);
    // both projects remember how long F&O took (the poll plan of their next runs learns from it)
    // an import remembers its duration with its package's size, an export (size unknown) the duration alone
    const durations = async (key: string): Promise<number[]> =>
      (
        JSON.parse((await s.stack.host!.durable.readEntity('importHistory', key))?.state ?? '[]') as (
          number | { ms: number; size?: number }
        )[]
      ).map((e) => (typeof e === 'number' ? e : e.ms));
    // …and so does their environment, imports and exports apart (the prior of a project new there)
    for (const [key, environmentKey, took] of [
      ['local:Customers', 'local:*import', importJob.result!.timings.executionMs!],
      ['local:CustomersOut', 'local:*export', result.timings.executionMs!],
    ] as const) {
      const remembered = await eventually(async () => (await durations(key))[0]);
      expect(remembered).toBeGreaterThan(0);
      expect(remembered).toBeLessThanOrEqual(took);
      const environmentDurations = await eventually(async () => {
        const seen = await durations(environmentKey);
        return seen.includes(remembered) ? seen : undefined;
      });
      expect(environmentDurations).toContain(remembered);
    }
  });

  it('a Service Bus export command starts one export, also shown by the job API', async () => {
    await sendServiceBusMessages(s.stack.serviceBusConnectionString, 'dmf-commands', {
      body: {
        type: 'export',
        environment: 'local',
        definitionGroupId: 'CustomersOut',
        correlationId: 'corr-exp-7',
      },
      messageId: 'export-command-1',
    });
    const started = await eventually(
      async () => (await exports((input) => input.correlationId === 'corr-exp-7'))[0],
    );
    const job = await waitForExport(started.instanceId);
    expect(job.status).toBe('Succeeded');
    expect(job.result).toMatchObject({
      trigger: 'serviceBus',
      correlationId: 'corr-exp-7',
      project: 'CustomersOut',
    });
    const viaJobs = await s.api(`/api/jobs/${started.instanceId}`);
    expect(viaJobs.status).toBe(200);
    expect(await viaJobs.json()).toMatchObject({ id: started.instanceId, status: 'Succeeded' });
  });

  it('refuses an unknown project with a readable reason', async () => {
    const response = await s.api('/api/exports?environment=local&project=Nope', { method: 'POST' });
    expect(response.status).toBe(404);
    const body = (await response.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('UNKNOWN_PROJECT');
    expect(body.error.message).toContain('CustomersOut');
  });

  it('a failed export reports Failed with an event', async () => {
    await s.stack.emulator.control.setFault(outcomeFault('ExportToPackage', 'Failed', 1));
    const response = await s.api('/api/exports?environment=local&project=CustomersOut', { method: 'POST' });
    const { id } = (await response.json()) as { id: string };
    const job = await waitForExport(id);
    expect(job.status).toBe('Failed');
    expect(job.result?.package).toBeUndefined();
    expect(job.errors.length).toBeGreaterThan(0);
    const event = await eventually(() => s.events().find((e) => e.messageId === id));
    expect((event.body as { type: string }).type).toBe('com.dmf-functions.export.failed');
  });

  it('a start that fails while F&O cannot be asked about it either ends Failed with both reasons', async () => {
    await s.stack.emulator.control.setFault(statusFault('ExportToPackage', 400, 100));
    await s.stack.emulator.control.setFault(statusFault('GetExecutionSummaryStatus', 403, 100));
    try {
      const response = await s.api('/api/exports?environment=local&project=CustomersOut', { method: 'POST' });
      const { id } = (await response.json()) as { id: string };
      const job = await waitForExport(id);
      expect(job.status).toBe('Failed');
      expect(job.errors[0]).toMatchObject({ code: 'EXPORT_START_FAILED' });
      expect(job.errors[0]!.message).toContain('could not be checked');
      expect(job.errors[0]!.message).toContain('HTTP 403');
    } finally {
      await s.stack.emulator.control.clearFaults();
    }
  });

  it('the schedule timer starts a due export once per occurrence', async () => {
    const run = await s.api('/admin/functions/exportScheduleTimer', { method: 'POST', body: '{}' });
    expect(run.status).toBeLessThan(300);
    const job = await eventually(async () => (await exports(nightly))[0]);
    const done = await waitForExport(job.instanceId);
    expect(done.status).toBe('Succeeded');
    expect(done.result?.trigger).toBe('schedule');
    expect(done.result?.scheduledFor).toMatch(/T/);
  });

  it('a scheduled export still running is not started again at the next occurrence', async () => {
    await s.stack.emulator.control.setOptions({ executionDurationMs: 3_000 });
    try {
      const running = async (): Promise<number> =>
        (await exports(nightly)).filter((st) => st.runtimeStatus === 'Running').length;
      // the schedule fires every second; run the timer at several occurrences while an export runs
      let most = 0;
      let seenRunning = false;
      const skips = (): number =>
        s.logs.filter((l) => l.includes('CustomersNightly is still running')).length;
      const skipsBefore = skips();
      for (let i = 0; i < 4; i++) {
        const second = Math.floor(Date.now() / 1000);
        await eventually(() => (Math.floor(Date.now() / 1000) > second ? true : undefined));
        await s.api('/admin/functions/exportScheduleTimer', { method: 'POST', body: '{}' });
        const now = await eventually(async () => {
          const n = await running();
          return n > 0 ? n : undefined;
        });
        seenRunning = true;
        most = Math.max(most, now);
      }
      expect(seenRunning).toBe(true);
      expect(most).toBe(1);
      await eventually(() => (skips() > skipsBefore ? true : undefined));
    } finally {
      await s.stack.emulator.control.setOptions({ executionDurationMs: 300 });
    }
  });
});
