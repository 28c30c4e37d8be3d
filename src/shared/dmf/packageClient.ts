import { randomUUID } from 'node:crypto';
import { DmfApiError, DmfErrorCode } from './errors.js';
import { RetryBudget } from './retry.js';
import {
  DmfAction,
  EMPTY_GUID,
  parseBoolean,
  parseEntityStatusList,
  parseEnvelope,
  parseExecutionErrors,
  parseExecutionId,
  parseExecutionIdByMessageId,
  parseExecutionStatus,
  parseMessageStatus,
  parseOptionalUrl,
  parseWriteUrl,
  type AzureWriteUrl,
  type DmfActionName,
  type DmfExecutionError,
  type EntityExecutionStatus,
  type KnownExecutionStatus,
  type MessageStatusAnswer,
} from './schemas.js';
import { abortedError, DmfTransport, type DmfClientOptions, type DmfRequestOptions } from './transport.js';

/** Path appended to an on-premises environment url before `/data/…`. */
export const ON_PREMISES_NAMESPACE = '/namespaces/AXSF';

/** Path of the package API actions below the base url. */
export const PACKAGE_API_PATH = '/data/DataManagementDefinitionGroups/Microsoft.Dynamics.DataEntities.';

/** Options of {@link DmfPackageClient}. */
export interface DmfPackageClientOptions extends DmfClientOptions {
  /** On-premises (AD FS) environment: `/namespaces/AXSF` is appended to `baseUrl`. Default false. */
  onPremises?: boolean;
}

/** Parameters of ImportFromPackage. */
export interface ImportFromPackageParams {
  /** Url of the uploaded package (the `BlobUrl` of GetAzureWriteUrl). */
  packageUrl: string;
  /** Data project (definition group) name. */
  definitionGroupId: string;
  /**
   * Execution id to use. Default: a fresh UUID. The client always sends one so that a failed call can be
   * checked with GetExecutionSummaryStatus before it is sent again.
   */
  executionId?: string;
  /** Run the import right away (staging and target). Default true. */
  execute?: boolean;
  /** Overwrite existing data. Default true; must be false for composite entities. */
  overwrite?: boolean;
  /** Legal entity (company), e.g. `USMF`. */
  legalEntityId: string;
}

/** Parameters of ImportFromPackageAsync (unconfirmed extras are sent only when set). */
export interface ImportFromPackageAsyncParams extends ImportFromPackageParams {
  /** Fail the execution on the first error. */
  failOnError?: boolean;
  /** Run asynchronously without a batch job. */
  runAsyncWithoutBatch?: boolean;
  /** Record count above which F&O runs the import in batch. */
  thresholdToRunInBatch?: number;
}

/** Parameters of ExportToPackage and ExportToPackageAsync. */
export interface ExportToPackageParams {
  /** Data project (definition group) name. */
  definitionGroupId: string;
  /** Name of the package file F&O produces. */
  packageName: string;
  /** Execution id to use. Default: a fresh UUID (see {@link ImportFromPackageParams.executionId}). */
  executionId?: string;
  /** Re-run a previous execution with the same id. Default false. */
  reExecute?: boolean;
  /** Legal entity (company), e.g. `USMF`. */
  legalEntityId: string;
}

/**
 * Typed client of the F&O data management package REST API: one method per action, bearer auth with one
 * forced refresh on 401, retries with backoff for idempotent actions, and checked retries for the
 * non-idempotent starts (ImportFromPackage*, ExportToPackage*). Every failure is a {@link DmfApiError}.
 */
export class DmfPackageClient {
  /** Url prefix of the actions (base url, `/namespaces/AXSF` on-premises, the action path). */
  readonly actionUrlPrefix: string;
  readonly #transport: DmfTransport;

  constructor(options: DmfPackageClientOptions) {
    const base = options.baseUrl.replace(/\/+$/, '') + (options.onPremises ? ON_PREMISES_NAMESPACE : '');
    this.actionUrlPrefix = base + PACKAGE_API_PATH;
    this.#transport = new DmfTransport(options);
  }

