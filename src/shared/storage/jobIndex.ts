/**
 * The job index: one row per job in Azure Table storage (the AzureWebJobsStorage account), so the
 * jobs list — newest first, filtered on the server, paged — never scans the durable instance store.
 * Written by the start paths and the activities at each stage change, read by `GET /api/jobs`, the
 * dashboard, `dmf jobs` and the export schedule check; `dmf admin reindex` rebuilds it.
 *
 * Two tables (Table storage has no secondary indexes: a row is found by its keys or by a scan):
 *
 * - **jobs** (the list): PartitionKey = the listed time's month, inverted
 *   (`999999 - yyyymm`, 6 digits: 2026-12 → `797387`), RowKey = `{inverted ms, 13 digits}-{job id}`.
 *   Keys sort ascending, so the newest job is the first row of the first partition: a first page
 *   is one range read. A time range is a key range (PartitionKey and RowKey bounds); status, kind,
 *   environment and project are properties, filtered by the service within that range. A month per
 *   partition keeps a partition's writes (the current month's) far below Table storage's ~2,000
 *   entities/s per partition, and a first page inside one partition.
 * - **job ids**: PartitionKey = job id, RowKey `''`: where the job's list row is. A writer that
 *   knows only the job id (the upload, the export start) finds its list row with one point read.
 *
 * Writes are idempotent (keys from the job id and its requested time; upserts replace); a start
 * path only inserts, so it never overwrites a later stage. Every write can fail without failing
 * the job: {@link recordSafely} logs it, and `dmf admin reindex` repairs the index.
 */
import { RestError, TableClient, type TableEntityResult } from '@azure/data-tables';
import type { TokenCredential } from '@azure/core-auth';
import { z } from 'zod';
import { connectionCredential } from '../auth/credential.js';
import type { StorageConnection } from '../config/index.js';
import { InputError } from '../errors.js';
import {
  jobView,
  listedJob,
  listedTime,
  type AnyJob,
  type JobKind,
  type ListedJob,
  type OrchestrationStatusLike,
} from '../jobs/index.js';
import type { Logger } from '../log/index.js';
import { errorMessage, isRecord } from '../util.js';

const MAX_MS = 9_999_999_999_999;

/** The list row's PartitionKey of a time: its UTC month, inverted (newest month first). */
export function listPartitionKey(at: Date): string {
  return String(999_999 - (at.getUTCFullYear() * 100 + at.getUTCMonth() + 1)).padStart(6, '0');
}

/** The 13-digit inverted milliseconds of a time (newest first). */
function invertedMs(ms: number): string {
  return String(MAX_MS - ms).padStart(13, '0');
}

/** The list row's keys of a job listed at `at`. */
export function listKeys(at: string | Date, jobId: string): { partitionKey: string; rowKey: string } {
  const time = new Date(at);
  if (Number.isNaN(time.getTime()))
    throw new Error(`job ${jobId}: no valid time to list it by (${String(at)})`);
  return { partitionKey: listPartitionKey(time), rowKey: `${invertedMs(time.getTime())}-${jobId}` };
}

/** What the list can be filtered by (every filter runs on the table service). */
export interface JobListFilter {
  statuses?: readonly string[];
  kinds?: readonly string[];
  environment?: string;
  project?: string;
  /** Listed at or after (inclusive). */
  since?: Date;
  /** Listed before (exclusive). */
  until?: Date;
}

