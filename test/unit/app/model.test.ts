import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/shared/config/index.js';
import {
  executionIdFor,
  importInstanceId,
  jobFromStatus,
  type ImportResult,
} from '../../../src/shared/jobs/index.js';
import {
  archiveBlobPath,
  rejectionBlobPath,
  resolveInboundPath,
  resultBlobPath,
} from '../../../src/shared/storage/index.js';
import { parseCommand } from '../../../src/functions/imports/command.js';
import { ImportCommandSchema } from '../../../src/functions/imports/starting.js';
import { readFileSync } from 'node:fs';

const config = loadConfig(
  {
    DMF_CONFIG: readFileSync('samples/dmf.config.json', 'utf8'),
    LOCAL_FNO_CLIENT_SECRET: 'x',
    AzureWebJobsStorage: 'UseDevelopmentStorage=true',
    ServiceBusConnection: 'Endpoint=sb://localhost/;SharedAccessKeyName=a;SharedAccessKey=b',
  },
  {},
);

describe('inbound blob convention', () => {
  it('resolves environment, project (name or definitionGroupId) and an optional legal entity', () => {
    expect(resolveInboundPath(config, 'local/Customers/DEMF/c.zip')).toMatchObject({
      project: { name: 'Customers' },
      legalEntity: 'DEMF',
      fileName: 'c.zip',
    });
    // two projects share CustomerImport: the group name means the first one declared
    expect(resolveInboundPath(config, 'local/CustomerImport/c.zip').project.name).toBe('Customers');
    expect(resolveInboundPath(config, 'local/CustomersCsv/c.csv').project.name).toBe('CustomersCsv');
    expect(resolveInboundPath(config, 'local/Asset-Major-Types/a.zip')).toMatchObject({
      project: { name: 'AssetMajorTypes' },
      legalEntity: 'USMF',
    });
  });

  it.each([
    ['a.zip', 'expected 3 or 4'],
    ['local/Customers/x/y/z.zip', 'expected 3 or 4'],
    ['prod/Customers/a.zip', 'environment "prod"'],
  ])('refuses %s with a readable reason', (path, reason) => {
    expect(() => resolveInboundPath(config, path)).toThrow(reason);
  });

  it('lays out results, archive and rejections next to the inbound path', () => {
    expect(resultBlobPath('local/Customers/c.zip', 'imp-1')).toBe('local/Customers/c.zip/imp-1/result.json');
    expect(archiveBlobPath('failed', 'local/Customers/USMF/c.zip', 'imp-1')).toBe(
      'failed/local/Customers/USMF/imp-1/c.zip',
    );
    expect(rejectionBlobPath('../x//y', 'id')).toBe('rejected/x/y/id.json');
  });
});

describe('instance and execution ids', () => {
  it('are stable per blob version and differ between versions', () => {
    const a = importInstanceId({ source: 'in/local/Customers/c.zip', version: '0x1' });
    expect(a).toBe(importInstanceId({ source: 'in/local/Customers/c.zip', version: '0x1' }));
    expect(a).not.toBe(importInstanceId({ source: 'in/local/Customers/c.zip', version: '0x2' }));
    expect(a).toMatch(/^imp-[0-9a-f]{32}$/);
    expect(executionIdFor(a)).toBe(`dmffn-${a}`);
  });
});

