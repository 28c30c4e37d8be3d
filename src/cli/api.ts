/** The CLI's client of the app's HTTP API (imports, exports, jobs, job files). Nothing else. */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { Readable, Transform } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { BlockBlobClient, RestError } from '@azure/storage-blob';
import { z } from 'zod';
import { DmfFunctionsError } from '../shared/errors.js';
import { blobImportInstanceId } from '../shared/jobs/ids.js';
import { unquoteEtag } from '../shared/util.js';
import { JobErrorSchema as AppJobErrorSchema } from '../shared/jobs/common.js';

/** Environment variables read for the base url, first match wins. */
export const BASE_URL_VARIABLES = ['DMF_FUNCTIONS_URL', 'FUNCTIONS_BASE_URL'] as const;
/** Environment variables read for the function key, first match wins. */
export const KEY_VARIABLES = ['DMF_FUNCTIONS_KEY', 'FUNCTIONS_KEY'] as const;
/** Base url when neither a flag nor a variable gives one (`npm start`'s default port). */
export const DEFAULT_BASE_URL = 'http://127.0.0.1:7071';
/** Timeout of one API call (uploads get {@link UPLOAD_TIMEOUT_MS}). */
export const DEFAULT_TIMEOUT_MS = 30_000;
/** Timeout of an upload. */
export const UPLOAD_TIMEOUT_MS = 30 * 60_000;

/** A failed API call: the app's `{ error: { code, message } }` answer, or the transport failure. */
export class ApiError extends DmfFunctionsError {
  /** HTTP status, when there was an answer. */
  readonly status: number | undefined;

  constructor(message: string, options: { code: string; status?: number; cause?: unknown }) {
    super(message, {
      code: options.code,
      transient: options.status === undefined || options.status >= 500 || options.status === 429,
      cause: options.cause,
    });
    this.status = options.status;
  }
}

const ErrorBodySchema = z.object({ error: z.object({ code: z.string(), message: z.string() }) });

/** One error of a job (as the job API answers it; extra fields kept). */
export const JobErrorSchema = AppJobErrorSchema.loose();

const optionalString = z.string().nullish();

/** The parts of `GET /api/jobs/{id}` the CLI reads (imports and exports alike; extra fields kept). */
export const JobSchema = z.looseObject({
  id: z.string(),
  status: z.string(),
  kind: optionalString,
  stage: optionalString,
  executionId: optionalString,
  environment: optionalString,
  project: optionalString,
  legalEntity: optionalString,
  file: optionalString,
  createdAt: optionalString,
  updatedAt: optionalString,
  foStatus: optionalString,
  polls: z.number().optional(),
  nextPollAt: optionalString,
  slotPosition: z.number().nullish(),
  throttledUntil: optionalString,
  executionPageUrl: optionalString,
  entityCounts: z
    .array(
      z.looseObject({
        entity: z.string(),
        status: optionalString,
        stagingRecords: z.number().nullish(),
        stagingErrors: z.number().nullish(),
        targetRecords: z.number().nullish(),
        targetErrors: z.number().nullish(),
      }),
    )
    .nullish(),
  errors: z.array(JobErrorSchema).default([]),
  /** The job this one is part of (a chain's step, a company's export). */
  parentId: optionalString,
  /** A chain's steps, a multi-company export's companies: each a job of its own. */
  children: z
    .array(
      z.looseObject({
        id: z.string(),
        status: z.string(),
        project: optionalString,
        legalEntity: optionalString,
        files: z.array(z.string()).nullish(),
        errorCount: z.number().nullish(),
      }),
    )
    .nullish(),
  /** A batch (or a chain's batch) while its files are collected: found, missing. */
  batch: z
    .looseObject({
      batchId: z.string(),
      files: z.array(z.string()).default([]),
      missing: z.array(z.string()).default([]),
      deadline: optionalString,
    })
    .nullish(),
  /** How many errors the job has (list entries carry only the first ones). */
  errorCount: z.number().optional(),
  /** While `Queued`: why (its environment is paused). */
  queuedReason: optionalString,
  /** A `Rejected` input: why, and where its source is kept. */
  reason: optionalString,
  source: optionalString,
  rerunOf: optionalString,
  rerunBy: optionalString,
  alerts: z
    .array(z.looseObject({ alert: z.string(), state: z.string(), status: z.number().nullish() }))
    .nullish(),
  result: z
    .looseObject({
      timings: z
        .looseObject({
          requestedAt: optionalString,
          finishedAt: optionalString,
          executionMs: z.number().nullish(),
        })
        .optional(),
    })
    .nullish(),
});
/** A job as the CLI sees it. */
export type CliJob = z.infer<typeof JobSchema>;