/** A string literal of an OData filter (quotes doubled). */
function literal(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

/**
 * The OData filter of a list query: the time range as key bounds (the service reads only that key
 * range), the rest as property conditions evaluated inside it.
 */
export function listFilter(filter: JobListFilter): string {
  const parts: string[] = [];
  if (filter.since) {
    // listed at t ≥ since ⇔ inverted(t) ≤ inverted(since) ⇔ RowKey < inverted(since) + 1
    parts.push(`PartitionKey le ${literal(listPartitionKey(filter.since))}`);
    parts.push(`RowKey lt ${literal(invertedMs(filter.since.getTime() - 1))}`);
  }
  if (filter.until) {
    parts.push(`PartitionKey ge ${literal(listPartitionKey(new Date(filter.until.getTime() - 1)))}`);
    parts.push(`RowKey ge ${literal(invertedMs(filter.until.getTime() - 1))}`);
  }
  const anyOf = (column: string, values: readonly string[] | undefined): void => {
    if (!values?.length) return;
    const each = values.map((v) => `${column} eq ${literal(v)}`);
    parts.push(each.length === 1 ? each[0]! : `(${each.join(' or ')})`);
  };
  anyOf('status', filter.statuses);
  anyOf('kind', filter.kinds);
  if (filter.environment !== undefined) parts.push(`environment eq ${literal(filter.environment)}`);
  if (filter.project !== undefined) parts.push(`project eq ${literal(filter.project)}`);
  return parts.join(' and ');
}

/** Largest `top` of one list call (Table storage's page limit). */
export const MAX_LIST_TOP = 1000;
/**
 * Table requests one list call makes at most. A selective filter over a long range may need many
 * (the service reads up to 1,000 rows per request); the call then answers what it found with a
 * continuation, and the next call goes on from there.
 */
export const MAX_LIST_REQUESTS = 10;

const ContinuationSchema = z.strictObject({ v: z.literal(1), next: z.string().min(1).max(2048) });

/** The `continuation` a list answer carries: the table's own token, wrapped and versioned. */
export function encodeContinuation(tableToken: string): string {
  return Buffer.from(JSON.stringify({ v: 1, next: tableToken })).toString('base64url');
}

/** The table's token in a `continuation`; throws `InputError` (BAD_CONTINUATION) when it is not one. */
export function decodeContinuation(continuation: string): string {
  const bad = (): never => {
    throw new InputError('"continuation" is not a continuation this API answered.', {
      code: 'BAD_CONTINUATION',
    });
  };
  if (continuation.length > 4096 || !/^[A-Za-z0-9_-]+$/.test(continuation)) return bad();
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(continuation, 'base64url').toString('utf8'));
  } catch {
    return bad();
  }
  const found = ContinuationSchema.safeParse(parsed);
  return found.success ? found.data.next : bad();
}

/** A list query: filters, page size and where the previous page stopped. */
export interface JobListQuery extends JobListFilter {
  top: number;
  continuation?: string;
}

/** One page of the list. */
export interface JobListPage {
  jobs: ListedJob[];
  /** Where the next page starts; absent on the last page. */
  continuation?: string;
}

/** The columns of a list row besides the keys (what the filters and stage patches touch). */
export interface ListRow {
  id: string;
  kind: string;
  status: string;
  stage?: string;
  environment?: string;
  project?: string;
  legalEntity?: string;
  file?: string;
  executionId?: string;
  foStatus?: string;
  polls?: number;
  errorCount: number;
  createdAt: string;
  updatedAt?: string;
  /** The list entry (JSON); the columns above win over its fields of the same name. */
  job: string;
}

/** Fields of the list entry a stage patch may change (they are columns of the row). */
export interface JobStagePatch {
  status: string;
  stage?: string;
  executionId?: string;
  foStatus?: string;
  polls?: number;
  updatedAt: string;
}
const PATCHED: readonly (keyof JobStagePatch)[] = [
  'status',
  'stage',
  'executionId',
  'foStatus',
  'polls',
  'updatedAt',
];

/** Longest list entry JSON kept in a row (a string property holds 64 KiB, i.e. 32K UTF-16 units). */
export const JOB_JSON_LIMIT = 30_000;

