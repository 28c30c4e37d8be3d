/**
 * Recurring enqueue starts once (issue 12.4): F&O deduplicates nothing and no API finds a message
 * by its file name, so an enqueue whose answer was lost (dropResponse: F&O queued the message) or
 * that got a 5xx is never sent again; the job ends `Unknown` and says what to check in F&O.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_IMPORT_ACTIVITY_ID } from '@dmf-functions/emulator';
import type { RecurringImportResult } from '../../src/shared/jobs/index.js';
import {
  customersPackage,
  eventually,
  FAST_POLLING,
  recurringConfig,
  statusFault,
  useImportStack,
} from './helpers.js';

const activityId = DEFAULT_IMPORT_ACTIVITY_ID;
const s = useImportStack({
  dmfConfig: recurringConfig({ id: activityId, direction: 'import', company: 'USMF', polling: FAST_POLLING }),
  emulator: { recurringPickupDelayMs: 50 },
});

async function enqueue(file: string): Promise<RecurringImportResult> {
  const zip = await customersPackage({ prefix: file.toUpperCase().slice(0, 4), rows: 2 });
  const response = await s.api(
    `/api/recurring/imports?path=${encodeURIComponent(`local/${activityId}/${file}`)}`,
    {
      method: 'POST',
      body: zip,
    },
  );
  expect(response.status).toBe(202);
  const { id } = (await response.json()) as { id: string };
  return eventually(async () => {
    const job = (await (await s.api(`/api/recurring/imports/${id}`)).json()) as {
      runtimeStatus: string;
      result?: RecurringImportResult;
    };
    return job.runtimeStatus === 'Completed' ? job.result : undefined;
  }, 90_000);
}

const enqueueCalls = async (file: string): Promise<number> =>
  (await s.stack.emulator.control.queues()).filter((q) => q.externalIdentifier === file).length;

const sent = async (): Promise<number> =>
  (await s.stack.emulator.control.calls()).filter((c) => c.route === 'enqueue').length;

describe('recurring enqueue: once, whatever the answer', () => {
  it('a lost answer (dropResponse: queued, answer dropped): one message, job Unknown naming what to check', async () => {
    const before = await sent();
    await s.stack.emulator.control.setFault({ route: 'enqueue', kind: 'dropResponse', times: 1 });
    const result = await enqueue('dropped.zip');
    expect(await sent()).toBe(before + 1);
    expect(await enqueueCalls('dropped.zip')).toBe(1);
    expect(result.status).toBe('Unknown');
    expect(result.errors[0]?.code).toBe('ENQUEUE_UNCONFIRMED');
    expect(result.errors[0]?.message).toMatch(/Unknown — check F&O.*Manage messages.*"dropped\.zip"/s);
    const job = (await (await s.api(`/api/jobs/${result.id}`)).json()) as { status: string };
    expect(job.status).toBe('Unknown');
  });

  it('a 500 is not sent again (the docs: a 5xx is never resent): one call, job Unknown', async () => {
    const before = await sent();
    await s.stack.emulator.control.setFault(statusFault('enqueue', 500, 1));
    const result = await enqueue('five-hundred.zip');
    expect(await sent()).toBe(before + 1);
    expect(await enqueueCalls('five-hundred.zip')).toBe(0);
    expect(result.status).toBe('Unknown');
    expect(result.errors[0]?.code).toBe('ENQUEUE_UNCONFIRMED');
  });

  it('a refusal (400) certainly queued nothing: Rejected with F&O’s reason, one call', async () => {
    const before = await sent();
    await s.stack.emulator.control.setFault(statusFault('enqueue', 400, 1));
    const result = await enqueue('refused.zip');
    expect(await sent()).toBe(before + 1);
    expect(result.status).toBe('Rejected');
    expect(result.errors[0]?.message).toMatch(/F&O refused the file/);
  });
});
