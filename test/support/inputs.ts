/** Sample orchestration inputs the tests share (valid against the app's schemas). */
import { DEFAULT_POLLING } from '../../src/shared/config/index.js';
import type { ExportInput } from '../../src/shared/jobs/index.js';

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
