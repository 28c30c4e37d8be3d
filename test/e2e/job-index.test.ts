/**
 * The jobs list from the job index, end to end: real jobs appear at each stage, the list pages
 * newest first across 250 jobs with its filters on the server, `dmf jobs` pages through it and
 * `dmf admin reindex` rebuilds it from the result JSONs.
 */
import { describe, expect, it } from 'vitest';
import type { ExportJob, ListedJob } from '../../src/shared/jobs/index.js';
import { createJobIndexTables } from '../../src/shared/storage/index.js';
import { jobIndexOn, seedJobs } from '../support/job-index.js';
import type { ProcessRun } from '../support/process.js';
import { customersPackage, runCli, useImportStack, withExportProject } from './helpers.js';

// F&O takes 2 s per execution (emulator, real time): long enough to see each stage in the list
const s = useImportStack({
  dmfConfig: withExportProject(),
  emulator: { executionDurationMs: 2_000 },
});

interface Page {
  jobs: ListedJob[];
  continuation?: string;
  since: string;
}

async function listPage(query: string): Promise<Page> {
  const response = await s.api(`/api/jobs${query}`);
  expect(response.status).toBe(200);
  return (await response.json()) as Page;
}

/** Every page of a list query, followed through its continuations. */
async function listAll(query: string): Promise<{ jobs: ListedJob[]; pages: number }> {
  const jobs: ListedJob[] = [];
  let pages = 0;
  let continuation: string | undefined;
  do {
    const page = await listPage(
      `${query}${continuation ? `&continuation=${encodeURIComponent(continuation)}` : ''}`,
    );
    jobs.push(...page.jobs);
    continuation = page.continuation;
    pages++;
  } while (continuation);
  return { jobs, pages };
}

/**
 * Watches the list (every 25 ms) until every job in `ids` is final there; returns, per job, the
 * `status/stage` pairs it showed, in order (repeats dropped).
 */
