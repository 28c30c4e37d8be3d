/**
 * `dmf` end to end: the built CLI (dist/bin/dmf.js, from `npm run build`) as a child process
 * against the local stack (Functions host with the app, F&O emulator, Azurite, broker).
 */

import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '@dmf-functions/devhost/stack';
import type { ProcessRun } from '../support/process.js';
import { CLI_CUSTOMERS, CLI_WAIT, customersPackage, runCli, useCliStack } from './helpers.js';

const FIXTURE = join(PROJECT_ROOT, '..', 'shared', 'fixtures', 'usmf_asset-major-types-01.zip');

const s = useCliStack();
let dir: string;

/** Runs the CLI in the test's folder. */
const dmf = (args: string[], env: Record<string, string> = {}): Promise<ProcessRun> =>
  runCli(s, args, { cwd: dir, env });

const importArgs = (file: string, ...more: string[]): string[] => [
  'import',
  join(dir, file),
  ...CLI_CUSTOMERS,
  ...CLI_WAIT,
  ...more,
];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'dmf-cli-'));
  writeFileSync(join(dir, 'good.zip'), await customersPackage({ prefix: 'CLIOK' }));
  writeFileSync(join(dir, 'partial.zip'), await customersPackage({ prefix: 'CLIPART', bad: true }));
  writeFileSync(
    join(dir, 'broken.zip'),
    Buffer.concat([Buffer.from('PK\u0003\u0004'), Buffer.alloc(300, 7)]),
  );
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('dmf CLI against the local runtime', () => {
  const ids: Record<string, string> = {};

  it('import --wait of a good package: live stages, summary, exit 0', async () => {
    const run = await dmf(importArgs('good.zip'));
    expect(run.stderr).toContain('accepted; waiting');
    expect(run.stderr).toMatch(/Polling|Done/);
    expect(run.stdout).toMatch(/Status:\s+Succeeded/);
    expect(run.stdout).toMatch(/F&O execution:\s+dmffn-imp-/);
    expect(run.code).toBe(0);
    ids.good = /^Job (\S+)/m.exec(run.stdout)![1]!;
  });

  it('import above --upload-threshold goes through the upload url; the job is the blob trigger’s, file as given', async () => {
    writeFileSync(join(dir, 'direct-upload.zip'), await customersPackage({ prefix: 'CLIUP' }));
    const run = await dmf(importArgs('direct-upload.zip', '--upload-threshold', '0.0001', '--json'));
    expect(run.code).toBe(0);
    const job = JSON.parse(run.stdout) as { id: string; status: string; file: string };
    expect(job).toMatchObject({ status: 'Succeeded', file: 'direct-upload.zip' });
    expect(job.id).toMatch(/^imp-/);
    // it went to storage directly: no POST /api/imports body passed through the app
    expect(s.logs.filter((l) => l.includes('direct-upload.zip') && l.includes('importsHttp'))).toEqual([]);
  });

  it('import --wait of a partly bad package: F&O errors and copied files listed, exit 2', async () => {
    const run = await dmf(importArgs('partial.zip'));
    expect(run.stdout).toMatch(/Status:\s+PartiallySucceeded/);
    expect(run.stdout).toMatch(/Errors \(\d+\):/);
    expect(run.stdout).toMatch(/Files .*\n(.*\n)*.*staging/);
    expect(run.stderr).toContain('PartiallySucceeded');
    expect(run.code).toBe(2);
    ids.partial = /^Job (\S+)/m.exec(run.stdout)![1]!;
  });

  it('import --wait of a broken zip: exit 1 with the reason', async () => {
    const run = await dmf(importArgs('broken.zip'));
    expect(run.stdout).toMatch(/Status:\s+Failed/);
    expect(run.stderr).toContain('broken.zip is not a valid data package');
    expect(run.code).toBe(1);
  });

  it('an import the app refuses: exit 1 with the app’s reason', async () => {
    const run = await dmf(['import', join(dir, 'good.zip'), '--env', 'local', '--project', 'NoSuchProject']);
    expect(run.stderr).toContain('"NoSuchProject" is not an import data project');
    expect(run.code).toBe(1);
  });

  it('a wrong key: exit 1 saying so', async () => {
    const run = await dmf(['jobs'], { DMF_FUNCTIONS_KEY: 'wrong' });
    // it names the key it sent and every place it looked (issue 16)
    expect(run.stderr).toContain('the function key from DMF_FUNCTIONS_KEY was refused');
    expect(run.stderr).toContain('FUNCTIONS_KEY (not read)');
    expect(run.code).toBe(1);
  });

  it('jobs --json parses and --status filters', async () => {
    const all = await dmf(['--json', 'jobs']);
    expect(all.code).toBe(0);
    const jobs = JSON.parse(all.stdout) as { id: string; status: string }[];
    expect(jobs.map((j) => j.id)).toEqual(expect.arrayContaining([ids.good, ids.partial]));
    const partial = await dmf(['jobs', '--status', 'PartiallySucceeded', '--since', '1h', '--json']);
    const only = JSON.parse(partial.stdout) as { id: string; status: string }[];
    expect(only.map((j) => j.id)).toEqual([ids.partial]);
    const text = await dmf(['jobs', '--project', 'Customers']);
    expect(text.stdout).toMatch(/^ID\s+STATUS\s+ENV/);
    expect(text.stdout).toContain(ids.good);
  });

  it('job <id> shows the errors; --download saves the result JSON', async () => {
    const run = await dmf(['job', ids.partial!]);
    expect(run.code).toBe(2);
    expect(run.stdout).toContain('Errors (');
    const json = await dmf(['job', ids.partial!, '--json']);
    const job = JSON.parse(json.stdout) as { errors: unknown[]; files: { name: string; kind: string }[] };
    expect(job.errors.length).toBeGreaterThan(0);
    const result = job.files.find((f) => f.kind === 'result')!;
    const saved = await dmf(['job', ids.partial!, '--download', result.name, '--out', 'result.json']);
    expect(saved.code).toBe(0);
    expect(JSON.parse(readFileSync(join(dir, 'result.json'), 'utf8'))).toMatchObject({
      id: ids.partial,
      status: 'PartiallySucceeded',
    });
  });

  it('export --out waits for the export and saves its package; job <id> shows it', async () => {
    const run = await dmf([
      'export',
      '--env',
      'local',
      '--project',
      'CustomersOut',
      '--out',
      'export.zip',
      '--interval',
      '0.2',
    ]);
    expect(run.stdout).toMatch(/Status:\s+Succeeded/);
    expect(run.stderr).toContain('Saved ');
    expect(run.code).toBe(0);
    const validated = await dmf(['package', 'validate', join(dir, 'export.zip')]);
    expect(validated.stdout).toContain('OK:');
    const id = /^Job (\S+)/m.exec(run.stdout)![1]!;
    const shown = await dmf(['job', id, '--json']);
    expect(shown.code).toBe(0);
    const job = JSON.parse(shown.stdout) as { files: { kind: string; name: string }[] };
    expect(job.files.map((f) => f.kind)).toEqual(expect.arrayContaining(['package', 'result']));
  });
});

