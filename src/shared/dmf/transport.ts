import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { AccessToken, TokenCredential } from '@azure/identity';
import { z } from 'zod';
import { DmfFunctionsError } from '../errors.js';
import { DmfApiError, DmfErrorCode, httpErrorCode, isTransientStatus } from './errors.js';
import { silentLogger, type DmfLogger } from './logger.js';
import { scrubSecrets, urlForLog } from './redact.js';
import { parseRetryAfter, resolveRetryOptions, RetryBudget, type RetryOptions } from './retry.js';

/**
 * A token credential, optionally able to forget its cached tokens. `createCredential` (src/shared/auth)
 * returns one with `invalidate`; after a 401 the clients call it, then `getToken` again, then retry once.
 */
export type DmfCredential = TokenCredential & {
  /** Drops every cached token so the next `getToken` asks the token endpoint. */
  invalidate?: () => void | Promise<void>;
};

/** A request body: bytes, text, a stream (sent with `duplex: 'half'`), or a factory giving a fresh one per attempt. */
export type DmfBody = string | Uint8Array | Readable | WebReadableStream<Uint8Array>;

/** Per-call options accepted by every client method. */
export interface DmfRequestOptions {
  /** Cancels the call, including retries and backoff waits. */
  abortSignal?: AbortSignal;
  /** Timeout of one HTTP attempt in ms (for streamed answers: until the headers arrive). Default: the client's. */
  timeoutMs?: number;
  /** Overrides of the client's retry policy for this call. */
  retry?: Partial<RetryOptions>;
}

/** Options shared by the HTTP clients of this folder. */
export interface DmfTransportOptions {
  /** Source of bearer tokens. Required for calls to F&O; SAS downloads never use it. */
  credential?: DmfCredential;
  /** Token scope, e.g. `https://contoso.operations.dynamics.com/.default`. */
  scope?: string;
  /** Receives one debug line per HTTP attempt and a warning per retry. Never sees tokens or SAS signatures. */
  logger?: DmfLogger;
  /** Retry policy; unset fields use {@link DEFAULT_RETRY_OPTIONS}. */
  retry?: Partial<RetryOptions>;
  /** Timeout of one HTTP attempt in ms. Default {@link DEFAULT_TIMEOUT_MS}. */
  timeoutMs?: number;
  /** fetch implementation. Default: the global `fetch`. */
  fetch?: typeof fetch;
}

/** Options of a client of one environment's F&O APIs. */
export interface DmfClientOptions extends DmfTransportOptions {
  /** Environment url, e.g. `https://contoso.operations.dynamics.com` (a trailing slash is ignored). */
  baseUrl: string;
}

/** Default timeout of one HTTP attempt: 120 s (ImportFromPackage can take a while to answer). */
export const DEFAULT_TIMEOUT_MS = 120_000;

/** Which failures the transport retries by itself. */
export type RetryMode =
  /** 408, 429, 5xx, network errors and timeouts (safe for reads and idempotent writes). */
  | 'idempotent'
  /** Nothing (the caller decides); a 401 is still refreshed and retried once. */
  | 'none';

/** One logical call. @internal */
export interface TransportRequest extends DmfRequestOptions {
  /** Action or operation name, for errors and logs. */
  action: string;
  /** HTTP method. */
  method: 'GET' | 'POST';
  /** Full url. */
  url: string;
  /** Extra headers (Authorization is added when `auth`). */
  headers?: Record<string, string>;
  /** Body, or a factory giving a fresh body per attempt (needed to retry streams). */
  body?: DmfBody | (() => DmfBody | Promise<DmfBody>);
  /** Send `Authorization: Bearer …`. */
  auth: boolean;
  retryMode: RetryMode;
  /** Return the answer body as a stream instead of reading it as text. */
  stream?: boolean;
  /** Share attempt bookkeeping with an enclosing loop. */
  budget?: RetryBudget;
}

/** The answer to a successful (2xx or 3xx) call. @internal */
export interface TransportResponse {
  /** HTTP status. */
  status: number;
  /** Response headers. */
  headers: Headers;
  /** Body text ('' when streamed). */
  text: string;
  /** Body stream when `stream` was requested. */
  body?: Readable;
  /** HTTP attempts made. */
  attempts: number;
}

const ODataErrorSchema = z.object({
  error: z.object({
    code: z.string().nullish(),
    message: z.string().nullish(),
    innererror: z.object({ message: z.string().nullish(), type: z.string().nullish() }).nullish(),
  }),
});

const NOT_FOUND_PATTERN = /Execution details were not found/i;
const GENERIC_MESSAGE = 'An error has occurred.';

