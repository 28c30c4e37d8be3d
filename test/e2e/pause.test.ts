/**
 * Pausing an environment, end to end through the HTTP API on the real clock (the host in a child
 * process, so it can be restarted): while paused, imports, an export and a recurring import are
 * accepted and listed `Queued` ("paused since … by …"), nothing reaches F&O and no drain starts; the
 * pause survives a restart of the host; the resume sends the imports to F&O in arrival order and
 * lets every other job go on.
 */
import { DEFAULT_EXPORT_ACTIVITY_ID, DEFAULT_IMPORT_ACTIVITY_ID } from '@dmf-functions/emulator';
import { describe, expect, it } from 'vitest';
import type { EnvironmentView } from '../../src/functions/operate/environments.js';
import type { Job, ListedJob } from '../../src/shared/jobs/index.js';
import {
  CHILD_PROCESS_HOST,
  customersPackage,
  eventually,
  exportProject,
  FAST_POLLING,
  testConfig,
  useImportStack,
} from './helpers.js';

const s = useImportStack({
  ...CHILD_PROCESS_HOST,
  // a key starting with "-", as base64url keys sometimes do: the child host must still take it
  functionsKey: '-pauseTestKeyStartingWithADash0123',
  dmfConfig: testConfig((c) => {
    (c.dataProjects as unknown[]).push(exportProject());
    c.recurringActivities = [
      { id: DEFAULT_IMPORT_ACTIVITY_ID, environment: 'local', direction: 'import', polling: FAST_POLLING },
      {
        id: DEFAULT_EXPORT_ACTIVITY_ID,
        environment: 'local',
        direction: 'export',
        schedule: '* * * * * *',
        maxMessagesPerRun: 50,
      },
    ];
  }),
  emulator: { recurringPickupDelayMs: 50 },
});

async function environments(): Promise<EnvironmentView[]> {
  const response = await s.api('/api/environments');
  expect(response.status).toBe(200);
  return ((await response.json()) as { environments: EnvironmentView[] }).environments;
}