describe('job JSON', () => {
  const result = {
    id: 'imp-1',
    status: 'PartiallySucceeded',
    errors: [{ code: 'X', message: 'bad row' }],
  } as ImportResult;

  it('is Pending while preparing or waiting, Running once sent to F&O', () => {
    const waiting = jobFromStatus({
      instanceId: 'imp-1',
      runtimeStatus: 'Running',
      customStatus: { stage: 'WaitingForSlot', executionId: 'e', polls: 0, slotPosition: 2 },
    });
    expect(waiting).toMatchObject({
      status: 'Pending',
      stage: 'WaitingForSlot',
      slotPosition: 2,
      executionId: undefined,
    });
    const polling = jobFromStatus({
      instanceId: 'imp-1',
      runtimeStatus: 'Running',
      customStatus: { stage: 'Polling', executionId: 'e', polls: 3, foStatus: 'Executing' },
    });
    expect(polling).toMatchObject({ status: 'Running', executionId: 'e', polls: 3, foStatus: 'Executing' });
  });

  it('is Queued, saying why, while its environment is paused; a re-run names the job it re-runs', () => {
    const paused = {
      environment: 'local',
      since: '2026-01-01T00:00:00.000Z',
      by: 'ops',
      reason: 'maintenance',
    };
    const queued = jobFromStatus({
      instanceId: 'imp-2',
      runtimeStatus: 'Running',
      input: { rerunOf: 'imp-1' },
      customStatus: { stage: 'WaitingForSlot', executionId: 'e', polls: 0, slotPosition: 1, paused },
    });
    expect(queued).toMatchObject({
      status: 'Queued',
      paused,
      rerunOf: 'imp-1',
      queuedReason:
        'Environment local paused since 2026-01-01T00:00:00.000Z by ops (maintenance): the job waits and starts, in arrival order, when the environment is resumed.',
    });
    // once sent to F&O (or ended) a stale pause in the status means nothing
    const polling = jobFromStatus({
      instanceId: 'imp-2',
      runtimeStatus: 'Running',
      customStatus: { stage: 'Polling', executionId: 'e', polls: 1, paused },
    });
    expect(polling.status).toBe('Running');
    expect(polling).not.toHaveProperty('queuedReason');
  });

  it('takes the outcome from the output; terminated is Canceled, crashed is Failed', () => {
    expect(jobFromStatus({ instanceId: 'imp-1', runtimeStatus: 'Completed', output: result })).toMatchObject({
      status: 'PartiallySucceeded',
      stage: 'Done',
      errors: [{ message: 'bad row' }],
    });
    expect(jobFromStatus({ instanceId: 'imp-1', runtimeStatus: 'Terminated' }).status).toBe('Canceled');
    expect(jobFromStatus({ instanceId: 'imp-1', runtimeStatus: 'Failed', output: 'boom' })).toMatchObject({
      status: 'Failed',
      errors: [{ code: 'ORCHESTRATION_FAILED', message: 'boom' }],
    });
  });
});

describe('import command', () => {
  const base = { type: 'import', environment: 'local', definitionGroupId: 'Customers' };
  it('accepts a blob path or an https url', () => {
    expect(ImportCommandSchema.safeParse({ ...base, blobPath: 'dmf-staging/a/b.zip' }).success).toBe(true);
    expect(ImportCommandSchema.safeParse({ ...base, url: 'https://x.example/p.zip?sv=1' }).success).toBe(
      true,
    );
  });
  it.each([
    [{ ...base }, 'exactly one'],
    [{ ...base, url: 'http://x.example/p.zip' }, 'https'],
    [{ ...base, blobPath: 'nocontainer' }, '{container}/{path}'],
    [{ ...base, blobPath: 'c1c/a.zip', extra: 1 }, 'extra'],
  ])('refuses %j', (command, reason) => {
    const parsed = ImportCommandSchema.safeParse(command);
    expect(parsed.success).toBe(false);
    expect(JSON.stringify(parsed.error?.issues)).toContain(reason);
  });
});

describe('command bodies', () => {
  it('refuses a body over 256 KB with its size, before parsing it', () => {
    const parsed = parseCommand(Buffer.from(JSON.stringify({ type: 'import', pad: 'x'.repeat(300 * 1024) })));
    expect(parsed).toMatchObject({ ok: false, code: 'COMMAND_TOO_LARGE' });
    expect(!parsed.ok && parsed.reason).toContain('limited to 262144 bytes');
  });
  it('refuses text that is not JSON, and accepts a JSON object as the host delivers it', () => {
    expect(parseCommand('{"type":')).toMatchObject({ ok: false, code: 'COMMAND_NOT_JSON' });
    const ok = parseCommand({
      type: 'import',
      environment: 'local',
      definitionGroupId: 'Customers',
      url: 'https://x.example/a.zip',
    });
    expect(ok).toMatchObject({ ok: true, kind: 'import', command: { definitionGroupId: 'Customers' } });
    expect(parseCommand({ type: 'export', anything: 1 })).toMatchObject({ ok: true, kind: 'export' });
  });
});