/** The list entry as stored: the whole of it, or with `result` cut to its timings when too long. */
function jobJson(listed: ListedJob): string {
  const full = JSON.stringify(listed);
  if (full.length <= JOB_JSON_LIMIT) return full;
  const result: Record<string, unknown> = isRecord(listed.result) ? listed.result : {};
  const slim = {
    ...listed,
    errors: listed.errors.slice(0, 3),
    result: listed.result
      ? Object.fromEntries(
          [
            'id',
            'status',
            'timings',
            'resultBlob',
            'packageName',
            'legalEntity',
            'scheduledFor',
            'finishedAt',
          ]
            .filter((k) => k in result)
            .map((k) => [k, result[k]]),
        )
      : undefined,
  };
  const text = JSON.stringify(slim);
  return text.length <= JOB_JSON_LIMIT ? text : JSON.stringify({ ...slim, errors: [], result: undefined });
}

/**
 * The list row of a job listed at `listedAt`, keys included (what {@link JobIndex.put} writes;
 * exported for bulk loads, e.g. bench/jobs/list.ts).
 */
export function listRow(job: AnyJob, listedAt: string): ListRow & { partitionKey: string; rowKey: string } {
  return { ...listKeys(listedAt, job.id), ...toRow(job, new Date(listedAt).toISOString()) };
}

function toRow(job: AnyJob, listedAt: string): ListRow {
  const listed = listedJob({ ...job, createdAt: listedAt });
  const row: ListRow = {
    id: job.id,
    kind: job.kind,
    status: job.status,
    errorCount: listed.errorCount,
    createdAt: listedAt,
    job: jobJson(listed),
  };
  const optional: Partial<Record<keyof ListRow, unknown>> = {
    stage: job.stage,
    environment: job.environment,
    project: job.project,
    legalEntity: 'legalEntity' in job ? job.legalEntity : undefined,
    file: 'file' in job ? job.file : undefined,
    executionId: job.executionId,
    foStatus: job.foStatus,
    polls: job.polls,
    updatedAt: job.updatedAt,
  };
  for (const [k, v] of Object.entries(optional))
    if (v !== undefined) (row as unknown as Record<string, unknown>)[k] = v;
  return row;
}

/** The list entry of a row: its JSON, with the columns a stage patch may have changed. */
export function fromRow(row: Record<string, unknown>): ListedJob {
  let job: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(typeof row.job === 'string' ? row.job : '{}');
    if (isRecord(parsed)) job = parsed;
  } catch {
    // a damaged row still lists with its columns
  }
  for (const k of ['id', 'kind', ...PATCHED, 'errorCount', 'rerunBy'] as const) {
    const v = row[k];
    if (v !== undefined && v !== null) job[k] = v;
  }
  // a later stage patches the status column only: the wait for a paused environment is over then
  if (job.status !== 'Queued') {
    delete job.queuedReason;
    delete job.paused;
  }
  if (!Array.isArray(job.errors)) job.errors = [];
  return job as unknown as ListedJob;
}

/** The two tables of the index. */
export interface JobIndexTables {
  jobs: TableClient;
  jobIds: TableClient;
}

/** Table clients of the index in the app's storage account (connection string or identity). */
export function createJobIndexTables(
  connection: StorageConnection,
  names: { jobs: string; jobIds: string },
  credential?: TokenCredential,
): JobIndexTables {
  if (connection.kind === 'connectionString') {
    // plain http only where the connection string itself says so (Azurite's endpoints)
    const cs = connection.connectionString;
    const options = {
      allowInsecureConnection:
        /(?:^|;)\s*(?:TableEndpoint\s*=\s*http:|DefaultEndpointsProtocol\s*=\s*http\s*(?:;|$))/i.test(cs),
    };
    return {
      jobs: TableClient.fromConnectionString(cs, names.jobs, options),
      jobIds: TableClient.fromConnectionString(cs, names.jobIds, options),
    };
  }
  const token = credential ?? connectionCredential(connection);
  return {
    jobs: new TableClient(connection.tableServiceUri, names.jobs, token),
    jobIds: new TableClient(connection.tableServiceUri, names.jobIds, token),
  };
}

/** Default timeout of one index call (the SDK retries transient failures inside it). */
export const JOB_INDEX_TIMEOUT_MS = 10_000;

const isStatus = (error: unknown, status: number): boolean =>
  error instanceof RestError && error.statusCode === status;