async function post(
  path: string,
  body?: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await s.api(path, {
    method: 'POST',
    ...(body === undefined
      ? {}
      : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function importFile(name: string): Promise<string> {
  const response = await s.api(`/api/imports?environment=local&project=Customers&fileName=${name}`, {
    method: 'POST',
    headers: { 'content-type': 'application/zip' },
    body: await customersPackage({ prefix: name.replace(/\W/g, '').toUpperCase() }),
  });
  expect(response.status).toBe(202);
  return ((await response.json()) as { id: string }).id;
}

async function listedJob(id: string): Promise<ListedJob & { queuedReason?: string }> {
  return eventually(async () => {
    const response = await s.api('/api/jobs?top=100').catch(() => undefined);
    if (!response?.ok) return undefined;
    return ((await response.json()) as { jobs: (ListedJob & { queuedReason?: string })[] }).jobs.find(
      (j) => j.id === id,
    );
  });
}

/** Waits until the list shows job `id` Queued; returns its entry. */
function queued(id: string): Promise<ListedJob & { queuedReason?: string }> {
  return eventually(async () => {
    const job = await listedJob(id);
    return job.status === 'Queued' ? job : undefined;
  }, 30_000);
}

async function fo(): Promise<{ route: string; executionId?: string }[]> {
  return (await s.stack.emulator.control.calls()).filter((c) =>
    ['ImportFromPackage', 'ExportToPackage', 'enqueue', 'dequeue'].includes(c.route),
  );
}

const drainId = `recurring-export-local-${DEFAULT_EXPORT_ACTIVITY_ID}`;
const ids: Record<string, string> = {};

describe('pause and resume an environment', () => {
  it('lists the environments, not paused', async () => {
    expect(await environments()).toEqual([{ name: 'local', paused: false, waiting: 0, running: 0 }]);
  });

  it('while paused, arrivals are accepted and Queued in order; nothing is sent to F&O', async () => {
    const paused = await post('/api/environments/local/pause', { by: 'ops', reason: 'F&O maintenance' });
    expect(paused.status).toBe(200);
    expect(paused.body).toMatchObject({
      name: 'local',
      paused: true,
      pausedBy: 'ops',
      reason: 'F&O maintenance',
    });
    const since = paused.body.pausedSince as string;
    // a second pause keeps the first one's time and author
    const again = await post('/api/environments/local/pause', { by: 'someone else' });
    expect(again.body).toMatchObject({ pausedBy: 'ops', pausedSince: since });
    expect((await post('/api/environments/nowhere/pause')).status).toBe(404);
    expect((await post('/api/environments/local/pause', { by: 'x\u202ey' })).status).toBe(400);

    const before = (await fo()).length;
    ids.a = await importFile('paused-a.zip');
    ids.b = await importFile('paused-b.zip');
    ids.c = await importFile('paused-c.zip');
    const exported = await post('/api/exports?environment=local&project=CustomersOut');
    expect(exported.status).toBe(202);
    ids.export = exported.body.id as string;
    const enqueued = await s.api(
      `/api/recurring/imports?path=${encodeURIComponent(`local/${DEFAULT_IMPORT_ACTIVITY_ID}/paused-enq.zip`)}`,
      { method: 'POST', body: await customersPackage({ prefix: 'PENQ' }) },
    );
    expect(enqueued.status).toBe(202);
    ids.enqueue = ((await enqueued.json()) as { id: string }).id;
    for (const key of ['a', 'b', 'c', 'export', 'enqueue']) {
      const job = await queued(ids[key]!);
      expect(job.queuedReason).toBe(
        `Environment local paused since ${since} by ops (F&O maintenance): the job waits and starts, in arrival order, when the environment is resumed.`,
      );
    }
    const page = (await (await s.api('/api/jobs?status=Queued')).json()) as { jobs: ListedJob[] };
    expect(page.jobs.map((j) => j.id).sort()).toEqual(
      [ids.a, ids.b, ids.c, ids.export, ids.enqueue].map(String).sort(),
    );
    // the job page says it too
    const detail = (await (await s.api(`/api/jobs/${ids.a}`)).json()) as Job;
    expect(detail).toMatchObject({ status: 'Queued', stage: 'WaitingForSlot', paused: { by: 'ops', since } });
    // no drain starts while paused
    await s.stack.emulator.control.seedExportMessage({
      activityId: DEFAULT_EXPORT_ACTIVITY_ID,
      fileName: 'paused-drain.csv',
      content: 'ACCOUNT\r\nP-1\r\n',
    });
    await s.api('/admin/functions/recurringExportTimer', { method: 'POST', body: '{}' });
    await new Promise((r) => setTimeout(r, 1_500));
    expect((await s.api(`/api/jobs/${drainId}`)).status).toBe(404);
    expect((await fo()).length).toBe(before);
    expect((await environments())[0]).toMatchObject({ paused: true, waiting: 3, running: 0 });
  }, 90_000);

  it('survives a restart of the host', async () => {
    await s.stack.childHost!.kill();
    await s.stack.restartHost();
    const env = await eventually(async () => {
      const response = await s.api('/api/environments').catch(() => undefined);
      return response?.ok
        ? ((await response.json()) as { environments: EnvironmentView[] }).environments[0]
        : undefined;
    });
    expect(env).toMatchObject({ name: 'local', paused: true, pausedBy: 'ops', waiting: 3 });
    ids.d = await importFile('paused-d.zip');
    await queued(ids.d);
    expect((await fo()).filter((c) => c.route === 'ImportFromPackage')).toEqual([]);
  }, 90_000);

  it('the resume sends the imports to F&O in arrival order and lets the others go on', async () => {
    const resumed = await post('/api/environments/local/resume');
    expect(resumed.status).toBe(200);
    expect(resumed.body).toMatchObject({ name: 'local', paused: false });
    for (const key of ['a', 'b', 'c', 'd', 'export', 'enqueue']) {
      const job = await eventually(async () => {
        const listed = await listedJob(ids[key]!);
        return listed.stage === 'Done' ? listed : undefined;
      }, 60_000);
      expect(job.status).toBe('Succeeded');
    }
    const starts = (await fo()).filter((c) => c.route === 'ImportFromPackage').map((c) => c.executionId);
    expect(starts).toEqual([ids.a, ids.b, ids.c, ids.d].map((id) => `dmffn-${String(id)}`));
    expect((await environments())[0]).toEqual({ name: 'local', paused: false, waiting: 0, running: 0 });
    // the drain starts again
    const drained = await eventually(async () => {
      await s.api('/admin/functions/recurringExportTimer', { method: 'POST', body: '{}' });
      const response = await s.api('/api/jobs?kind=recurringExport');
      const jobs = ((await response.json()) as { jobs: ListedJob[] }).jobs;
      return jobs.find((j) => j.status === 'Succeeded');
    }, 30_000);
    expect(drained.environment).toBe('local');
  }, 120_000);
});
