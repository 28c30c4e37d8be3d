/**
 * Job index rows for tests: job views of any kind at a given time and status, and a seeder that
 * writes many of them through the app's own JobIndex (where the point is paging, not the jobs).
 */
import { randomBytes } from 'node:crypto';
import {
  executionIdFor,
  importInstanceId,
  jobView,
  type AnyJob,
  type JobStatus,
  type OrchestrationStatusLike,
} from '../../src/shared/jobs/index.js';
import { createJobIndexTables, JobIndex } from '../../src/shared/storage/index.js';
import { mapLimited } from '../../src/shared/util.js';

/** A fresh pair of table names (alphanumeric, as Table storage wants them). */
export function tableNames(prefix = 't'): { jobs: string; jobIds: string } {
  const suffix = randomBytes(4).toString('hex');
  return { jobs: `${prefix}${suffix}jobs`, jobIds: `${prefix}${suffix}jobids` };
}

/** A JobIndex on the given storage (a connection string, e.g. the run's Azurite). */
export function jobIndexOn(connectionString: string, names: { jobs: string; jobIds: string }): JobIndex {
  return new JobIndex(createJobIndexTables({ kind: 'connectionString', connectionString }, names));
}

/** The job view of a finished or running import requested at `at`. */
export function importJob(options: {
  at: Date;
  status?: JobStatus;
  environment?: string;
  project?: string;
  file?: string;
  id?: string;
  errors?: number;
}): AnyJob {
  const id =
    options.id ?? importInstanceId({ source: options.file ?? 'f', version: options.at.toISOString() });
  const requestedAt = options.at.toISOString();
  const input = {
    source: { kind: 'blob', container: 'dmf-inbound', path: `x/${options.file ?? 'f.zip'}` },
    logicalPath: `x/${options.file ?? 'f.zip'}`,
    fileName: options.file ?? 'f.zip',
    environment: options.environment ?? 'local',
    project: options.project ?? 'Customers',
    definitionGroupId: 'CustomerImport',
    legalEntity: 'USMF',
    execute: true,
    overwrite: true,
    trigger: 'blob',
    requestedAt,
  };
  const status = options.status ?? 'Succeeded';
  const final = !['Pending', 'Running'].includes(status);
  const errors = Array.from({ length: options.errors ?? 0 }, (_, i) => ({
    code: 'DMF_EXECUTION_ERROR',
    message: `error ${i}`,
  }));
  const state: OrchestrationStatusLike = {
    instanceId: id,
    runtimeStatus: final ? 'Completed' : 'Running',
    input,
    createdTime: requestedAt,
    lastUpdatedTime: requestedAt,
    customStatus: {
      stage: status === 'Pending' ? 'WaitingForSlot' : 'Polling',
      executionId: executionIdFor(id),
      polls: 1,
    },
    ...(final
      ? {
          output: {
            id,
            status,
            file: input.fileName,
            source: `dmf-inbound/${input.logicalPath}`,
            environment: input.environment,
            project: input.project,
            definitionGroupId: input.definitionGroupId,
            legalEntity: 'USMF',
            executionId: executionIdFor(id),
            trigger: 'blob',
            timings: { requestedAt, finishedAt: requestedAt },
            polls: 2,
            pollLog: [{ at: requestedAt, foStatus: status }],
            errors,
            errorFiles: [],
          },
        }
      : {}),
  };
  return jobView('import', state);
}

/**
 * Writes `count` import jobs, one a minute back from `newest` (newest first by index), round-robin
 * over `environments` and the statuses given; returns them newest first.
 */
export async function seedJobs(
  index: JobIndex,
  count: number,
  options: { newest: Date; environments?: string[]; statuses?: JobStatus[]; stepMs?: number },
): Promise<AnyJob[]> {
  const environments = options.environments ?? ['local'];
  const statuses = options.statuses ?? ['Succeeded'];
  const jobs = Array.from({ length: count }, (_, i) =>
    importJob({
      at: new Date(options.newest.getTime() - i * (options.stepMs ?? 60_000)),
      environment: environments[i % environments.length],
      status: statuses[i % statuses.length],
      file: `seed-${String(i).padStart(5, '0')}.zip`,
    }),
  );
  await mapLimited(jobs, 16, (job) => index.put(job, job.createdAt!));
  return jobs;
}