/** Filters of `GET /api/jobs` (all run on the server). */
export interface JobListOptions {
  status?: string[] | undefined;
  kind?: string[] | undefined;
  environment?: string | undefined;
  project?: string | undefined;
  since?: Date | undefined;
  until?: Date | undefined;
}

/** Jobs asked for per page when paging through the list. */
export const LIST_PAGE_SIZE = 500;

const ListSchema = z.object({ jobs: z.array(JobSchema), continuation: z.string().optional() });

/** What one step of `POST /api/reindex` did. */
export const ReindexStepSchema = z.looseObject({
  phase: z.string(),
  indexed: z.number(),
  skipped: z.number(),
  continuation: z.string().optional(),
});
/** See {@link ReindexStepSchema}. */
export type ReindexStep = z.infer<typeof ReindexStepSchema>;
/** Timeout of one reindex step (it reads a page of result JSONs). */
export const REINDEX_TIMEOUT_MS = 5 * 60_000;

/** The 202 answer of `POST /api/imports` and `POST /api/exports`. */
export const AcceptedSchema = z.looseObject({
  id: z.string(),
  status: z.string().optional(),
  statusUrl: z.string().optional(),
});
/** What a start returned. */
export type Accepted = z.infer<typeof AcceptedSchema>;

/** The 201 answer of `POST /api/uploads`. */
export const UploadUrlSchema = z.looseObject({
  uploadUrl: z.string().url(),
  blobPath: z.string(),
  expiresOn: z.string(),
});
/** A direct upload url. */
export type UploadUrl = z.infer<typeof UploadUrlSchema>;

/** An environment of `GET /api/environments` (and the answer of a pause or resume). */
export const EnvironmentSchema = z.looseObject({
  name: z.string(),
  paused: z.boolean(),
  pausedSince: optionalString,
  pausedBy: optionalString,
  reason: optionalString,
  waiting: z.number().optional(),
  running: z.number().optional(),
  /** False on a 202: the app has not seen the change applied yet. */
  applied: z.boolean().optional(),
});
/** An environment as the CLI sees it. */
export type CliEnvironment = z.infer<typeof EnvironmentSchema>;

/** The answer of `POST /api/jobs/{id}/rerun`: the new job (`rerunOf`), and whether this call started it. */
export const RerunSchema = JobSchema.extend({ rerunOf: z.string(), started: z.boolean() });
/** See {@link RerunSchema}. */
export type CliRerun = z.infer<typeof RerunSchema>;

/** Default size above which `dmf import` uploads through an upload url: 64 MiB. */
export const DEFAULT_UPLOAD_THRESHOLD_BYTES = 64 * 1024 * 1024;
/** Block size of a direct upload (Put Block; memory ≈ block size × concurrency). */
export const UPLOAD_BLOCK_BYTES = 8 * 1024 * 1024;

/** The explanation a 413 gets: the body never reached the app (the host refuses over 100 MB). */
export const TOO_LARGE_HINT =
  'The function app refused the file as too large (HTTP 413: the Functions front end takes at most 100 MB per request, ' +
  'and refuses larger bodies before the app runs). Large files go through a direct upload url: POST /api/uploads, ' +
  'then PUT the file to the url it answers; `dmf import` does that for files above --upload-threshold (default 64 MB).';

/** One file of `GET /api/jobs/{id}/files`. */
export const JobFileSchema = z.looseObject({
  name: z.string(),
  kind: z.string(),
  entity: z.string().optional(),
  bytes: z.number().optional(),
});
/** A job file entry. */
export type CliJobFile = z.infer<typeof JobFileSchema>;

/** Options of {@link DmfApiClient}. */
export interface DmfApiClientOptions {
  /** The function app's base url (without `/api`). */
  baseUrl: string;
  /** Function key (sent as `x-functions-key`); none for anonymous local hosts. */
  key?: string | undefined;
  /** What a 401/403 says after "HTTP 401: " (where the key came from); default: how to give one. */
  keyHint?: string | undefined;
  /** Timeout of one call in ms. Default {@link DEFAULT_TIMEOUT_MS}. */
  timeoutMs?: number;
  /** Cancels every call. */
  signal?: AbortSignal;
}