/** Builds the {@link DmfApiError} for a non-success answer. @internal */
export function errorFromResponse(
  action: string,
  status: number,
  headers: Headers,
  text: string,
  now: number = Date.now(),
): DmfApiError {
  let innerMessage: string | undefined;
  let outerMessage: string | undefined;
  try {
    const parsed = ODataErrorSchema.safeParse(JSON.parse(text));
    if (parsed.success) {
      innerMessage = parsed.data.error.innererror?.message ?? undefined;
      outerMessage = parsed.data.error.message ?? undefined;
    }
  } catch {
    // Not JSON (a proxy page, an empty body): fall back to a snippet below.
  }
  innerMessage = innerMessage === undefined ? undefined : scrubSecrets(innerMessage);
  const detail =
    innerMessage ??
    (outerMessage && outerMessage !== GENERIC_MESSAGE ? outerMessage : undefined) ??
    (text.trim() ? text.trim().slice(0, 300) : undefined);
  const message = `${action} failed with HTTP ${status}${detail ? `: ${scrubSecrets(detail)}` : ''}`;
  const retryAfterMs = parseRetryAfter(headers.get('retry-after'), now);
  if (NOT_FOUND_PATTERN.test(detail ?? '')) {
    return new DmfApiError(message, {
      code: DmfErrorCode.ExecutionNotFound,
      action,
      status,
      innerMessage,
      transient: true,
      retryAfterMs,
    });
  }
  return new DmfApiError(message, {
    code: httpErrorCode(status),
    action,
    status,
    innerMessage,
    transient: isTransientStatus(status),
    retryAfterMs,
  });
}

class TimeoutMarker extends Error {}

function isReplayable(body: TransportRequest['body']): boolean {
  return (
    body === undefined || typeof body === 'string' || body instanceof Uint8Array || typeof body === 'function'
  );
}

/**
 * The HTTP layer of the DMF clients: bearer token, timeout, abort, 401 refresh, retries with backoff,
 * uniform {@link DmfApiError}s and redacted logging. @internal (exported for the clients of this folder)
 */
export class DmfTransport {
  readonly #options: DmfTransportOptions;
  readonly #logger: DmfLogger;
  readonly #fetch: typeof fetch;

  constructor(options: DmfTransportOptions) {
    this.#options = options;
    this.#logger = options.logger ?? silentLogger;
    this.#fetch = options.fetch ?? ((input, init) => fetch(input, init));
  }

  /** The logger in use. */
  get logger(): DmfLogger {
    return this.#logger;
  }

