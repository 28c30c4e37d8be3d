import { z } from 'zod';
import { DmfApiError, DmfErrorCode } from './errors.js';
import { DmfPackageClient } from './packageClient.js';
import { urlForLog } from './redact.js';
import { RetryBudget } from './retry.js';
import {
  invalidAnswer,
  normalizeDataJobState,
  parseJsonBody,
  type DataJobState,
  type MessageStatusAnswer,
} from './schemas.js';
import type { DownloadedStream } from './sas.js';
import { DmfTransport, type DmfBody } from './transport.js';
import type { DmfClientOptions, DmfRequestOptions, TransportResponse } from './transport.js';

/** Header carrying the external identifier (usually the file name) of an enqueued message. */
export const EXTERNAL_IDENTIFIER_HEADER = 'x-ms-dyn-externalidentifier';

/** Path of the recurring integration connector API below the environment url. */
export const CONNECTOR_PATH = '/api/connector';

/** Options of {@link RecurringClient}; download urls are rewritten to the origin of `baseUrl`. */
export type RecurringClientOptions = DmfClientOptions;

/**
 * Body of {@link RecurringClient.enqueue}: bytes, text, a Node Readable or a web ReadableStream (streamed with
 * `duplex: 'half'`), or a factory returning a fresh one per attempt. Only replayable bodies (bytes, text, a
 * factory) can be resent after a 401 or 429.
 */
export type EnqueueBody = DmfBody | (() => DmfBody | Promise<DmfBody>);

/** Options of {@link RecurringClient.enqueue}. */
export interface EnqueueOptions extends DmfRequestOptions {
  /** Entity label (`entity=`), for a single-file job; omit for a package job. */
  entity?: string;
  /** Legal entity (`company=`). */
  company?: string;
  /** External identifier (usually the file name), sent as `x-ms-dyn-externalidentifier`. */
  externalIdentifier?: string;
  /** Content type of the body. Default `application/octet-stream`. */
  contentType?: string;
}

/** A dequeued export message. `raw` is the answer as received; {@link RecurringClient.ack} sends it back. */
export interface DequeuedMessage {
  /** `CorrelationId`. */
  correlationId: string;
  /** `PopReceipt`. */
  popReceipt: string;
  /** `DownloadLocation` as F&O sent it (may be `http://…:80`; {@link RecurringClient.download} rewrites it). */
  downloadLocation: string;
  /** `IsDownLoadFileExist`. */
  isDownloadFileExist: boolean;
  /** `FileDownLoadErrorMessage`, when set. */
  fileDownloadErrorMessage: string | undefined;
  /** `LastDequeueDateTime`, set when the message was dequeued before and not acked. */
  lastDequeueDateTime: string | undefined;
  /** The dequeue answer exactly as received (the ack body). */
  raw: Record<string, unknown>;
}

/** Answer of the (undocumented) jobstatus endpoint; every field may be missing. */
export interface RecurringJobStatus {
  /** `DataJobStatus`: project, identifiers, times and `DataJobState`. */
  dataJobStatus: Record<string, unknown> | undefined;
  /**
   * `DataJobStatus.DataJobState` as the enum's word (`Processed`), whether F&O sent the word (any
   * case) or its number; a word or number the enum lacks is kept as sent (see `normalizeDataJobState`).
   */
  dataJobState: DataJobState | (string & {}) | undefined;
  /** `DataJobStatus.ExecutionIdentifier`, when set. */
  executionId: string | undefined;
  /** `ExecutionLog`. */
  executionLog: unknown;
  /** `ExecutionDetail`: one row per entity (record counts, statuses, error counts). */
  executionDetail: Record<string, unknown>[];
  /** The answer as received. */
  raw: Record<string, unknown>;
}

const optionalString = z
  .string()
  .nullish()
  .transform((v) => v ?? undefined);

const DequeueSchema = z.looseObject({
  CorrelationId: z.string().min(1),
  PopReceipt: z.string(),
  DownloadLocation: z.string().min(1),
  IsDownLoadFileExist: z.union([z.boolean(), z.enum(['true', 'false', 'True', 'False'])]).optional(),
  FileDownLoadErrorMessage: optionalString,
  LastDequeueDateTime: optionalString,
});

// every field may be missing (the endpoint is undocumented)
const JobStatusSchema = z.looseObject({
  DataJobStatus: z
    .looseObject({ DataJobState: z.unknown().optional(), ExecutionIdentifier: z.unknown().optional() })
    .nullish(),
  ExecutionLog: z.unknown().optional(),
  ExecutionDetail: z.array(z.record(z.string(), z.unknown())).nullish(),
});

const MessageIdSchema = z.string().trim().min(1);

