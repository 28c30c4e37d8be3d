/** Sample orchestration inputs the tests share (valid against the app's schemas). */
import type { PrepareResult } from '../../src/activities/imports/prepare.js';
import type { AlertNotice } from '../../src/shared/alerts/index.js';
import { DEFAULT_POLLING } from '../../src/shared/config/index.js';
import type { BlobRef, ExportInput, ImportInput } from '../../src/shared/jobs/index.js';

/** An export of data project `customers-export` of environment `prod`, requested over HTTP. */
export function sampleExportInput(over: Partial<ExportInput> = {}): ExportInput {
  return {
    environment: 'prod',
    project: 'customers-export',
    definitionGroupId: 'Export-Customers',
    legalEntity: 'USMF',
    packageName: 'customers',
    reExecute: false,
    unpack: true,
    polling: DEFAULT_POLLING,
    trigger: 'http',
    requestedAt: '2026-03-04T05:06:07.000Z',
    ...over,
  };
}

/**
 * An import of `c.zip` dropped into `inbound` at `{environment}/{project}/c.zip` (defaults: `prod`,
 * `customers`, definition group `Customers`), by the blob trigger.
 */
export function sampleImportInput(
  options: { environment?: string; project?: string; definitionGroupId?: string; requestedAt?: string } = {},
): ImportInput {
  const { environment = 'prod', project = 'customers' } = options;
  const path = `${environment}/${project}/c.zip`;
  return {
    source: { kind: 'blob', container: 'inbound', path, etag: 'e1' },
    logicalPath: path,
    fileName: 'c.zip',
    environment,
    project,
    definitionGroupId: options.definitionGroupId ?? 'Customers',
    legalEntity: 'USMF',
    execute: true,
    overwrite: true,
    trigger: 'blob',
    requestedAt: options.requestedAt ?? '2025-12-31T00:00:00.000Z',
  };
}

type Prepared = Extract<PrepareResult, { ok: true }>;

/**
 * What the prepare activity answers for a package of one entity (`Customers V3`) taken as it is from
 * `source`, with the project's `polling`: the answer replayed orchestrations and the polling bench give.
 */
export function samplePrepared(
  source: BlobRef,
  polling: Prepared['polling'],
  over: Partial<Prepared> = {},
): Prepared {
  return {
    ok: true,
    packageBlob: source,
    sourceBlob: source,
    stagingBlobs: [],
    entities: ['Customers V3'],
    overwrite: true,
    warnings: [],
    polling,
    concurrency: 1,
    ...over,
  };
}

/** The alert notice of import `imp-1` (`c.zip`, data project `customers` of `prod`) that Failed: its package had no manifest. */
export const FAILED_IMPORT_NOTICE: Readonly<AlertNotice> = {
  jobId: 'imp-1',
  kind: 'import',
  status: 'Failed',
  environment: 'prod',
  project: 'customers',
  file: 'c.zip',
  at: '2026-01-01T00:00:00.000Z',
  errorCount: 1,
  errors: [{ code: 'PACKAGE_INVALID', message: 'no manifest' }],
};