async function watchList(ids: string[], timeoutMs = 40_000): Promise<Map<string, string[]>> {
  const seen = new Map(ids.map((id) => [id, [] as string[]]));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { jobs } = await listPage('?top=20');
    for (const job of jobs) {
      const shown = seen.get(job.id);
      const now = `${job.status}/${job.stage ?? ''}`;
      if (shown && shown.at(-1) !== now) shown.push(now);
    }
    const final = ids.every((id) => /\/Done$/.test(seen.get(id)?.at(-1) ?? ''));
    if (final) return seen;
    if (Date.now() > deadline) throw new Error(`not final in the list: ${JSON.stringify([...seen])}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The order of the stages a list shows (a job never goes back). */
const ORDER = [
  'Pending/Preparing',
  'Pending/Starting',
  'Pending/WaitingForSlot',
  'Running/Uploading',
  'Running/Polling',
  'Running/WaitingForPackage',
  'Running/CollectingErrors',
  'Running/Finishing',
];
const rank = (shown: string): number => (shown.endsWith('/Done') ? ORDER.length : ORDER.indexOf(shown));

const cli = (args: string[]): Promise<ProcessRun> => runCli(s, args);

const ids: Record<string, string> = {};

describe('jobs list from the job index', () => {
  it('shows an import at each stage: waiting for the slot, running in F&O, done', async () => {
    const post = async (name: string, prefix: string): Promise<string> => {
      const response = await s.api(`/api/imports?environment=local&project=Customers&fileName=${name}`, {
        method: 'POST',
        headers: { 'content-type': 'application/zip' },
        body: await customersPackage({ prefix }),
      });
      expect(response.status).toBe(202);
      return ((await response.json()) as { id: string }).id;
    };
    // the first holds the environment's slot for 2 s, so the second waits for it meanwhile
    ids.first = await post('stage-first.zip', 'STG1');
    ids.second = await post('stage-second.zip', 'STG2');
    const seen = await watchList([ids.first, ids.second]);
    const second = seen.get(ids.second)!;
    expect(second).toEqual(
      expect.arrayContaining(['Pending/WaitingForSlot', 'Running/Polling', 'Succeeded/Done']),
    );
    expect(seen.get(ids.first)).toEqual(expect.arrayContaining(['Running/Polling', 'Succeeded/Done']));
    for (const shown of seen.values()) {
      const ranks = shown.map(rank);
      expect(ranks.every((r) => r >= 0)).toBe(true);
      expect(ranks).toEqual([...ranks].sort((a, b) => a - b));
    }
    // a list entry is the job JSON (with errorCount); newest first
    const { jobs } = await listPage('?top=2');
    expect(jobs.map((j) => j.id)).toEqual([ids.second, ids.first]);
    // (the list shows a job done once its result is written, a moment before its orchestration ends)
    const detail = await s.waitForJob(ids.second);
    expect(Object.keys(jobs[0]!).sort()).toEqual([...Object.keys(detail), 'errorCount'].sort());
    expect(jobs[0]).toMatchObject({
      id: ids.second,
      kind: 'import',
      status: 'Succeeded',
      stage: 'Done',
      executionId: detail.executionId,
      environment: 'local',
      project: 'Customers',
      legalEntity: 'USMF',
      file: expect.stringMatching(/stage-second\.zip$/) as unknown,
      errorCount: 0,
    });
  });

  it('shows an export at each stage', async () => {
    const response = await s.api('/api/exports?environment=local&project=CustomersOut', { method: 'POST' });
    expect(response.status).toBe(202);
    ids.export = ((await response.json()) as { id: string }).id;
    const seen = (await watchList([ids.export])).get(ids.export)!;
    expect(seen).toEqual(expect.arrayContaining(['Running/Polling', 'Succeeded/Done']));
    const ranks = seen.map(rank);
    expect(ranks).toEqual([...ranks].sort((a, b) => a - b));
    const [listed] = (await listPage('?top=1&kind=export')).jobs as (ListedJob & ExportJob)[];
    expect(listed).toMatchObject({
      id: ids.export,
      kind: 'export',
      project: 'CustomersOut',
      status: 'Succeeded',
    });
  });

  it('pages across 250 jobs newest first, filtered on the server', async () => {
    // 247 seeded rows (cheap: the point is paging), older than the 3 real jobs above
    const index = jobIndexOn(s.stack.storageConnectionString, s.tables);
    const seeded = await seedJobs(index, 247, {
      newest: new Date(Date.now() - 3_600_000),
      environments: ['seeded-a', 'seeded-b'],
      statuses: ['Succeeded', 'Failed', 'PartiallySucceeded'],
    });
    const { jobs, pages } = await listAll('?top=100');
    expect(pages).toBe(3);
    expect(jobs).toHaveLength(250);
    expect(new Set(jobs.map((j) => j.id)).size).toBe(250);
    expect(jobs.slice(0, 3).map((j) => j.id)).toEqual([ids.export, ids.second, ids.first]);
    expect(jobs.slice(3).map((j) => j.id)).toEqual(seeded.map((j) => j.id));
    const times = jobs.map((j) => Date.parse(j.createdAt!));
    expect(times).toEqual([...times].sort((a, b) => b - a));

    const failedB = seeded
      .filter((j) => j.status === 'Failed' && j.environment === 'seeded-b')
      .map((j) => j.id);
    const filtered = await listAll('?top=10&status=Failed&environment=seeded-b');
    expect(filtered.jobs.map((j) => j.id)).toEqual(failedB);
    const window = await listAll(
      `?top=50&since=${encodeURIComponent(seeded[20]!.createdAt!)}&until=${encodeURIComponent(seeded[9]!.createdAt!)}`,
    );
    expect(window.jobs.map((j) => j.id)).toEqual(seeded.slice(10, 21).map((j) => j.id));
    expect((await listAll('?top=10&project=CustomersOut')).jobs.map((j) => j.id)).toEqual([ids.export]);
    // the last page has no continuation
    expect((await listPage('?top=100&kind=export')).continuation).toBeUndefined();
  });

  it('refuses a bad query with a readable 400', async () => {
    const cases: [string, string][] = [
      ['?top=0', 'BAD_TOP'],
      ['?top=5000', 'BAD_TOP'],
      ['?status=Done', 'BAD_STATUS'],
      ['?kind=imports', 'BAD_KIND'],
      ['?since=yesterday', 'BAD_SINCE'],
      ['?environment=a%20b', 'BAD_ENVIRONMENT'],
      ["?project=x'y", 'BAD_PROJECT'],
      ['?continuation=not-ours', 'BAD_CONTINUATION'],
    ];
    for (const [query, code] of cases) {
      const response = await s.api(`/api/jobs${query}`);
      expect(response.status, query).toBe(400);
      expect(((await response.json()) as { error: { code: string } }).error.code, query).toBe(code);
    }
  });

  it('dmf jobs pages through the list newest first; dmf admin reindex rebuilds it from the results', async () => {
    const all = await cli(['jobs', '--all', '--json', '--env', 'seeded-a']);
    expect(all.code).toBe(0);
    const seededA = JSON.parse(all.stdout) as ListedJob[];
    expect(seededA).toHaveLength(124);
    const times = seededA.map((j) => Date.parse(j.createdAt!));
    expect(times).toEqual([...times].sort((a, b) => b - a));
    const limited = await cli(['jobs', '--limit', '2']);
    expect(limited.stdout.split('\n').filter((l) => l.startsWith('imp-') || l.startsWith('exp-'))).toEqual([
      expect.stringMatching(new RegExp(`^${ids.export}\\s+Succeeded`)),
      expect.stringMatching(new RegExp(`^${ids.second}\\s+Succeeded`)),
    ]);
    expect(limited.stderr).toContain('--all');

    // an index lost (or a deployment from before it): the jobs come back from the result JSONs
    const tables = createJobIndexTables(
      { kind: 'connectionString', connectionString: s.stack.storageConnectionString },
      s.tables,
    );
    await tables.jobs.deleteTable();
    await tables.jobIds.deleteTable();
    expect(JSON.parse((await cli(['jobs', '--json'])).stdout)).toEqual([]);
    const reindex = await cli(['admin', 'reindex']);
    expect(reindex.code).toBe(0);
    expect(reindex.stdout).toMatch(/^Reindexed 3 job\(s\)/);
    const back = JSON.parse((await cli(['jobs', '--json'])).stdout) as ListedJob[];
    expect(back.map((j) => [j.id, j.status, j.stage])).toEqual([
      [ids.export, 'Succeeded', 'Done'],
      [ids.second, 'Succeeded', 'Done'],
      [ids.first, 'Succeeded', 'Done'],
    ]);
  });
});