  /** Asks for a write SAS url for a package named `uniqueFileName`. Idempotent, retried. */
  async getAzureWriteUrl(uniqueFileName: string, options?: DmfRequestOptions): Promise<AzureWriteUrl> {
    return parseWriteUrl(await this.#call(DmfAction.GetAzureWriteUrl, { uniqueFileName }, options));
  }

  /**
   * Starts a package import (ImportFromPackage). Must not run in parallel for one environment (F&O docs).
   * Not idempotent: after a transient failure the client asks GetExecutionSummaryStatus whether the start
   * registered before sending it again. @returns the execution id.
   */
  async importFromPackage(params: ImportFromPackageParams, options?: DmfRequestOptions): Promise<string> {
    return this.#start(DmfAction.ImportFromPackage, importBody(params), options);
  }

  /** Starts a package import with ImportFromPackageAsync (same checked-retry rules). @returns the execution id. */
  async importFromPackageAsync(
    params: ImportFromPackageAsyncParams,
    options?: DmfRequestOptions,
  ): Promise<string> {
    const body = importBody(params);
    if (params.failOnError !== undefined) body.failOnError = params.failOnError;
    if (params.runAsyncWithoutBatch !== undefined) body.runAsyncWithoutBatch = params.runAsyncWithoutBatch;
    if (params.thresholdToRunInBatch !== undefined) body.thresholdToRunInBatch = params.thresholdToRunInBatch;
    return this.#start(DmfAction.ImportFromPackageAsync, body, options);
  }

  /**
   * Starts an export (ExportToPackage); checked retries like imports. With `reExecute: true` the status check
   * proves nothing (the execution exists either way): only a 429 is resent, any other transient failure throws
   * `DMF_START_UNCONFIRMED`. @returns the execution id.
   */
  async exportToPackage(params: ExportToPackageParams, options?: DmfRequestOptions): Promise<string> {
    return this.#start(DmfAction.ExportToPackage, exportBody(params), options);
  }

  /** Starts an export with ExportToPackageAsync; checked retries like imports. @returns the execution id. */
  async exportToPackageAsync(params: ExportToPackageParams, options?: DmfRequestOptions): Promise<string> {
    return this.#start(DmfAction.ExportToPackageAsync, exportBody(params), options);
  }

  /** SAS download url of an export's package; undefined until the package is ready. */
  async getExportedPackageUrl(executionId: string, options?: DmfRequestOptions): Promise<string | undefined> {
    const action = DmfAction.GetExportedPackageUrl;
    return parseOptionalUrl(action, await this.#call(action, { executionId }, options));
  }

  /**
   * Status of an execution F&O knows (see {@link KnownExecutionStatus}). Throws
   * `DMF_EXECUTION_NOT_FOUND` (transient) while F&O does not know the execution — whether it says so
   * with "Execution details were not found" or with the status `Unknown`.
   */
  async getExecutionSummaryStatus(
    executionId: string,
    options?: DmfRequestOptions,
  ): Promise<KnownExecutionStatus> {
    const action = DmfAction.GetExecutionSummaryStatus;
    const status = parseExecutionStatus(await this.#call(action, { executionId }, options));
    if (status === 'Unknown') {
      throw new DmfApiError(`${action} answered "Unknown": F&O does not know execution ${executionId}`, {
        code: DmfErrorCode.ExecutionNotFound,
        action,
        status: 200,
        transient: true,
        executionId,
      });
    }
    return status;
  }

  /** Url of the execution's page in F&O (its execution summary); undefined when F&O has none (yet). */
  async getExecutionSummaryPageUrl(
    executionId: string,
    options?: DmfRequestOptions,
  ): Promise<string | undefined> {
    const action = DmfAction.GetExecutionSummaryPageUrl;
    return parseOptionalUrl(action, await this.#call(action, { executionId }, options));
  }

  /**
   * Status and record counts per entity of an execution (GetEntityExecutionSummaryStatusList; the
   * answer's shape is not documented, see {@link EntityExecutionStatus}).
   */
  async getEntityExecutionSummaryStatusList(
    executionId: string,
    options?: DmfRequestOptions,
  ): Promise<EntityExecutionStatus[]> {
    const action = DmfAction.GetEntityExecutionSummaryStatusList;
    return parseEntityStatusList(await this.#call(action, { executionId }, options));
  }

  /** Errors of an execution (`[]` when none). */
  async getExecutionErrors(executionId: string, options?: DmfRequestOptions): Promise<DmfExecutionError[]> {
    return parseExecutionErrors(await this.#call(DmfAction.GetExecutionErrors, { executionId }, options));
  }

  /** Url of the staging error file of one entity; undefined when there is none. */
  async getImportStagingErrorFileUrl(
    executionId: string,
    entityName: string,
    options?: DmfRequestOptions,
  ): Promise<string | undefined> {
    const action = DmfAction.GetImportStagingErrorFileUrl;
    return parseOptionalUrl(action, await this.#call(action, { executionId, entityName }, options));
  }

  /** Asks F&O to generate the target error keys file. @returns true when errors exist (a file will appear). */
  async generateImportTargetErrorKeysFile(
    executionId: string,
    entityName: string,
    options?: DmfRequestOptions,
  ): Promise<boolean> {
    const action = DmfAction.GenerateImportTargetErrorKeysFile;
    return parseBoolean(action, await this.#call(action, { executionId, entityName }, options));
  }

  /** Url of the target error keys file; undefined until generated (poll). */
  async getImportTargetErrorKeysFileUrl(
    executionId: string,
    entityName: string,
    options?: DmfRequestOptions,
  ): Promise<string | undefined> {
    const action = DmfAction.GetImportTargetErrorKeysFileUrl;
    return parseOptionalUrl(action, await this.#call(action, { executionId, entityName }, options));
  }

  /** Execution id of a recurring message; undefined while the message is still queued (all-zero GUID). */
  async getExecutionIdByMessageId(
    messageId: string,
    options?: DmfRequestOptions,
  ): Promise<string | undefined> {
    return parseExecutionIdByMessageId(
      await this.#call(DmfAction.GetExecutionIdByMessageId, { _messageId: messageId }, options),
    );
  }

  /** Status of a recurring message, normalized to a `MessageStatus` (a word not listed is kept as sent). */
  async getMessageStatus(messageId: string, options?: DmfRequestOptions): Promise<MessageStatusAnswer> {
    return parseMessageStatus(await this.#call(DmfAction.GetMessageStatus, { messageId }, options));
  }

  async #call(
    action: DmfActionName,
    body: Record<string, unknown>,
    options: DmfRequestOptions | undefined,
    extra: { retryMode?: 'idempotent' | 'none'; budget?: RetryBudget } = {},
  ): Promise<unknown> {
    const response = await this.#transport.send({
      ...options,
      action,
      method: 'POST',
      url: this.actionUrlPrefix + action,
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify(body),
      auth: true,
      retryMode: extra.retryMode ?? 'idempotent',
      ...(extra.budget ? { budget: extra.budget } : {}),
    });
    if (response.status !== 200 && response.status !== 201) {
      throw new DmfApiError(`${action}: unexpected HTTP ${response.status}`, {
        code: DmfErrorCode.InvalidResponse,
        action,
        status: response.status,
        transient: false,
        attempts: response.attempts,
      });
    }
    return parseEnvelope(action, response.text);
  }

  /**
   * A non-idempotent start. Sent without automatic retry; after a transient failure the execution id is
   * looked up: registered → done; "not found" → wait (Retry-After or backoff) and send again. A 429 is
   * refused before any processing (service protection), so it is sent again without the look-up. The
   * all-zero GUID as answer started nothing: thrown as `DMF_ZERO_EXECUTION_ID` (the caller starts again).
   */
  async #start(
    action: DmfActionName,
    body: StartBody,
    options: DmfRequestOptions | undefined,
  ): Promise<string> {
    const executionId = body.executionId;
    const retry = this.#transport.retryOptions(options?.retry);
    const budget = new RetryBudget(retry);
    const log = this.#transport.logger;
    for (;;) {
      let failure: DmfApiError;
      try {
        const value = await this.#call(action, body, options, { retryMode: 'none', budget });
        const id = parseExecutionId(action, value);
        if (id.replace(/[{}]/g, '') === EMPTY_GUID) {
          throw new DmfApiError(
            `${action} answered the all-zero execution id: F&O started nothing for ${executionId}`,
            { code: DmfErrorCode.ZeroExecutionId, action, status: 200, transient: true, executionId },
          );
        }
        return id;
      } catch (error) {
        if (error instanceof DmfApiError && error.code === DmfErrorCode.ZeroExecutionId) throw error;
        if (!(error instanceof DmfApiError) || !error.transient) {
          throw error;
        }
        failure = error;
      }
      const registered = await this.#registered(action, body, failure, budget, options);
      if (registered) {
        log.info(`${action}: the failed call had registered execution ${executionId}; not sending it again`, {
          action,
          executionId,
        });
        return executionId;
      }
      const delayMs = budget.nextDelay(failure.retryAfterMs);
      if (!budget.allows(delayMs, failure.retryAfterMs)) {
        throw new DmfApiError(failure.message, {
          code: failure.code,
          action,
          status: failure.status,
          innerMessage: failure.innerMessage,
          transient: failure.transient,
          retryAfterMs: failure.retryAfterMs,
          attempts: budget.attempts,
          executionId,
          cause: failure.cause,
        });
      }
      log.warn(
        `${action}: ${failure.message}; execution ${executionId} not registered, retrying in ${delayMs} ms`,
        {
          action,
          executionId,
          delayMs,
        },
      );
      try {
        await retry.sleep(delayMs, options?.abortSignal);
      } catch (error) {
        throw abortedError({ action }, error);
      }
    }
  }

  /**
   * After a transient failure of a start: did F&O register it? true → do not resend; false → safe to resend.
   * Throws DMF_START_UNCONFIRMED when that cannot be established.
   */
  async #registered(
    action: DmfActionName,
    body: StartBody,
    failure: DmfApiError,
    budget: RetryBudget,
    options: DmfRequestOptions | undefined,
  ): Promise<boolean> {
    const unconfirmed = (cause: unknown, why: string): DmfApiError =>
      new DmfApiError(`${action} failed (${failure.message}) and ${why}`, {
        code: DmfErrorCode.StartUnconfirmed,
        action,
        status: failure.status,
        innerMessage: failure.innerMessage,
        transient: false,
        attempts: budget.attempts,
        executionId: body.executionId,
        cause,
      });
    // No token, no request: the start was never sent.
    if (failure.code === DmfErrorCode.AuthFailed) return false;
    // A 429 is refused before any processing (service protection): nothing to look up.
    if (failure.status === 429) return false;
    if (body.reExecute === true) {
      // The status proves nothing: the re-executed execution id exists either way.
      throw unconfirmed(failure, `a re-execution of ${body.executionId} cannot be checked`);
    }
    try {
      // A fresh policy for the check: it must not be starved by the start's own attempts.
      await this.getExecutionSummaryStatus(body.executionId, options);
      return true;
    } catch (error) {
      if (error instanceof DmfApiError && error.code === DmfErrorCode.ExecutionNotFound) return false;
      if (error instanceof DmfApiError && error.code === DmfErrorCode.Aborted) throw error;
      throw unconfirmed(error, `whether execution ${body.executionId} was registered is unknown`);
    }
  }
}

type StartBody = Record<string, unknown> & { executionId: string; reExecute?: boolean };

function importBody(params: ImportFromPackageParams): StartBody {
  return {
    packageUrl: params.packageUrl,
    definitionGroupId: params.definitionGroupId,
    executionId: params.executionId || randomUUID(),
    execute: params.execute ?? true,
    overwrite: params.overwrite ?? true,
    legalEntityId: params.legalEntityId,
  };
}

function exportBody(params: ExportToPackageParams): StartBody {
  return {
    definitionGroupId: params.definitionGroupId,
    packageName: params.packageName,
    executionId: params.executionId || randomUUID(),
    reExecute: params.reExecute ?? false,
    legalEntityId: params.legalEntityId,
  };
}