/**
 * Client of the recurring integration (connector) API: enqueue, dequeue, download, ack, jobstatus, plus the
 * two package-API actions about messages. Cloud only: on-premises answers 302, thrown as
 * `DMF_RECURRING_UNAVAILABLE`.
 */
export class RecurringClient {
  /** Environment url without trailing slash. */
  readonly baseUrl: string;
  readonly #transport: DmfTransport;
  readonly #packageClient: DmfPackageClient;

  constructor(options: RecurringClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.#transport = new DmfTransport(options);
    this.#packageClient = new DmfPackageClient({ ...options, onPremises: false });
  }

  /**
   * Enqueues a file (or a package zip) for an import job. Not idempotent: only a 401 (token refresh) and a
   * 429 are retried, and only for replayable bodies; a 5xx or timeout is thrown because the message may
   * have been queued. @returns the message id (quotes stripped).
   */
  async enqueue(activityId: string, body: EnqueueBody, options: EnqueueOptions = {}): Promise<string> {
    const action = 'enqueue';
    const url = new URL(this.#connectorUrl('enqueue', activityId));
    if (options.entity !== undefined) url.searchParams.set('entity', options.entity);
    if (options.company !== undefined) url.searchParams.set('company', options.company);
    const headers: Record<string, string> = {
      'Content-Type': options.contentType ?? 'application/octet-stream',
    };
    if (options.externalIdentifier !== undefined)
      headers[EXTERNAL_IDENTIFIER_HEADER] = options.externalIdentifier;
    const response = await this.#sendTolerating429(action, {
      ...options,
      method: 'POST',
      url: url.toString(),
      headers,
      body,
    });
    const text = response.text.trim();
    let messageId: unknown = text;
    if (text.startsWith('"')) {
      try {
        messageId = JSON.parse(text);
      } catch {
        messageId = text.replace(/^"|"$/g, '');
      }
    }
    const parsed = MessageIdSchema.safeParse(messageId);
    if (!parsed.success) throw invalidAnswer(action, 'no message id in the answer');
    return parsed.data;
  }

  /** Dequeues the next export message; undefined when the queue is empty (204). Retried like reads. */
  async dequeue(activityId: string, options: DmfRequestOptions = {}): Promise<DequeuedMessage | undefined> {
    const action = 'dequeue';
    const response = await this.#send(action, {
      ...options,
      method: 'GET',
      url: this.#connectorUrl('dequeue', activityId),
      retryMode: 'idempotent',
    });
    if (response.status === 204 || response.text.trim() === '') return undefined;
    const { json, data: m } = parseJsonAnswer(action, response.text, DequeueSchema);
    return {
      correlationId: m.CorrelationId,
      popReceipt: m.PopReceipt,
      downloadLocation: m.DownloadLocation,
      isDownloadFileExist:
        m.IsDownLoadFileExist === undefined ? true : String(m.IsDownLoadFileExist).toLowerCase() === 'true',
      fileDownloadErrorMessage: m.FileDownLoadErrorMessage || undefined,
      lastDequeueDateTime: m.LastDequeueDateTime || undefined,
      raw: json as Record<string, unknown>,
    };
  }

  /**
   * The download url actually fetched for a message: `DownloadLocation`'s path and query on the
   * environment url's origin (scheme, host, port). Behind F&O's load balancer the location comes back as
   * `http://…:80`; rewriting every location to the configured origin also guarantees the bearer token is
   * never sent to any other host.
   */
  resolveDownloadUrl(downloadLocation: string): string {
    let location: URL;
    try {
      location = new URL(downloadLocation, this.baseUrl);
    } catch (error) {
      throw invalidAnswer('download', 'DownloadLocation is not a url', error);
    }
    return new URL(location.pathname + location.search, new URL(this.baseUrl).origin).toString();
  }

  /** Downloads a dequeued message's file as a stream (GET with the bearer token, url per {@link resolveDownloadUrl}). */
  async download(
    message: DequeuedMessage | string,
    options: DmfRequestOptions = {},
  ): Promise<DownloadedStream> {
    const action = 'download';
    const location = typeof message === 'string' ? message : message.downloadLocation;
    const url = this.resolveDownloadUrl(location);
    if (url !== location) {
      this.#transport.logger.debug(`download: DownloadLocation rewritten to ${urlForLog(url)}`, {
        from: urlForLog(location),
      });
    }
    const response = await this.#send(action, {
      ...options,
      method: 'GET',
      url,
      retryMode: 'idempotent',
      stream: true,
    });
    if (!response.body) throw invalidAnswer(action, `HTTP ${response.status} without a body`);
    const length = response.headers.get('content-length');
    return {
      stream: response.body,
      contentLength: length === null ? undefined : Number(length),
      contentType: response.headers.get('content-type') ?? undefined,
    };
  }

  /** Acknowledges a dequeued message (body = the dequeue answer as received). Idempotent, retried. */
  async ack(activityId: string, message: DequeuedMessage, options: DmfRequestOptions = {}): Promise<void> {
    await this.#send('ack', {
      ...options,
      method: 'POST',
      url: this.#connectorUrl('ack', activityId),
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(message.raw),
      retryMode: 'idempotent',
    });
  }

  /** Status of an enqueued job (undocumented `jobstatus` endpoint used by Microsoft's samples). */
  async jobStatus(
    activityId: string,
    messageId: string,
    options: DmfRequestOptions = {},
  ): Promise<RecurringJobStatus> {
    const action = 'jobstatus';
    const url = new URL(this.#connectorUrl('jobstatus', activityId));
    url.searchParams.set('jobId', messageId);
    const response = await this.#send(action, {
      ...options,
      method: 'GET',
      url: url.toString(),
      retryMode: 'idempotent',
    });
    const { json, data: s } = parseJsonAnswer(action, response.text, JobStatusSchema);
    const state = s.DataJobStatus?.DataJobState;
    const executionId = s.DataJobStatus?.ExecutionIdentifier;
    return {
      dataJobStatus: s.DataJobStatus ?? undefined,
      dataJobState: normalizeDataJobState(state),
      executionId: typeof executionId === 'string' && executionId !== '' ? executionId : undefined,
      executionLog: s.ExecutionLog,
      executionDetail: s.ExecutionDetail ?? [],
      raw: json as Record<string, unknown>,
    };
  }

  /** GetMessageStatus (package API) for an enqueued message. */
  async getMessageStatus(messageId: string, options?: DmfRequestOptions): Promise<MessageStatusAnswer> {
    return this.#packageClient.getMessageStatus(messageId, options);
  }

  /** GetExecutionIdByMessageId (package API); undefined while the message is still queued. */
  async getExecutionIdByMessageId(
    messageId: string,
    options?: DmfRequestOptions,
  ): Promise<string | undefined> {
    return this.#packageClient.getExecutionIdByMessageId(messageId, options);
  }

  #connectorUrl(operation: string, activityId: string): string {
    return `${this.baseUrl}${CONNECTOR_PATH}/${operation}/${encodeURIComponent(activityId.trim())}`;
  }

  async #send(
    action: string,
    request: DmfRequestOptions & {
      method: 'GET' | 'POST';
      url: string;
      headers?: Record<string, string>;
      body?: EnqueueBody;
      retryMode: 'idempotent' | 'none';
      stream?: boolean;
      budget?: RetryBudget;
    },
  ): Promise<TransportResponse> {
    const response = await this.#transport.send({ ...request, action, auth: true });
    if (response.status >= 300) throw redirectError(action, response.status, response.headers);
    return response;
  }

  /** Non-idempotent send: the transport retries nothing; a 429 (refused, so nothing was queued) is retried here. */
  async #sendTolerating429(
    action: string,
    request: DmfRequestOptions & {
      method: 'POST';
      url: string;
      headers: Record<string, string>;
      body: EnqueueBody;
    },
  ): Promise<TransportResponse> {
    const retry = this.#transport.retryOptions(request.retry);
    const budget = new RetryBudget(retry);
    const replayable = typeof request.body !== 'object' || request.body instanceof Uint8Array;
    for (;;) {
      try {
        return await this.#send(action, { ...request, retryMode: 'none', budget });
      } catch (error) {
        if (!(error instanceof DmfApiError) || error.status !== 429 || !replayable) throw error;
        const delayMs = budget.nextDelay(error.retryAfterMs);
        if (!budget.allows(delayMs, error.retryAfterMs)) throw error;
        this.#transport.logger.warn(`${action}: HTTP 429, retrying in ${delayMs} ms`, { action, delayMs });
        await retry.sleep(delayMs, request.abortSignal);
      }
    }
  }
}

function redirectError(action: string, status: number, headers: Headers): DmfApiError {
  const location = headers.get('location');
  return new DmfApiError(
    `${action}: F&O answered HTTP ${status}${location ? ` (to ${urlForLog(location)})` : ''}; the recurring ` +
      'integration API is not available on this environment (on-premises environments do not offer it)',
    { code: DmfErrorCode.RecurringUnavailable, action, status, transient: false },
  );
}

/** The answer's JSON body, and as `schema` reads it; anything else is an invalid answer. */
function parseJsonAnswer<T>(action: string, text: string, schema: z.ZodType<T>): { json: unknown; data: T } {
  const json = parseJsonBody(action, text);
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw invalidAnswer(action, z.prettifyError(parsed.error).replace(/\s+/g, ' '));
  return { json, data: parsed.data };
}