/** Progress of an upload. */
export type UploadProgress = (sentBytes: number, totalBytes: number) => void;

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  zip: 'application/zip',
  csv: 'text/csv',
  xml: 'application/xml',
  json: 'application/json',
  txt: 'text/plain',
};

/** Content type the import endpoint is told, from the file extension. */
export function contentTypeFor(fileName: string): string {
  const ext = /\.([a-z0-9]+)$/i.exec(fileName)?.[1]?.toLowerCase() ?? '';
  return CONTENT_TYPES[ext] ?? 'application/octet-stream';
}

/** The query naming a data project (and a file) of the import, upload and export routes. */
function projectQuery(options: {
  environment: string;
  project: string;
  fileName?: string;
  legalEntity?: string | undefined;
}): URLSearchParams {
  return new URLSearchParams({
    environment: options.environment,
    project: options.project,
    ...(options.fileName !== undefined ? { fileName: options.fileName } : {}),
    ...(options.legalEntity ? { legalEntity: options.legalEntity } : {}),
  });
}

/** Talks to the app's HTTP API. */
export class DmfApiClient {
  readonly baseUrl: string;
  readonly #key: string | undefined;
  readonly #keyHint: string;
  readonly #timeoutMs: number;
  readonly #signal: AbortSignal | undefined;