/** True when a table of the index is not there (never created, or deleted since). */
const isTableNotFound = (error: unknown): boolean =>
  isStatus(error, 404) &&
  error instanceof RestError &&
  /TableNotFound/i.test(`${error.code ?? ''} ${error.message}`);

/** The job index (see the file's comment). */
export class JobIndex {
  readonly #tables: JobIndexTables;
  readonly #timeoutMs: number;
  #ready: Promise<void> | undefined;

  constructor(tables: JobIndexTables, options: { timeoutMs?: number } = {}) {
    this.#tables = tables;
    this.#timeoutMs = options.timeoutMs ?? JOB_INDEX_TIMEOUT_MS;
  }

  #options(signal?: AbortSignal): { abortSignal: AbortSignal } {
    const timeout = AbortSignal.timeout(this.#timeoutMs);
    return { abortSignal: signal ? AbortSignal.any([timeout, signal]) : timeout };
  }

  /** Creates both tables when missing (once per process; again after a failure). */
  async ensureTables(signal?: AbortSignal): Promise<void> {
    this.#ready ??= Promise.all([
      this.#tables.jobs.createTable(this.#options(signal)),
      this.#tables.jobIds.createTable(this.#options(signal)),
    ]).then(
      () => undefined,
      (error: unknown) => {
        this.#ready = undefined;
        throw error;
      },
    );
    return this.#ready;
  }

  /** Runs a write; when a table is gone (deleted since it was created here), creates it and retries once. */
  async #writing<T>(signal: AbortSignal | undefined, write: () => Promise<T>): Promise<T> {
    await this.ensureTables(signal);
    try {
      return await write();
    } catch (error) {
      if (!isTableNotFound(error)) throw error;
      this.#ready = undefined;
      await this.ensureTables(signal);
      return write();
    }
  }

  /**
   * Writes a job's list entry as of now (`listedAt`: its requested time, see `listedTime`) and its id
   * row. `insertOnly`: a start path's write, which never replaces what a later stage wrote.
   * @returns `exists` when `insertOnly` found the job already indexed.
   */
  async put(
    job: AnyJob,
    listedAt: string,
    options: { insertOnly?: boolean; signal?: AbortSignal } = {},
  ): Promise<'written' | 'exists'> {
    const row = listRow(job, listedAt);
    const keys = { partitionKey: row.partitionKey, rowKey: row.rowKey };
    const pointer = {
      partitionKey: job.id,
      rowKey: '',
      listPartitionKey: keys.partitionKey,
      listRowKey: keys.rowKey,
    };
    return this.#writing(options.signal, async () => {
      if (options.insertOnly) {
        try {
          await this.#tables.jobIds.createEntity(pointer, this.#options(options.signal));
          await this.#tables.jobs.createEntity(row, this.#options(options.signal));
        } catch (error) {
          if (isStatus(error, 409)) return 'exists';
          throw error;
        }
        return 'written';
      }
      await this.#tables.jobs.upsertEntity(row, 'Replace', this.#options(options.signal));
      await this.#tables.jobIds.upsertEntity(pointer, 'Replace', this.#options(options.signal));
      return 'written';
    });
  }

  /** Where the list row of job `id` is (its id row); undefined when the job is not indexed. */
  async #pointer(
    id: string,
    signal: AbortSignal | undefined,
  ): Promise<{ listPartitionKey: string; listRowKey: string } | undefined> {
    await this.ensureTables(signal);
    try {
      return await this.#tables.jobIds.getEntity<{ listPartitionKey: string; listRowKey: string }>(
        id,
        '',
        this.#options(signal),
      );
    } catch (error) {
      if (isTableNotFound(error)) this.#ready = undefined;
      if (isStatus(error, 404)) return undefined;
      throw error;
    }
  }

  /**
   * The list entry of job `id` (two point reads: its id row, then its list row); undefined when
   * the job is not in the index. What the job API answers for jobs without a durable instance
   * (rejected inputs, earlier runs of a recurring export drain, purged histories).
   */
  async get(id: string, options: { signal?: AbortSignal } = {}): Promise<ListedJob | undefined> {
    const pointer = await this.#pointer(id, options.signal);
    if (!pointer) return undefined;
    try {
      const row = await this.#tables.jobs.getEntity<Record<string, unknown>>(
        pointer.listPartitionKey,
        pointer.listRowKey,
        this.#options(options.signal),
      );
      return fromRow(row);
    } catch (error) {
      if (isStatus(error, 404)) return undefined;
      throw error;
    }
  }

  /**
   * Notes on the list row of job `id` that job `rerunBy` re-runs it. @returns false when the job is
   * not in the index.
   */
  async markRerun(id: string, rerunBy: string, options: { signal?: AbortSignal } = {}): Promise<boolean> {
    return this.#merge(id, { rerunBy }, options.signal);
  }

  /**
   * Changes the status, stage (and execution id, F&O status, polls) of an indexed job known by its
   * id. @returns false when the job is not in the index (its start was not recorded).
   */
  async patch(id: string, patch: JobStagePatch, options: { signal?: AbortSignal } = {}): Promise<boolean> {
    const changes: Record<string, unknown> = {};
    for (const k of PATCHED) if (patch[k] !== undefined) changes[k] = patch[k];
    return this.#merge(id, changes, options.signal);
  }

  /** Merges `changes` into the list row of job `id`; false when it is not indexed. */
  async #merge(
    id: string,
    changes: Record<string, unknown>,
    signal: AbortSignal | undefined,
  ): Promise<boolean> {
    const pointer = await this.#pointer(id, signal);
    if (!pointer) return false;
    try {
      await this.#tables.jobs.updateEntity(
        { partitionKey: pointer.listPartitionKey, rowKey: pointer.listRowKey, ...changes },
        'Merge',
        this.#options(signal),
      );
    } catch (error) {
      if (isStatus(error, 404)) return false;
      throw error;
    }
    return true;
  }

  /**
   * Deletes the jobs listed before `before` (retention): their list rows, a partition's rows 100 to
   * a transaction, and the id rows pointing at them (a newer drain run keeps its own).
   * @returns the list rows deleted.
   */
  async purge(before: Date, options: { signal?: AbortSignal } = {}): Promise<number> {
    let deleted = 0;
    try {
      const old = this.#tables.jobs.listEntities<Record<string, unknown>>({
        queryOptions: { filter: listFilter({ until: before }), select: ['PartitionKey', 'RowKey'] },
        ...this.#options(options.signal),
      });
      let batch: { partitionKey: string; rowKey: string }[] = [];
      const flush = async (): Promise<void> => {
        if (batch.length === 0) return;
        await this.#tables.jobs.submitTransaction(
          batch.map((k) => ['delete', k]),
          this.#options(options.signal),
        );
        deleted += batch.length;
        batch = [];
      };
      for await (const row of old) {
        const key = { partitionKey: row.partitionKey!, rowKey: row.rowKey! };
        if (batch.length === 100 || (batch[0] && batch[0].partitionKey !== key.partitionKey)) await flush();
        batch.push(key);
      }
      await flush();
      // every id row whose list row is older than `before` (its RowKey starts with the inverted time)
      const pointers = this.#tables.jobIds.listEntities<Record<string, unknown>>({
        queryOptions: {
          filter: `listRowKey ge ${literal(invertedMs(before.getTime() - 1))}`,
          select: ['PartitionKey', 'RowKey'],
        },
        ...this.#options(options.signal),
      });
      for await (const pointer of pointers) {
        await this.#tables.jobIds
          .deleteEntity(pointer.partitionKey!, pointer.rowKey ?? '', this.#options(options.signal))
          .catch((error: unknown) => {
            if (!isStatus(error, 404)) throw error;
          });
      }
    } catch (error) {
      if (isTableNotFound(error)) return deleted;
      throw error;
    }
    return deleted;
  }

  /**
   * One page of the list, newest first: up to `top` jobs matching the filter, read from where
   * `continuation` says the last page stopped. The service stops a page early at partition
   * boundaries and after scanning 1,000 rows; this follows on, up to {@link MAX_LIST_REQUESTS}
   * requests, so a page may hold fewer than `top` jobs (even none) and still a continuation.
   */
  async list(query: JobListQuery, options: { signal?: AbortSignal } = {}): Promise<JobListPage> {
    const top = Math.max(1, Math.min(MAX_LIST_TOP, Math.trunc(query.top)));
    let token = query.continuation === undefined ? undefined : decodeContinuation(query.continuation);
    const filter = listFilter(query);
    const jobs: ListedJob[] = [];
    try {
      for (let request = 0; request < MAX_LIST_REQUESTS && jobs.length < top; request++) {
        const pages = this.#tables.jobs
          .listEntities<Record<string, unknown>>({
            queryOptions: filter ? { filter } : {},
            ...this.#options(options.signal),
          })
          .byPage({ maxPageSize: top - jobs.length, ...(token ? { continuationToken: token } : {}) });
        const next = await pages.next();
        const page = next.done ? undefined : next.value;
        for (const row of (page ?? []) as TableEntityResult<Record<string, unknown>>[])
          jobs.push(fromRow(row));
        token = page?.continuationToken;
        if (!token) break;
      }
    } catch (error) {
      // a table that was never written to lists nothing
      if (isStatus(error, 404)) return { jobs };
      if (query.continuation !== undefined && isStatus(error, 400)) {
        throw new InputError('"continuation" is not a continuation this API answered.', {
          code: 'BAD_CONTINUATION',
        });
      }
      throw error;
    }
    return { jobs, ...(token ? { continuation: encodeContinuation(token) } : {}) };
  }
}

