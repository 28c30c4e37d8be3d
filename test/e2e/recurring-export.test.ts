import { describe, expect, it } from 'vitest';
import { DEFAULT_EXPORT_ACTIVITY_ID } from '@dmf-functions/emulator';
import type { DrainSummary, RecurringJob } from '../../src/shared/jobs/index.js';
import {
  DRAIN_BATCH_MESSAGES,
  DRAIN_EPISODE_BATCHES,
} from '../../src/orchestrators/recurring/exportDrain.js';
import {
  eventually,
  EVERY_SECOND_DRAIN,
  list,
  readText,
  recurringConfig,
  useImportStack,
  statusFault,
  latencyFault,
} from './helpers.js';

const activityId = DEFAULT_EXPORT_ACTIVITY_ID;
const instanceId = `recurring-export-local-${activityId}`;
const prefix = `local/recurring/${activityId}/`;
const s = useImportStack({ dmfConfig: recurringConfig({ id: activityId, ...EVERY_SECOND_DRAIN }) });

/** Runs the drain timer until a new drain run has completed; returns its summary. */
async function drain(): Promise<DrainSummary> {
  const durable = s.stack.host!.durable;
  const runOf = async (): Promise<unknown> =>
    (
      (await durable.getStatus(instanceId, { showInput: true }))?.input as
        { scheduledFor?: string } | undefined
    )?.scheduledFor;
  const before = await runOf();
  let started: { instanceId: string } | undefined;
  // one timer run at a time (runs queue up in the host); a run in the same second as the last drain is not due
  for (let attempt = 0; attempt < 6 && !started; attempt++) {
    await s.api('/admin/functions/recurringExportTimer', { method: 'POST', body: '{}' });
    started = await eventually(async () => {
      const current = await durable.getStatus(instanceId);
      return current && (await runOf()) !== before ? current : undefined;
    }, 5_000).catch(() => undefined);
  }
  if (!started) throw new Error('the drain was not started');
  const done = await eventually(async () => {
    const st = await durable.getStatus(instanceId);
    return st && ['Completed', 'Failed', 'Terminated'].includes(st.runtimeStatus) ? st : undefined;
  }, 60_000);
  expect(done.runtimeStatus).toBe('Completed');
  return done.output as DrainSummary;
}

async function seed(count: number, tag: string): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const { messageId } = await s.stack.emulator.control.seedExportMessage({
      activityId,
      fileName: `${tag}-${i}.csv`,
      content: `ACCOUNT,NAME\r\n${tag}-${i},Customer ${i}\r\n`,
    });
    ids.push(messageId.toLowerCase());
  }
  return ids;
}

async function ackedIds(): Promise<Set<string>> {
  const queues = await s.stack.emulator.control.queues();
  return new Set(
    queues
      .filter((q) => q.activityId === activityId && q.status === 'Acked')
      .map((q) => q.messageId.toLowerCase()),
  );
}

