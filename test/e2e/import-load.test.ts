import { describe, expect, it } from 'vitest';
import type { Job } from '../../src/shared/jobs/index.js';
import { customersPackage, eventually, useImportStack, statusFault } from './helpers.js';

const s = useImportStack({
  emulator: { executionDurationMs: 150, notRunMs: 20, notFoundWindowMs: 20 },
});

async function jobsByFile(prefix: string): Promise<Map<string, Job>> {
  const body = (await (await s.api('/api/jobs')).json()) as { jobs: Job[] };
  return new Map(body.jobs.filter((j) => j.file?.startsWith(prefix)).map((j) => [j.file!, j]));
}

describe('import pipeline under load and faults', () => {
  it('20 simultaneous drops on one environment: no overlap in F&O, started in arrival order', async () => {
    const names = Array.from({ length: 20 }, (_, i) => `burst-${String(i + 1).padStart(2, '0')}.zip`);
    const packages = await Promise.all(names.map((_, i) => customersPackage({ prefix: `B${i}` })));
    // uploaded one after the other, so any scan (the host also scans on its own) sees them in name
    // order: that is the order in which they arrive at the app
    for (const [i, name] of names.entries()) {
      await s.containers.inbound
        .getBlockBlobClient(`local/Customers/${name}`)
        .upload(packages[i]!, packages[i]!.length);
    }
    await s.stack.host!.blobTriggers.scanNow();
    const jobs = await eventually(async () => {
      const found = await jobsByFile('burst-');
      return found.size === 20 ? found : undefined;
    });
    const finals = await Promise.all([...jobs.values()].map((j) => s.waitForJob(j.id, 120_000)));
    expect(finals.map((j) => j.status)).toEqual(Array(20).fill('Succeeded'));
    expect(await s.stack.emulator.control.overlaps()).toEqual([]);
    const executions = await s.stack.emulator.control.executions();
    const started = executions
      .filter((e) => [...jobs.values()].some((j) => `dmffn-${j.id}` === e.executionId))
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt))
      .map((e) => [...jobs.values()].find((j) => `dmffn-${j.id}` === e.executionId)!.file);
    const arrival = [...finals]
      .sort((a, b) => a.result!.timings.requestedAt.localeCompare(b.result!.timings.requestedAt))
      .map((j) => `${j.file} ${j.result!.timings.requestedAt}`);
    expect(started, `arrivals: ${arrival.join(', ')}`).toEqual(names);
  }, 180_000);

  it('completes through 429/503 storms, a 503 on ImportFromPackage and token expiry during polling', async () => {
    const control = s.stack.emulator.control;
    await control.setOptions({ executionDurationMs: 2_000 });
    await control.setFault({ route: 'token', kind: 'tokenExpiry', seconds: 1 });
    await control.setFault(statusFault('ImportFromPackage', 503, 1));
    await control.setFault({
      route: 'GetExecutionSummaryStatus',
      kind: 'status',
      status: 429,
      retryAfterSeconds: 0,
      times: 8,
    });
    await control.setFault(statusFault('GetAzureWriteUrl', 503, 2));
    const zip = await customersPackage({ prefix: 'STORM' });
    await s.containers.inbound.getBlockBlobClient('local/Customers/storm.zip').upload(zip, zip.length);
    await s.stack.host!.blobTriggers.scanNow();
    const found = await eventually(async () => (await jobsByFile('storm.zip')).get('storm.zip'));
    // more trouble while it polls
    await control.setFault(statusFault('GetExecutionSummaryStatus', 503, 6));
    const job = await s.waitForJob(found.id, 90_000);
    await control.clearFaults();
    expect(job.status).toBe('Succeeded');
    const calls = await control.calls();
    const mine = calls.filter((c) => c.executionId === job.executionId);
    expect(mine.filter((c) => c.route === 'ImportFromPackage' && c.status === 200)).toHaveLength(1);
    expect(calls.some((c) => c.route === 'token' && c.status === 200)).toBe(true);
    const executions = (await control.executions()).filter((e) => e.executionId === job.executionId);
    expect(executions).toHaveLength(1);
  }, 120_000);

  it('logs of the whole stack contain no SAS signature and no bearer token', () => {
    expect(s.logs.length).toBeGreaterThan(0);
    const leaks = s.logs.filter(
      (line) =>
        /[?&]sig=(?!\[REDACTED\])[^&\s]+/i.test(line) ||
        /bearer\s+(?!\[REDACTED\])[A-Za-z0-9._-]{16,}/i.test(line) ||
        /eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\./.test(line),
    );
    expect(leaks).toEqual([]);
  });
});
