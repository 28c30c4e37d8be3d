import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { latestOccurrence } from '../../../src/functions/common/schedules.js';
import {
  ExportCommandSchema,
  planScheduledExports,
  plannedExport,
  plannedExportJob,
} from '../../../src/functions/exports/starting.js';
import { ORCHESTRATORS } from '../../../src/shared/app/names.js';
import {
  exportJobFromStatus,
  MultiCompanyExportInputSchema,
  type ExportResult,
} from '../../../src/shared/jobs/index.js';
import { exportFileName, exportFolder } from '../../../src/shared/storage/index.js';
import type { DataProjectConfig, EnvironmentConfig } from '../../../src/shared/config/index.js';
import { DEFAULT_POLLING } from '../../../src/shared/config/index.js';
import { sampleExportInput } from '../../support/inputs.js';
import { startReplayHost, type Call, type ReplayHost } from '../../support/replay.js';

const input = sampleExportInput({
  polling: { ...DEFAULT_POLLING, firstIntervalSeconds: 1, maxIntervalSeconds: 10 },
});

const project = (over: Partial<DataProjectConfig>): DataProjectConfig => ({
  name: 'customers-export',
  definitionGroupId: 'Export-Customers',
  environment: 'prod',
  direction: 'export',
  legalEntity: 'USMF',
  packageName: 'customers',
  execute: true,
  overwrite: true,
  reExecute: false,
  polling: DEFAULT_POLLING,
  ...over,
});

describe('exportPackage orchestration', () => {
  // the real orchestrator under durable-functions' replay on the local host; activities answered here
  let replay: ReplayHost;
  beforeAll(async () => {
    replay = await startReplayHost();
  });
  afterAll(async () => {
    await replay?.stop();
  });
  it('keeps asking GetExportedPackageUrl while it answers "" and stores the package once it is there', async () => {
    let urlAnswers = 0;
    const run = await replay.run(ORCHESTRATORS.exportPackage, {
      input,
      instanceId: 'exp-abc',
      answer: (call: Call) => {
        switch (call.name) {
          case 'exportStart':
            return { value: { executionId: 'dmffn-exp-abc', alreadyStarted: false } };
          case 'importGetStatus':
            return { value: { kind: 'status', status: 'Succeeded' } };
          case 'exportStore':
            urlAnswers++;
            return urlAnswers <= 3
              ? { value: { ready: false } }
              : {
                  value: {
                    ready: true,
                    package: { container: 'out', path: 'p.zip', bytes: 10 },
                    unpacked: [],
                  },
                };
          case 'exportFinish':
            return { value: { ...(call.input as ExportResult), resultBlob: 'r/x' } };
          default:
            return { value: null };
        }
      },
    });
    const result = run.output as ExportResult;
    expect(result).toMatchObject({ status: 'Succeeded', urlPolls: 3, executionId: 'dmffn-exp-abc' });
    expect(result.package).toEqual({ container: 'out', path: 'p.zip', bytes: 10 });
    const store = run.calls.find((c) => c.name === 'exportStore')!.input;
    expect(store).toMatchObject({
      folder: 'prod/customers-export/2026/03/04',
      fileName: 'customers-exp-abc.zip',
      unpack: true,
    });
    // between "" answers the orchestration waits on durable timers, never in an activity
    const afterFirstStore = run.calls.slice(run.calls.findIndex((c) => c.name === 'exportStore'));
    expect(afterFirstStore.filter((c) => c.kind === 'timer')).toHaveLength(3);
  });

  it('a failed export copies the execution errors and stores no package', async () => {
    const run = await replay.run(ORCHESTRATORS.exportPackage, {
      input,
      answer: (call: Call) => {
        if (call.name === 'exportStart')
          return { value: { kind: 'started', executionId: 'dmffn-exp-abc', alreadyStarted: false } };
        if (call.name === 'importGetStatus') return { value: { kind: 'status', status: 'Failed' } };
        if (call.name === 'importCollectErrors')
          return {
            value: {
              errors: [{ code: 'DMF_EXECUTION_ERROR', message: 'boom' }],
              files: [],
              pendingTargetKeys: [],
            },
          };
        if (call.name === 'exportFinish') return { value: call.input };
        return { value: null };
      },
    });
    expect(run.calls.some((c) => c.name === 'exportStore')).toBe(false);
    expect(run.output).toMatchObject({ status: 'Failed', errors: [{ code: 'DMF_EXECUTION_ERROR' }] });
  });
});