describe('recurring export drain', () => {
  it('drains a queue over two episodes: a blob keyed by CorrelationId, an ack and an event per message, no duplicates', async () => {
    const n = DRAIN_BATCH_MESSAGES * DRAIN_EPISODE_BATCHES + 5;
    const ids = await seed(n, 'D50');
    const summary = await drain();
    expect(summary).toMatchObject({
      processed: n,
      stored: n,
      alreadyStored: 0,
      ackFailures: 0,
      emptied: true,
    });
    expect(summary.episodes).toBeGreaterThan(1); // continueAsNew kept each history short
    // the job API lists the drain run as a job of its own kind (its id names the run), with its
    // final status and counters
    const listed = (await (await s.api('/api/jobs')).json()) as { jobs: RecurringJob[] };
    const job = listed.jobs.find((j) => j.drainId === instanceId);
    expect(job?.id).toMatch(new RegExp(`^${instanceId}-r\\d{8}t\\d{9}$`));
    expect(job).toMatchObject({
      kind: 'recurringExport',
      status: 'Succeeded',
      stage: 'Done',
      environment: 'local',
      project: activityId,
      errors: [],
      messages: { processed: n, stored: n },
    });
    expect(await (await s.api(`/api/jobs/${instanceId}`)).json()).toMatchObject({
      kind: 'recurringExport',
      status: 'Succeeded',
    });
    const blobs = await list(s.containers.outbound, prefix);
    expect(blobs.sort()).toEqual(ids.map((id) => `${prefix}${id}`).sort());
    expect(await readText(s.containers.outbound, `${prefix}${ids[7]!}`)).toContain('D50-7,Customer 7');
    const acked = await ackedIds();
    for (const id of ids) expect(acked.has(id)).toBe(true);
    const events = await eventually(() => {
      const received = s
        .events()
        .filter((e) => (e.body as { type: string }).type === 'com.dmf-functions.recurring.export.received');
      return received.length >= n ? received : undefined;
    });
    expect(new Set(events.map((e) => e.messageId)).size).toBe(n);
  });

  it('failed acks: the messages reappear, are found stored and only acked — no duplicate, none lost', async () => {
    // Short enough that the messages of the failed acks reappear within the test; long enough that
    // none reappears while its own batch is still storing it (300 ms did under a load of 10 on two
    // cores: popped twice in one batch, downloaded twice)
    await s.stack.emulator.control.setOptions({ visibilityTimeoutMs: 2_000 });
    // every ack of the first run fails: 20 messages × 4 rounds (ACK_ROUNDS), one HTTP attempt each,
    // whatever the batches they are dequeued in
    await s.stack.emulator.control.setFault(statusFault('ack', 500, 80));
    const ids = await seed(20, 'ACK');
    const first = await drain();
    expect(first.ackFailures).toBeGreaterThan(0);
    const failedAcks = (await s.stack.emulator.control.calls()).filter((c) => c.route === 'ack' && c.fault);
    expect(failedAcks).toHaveLength(80);
    const acked = await eventually(async () => {
      const now = await ackedIds();
      if (ids.every((id) => now.has(id))) return now;
      await drain();
      return undefined;
    }, 60_000);
    expect(ids.every((id) => acked.has(id))).toBe(true);
    const blobs = (await list(s.containers.outbound, prefix)).filter((b) => ids.some((id) => b.endsWith(id)));
    expect(blobs).toHaveLength(20);
    const calls = await s.stack.emulator.control.calls();
    const downloads = calls.filter(
      (c) => c.route === 'download' && c.status === 200 && ids.includes((c.messageId ?? '').toLowerCase()),
    );
    expect(downloads).toHaveLength(20); // a reappearing message is not downloaded again
    await s.stack.emulator.control.setOptions({ visibilityTimeoutMs: 30 * 60_000 });
  });

  it('rewrites an http DownloadLocation to the environment origin', async () => {
    await s.stack.emulator.control.setOptions({ downloadLocation: 'http80' });
    try {
      const ids = await seed(3, 'HTTP');
      const summary = await drain();
      expect(summary).toMatchObject({ processed: 3, stored: 3, failed: 0 });
      for (const id of ids)
        expect(await readText(s.containers.outbound, `${prefix}${id}`)).toContain('HTTP-');
    } finally {
      await s.stack.emulator.control.setOptions({ downloadLocation: 'https' });
    }
  });

  it('a running drain is not started twice', async () => {
    const durable = s.stack.host!.durable;
    const runOf = async (): Promise<string | undefined> =>
      (
        (await durable.getStatus(instanceId, { showInput: true }))?.input as
          { scheduledFor?: string } | undefined
      )?.scheduledFor;
    const previous = await runOf();
    await seed(30, 'SINGLE');
    // slow downloads keep the drain running across several schedule occurrences: the drain overlaps
    // its downloads (a batch of 30 takes about one download's time), so each one takes 3 s
    await s.stack.emulator.control.setFault(latencyFault('download', 3000));
    try {
      const skips = (): number =>
        s.logs.filter((l) => l.includes('is still running: not started again')).length;
      const skipsBefore = skips();
      const nextSecond = async (): Promise<void> => {
        const second = Math.floor(Date.now() / 1000);
        await eventually(() => (Math.floor(Date.now() / 1000) > second ? true : undefined));
      };
      await nextSecond(); // an occurrence after the previous test's drain
      await s.api('/admin/functions/recurringExportTimer', { method: 'POST', body: '{}' });
      const first = await eventually(async () => {
        const st = await durable.getStatus(instanceId);
        const run = await runOf();
        return st && st.runtimeStatus !== 'Completed' && run !== previous ? run : undefined;
      });
      await nextSecond();
      await s.api('/admin/functions/recurringExportTimer', { method: 'POST', body: '{}' });
      await eventually(() => (skips() > skipsBefore ? true : undefined));
      const done = await eventually(async () => {
        const st = await durable.getStatus(instanceId, { showInput: true });
        return st?.runtimeStatus === 'Completed' ? st : undefined;
      }, 60_000);
      expect(await runOf()).toBe(first);
      expect((done.output as DrainSummary).processed).toBe(30);
    } finally {
      await s.stack.emulator.control.clearFaults();
    }
  });

  it('each run that did work is a job of its own, with its counters; an idle run hides none of them', async () => {
    const listRuns = async (): Promise<RecurringJob[]> => {
      const response = await s.api('/api/jobs?kind=recurringExport&top=100');
      return ((await response.json()) as { jobs: RecurringJob[] }).jobs;
    };
    const before = new Set((await listRuns()).map((j) => j.id));
    await seed(3, 'RUN3');
    const first = await drain();
    expect(first.processed).toBe(3);
    await seed(2, 'RUN2');
    const second = await drain();
    expect(second.processed).toBe(2);
    // the queue is empty now: this run lists nothing
    const idle = await drain();
    expect(idle.processed).toBe(0);
    const runs = (await listRuns()).filter((j) => !before.has(j.id));
    expect(runs.map((j) => [j.id, j.status, j.messages?.processed])).toEqual([
      [`${instanceId}-r${second.scheduledFor.replace(/[-:.Z]/g, '').toLowerCase()}`, 'Succeeded', 2],
      [`${instanceId}-r${first.scheduledFor.replace(/[-:.Z]/g, '').toLowerCase()}`, 'Succeeded', 3],
    ]);
    expect(runs.every((j) => j.drainId === instanceId)).toBe(true);
    // each run's page keeps its own counters (the drain's instance now holds the idle run)
    for (const [run, processed] of [
      [runs[0]!, 2],
      [runs[1]!, 3],
    ] as const) {
      const response = await s.api(`/api/jobs/${run.id}`);
      expect(response.status).toBe(200);
      expect(((await response.json()) as RecurringJob).messages?.processed).toBe(processed);
    }
    const latest = (await (await s.api(`/api/jobs/${instanceId}`)).json()) as RecurringJob;
    expect(latest.messages?.processed).toBe(0);
    expect(latest.id).not.toBe(runs[0]!.id);
  });
});
