/**
 * The job index against Azurite's table service through the real SDK: keys sort newest first,
 * filters and time ranges run on the service, pages chain through continuations, a start path
 * never overwrites a later stage, a stage patch reaches a job known by id only.
 */
import { describe, expect, inject, it } from 'vitest';
import { InputError } from '../../../src/shared/errors.js';
import { listedJob, type AnyJob } from '../../../src/shared/jobs/index.js';
import {
  decodeContinuation,
  encodeContinuation,
  fromRow,
  JOB_JSON_LIMIT,
  JobIndex,
  listFilter,
  listKeys,
  listPartitionKey,
  recordJob,
  recordStage,
  createJobIndexTables,
  type JobListQuery,
} from '../../../src/shared/storage/index.js';
import { importJob, jobIndexOn, seedJobs, tableNames } from '../../support/job-index.js';

const index = (): JobIndex => jobIndexOn(inject('azuriteConnectionString'), tableNames());

/** Every page of a query, followed through its continuations. */
async function allPages(on: JobIndex, query: JobListQuery): Promise<{ ids: string[]; pages: number }> {
  const ids: string[] = [];
  let pages = 0;
  let continuation: string | undefined;
  do {
    const page = await on.list({ ...query, ...(continuation ? { continuation } : {}) });
    pages++;
    ids.push(...page.jobs.map((j) => j.id));
    continuation = page.continuation;
  } while (continuation);
  return { ids, pages };
}

describe('job index keys and filters (pure)', () => {
  it('sorts newer months and newer times first', () => {
    expect(listPartitionKey(new Date('2026-12-01T00:00:00Z'))).toBe('797387');
    expect(
      listPartitionKey(new Date('2027-01-01T00:00:00Z')) < listPartitionKey(new Date('2026-12-31T23:59:59Z')),
    ).toBe(true);
    const older = listKeys('2026-12-05T10:00:00.000Z', 'imp-a');
    const newer = listKeys('2026-12-05T10:00:00.001Z', 'imp-b');
    expect(newer.partitionKey).toBe(older.partitionKey);
    expect(newer.rowKey < older.rowKey).toBe(true);
    expect(() => listKeys('not a time', 'imp-a')).toThrow(/no valid time/);
  });

  it('puts the time range into key bounds and the rest into escaped property conditions', () => {
    expect(
      listFilter({
        since: new Date('2026-12-01T00:00:00Z'),
        statuses: ['Failed', 'TimedOut'],
        environment: "o'brien",
      }),
    ).toBe(
      "PartitionKey le '797387' and RowKey lt '8203916800000' and (status eq 'Failed' or status eq 'TimedOut') and environment eq 'o''brien'",
    );
    expect(listFilter({})).toBe('');
  });

  it('wraps the table token and refuses anything else as a continuation', () => {
    expect(decodeContinuation(encodeContinuation('abc='))).toBe('abc=');
    for (const bad of [
      '',
      'not base64!',
      Buffer.from('{"v":2,"next":"x"}').toString('base64url'),
      'x'.repeat(5000),
    ]) {
      expect(() => decodeContinuation(bad)).toThrow(InputError);
    }
  });

  it('trims a list entry: no poll log, the first 10 errors, errorCount', () => {
    const job = importJob({ at: new Date('2026-12-05T10:00:00Z'), status: 'PartiallySucceeded', errors: 25 });
    const listed = listedJob(job);
    expect(listed.errorCount).toBe(25);
    expect(listed.errors).toHaveLength(10);
    expect(listed).toMatchObject({ pollLog: [], id: job.id, status: 'PartiallySucceeded', stage: 'Done' });
    const result = listed.result as unknown as Record<string, unknown>;
    expect(result.pollLog).toBeUndefined();
    expect(result.errors).toHaveLength(10);
    // the job JSON's fields are all there
    expect(Object.keys(listed).sort()).toEqual([...Object.keys(job), 'errorCount'].sort());
  });

  it('a row lists with its columns winning over its stored JSON', () => {
    const job = importJob({ at: new Date('2026-12-05T10:00:00Z'), status: 'Pending' });
    const listed = fromRow({ job: JSON.stringify(listedJob(job)), status: 'Running', stage: 'Uploading' });
    expect(listed).toMatchObject({ id: job.id, status: 'Running', stage: 'Uploading' });
    expect(fromRow({ job: '{broken', id: 'imp-x', status: 'Failed' })).toMatchObject({
      id: 'imp-x',
      status: 'Failed',
      errors: [],
    });
  });
});