describe('export planning', () => {
  const env = { name: 'prod' } as EnvironmentConfig;
  it('resolves a project by name or definitionGroupId, defaults from the project, refuses unknown ones', () => {
    const config = { environments: [env], dataProjects: [project({ unpack: true })] };
    const planned = plannedExport(
      config,
      { environment: 'prod', project: 'export-customers', requestId: 'r1', legalEntityId: 'DEMF' },
      { trigger: 'serviceBus', now: new Date('2026-01-01T00:00:00Z') },
    );
    expect(planned.instanceId).toMatch(/^exp-[0-9a-f]{32}$/);
    expect(planned.input).toMatchObject({
      legalEntity: 'DEMF',
      unpack: true,
      packageName: 'customers',
      trigger: 'serviceBus',
    });
    expect(
      plannedExport(
        config,
        { environment: 'prod', project: 'export-customers', requestId: 'r1' },
        { trigger: 'http', now: new Date() },
      ).instanceId,
    ).toBe(planned.instanceId);
    expect(() =>
      plannedExport(
        config,
        { environment: 'prod', project: 'nope', requestId: 'r' },
        { trigger: 'http', now: new Date() },
      ),
    ).toThrow(/customers-export \(Export-Customers\)/);
  });

  it('runs one export per company when the request or the project names several legal entities', () => {
    const config = {
      environments: [env],
      dataProjects: [project({ legalEntities: ['USMF', 'DEMF'] })],
    };
    const at = { trigger: 'serviceBus' as const, now: new Date('2026-01-01T00:00:00Z') };
    const base = { environment: 'prod', project: 'customers-export', requestId: 'r1' };
    // the project's companies, or the request's
    const fromProject = plannedExportJob(config, base, at);
    expect(fromProject).toMatchObject({
      kind: 'multiCompanyExport',
      input: { legalEntities: ['USMF', 'DEMF'], packageName: 'customers', trigger: 'serviceBus' },
    });
    expect(fromProject.instanceId).toMatch(/^mce-[0-9a-f]{32}$/);
    expect(MultiCompanyExportInputSchema.parse(fromProject.input)).toEqual(fromProject.input);
    expect(plannedExportJob(config, { ...base, legalEntities: ['FRRT'] }, at).input).toMatchObject({
      legalEntities: ['FRRT'],
    });
    // one company named: that company only
    expect(plannedExportJob(config, { ...base, legalEntityId: 'DEMF' }, at)).toMatchObject({
      kind: 'export',
      input: { legalEntity: 'DEMF' },
    });
    expect(() =>
      plannedExportJob(config, { ...base, legalEntityId: 'DEMF', legalEntities: ['USMF'] }, at),
    ).toThrow(/not both/);
    // the Service Bus command carries them too, checked as company ids
    const command = {
      type: 'export',
      environment: 'prod',
      definitionGroupId: 'customers-export',
      legalEntities: ['USMF', 'DEMF'],
    };
    expect(ExportCommandSchema.safeParse(command).success).toBe(true);
    expect(ExportCommandSchema.safeParse({ ...command, legalEntities: ['USMF', '../x'] }).success).toBe(
      false,
    );
    expect(ExportCommandSchema.safeParse({ ...command, legalEntities: ['USMF', 'usmf'] }).success).toBe(
      false,
    );
  });

  it('finds the latest schedule occurrence within the window', () => {
    const now = new Date('2026-01-01T06:01:30Z');
    expect(latestOccurrence('0 0 */6 * * *', now, 5 * 60_000)?.toISOString()).toBe(
      '2026-01-01T06:00:00.000Z',
    );
    expect(latestOccurrence('0 0 */6 * * *', new Date('2026-01-01T06:10:00Z'), 5 * 60_000)).toBeUndefined();
  });

  it('one instance id per project and occurrence; a project with a run still going is skipped', () => {
    const config = {
      dataProjects: [
        project({ schedule: '0 */15 * * * *' }),
        project({ name: 'other', schedule: '0 */15 * * * *' }),
      ],
    };
    const now = new Date('2026-01-01T00:15:10Z');
    const a = planScheduledExports(config, now, () => false);
    const b = planScheduledExports(config, new Date('2026-01-01T00:16:10Z'), () => false);
    expect(a.map((p) => p.instanceId)).toEqual(b.map((p) => p.instanceId));
    expect(new Set(a.map((p) => p.instanceId)).size).toBe(2);
    const skipped = planScheduledExports(config, now, (_env, name) => name === 'other');
    expect(skipped.find((p) => p.project.name === 'other')?.skipped).toMatch(/still running/);
    expect(skipped.find((p) => p.project.name === 'customers-export')?.skipped).toBeUndefined();
  });

  it('parses the export command', () => {
    expect(
      ExportCommandSchema.safeParse({
        type: 'export',
        environment: 'prod',
        definitionGroupId: 'X',
        unpack: true,
      }).success,
    ).toBe(true);
    expect(ExportCommandSchema.safeParse({ type: 'export', environment: 'prod' }).success).toBe(false);
    expect(
      ExportCommandSchema.safeParse({ type: 'import', environment: 'prod', definitionGroupId: 'X' }).success,
    ).toBe(false);
  });

  it('names the package by project, date and job', () => {
    expect(exportFolder('prod', 'p', '2026-12-31T23:59:59Z')).toBe('prod/p/2026/12/31');
    expect(exportFileName('customers.zip', 'exp-1')).toBe('customers-exp-1.zip');
  });

  it('derives the job JSON of a running and a finished export', () => {
    const running = exportJobFromStatus({
      instanceId: 'exp-1',
      runtimeStatus: 'Running',
      customStatus: {
        stage: 'WaitingForPackage',
        executionId: 'dmffn-exp-1',
        polls: 3,
        urlPolls: 2,
        foStatus: 'Succeeded',
      },
      input,
    });
    expect(running).toMatchObject({
      status: 'Running',
      stage: 'WaitingForPackage',
      urlPolls: 2,
      executionId: 'dmffn-exp-1',
      project: 'customers-export',
    });
    const pending = exportJobFromStatus({
      instanceId: 'exp-1',
      runtimeStatus: 'Running',
      customStatus: { stage: 'Starting', executionId: 'x', polls: 0, urlPolls: 0 },
    });
    expect(pending).toMatchObject({ status: 'Pending', executionId: undefined });
    const failed = exportJobFromStatus({ instanceId: 'exp-1', runtimeStatus: 'Failed' });
    expect(failed.errors[0]?.code).toBe('ORCHESTRATION_FAILED');
  });
});
