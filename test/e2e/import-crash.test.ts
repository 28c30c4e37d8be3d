import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Job } from '../../src/shared/jobs/index.js';
import { CHILD_PROCESS_HOST, customersPackage, eventually, useImportStack, latencyFault } from './helpers.js';

// The host runs in a child process here (real clock): SIGKILL, restart on the same data dir.
const s = useImportStack({
  ...CHILD_PROCESS_HOST,
  emulator: { executionDurationMs: 2_500 },
});

async function jobWhere(predicate: (job: Job) => boolean, timeoutMs = 30_000): Promise<Job> {
  return eventually(async () => {
    const response = await s.api('/api/jobs').catch(() => undefined);
    if (!response?.ok) return undefined;
    const body = (await response.json()) as { jobs: Job[] };
    return body.jobs.find(predicate);
  }, timeoutMs);
}

/** SIGKILLs the host process and starts it again on the same data dir. */
async function crashAndRestart(): Promise<void> {
  const lock = join(s.dataDir, 'devhost', 'devhost.lock');
  const pid = Number(readFileSync(lock, 'utf8').trim());
  // The lock names the process that runs the host: it must be the child the stack killed.
  expect(pid).toBe(s.stack.childHost!.process.pid);
  await s.stack.childHost!.kill();
  await s.stack.restartHost();
}

async function executionsOf(job: Job): Promise<number> {
  return (await s.stack.emulator.control.executions()).filter((e) => e.executionId === `dmffn-${job.id}`)
    .length;
}

describe('import pipeline survives a killed host', () => {
  it('SIGKILL while polling: after restart the import completes with exactly one F&O execution', async () => {
    const zip = await customersPackage({ prefix: 'KILLPOLL' });
    await s.containers.inbound.getBlockBlobClient('local/Customers/kill-polling.zip').upload(zip, zip.length);
    const polling = await jobWhere((j) => j.file === 'kill-polling.zip' && j.stage === 'Polling');
    await crashAndRestart();
    const job = await s.waitForJob(polling.id, 60_000);
    expect(job.status).toBe('Succeeded');
    expect(await executionsOf(job)).toBe(1);
  }, 120_000);

  it('SIGKILL during upload/start: after restart exactly one F&O execution', async () => {
    // ImportFromPackage answers slowly, so the kill lands while the start is in flight
    await s.stack.emulator.control.setFault(latencyFault('ImportFromPackage', 1_500, 1));
    const zip = await customersPackage({ prefix: 'KILLUP' });
    await s.containers.inbound.getBlockBlobClient('local/Customers/kill-upload.zip').upload(zip, zip.length);
    const uploading = await jobWhere((j) => j.file === 'kill-upload.zip' && j.stage === 'Uploading');
    await eventually(async () => {
      const calls = await s.stack.emulator.control.calls();
      return calls.some((c) => c.route === 'GetAzureWriteUrl' && c.status === 200 && c.startedAt)
        ? true
        : undefined;
    });
    await crashAndRestart();
    const job = await s.waitForJob(uploading.id, 60_000);
    expect(job.status).toBe('Succeeded');
    expect(await executionsOf(job)).toBe(1);
  }, 120_000);
});