  constructor(options: DmfApiClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '').replace(/\/api$/, '');
    this.#key = options.key;
    this.#keyHint = options.keyHint ?? 'the function key was refused (set --key or DMF_FUNCTIONS_KEY)';
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#signal = options.signal;
  }

  /** Sends one request to `/api{path}`; throws {@link ApiError} for transport failures and non-2xx. */
  async request(path: string, init: RequestInit & { timeoutMs?: number } = {}): Promise<Response> {
    const { timeoutMs, ...rest } = init;
    const signals = [AbortSignal.timeout(timeoutMs ?? this.#timeoutMs)];
    if (this.#signal) signals.push(this.#signal);
    let response: Response;
    try {
      response = await fetch(`${this.baseUrl}/api${path}`, {
        ...rest,
        headers: {
          ...(this.#key ? { 'x-functions-key': this.#key } : {}),
          ...(rest.headers as Record<string, string>),
        },
        signal: AbortSignal.any(signals),
      });
    } catch (error) {
      const reason =
        error instanceof Error
          ? error.cause instanceof Error
            ? error.cause.message
            : error.message
          : String(error);
      throw new ApiError(`Cannot reach the function app at ${this.baseUrl}: ${reason}`, {
        code: 'API_UNREACHABLE',
        cause: error,
      });
    }
    if (response.ok) return response;
    const text = await response.text().catch(() => '');
    let parsed: z.infer<typeof ErrorBodySchema> | undefined;
    try {
      parsed = ErrorBodySchema.parse(JSON.parse(text));
    } catch {
      parsed = undefined;
    }
    if (parsed) {
      throw new ApiError(parsed.error.message, { code: parsed.error.code, status: response.status });
    }
    const hint =
      response.status === 401 || response.status === 403
        ? this.#keyHint
        : response.status === 404
          ? `${path.split('?')[0] ?? path} not found`
          : text.slice(0, 200) || response.statusText;
    throw new ApiError(`HTTP ${response.status}: ${hint}`, {
      code: `HTTP_${response.status}`,
      status: response.status,
    });
  }

  async #json<T>(
    schema: z.ZodType<T>,
    path: string,
    init?: RequestInit & { timeoutMs?: number },
  ): Promise<T> {
    const response = await this.request(path, init);
    const body: unknown = await response.json();
    const parsed = schema.safeParse(body);
    if (!parsed.success) {
      throw new ApiError(`Unexpected answer from ${path.split('?')[0] ?? path}: ${parsed.error.message}`, {
        code: 'API_BAD_ANSWER',
        status: response.status,
      });
    }
    return parsed.data;
  }

  /** `POST /api/imports`: streams a local file as the body. */
  async importFile(
    file: string,
    options: {
      environment: string;
      project: string;
      legalEntity?: string | undefined;
      onProgress?: UploadProgress;
    },
  ): Promise<Accepted> {
    const { size } = await stat(file);
    let sent = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        sent += chunk.length;
        options.onProgress?.(sent, size);
        done(null, chunk);
      },
    });
    const body = createReadStream(file).pipe(counter);
    const query = projectQuery({ ...options, fileName: basename(file) });
    options.onProgress?.(0, size);
    try {
      return await this.#json(AcceptedSchema, `/imports?${query.toString()}`, {
        method: 'POST',
        headers: { 'content-type': contentTypeFor(file) },
        body: Readable.toWeb(body) as ReadableStream<Uint8Array>,
        duplex: 'half',
        timeoutMs: UPLOAD_TIMEOUT_MS,
      });
    } catch (error) {
      if (error instanceof ApiError && error.status === 413) {
        throw new ApiError(TOO_LARGE_HINT, { code: 'FILE_TOO_LARGE', status: 413, cause: error });
      }
      throw error;
    }
  }

  /** `POST /api/uploads`: a write-only upload url for the inbound blob of `fileName`. */
  requestUploadUrl(options: {
    environment: string;
    project: string;
    fileName: string;
    legalEntity?: string | undefined;
  }): Promise<UploadUrl> {
    const query = projectQuery(options);
    return this.#json(UploadUrlSchema, `/uploads?${query.toString()}`, { method: 'POST' });
  }

  /**
   * Imports a large file through a direct upload url: asks for the url, uploads the file with Put
   * Block + Put Block List (bounded memory), and answers the job id the inbound blob trigger gives
   * that blob version (the import starts once the trigger sees the blob).
   */
  async importThroughUploadUrl(
    file: string,
    options: {
      environment: string;
      project: string;
      legalEntity?: string | undefined;
      onProgress?: UploadProgress;
    },
  ): Promise<Accepted & { blobPath: string }> {
    const { size } = await stat(file);
    const upload = await this.requestUploadUrl({ ...options, fileName: basename(file) });
    options.onProgress?.(0, size);
    let etag: string | undefined;
    try {
      const response = await new BlockBlobClient(upload.uploadUrl).uploadFile(file, {
        blockSize: UPLOAD_BLOCK_BYTES,
        concurrency: 4,
        abortSignal: this.#signal,
        blobHTTPHeaders: { blobContentType: contentTypeFor(file) },
        onProgress: (p) => options.onProgress?.(p.loadedBytes, size),
      });
      etag = unquoteEtag(response.etag);
    } catch (error) {
      // the SAS is the caller's secret: say what failed, never the url
      const status = error instanceof RestError ? error.statusCode : undefined;
      throw new ApiError(
        `Upload to ${upload.blobPath} failed${status ? ` (HTTP ${status})` : ''}: ${error instanceof RestError ? (error.code ?? 'storage error') : String(error)}`,
        { code: 'UPLOAD_FAILED', ...(status ? { status } : {}), cause: undefined },
      );
    }
    if (!etag) throw new ApiError(`Upload to ${upload.blobPath} answered no ETag`, { code: 'UPLOAD_FAILED' });
    return {
      id: blobImportInstanceId(upload.blobPath, etag),
      status: 'Pending',
      blobPath: upload.blobPath,
    };
  }

  /** `POST /api/exports`. */
  startExport(options: {
    environment: string;
    project: string;
    legalEntity?: string | undefined;
    /** One export per company, grouped under one job. */
    legalEntities?: string[] | undefined;
  }): Promise<Accepted> {
    const query = projectQuery({ environment: options.environment, project: options.project });
    // the export route reads the companies from its JSON body (a query `legalEntity` it ignores)
    const body = options.legalEntities
      ? { legalEntities: options.legalEntities }
      : options.legalEntity
        ? { legalEntityId: options.legalEntity }
        : undefined;
    return this.#json(AcceptedSchema, `/exports?${query.toString()}`, {
      method: 'POST',
      ...(body ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) } : {}),
    });
  }

  /**
   * `GET /api/jobs/{id}`; when that does not know the id, `fallback` (e.g. `/exports/{id}`, the
   * status url a start answered) is asked instead.
   */
  async getJob(id: string, options: { fallback?: string } = {}): Promise<CliJob> {
    try {
      return await this.#json(JobSchema, `/jobs/${encodeURIComponent(id)}`);
    } catch (error) {
      if (!options.fallback || !(error instanceof ApiError) || error.status !== 404) throw error;
      return this.#json(JobSchema, options.fallback);
    }
  }

  /** One page of `GET /api/jobs` (newest first): the filters, `top`, and where the last page stopped. */
  async listJobs(options: JobListOptions & { top?: number; continuation?: string } = {}): Promise<{
    jobs: CliJob[];
    continuation?: string | undefined;
  }> {
    const query = new URLSearchParams();
    if (options.top !== undefined) query.set('top', String(options.top));
    if (options.status?.length) query.set('status', options.status.join(','));
    if (options.kind?.length) query.set('kind', options.kind.join(','));
    if (options.environment) query.set('environment', options.environment);
    if (options.project) query.set('project', options.project);
    if (options.since) query.set('since', options.since.toISOString());
    if (options.until) query.set('until', options.until.toISOString());
    if (options.continuation) query.set('continuation', options.continuation);
    const q = query.toString();
    return this.#json(ListSchema, `/jobs${q ? `?${q}` : ''}`);
  }

  /**
   * Pages through `GET /api/jobs` until `limit` jobs (newest first) or the last page.
   * @returns the jobs, and whether more were left.
   */
  async listAllJobs(
    options: JobListOptions & { limit?: number } = {},
  ): Promise<{ jobs: CliJob[]; more: boolean }> {
    const jobs: CliJob[] = [];
    const limit = options.limit ?? Number.POSITIVE_INFINITY;
    let continuation: string | undefined;
    do {
      const page = await this.listJobs({
        ...options,
        top: Math.min(LIST_PAGE_SIZE, limit - jobs.length),
        ...(continuation ? { continuation } : {}),
      });
      jobs.push(...page.jobs);
      continuation = page.continuation;
    } while (continuation && jobs.length < limit);
    return { jobs: jobs.slice(0, limit), more: continuation !== undefined || jobs.length > limit };
  }

  /**
   * `POST /api/reindex`: one step of rebuilding the job index (the running instances, then a page
   * of result JSONs); `continuation` from the previous step.
   */
  reindex(continuation?: string): Promise<ReindexStep> {
    const q = continuation ? `?${new URLSearchParams({ continuation }).toString()}` : '';
    return this.#json(ReindexStepSchema, `/reindex${q}`, { method: 'POST', timeoutMs: REINDEX_TIMEOUT_MS });
  }

  /** `POST /api/jobs/{id}/rerun`: the new job (202), or the one a re-run started before (200). */
  rerun(id: string): Promise<CliRerun> {
    return this.#json(RerunSchema, `/jobs/${encodeURIComponent(id)}/rerun`, { method: 'POST' });
  }

  /** `GET /api/environments`. */
  async environments(): Promise<CliEnvironment[]> {
    const body = await this.#json(z.object({ environments: z.array(EnvironmentSchema) }), '/environments');
    return body.environments;
  }

  /** `POST /api/environments/{env}/pause` (`by`, `reason` optional). */
  pauseEnvironment(
    environment: string,
    options: { by?: string; reason?: string } = {},
  ): Promise<CliEnvironment> {
    return this.#json(EnvironmentSchema, `/environments/${encodeURIComponent(environment)}/pause`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        ...(options.by ? { by: options.by } : {}),
        ...(options.reason ? { reason: options.reason } : {}),
      }),
    });
  }

  /** `POST /api/environments/{env}/resume`. */
  resumeEnvironment(environment: string): Promise<CliEnvironment> {
    return this.#json(EnvironmentSchema, `/environments/${encodeURIComponent(environment)}/resume`, {
      method: 'POST',
    });
  }

  /** `GET /api/jobs/{id}/files`. */
  async jobFiles(id: string): Promise<CliJobFile[]> {
    const body = await this.#json(
      z.object({ files: z.array(JobFileSchema) }),
      `/jobs/${encodeURIComponent(id)}/files`,
    );
    return body.files;
  }

  /** `GET /api/jobs/{id}/files/{name}` as a stream. */
  async downloadJobFile(id: string, name: string): Promise<Readable> {
    const response = await this.request(`/jobs/${encodeURIComponent(id)}/files/${encodeURIComponent(name)}`, {
      timeoutMs: UPLOAD_TIMEOUT_MS,
    });
    if (!response.body) throw new ApiError(`The file "${name}" came back empty.`, { code: 'FILE_EMPTY' });
    return Readable.fromWeb(response.body as WebReadableStream<Uint8Array>);
  }
}