/**
 * Runs an index write for a job without ever failing it: a failure (after the SDK's own retries,
 * within the index's timeout) is logged as a warning naming the repair.
 */
export async function recordSafely(
  logger: Pick<Logger, 'warn'>,
  what: string,
  write: () => Promise<unknown>,
): Promise<void> {
  try {
    await write();
  } catch (error) {
    logger.warn(
      `Job index: could not record ${what} (${errorMessage(error)}); \`dmf admin reindex\` repairs it`,
    );
  }
}

/**
 * Records a job as its orchestration status shows it — the real one, or the status of the stage a
 * start path or an activity has just reached — in the index, listed at its requested time. Never
 * throws (see {@link recordSafely}). `insertOnly`: a start path's write (see {@link JobIndex.put}).
 */
export async function recordJob(
  index: JobIndex,
  logger: Pick<Logger, 'warn'>,
  kind: JobKind,
  status: OrchestrationStatusLike,
  options: { insertOnly?: boolean } = {},
): Promise<void> {
  await recordSafely(logger, `${kind} ${status.instanceId}`, async () => {
    const at = listedTime(status);
    if (at === undefined) throw new Error('it has no time to be listed by');
    await index.put(jobView(kind, status), at, options);
  });
}

/** Records a stage change of a job known by its id (see {@link JobIndex.patch}). Never throws. */
export async function recordStage(
  index: JobIndex,
  logger: Pick<Logger, 'warn'>,
  id: string,
  patch: JobStagePatch,
): Promise<void> {
  await recordSafely(logger, `stage ${patch.stage ?? patch.status} of ${id}`, async () => {
    if (!(await index.patch(id, patch))) throw new Error('the job is not in the index');
  });
}

/**
 * Records a job JSON that no orchestration status stands behind (a rejected input), listed at
 * `listedAt`. Never throws (see {@link recordSafely}).
 */
export async function recordListedJob(
  index: JobIndex,
  logger: Pick<Logger, 'warn'>,
  job: AnyJob,
  listedAt: string,
): Promise<void> {
  await recordSafely(logger, `${job.kind} ${job.id}`, () => index.put(job, listedAt));
}