describe('dmf package (offline)', () => {
  it('validate: the real F&O package is valid (exit 0)', async (ctx) => {
    ctx.skip(!existsSync(FIXTURE), `fixture ${FIXTURE} is absent`);
    const run = await dmf(['package', 'validate', FIXTURE]);
    expect(run.stdout).toContain('OK:');
    expect(run.stdout).toContain('Fixed asset major type');
    expect(run.code).toBe(0);
  });

  it('validate: a broken zip is invalid (exit 1) with the reason', async () => {
    const run = await dmf(['--json', 'package', 'validate', join(dir, 'broken.zip')]);
    const report = JSON.parse(run.stdout) as { ok: boolean; errors: { code: string }[] };
    expect(report.ok).toBe(false);
    expect(report.errors.length).toBeGreaterThan(0);
    expect(run.code).toBe(1);
  });

  it('build: wraps a CSV into a template, and the result validates', async () => {
    writeFileSync(join(dir, 'customers.csv'), 'CUSTOMERACCOUNT,NAME,CUSTOMERGROUPID\r\nB-1,Built,10\r\n');
    const built = await dmf([
      'package',
      'build',
      '--template',
      join(dir, 'good.zip'),
      join(dir, 'customers.csv'),
      '--out',
      'built.zip',
    ]);
    expect(built.stdout).toContain('Customers V3');
    expect(built.code).toBe(0);
    const inspect = await dmf(['--json', 'package', 'inspect', join(dir, 'built.zip')]);
    const summary = JSON.parse(inspect.stdout) as { entities: { entityName: string }[]; errors: unknown[] };
    expect(summary.entities.map((e) => e.entityName)).toEqual(['Customers V3']);
    expect(summary.errors).toEqual([]);
  });
});