describe('job index on Azurite', () => {
  it('pages through 250 jobs newest first, each exactly once', async () => {
    const on = index();
    // over three months, so pages cross partition boundaries
    const jobs = await seedJobs(on, 250, { newest: new Date('2026-12-02T00:00:00Z'), stepMs: 9 * 3_600_000 });
    const { ids, pages } = await allPages(on, { top: 100, since: new Date('2026-01-01T00:00:00Z') });
    expect(ids).toEqual(jobs.map((j) => j.id));
    expect(pages).toBeGreaterThanOrEqual(3);
    const first = await on.list({ top: 100, since: new Date('2026-01-01T00:00:00Z') });
    expect(first.jobs).toHaveLength(100);
    expect(first.continuation).toBeDefined();
  });

  it('filters on the service: status, kind, environment, project and a time range', async () => {
    const on = index();
    const newest = new Date('2026-12-02T00:00:00Z');
    const jobs = await seedJobs(on, 60, {
      newest,
      environments: ['prod', 'test', 'dev'],
      statuses: ['Succeeded', 'Failed', 'Running', 'PartiallySucceeded'],
    });
    const expected = (match: (job: AnyJob) => boolean): string[] => jobs.filter(match).map((j) => j.id);
    const since = new Date(newest.getTime() - 30 * 60_000);
    const until = new Date(newest.getTime() - 10 * 60_000);
    expect((await allPages(on, { top: 7, statuses: ['Failed'], environment: 'test' })).ids).toEqual(
      expected((j) => j.status === 'Failed' && j.environment === 'test'),
    );
    expect((await allPages(on, { top: 50, since, until })).ids).toEqual(
      expected(
        (j) => Date.parse(j.createdAt!) >= since.getTime() && Date.parse(j.createdAt!) < until.getTime(),
      ),
    );
    expect((await allPages(on, { top: 50, kinds: ['export'] })).ids).toEqual([]);
    expect((await allPages(on, { top: 50, kinds: ['import'], project: 'Customers' })).ids).toHaveLength(60);
    expect((await allPages(on, { top: 50, project: 'Vendors' })).ids).toEqual([]);
  });

  it('a start path never overwrites a later stage; a stage patch reaches a job known by id', async () => {
    const on = index();
    const at = new Date('2026-12-05T10:00:00Z');
    const pending = importJob({ at, status: 'Pending', id: 'imp-stages' });
    expect(await on.put(pending, at.toISOString(), { insertOnly: true })).toBe('written');
    expect(
      await on.patch('imp-stages', { status: 'Running', stage: 'Polling', updatedAt: at.toISOString() }),
    ).toBe(true);
    // a late start write finds the job and leaves it
    expect(await on.put(pending, at.toISOString(), { insertOnly: true })).toBe('exists');
    const [running] = (await on.list({ top: 10 })).jobs;
    expect(running).toMatchObject({ id: 'imp-stages', status: 'Running', stage: 'Polling' });
    expect((await on.list({ top: 10, statuses: ['Running'] })).jobs.map((j) => j.id)).toEqual(['imp-stages']);
    // the finish replaces the whole row
    await on.put(importJob({ at, status: 'Succeeded', id: 'imp-stages' }), at.toISOString());
    expect((await on.list({ top: 10 })).jobs[0]).toMatchObject({ status: 'Succeeded', stage: 'Done' });
    expect(await on.patch('imp-unknown', { status: 'Running', updatedAt: at.toISOString() })).toBe(false);
  });

  it('keeps a job with a huge result under the row limit', async () => {
    const on = index();
    const at = new Date('2026-12-05T10:00:00Z');
    const job = importJob({ at, status: 'Failed', id: 'imp-huge', errors: 3 });
    const long = 'x'.repeat(20_000);
    const huge = {
      ...job,
      errors: job.errors.map((e) => ({ ...e, message: long })),
      result: {
        ...job.result!,
        errorFiles: Array.from({ length: 200 }, (_, i) => ({
          kind: 'staging',
          entity: long.slice(0, 200),
          container: 'c',
          path: `p${i}`,
          bytes: 1,
        })),
      },
    } as AnyJob;
    await on.put(huge, at.toISOString());
    const [listed] = (await on.list({ top: 1 })).jobs;
    expect(JSON.stringify(listed).length).toBeLessThan(JOB_JSON_LIMIT + 1000);
    expect(listed).toMatchObject({ id: 'imp-huge', status: 'Failed', errorCount: 3 });
    expect((listed!.result as unknown as { timings: unknown }).timings).toBeDefined();
  });

  it('lists nothing from a table never written, and refuses a forged continuation', async () => {
    const on = index();
    expect(await on.list({ top: 10 })).toEqual({ jobs: [] });
    await seedJobs(on, 3, { newest: new Date('2026-12-05T10:00:00Z') });
    await expect(on.list({ top: 1, continuation: 'bm9wZQ' })).rejects.toThrow(InputError);
  });

  it('purges the jobs listed before a time, with their id rows', async () => {
    const on = index();
    // 150 jobs, 9 h apart: over two months
    const jobs = await seedJobs(on, 150, { newest: new Date('2026-12-20T00:00:00Z'), stepMs: 9 * 3_600_000 });
    const before = new Date(jobs[60]!.createdAt!);
    expect(await on.purge(new Date(Date.parse(before.toISOString()) + 1))).toBe(90);
    const { ids } = await allPages(on, { top: 1000 });
    expect(ids).toEqual(jobs.slice(0, 60).map((j) => j.id));
    const at = '2026-12-20T00:00:00Z';
    expect(await on.patch(jobs[59]!.id, { status: 'Failed', updatedAt: at })).toBe(true);
    expect(await on.patch(jobs[60]!.id, { status: 'Failed', updatedAt: at })).toBe(false);
    expect(await on.purge(new Date('2020-01-01T00:00:00Z'))).toBe(0);
  });

  it('creates its tables again when they were deleted since', async () => {
    const names = tableNames();
    const on = jobIndexOn(inject('azuriteConnectionString'), names);
    const at = new Date('2026-12-05T10:00:00Z');
    await on.put(importJob({ at, id: 'imp-before' }), at.toISOString());
    const tables = createJobIndexTables(
      { kind: 'connectionString', connectionString: inject('azuriteConnectionString') },
      names,
    );
    await tables.jobs.deleteTable();
    await tables.jobIds.deleteTable();
    expect(await on.list({ top: 10 })).toEqual({ jobs: [] });
    expect(await on.patch('imp-before', { status: 'Running', updatedAt: at.toISOString() })).toBe(false);
    await on.put(importJob({ at, id: 'imp-after' }), at.toISOString());
    expect((await on.list({ top: 10 })).jobs.map((j) => j.id)).toEqual(['imp-after']);
  });

  it('a write that fails is logged, never thrown', async () => {
    const down = new JobIndex(
      createJobIndexTables(
        {
          kind: 'connectionString',
          connectionString:
            'DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;TableEndpoint=http://127.0.0.1:9/devstoreaccount1;',
        },
        tableNames(),
      ),
      { timeoutMs: 2_000 },
    );
    const warnings: string[] = [];
    const logger = { warn: (message: string) => warnings.push(message) };
    const job = importJob({ at: new Date('2026-12-05T10:00:00Z') });
    await recordJob(down, logger, 'import', {
      instanceId: job.id,
      runtimeStatus: 'Pending',
      input: { requestedAt: '2026-12-05T10:00:00Z', environment: 'local' },
    });
    await recordStage(down, logger, job.id, { status: 'Running', updatedAt: '2026-12-05T10:00:00Z' });
    expect(warnings).toEqual([
      expect.stringMatching(/^Job index: could not record import imp-.*dmf admin reindex/),
      expect.stringMatching(/^Job index: could not record stage Running of imp-.*dmf admin reindex/),
    ]);
  });
});
