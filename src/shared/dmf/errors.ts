import { DmfFunctionsError } from '../errors.js';

/** Stable codes carried by {@link DmfApiError}. HTTP failures use `DMF_HTTP_{status}` (see {@link httpErrorCode}). */
export const DmfErrorCode = {
  /**
   * F&O does not know the execution (yet): GetExecutionSummaryStatus answered "Execution details were
   * not found" (HTTP 400) or the status `Unknown` — one meaning for both. Transient.
   */
  ExecutionNotFound: 'DMF_EXECUTION_NOT_FOUND',
  /**
   * A start (ExportToPackage, …) answered the all-zero GUID instead of an execution id: nothing was
   * started (Microsoft's Logic App sample starts again until it gets a real id). Transient.
   */
  ZeroExecutionId: 'DMF_ZERO_EXECUTION_ID',
  /** The connection failed (refused, reset, DNS, TLS). Transient. */
  Network: 'DMF_NETWORK',
  /** The request did not complete within its timeout. Transient. */
  Timeout: 'DMF_TIMEOUT',
  /** The caller's AbortSignal fired. Permanent. */
  Aborted: 'DMF_ABORTED',
  /** The credential could not produce a token. Transient only when the credential says so. */
  AuthFailed: 'DMF_AUTH_FAILED',
  /** The answer did not match any documented shape. Permanent. */
  InvalidResponse: 'DMF_INVALID_RESPONSE',
  /** The recurring integration API is not available (on-premises answers 302). Permanent. */
  RecurringUnavailable: 'DMF_RECURRING_UNAVAILABLE',
  /** Azure Storage refused a SAS url (expired or invalid signature, HTTP 403). Ask F&O for a new url. */
  SasRejected: 'DMF_SAS_REJECTED',
  /**
   * A non-idempotent start (ImportFromPackage, ExportToPackage) failed transiently and it could not be
   * established whether F&O registered it. Check the error's `executionId` before starting again.
   */
  StartUnconfirmed: 'DMF_START_UNCONFIRMED',
  /**
   * The destination of a server-side copy (F&O's write url) refused to read the source itself (Put
   * Block From URL: not supported there, the source not reachable from it, …): stream the bytes
   * instead. Permanent for that pair of urls.
   */
  CopyRefused: 'DMF_COPY_REFUSED',
} as const;

/** The code of an HTTP failure without a more specific code, e.g. `DMF_HTTP_429`. */
export function httpErrorCode(status: number): string {
  return `DMF_HTTP_${status}`;
}

/** True for HTTP statuses worth retrying: 408, 429 and every 5xx. */
export function isTransientStatus(status: number): boolean {
  return status === 408 || status === 429 || (status >= 500 && status <= 599);
}

/** Options of {@link DmfApiError}. */
export interface DmfApiErrorOptions {
  /** Stable code: a {@link DmfErrorCode} value or `DMF_HTTP_{status}`. */
  code: string;
  /** The action or operation that failed, e.g. `ImportFromPackage`, `enqueue`, `UploadPackage`. */
  action: string;
  /** HTTP status, when an answer was received. */
  status?: number;
  /** F&O's `error.innererror.message` (secrets scrubbed). */
  innerMessage?: string;
  /** Whether retrying the same call may succeed. Default: derived from `status`. */
  transient?: boolean;
  /** Delay F&O asked for with `Retry-After`, in milliseconds. */
  retryAfterMs?: number;
  /** How many HTTP attempts were made before giving up. Default 1. */
  attempts?: number;
  /** The execution id concerned, when known (always set for {@link DmfErrorCode.StartUnconfirmed}). */
  executionId?: string;
  /** The underlying error. */
  cause?: unknown;
}

/**
 * The one error type thrown by the DMF package client, the recurring client and the SAS helpers.
 * Branch on `code`; `transient` (alias `retryable`) says whether the same call may succeed later.
 */
export class DmfApiError extends DmfFunctionsError {
  /** The action or operation that failed. */
  readonly action: string;
  /** HTTP status of the failed answer; undefined for network errors, timeouts and aborts. */
  readonly status: number | undefined;
  /** F&O's `innererror.message` when the answer carried one. */
  readonly innerMessage: string | undefined;
  /** Delay the service asked for with `Retry-After`, in milliseconds. */
  readonly retryAfterMs: number | undefined;
  /** Number of HTTP attempts made. */
  readonly attempts: number;
  /** The execution id concerned, when known. */
  readonly executionId: string | undefined;

  constructor(message: string, options: DmfApiErrorOptions) {
    super(message, {
      code: options.code,
      cause: options.cause,
      transient: options.transient ?? (options.status !== undefined && isTransientStatus(options.status)),
    });
    this.action = options.action;
    this.status = options.status;
    this.innerMessage = options.innerMessage;
    this.retryAfterMs = options.retryAfterMs;
    this.attempts = options.attempts ?? 1;
    this.executionId = options.executionId;
  }

  /** Same as `transient`: true when retrying the same call later may succeed. */
  get retryable(): boolean {
    return this.transient;
  }

  /** A copy of this error with a different attempt count (the retry loop knows it, the parser does not). */
  withAttempts(attempts: number): DmfApiError {
    return new DmfApiError(this.message, {
      code: this.code,
      action: this.action,
      status: this.status,
      innerMessage: this.innerMessage,
      transient: this.transient,
      retryAfterMs: this.retryAfterMs,
      attempts,
      executionId: this.executionId,
      cause: this.cause,
    });
  }

  /** JSON form for activity results and logs: adds action, status, inner message and execution id. */
  override toJSON(): {
    name: string;
    code: string;
    message: string;
    transient: boolean;
    action: string;
    status?: number;
    innerMessage?: string;
    executionId?: string;
  } {
    return {
      ...super.toJSON(),
      action: this.action,
      ...(this.status === undefined ? {} : { status: this.status }),
      ...(this.innerMessage === undefined ? {} : { innerMessage: this.innerMessage }),
      ...(this.executionId === undefined ? {} : { executionId: this.executionId }),
    };
  }
}