  /** Resolved retry policy for one call. */
  retryOptions(overrides?: Partial<RetryOptions>): RetryOptions {
    return resolveRetryOptions(this.#options.retry, overrides);
  }

  /** Sends one logical call, retrying as `retryMode` allows. Throws {@link DmfApiError}. */
  async send(request: TransportRequest): Promise<TransportResponse> {
    const retry = this.retryOptions(request.retry);
    const budget = request.budget ?? new RetryBudget(retry);
    const replayable = isReplayable(request.body);
    let refreshed = false;
    for (;;) {
      budget.attempts += 1;
      let failure: DmfApiError;
      try {
        const token = request.auth ? await this.#token(request) : undefined;
        const response = await this.#attempt(request, token);
        if (response.status === 401 && request.auth && !refreshed && replayable) {
          refreshed = true;
          this.#logger.info(`${request.action}: HTTP 401, refreshing the token and retrying once`, {
            action: request.action,
          });
          await this.#options.credential?.invalidate?.();
          continue;
        }
        if (response.status < 400) return { ...response, attempts: budget.attempts };
        failure = errorFromResponse(
          request.action,
          response.status,
          response.headers,
          response.text,
          retry.now(),
        );
      } catch (error) {
        if (!(error instanceof DmfApiError)) throw error;
        failure = error;
      }
      failure = failure.withAttempts(budget.attempts);
      const delayMs = budget.nextDelay(failure.retryAfterMs);
      const retryable =
        request.retryMode === 'idempotent' &&
        failure.transient &&
        failure.code !== DmfErrorCode.ExecutionNotFound &&
        replayable;
      if (!retryable || !budget.allows(delayMs, failure.retryAfterMs)) {
        this.#logger.debug(`${request.action} failed: ${failure.message}`, {
          action: request.action,
          code: failure.code,
          attempts: budget.attempts,
        });
        throw failure;
      }
      this.#logger.warn(`${request.action}: ${failure.message}; retrying in ${delayMs} ms`, {
        action: request.action,
        code: failure.code,
        attempt: budget.attempts,
        delayMs,
      });
      await sleepOrAbort(retry, delayMs, request);
    }
  }

  async #token(request: TransportRequest): Promise<string> {
    const { credential, scope } = this.#options;
    if (!credential || !scope) {
      throw new DmfApiError(`${request.action}: no credential/scope configured for an authenticated call`, {
        code: DmfErrorCode.AuthFailed,
        action: request.action,
        transient: false,
      });
    }
    let token: AccessToken | null;
    try {
      token = await credential.getToken(
        scope,
        request.abortSignal ? { abortSignal: request.abortSignal } : {},
      );
    } catch (error) {
      if (request.abortSignal?.aborted) throw abortedError(request, error);
      throw new DmfApiError(
        `${request.action}: could not get a token for ${scope}: ${scrubSecrets(errorMessage(error))}`,
        {
          code: DmfErrorCode.AuthFailed,
          action: request.action,
          transient: error instanceof DmfFunctionsError ? error.transient : false,
          cause: error,
        },
      );
    }
    if (!token) {
      throw new DmfApiError(`${request.action}: the credential returned no token for ${scope}`, {
        code: DmfErrorCode.AuthFailed,
        action: request.action,
        transient: false,
      });
    }
    return token.token;
  }

  async #attempt(
    request: TransportRequest,
    token: string | undefined,
  ): Promise<{ status: number; headers: Headers; text: string; body?: Readable }> {
    const timeoutMs = request.timeoutMs ?? this.#options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const controller = new AbortController();
    const callerSignal = request.abortSignal;
    if (callerSignal?.aborted) throw abortedError(request, callerSignal.reason);
    const onAbort = (): void => controller.abort(callerSignal?.reason);
    callerSignal?.addEventListener('abort', onAbort, { once: true });
    const timer = setTimeout(() => controller.abort(new TimeoutMarker()), timeoutMs);
    const headers: Record<string, string> = { ...request.headers };
    if (token !== undefined) headers.Authorization = `Bearer ${token}`;
    const rawBody = typeof request.body === 'function' ? await request.body() : request.body;
    const streamed = rawBody !== undefined && typeof rawBody !== 'string' && !(rawBody instanceof Uint8Array);
    const started = Date.now();
    let keepListener = false;
    try {
      // Node's fetch streams Readables and web streams (both async iterables) when `duplex: 'half'` is set.
      const init: RequestInit & { duplex?: 'half' } = {
        method: request.method,
        headers,
        body: rawBody as NonNullable<RequestInit['body']> | undefined,
        redirect: 'manual',
        signal: controller.signal,
        ...(streamed ? { duplex: 'half' as const } : {}),
      };
      const response = await this.#fetch(request.url, init);
      this.#logger.debug(
        `${request.action} ${request.method} ${urlForLog(request.url)} -> ${response.status}`,
        {
          action: request.action,
          status: response.status,
          durationMs: Date.now() - started,
        },
      );
      if (request.stream && response.status >= 200 && response.status < 300 && response.body) {
        clearTimeout(timer);
        const body = Readable.fromWeb(response.body as WebReadableStream<Uint8Array>);
        keepListener = true;
        body.once('close', () => callerSignal?.removeEventListener('abort', onAbort));
        return { status: response.status, headers: response.headers, text: '', body };
      }
      const text = await response.text();
      return { status: response.status, headers: response.headers, text };
    } catch (error) {
      if (callerSignal?.aborted) throw abortedError(request, error);
      if (controller.signal.aborted && controller.signal.reason instanceof TimeoutMarker) {
        throw new DmfApiError(`${request.action} timed out after ${timeoutMs} ms`, {
          code: DmfErrorCode.Timeout,
          action: request.action,
          transient: true,
          cause: error,
        });
      }
      throw new DmfApiError(
        `${request.action}: connection to ${urlForLog(request.url)} failed: ${scrubSecrets(networkMessage(error))}`,
        { code: DmfErrorCode.Network, action: request.action, transient: true, cause: error },
      );
    } finally {
      clearTimeout(timer);
      if (!keepListener) callerSignal?.removeEventListener('abort', onAbort);
    }
  }
}

async function sleepOrAbort(retry: RetryOptions, ms: number, request: TransportRequest): Promise<void> {
  try {
    await retry.sleep(ms, request.abortSignal);
  } catch (error) {
    throw abortedError(request, error);
  }
  if (request.abortSignal?.aborted) throw abortedError(request, request.abortSignal.reason);
}

/** The error thrown when the caller's signal fires. @internal */
export function abortedError(request: { action: string }, cause: unknown): DmfApiError {
  return new DmfApiError(`${request.action} was aborted`, {
    code: DmfErrorCode.Aborted,
    action: request.action,
    transient: false,
    cause,
  });
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function networkMessage(error: unknown): string {
  // undici reports "fetch failed" and hides the useful part (ECONNREFUSED, cert errors) in `cause`.
  if (error instanceof Error && error.cause instanceof Error)
    return `${error.message} (${error.cause.message})`;
  return errorMessage(error);
}
