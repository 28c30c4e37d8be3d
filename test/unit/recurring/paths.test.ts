import { describe, expect, it } from 'vitest';
import { dequeueBatch, storeMessage } from '../../../src/activities/recurring/drain.js';
import {
  resolveRecurringPath,
  recurringBlobImport,
  DEFAULT_MAX_ENQUEUE_BYTES,
} from '../../../src/functions/recurring/starting.js';
import type { Runtime } from '../../../src/shared/app/runtime.js';
import type { RecurringActivityConfig } from '../../../src/shared/config/index.js';
import type { DequeuedMessage } from '../../../src/shared/dmf/index.js';
import type { Logger } from '../../../src/shared/log/index.js';
import { recurringExportBlobPath } from '../../../src/shared/storage/index.js';

const id = '6f1f1b52-4a1c-4f0e-9c43-2f0a8c7d9e10';
const activity = (over: Partial<RecurringActivityConfig>): RecurringActivityConfig => ({
  id,
  environment: 'prod',
  direction: 'import',
  maxMessagesPerRun: 10,
  ackWhenFileMissing: false,
  ...over,
});

describe('recurring import paths (multi-company)', () => {
  it('takes the company from the activity and the entity from the optional segment', () => {
    const config = { recurringActivities: [activity({ company: 'USMF', entity: 'Customers V3' })] };
    expect(resolveRecurringPath(config, `prod/{${id.toUpperCase()}}/f.csv`)).toMatchObject({
      company: 'USMF',
      entity: 'Customers V3',
      fileName: 'f.csv',
    });
    expect(resolveRecurringPath(config, `prod/${id}/Vendors V2/f.csv`)).toMatchObject({
      company: 'USMF',
      entity: 'Vendors V2',
    });
  });

  it('takes the company from the path with companyInPath', () => {
    const config = { recurringActivities: [activity({ companyInPath: true })] };
    expect(resolveRecurringPath(config, `prod/${id}/DEMF/pkg.zip`)).toMatchObject({
      company: 'DEMF',
      fileName: 'pkg.zip',
    });
    expect(resolveRecurringPath(config, `prod/${id}/DEMF/Customers V3/c.csv`)).toMatchObject({
      company: 'DEMF',
      entity: 'Customers V3',
    });
    expect(() => resolveRecurringPath(config, `prod/${id}/pkg.zip`)).toThrow(/no company segment/);
  });

  it('refuses unknown environments, activities and export activities', () => {
    const config = {
      recurringActivities: [
        activity({}),
        activity({ id: '00000000-0000-0000-0000-000000000001', direction: 'export' }),
      ],
    };
    expect(() => resolveRecurringPath(config, `test/${id}/f.csv`)).toThrow(
      /not an import activity of environment "test"/,
    );
    expect(() => resolveRecurringPath(config, 'prod/abc/f.csv')).toThrow(/not an activity id/);
    expect(() => resolveRecurringPath(config, 'prod/00000000-0000-0000-0000-000000000001/f.csv')).toThrow(
      /not an import activity/,
    );
  });

  it('uses the 45 MiB default enqueue limit and one instance per blob version', () => {
    const config = { recurringActivities: [activity({})] };
    const a = recurringBlobImport(
      config,
      { container: 'in', path: `prod/${id}/f.csv`, etag: 'e1' },
      new Date(),
    );
    const b = recurringBlobImport(
      config,
      { container: 'in', path: `prod/${id}/f.csv`, etag: 'e2' },
      new Date(),
    );
    expect(a.input.maxEnqueueBytes).toBe(DEFAULT_MAX_ENQUEUE_BYTES);
    expect(DEFAULT_MAX_ENQUEUE_BYTES).toBe(45 * 1024 * 1024);
    expect(a.instanceId).not.toBe(b.instanceId);
  });
});

describe('dequeue and store', () => {
  const silent = { debug() {}, info() {}, warn() {}, error() {} } as unknown as Logger;
  const runtimeWith = (message: unknown): Runtime =>
    ({
      containers: { outbound: { containerName: 'out' } },
      clients: () => ({ recurring: { dequeue: () => Promise.resolve(message) } }),
    }) as unknown as Runtime;

  it('reports IsDownLoadFileExist false with its FileDownLoadErrorMessage, without downloading', async () => {
    const message = {
      correlationId: 'c1',
      popReceipt: 'p',
      downloadLocation: 'https://x/api/connector/download/a',
      isDownloadFileExist: false,
      fileDownloadErrorMessage: 'The file was deleted by the retention job',
      raw: { CorrelationId: 'c1' },
    } as unknown as DequeuedMessage;
    const result = await storeMessage(
      runtimeWith(message),
      { environment: 'prod', activityId: id },
      message,
      silent,
    );
    expect(result).toEqual({
      kind: 'missing',
      message: { correlationId: 'c1', raw: { CorrelationId: 'c1' } },
      fileDownloadErrorMessage: 'The file was deleted by the retention job',
    });
  });

  it('ends the batch as emptied on 204', async () => {
    expect(
      await dequeueBatch(runtimeWith(undefined), { environment: 'prod', activityId: id, max: 10 }, silent),
    ).toEqual({ items: [], empty: true });
  });

  it('keys the stored blob by CorrelationId', () => {
    expect(recurringExportBlobPath('prod', id, 'ABC-1')).toBe(`prod/recurring/${id}/abc-1`);
  });
});
