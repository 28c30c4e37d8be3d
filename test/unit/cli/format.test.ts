import { describe, expect, it } from 'vitest';
import type { CliJob } from '../../../src/cli/api.js';
import { exitCodeFor, formatDuration, jobDetails, jobsTable, stageLine } from '../../../src/cli/format.js';
import { parseSince } from '../../../src/cli/main.js';
import { jobFiles } from '../../../src/dashboard/files.js';

const job = (patch: Partial<CliJob> = {}): CliJob => ({
  id: 'imp-1',
  status: 'Running',
  stage: 'Polling',
  environment: 'local',
  project: 'Customers',
  legalEntity: 'USMF',
  file: 'a.zip',
  createdAt: '2026-01-01T10:00:00.000Z',
  polls: 3,
  foStatus: 'Executing',
  errors: [],
  ...patch,
});

describe('exit codes', () => {
  it.each([
    ['Succeeded', 0],
    ['PartiallySucceeded', 2],
    ['Failed', 1],
    ['Canceled', 1],
    ['TimedOut', 1],
    ['Running', 0],
  ])('%s → %i', (status, code) => {
    expect(exitCodeFor(status)).toBe(code);
  });
});

describe('formatting', () => {
  it('durations read like a person would say them', () => {
    expect(formatDuration(850)).toBe('850 ms');
    expect(formatDuration(4_200)).toBe('4.2 s');
    expect(formatDuration(192_000)).toBe('3 min 12 s');
    expect(formatDuration(3_900_000)).toBe('1 h 5 min');
    expect(formatDuration(undefined)).toBe('');
  });

  it('the live stage line names stage, F&O status and polls', () => {
    expect(stageLine(job())).toBe('Running · Polling · F&O Executing · 3 polls');
    expect(
      stageLine(
        job({ status: 'Pending', stage: 'WaitingForSlot', slotPosition: 2, polls: 0, foStatus: undefined }),
      ),
    ).toBe('Pending · WaitingForSlot · queue position 2');
  });

  it('job details list errors with entity, field and record', () => {
    const text = jobDetails(
      job({
        status: 'PartiallySucceeded',
        errors: [
          {
            code: 'DMF_EXECUTION_ERROR',
            message: 'bad value',
            entity: 'Customers V3',
            field: 'NAME',
            recordId: '7',
          },
        ],
      }),
      [{ name: 'result.json', kind: 'result' }],
    );
    expect(text).toContain('Errors (1):');
    expect(text).toContain('DMF_EXECUTION_ERROR [Customers V3, field NAME, record 7]: bad value');
    expect(text).toContain('result.json  (result)');
  });

  it("job details link the execution's F&O page and list the counts F&O gives per entity", () => {
    const text = jobDetails(
      job({
        status: 'Succeeded',
        executionPageUrl: 'https://fo.example/?mi=DMFExecutionSummary&executionId=dmffn-imp-1',
        entityCounts: [
          {
            entity: 'Customers V3',
            status: 'Succeeded',
            stagingRecords: 3,
            stagingErrors: 0,
            targetRecords: 3,
          },
        ],
      }),
    );
    expect(text).toContain(
      'F&O page:      https://fo.example/?mi=DMFExecutionSummary&executionId=dmffn-imp-1',
    );
    expect(text).toMatch(/ENTITY +STATUS +STAGING +STAGING ERRORS +TARGET +TARGET ERRORS/);
    expect(text).toMatch(/Customers V3 +Succeeded +3 +0 +3/);
  });

  it('a throttled job says until when, in details and in the live stage line', () => {
    const throttled = job({ stage: 'Uploading', throttledUntil: '2026-01-01T10:10:00.000Z' });
    expect(stageLine(throttled)).toContain('throttled until 2026-01-01 10:10:00Z');
    expect(jobDetails(throttled)).toContain('Throttled:     by F&O, until 2026-01-01 10:10:00Z');
  });

  it('a batch shows its files and what is missing; a chain its steps, each a job of its own', () => {
    const collecting = jobDetails(
      job({
        stage: 'Collecting',
        status: 'Pending',
        batch: {
          batchId: 'b-1',
          files: ['orders-header.csv'],
          missing: ['Sales order lines V2'],
          deadline: '2026-01-01T11:00:00.000Z',
        },
      }),
    );
    expect(collecting).toContain(
      'Batch b-1:\n  Files:    orders-header.csv\n  Missing:  Sales order lines V2\n  Deadline: 2026-01-01 11:00:00Z',
    );
    const chain = jobDetails(
      job({
        id: 'chn-1',
        kind: 'chain',
        status: 'Failed',
        children: [
          { id: 'imp-a', status: 'Succeeded', project: 'Groups', files: ['groups.csv'] },
          { id: 'imp-b', status: 'Failed', project: 'Customers', files: ['customers.csv'], errorCount: 2 },
          { id: 'imp-c', status: 'Skipped', project: 'Addresses' },
        ],
      }),
    );
    expect(chain).toMatch(/Kind:\s+chain/);
    expect(chain.split('Jobs (dmf job <id>):\n')[1]?.split('\n').slice(0, 4)).toEqual([
      '  ID     STATUS     PROJECT/LE  FILES          ERRORS',
      '  imp-a  Succeeded  Groups      groups.csv',
      '  imp-b  Failed     Customers   customers.csv  2',
      '  imp-c  Skipped    Addresses',
    ]);
    expect(jobDetails(job({ parentId: 'chn-1' }))).toMatch(/Part of:\s+chn-1/);
  });

  it('the jobs table has a header row and one row per job', () => {
    const lines = jobsTable([job(), job({ id: 'imp-2' })], new Date('2026-01-01T10:01:00Z')).split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^ID\s+STATUS\s+ENV\s+PROJECT/);
    expect(lines[1]).toContain('1 min 0 s');
  });
});

describe('--since', () => {
  const now = new Date('2026-01-02T00:00:00Z');
  it('takes durations back from now and ISO times', () => {
    expect(parseSince('24h', now).toISOString()).toBe('2026-01-01T00:00:00.000Z');
    expect(parseSince('30m', now).toISOString()).toBe('2026-01-01T23:30:00.000Z');
    expect(parseSince('2025-12-31T12:00:00Z', now).toISOString()).toBe('2025-12-31T12:00:00.000Z');
  });
  it('refuses anything else with a readable message', () => {
    expect(() => parseSince('yesterday', now)).toThrow(/neither a duration/);
  });
});

describe('job files', () => {
  it('finds the result JSON, error files and an export package, with unique names', () => {
    const files = jobFiles({
      resultBlob: 'results/local/a.zip/imp-1/result.json',
      archivedTo: 'archive/failed/local/a.zip',
      errorFiles: [
        {
          kind: 'staging',
          entity: 'Customers V3',
          container: 'results',
          path: 'x/errors/staging.csv',
          bytes: 10,
        },
        { kind: 'staging', entity: 'Vendors', container: 'results', path: 'y/errors/staging.csv', bytes: 5 },
      ],
      package: { container: 'outbound', path: 'local/out/p.zip', bytes: 99 },
    });
    expect(files.map((f) => [f.name, f.kind])).toEqual([
      ['result.json', 'result'],
      ['staging.csv', 'staging'],
      ['staging-2.csv', 'staging'],
      ['p.zip', 'package'],
    ]);
    expect(files[1]).toMatchObject({ entity: 'Customers V3', bytes: 10 });
  });

  it('offers nothing for a job without a result', () => {
    expect(jobFiles(undefined)).toEqual([]);
  });
});
