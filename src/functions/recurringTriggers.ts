/**
 * Triggers of the recurring integrations: the drain timer (recurring exports),
 * `POST /api/recurring/imports` (enqueue a file: uploaded in the body, or already in the
 * recurring-inbound container) and `GET /api/recurring/imports/{id}`. The blob trigger of the
 * recurring-inbound container is in recurringImportBlob.ts.
 */
import {
  app,
  type HttpRequest,
  type HttpResponseInit,
  type InvocationContext,
  type Timer,
} from '@azure/functions';
import * as df from 'durable-functions';
import type { DurableClient } from 'durable-functions';
import { InputError } from '../shared/errors.js';
import type { Logger } from '../shared/log/index.js';
import { isNotFound, storageError } from '../shared/storage/index.js';
import { findStatus } from '../activities/durableClient.js';
import {
  RECURRING_IMPORT_INSTANCE_PREFIX,
  RECURRING_IMPORT_ORCHESTRATOR,
} from '../activities/exportNames.js';
import { recurringInboundContainer } from '../activities/recurringFo.js';
import { getRuntime, invocationLogger, type Runtime } from '../activities/runtime.js';
import { problem } from './importsHttp.js';
import { recordRejection } from './starting.js';
import {
  recurringBlobImport,
  recurringImportInstanceId,
  startDueDrains,
  startRecurringImport,
} from './recurringStarting.js';

/** Function names. */
export const RECURRING_FUNCTIONS = {
  drainTimer: 'recurringExportTimer',
  importStart: 'recurringImportStart',
  importGet: 'recurringImportGet',
} as const;
/** How often the drain schedules are checked (NCRONTAB): every minute. */
export const RECURRING_EXPORT_CRON = '0 * * * * *';

/** Starts the drains that are due (one singleton per environment + activity). */
export async function handleRecurringExportTimer(_timer: Timer, context: InvocationContext): Promise<void> {
  const runtime = getRuntime();
  const logger = invocationLogger(context);
  const starts = await startDueDrains(df.getClient(context), runtime.config, new Date());
  for (const s of starts) {
    if (s.outcome === 'started') logger.info(`Started drain ${s.instanceId} for ${s.occurrence ?? ''}`);
    else if (s.outcome === 'running')
      logger.info(`Drain ${s.instanceId} is still running: not started again`);
  }
}

/** Outcome of {@link startForBlob}. */
export type BlobStartOutcome =
  | { kind: 'started' | 'exists'; instanceId: string }
  | { kind: 'rejected'; reason: string; code: string; rejectionBlob: string }
  | { kind: 'gone' };

/**
 * Starts the recurring import of a blob in the recurring-inbound container (one instance per blob
 * version), or records why its path is refused (results container + `…import.rejected` event).
 */
export async function startForBlob(
  runtime: Runtime,
  client: DurableClient,
  path: string,
  etag: string | undefined,
  logger: Logger,
): Promise<BlobStartOutcome> {
  const container = recurringInboundContainer(runtime);
  let version = etag;
  if (version === undefined) {
    try {
      version = (await container.getBlobClient(path).getProperties()).etag?.replace(/"/g, '') ?? 'unknown';
    } catch (error) {
      if (isNotFound(error)) return { kind: 'gone' };
      throw storageError(`reading ${container.containerName}/${path}`, error);
    }
  }
  let planned;
  try {
    planned = recurringBlobImport(
      runtime.config,
      { container: container.containerName, path, etag: version },
      new Date(),
    );
  } catch (error) {
    if (!(error instanceof InputError)) throw error;
    const where = await recordRejection(runtime, {
      id: recurringImportInstanceId({ source: `${container.containerName}/${path}`, version }),
      trigger: 'blob',
      subject: `recurring/${path}`,
      reason: error.message,
      code: error.code,
      rejectedAt: new Date().toISOString(),
      details: { container: container.containerName, etag: version },
    });
    logger.warn(`Not enqueued: ${error.message} (recorded in ${where}; the file was left in place)`);
    return { kind: 'rejected', reason: error.message, code: error.code, rejectionBlob: where };
  }
  const started = await startRecurringImport(client, planned.instanceId, planned.input);
  logger.info(
    started
      ? `Started recurring import ${planned.instanceId}`
      : `Recurring import ${planned.instanceId} exists`,
  );
  return { kind: started ? 'started' : 'exists', instanceId: planned.instanceId };
}

/**
 * Handles `POST /api/recurring/imports?path={environment}/{activityId}/[…/]{file}`: a non-empty body
 * is stored at that path of the recurring-inbound container first; then the blob is enqueued.
 */
export async function handleStartRecurringImport(
  request: HttpRequest,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const runtime = getRuntime();
  const path = (request.query.get('path') ?? '').replace(/^\/+/, '');
  if (!path)
    return problem(400, 'MISSING_PARAMETER', 'Give "path": {environment}/{activityId}/[{entity}/]{file}.');
  const body = Buffer.from(await request.arrayBuffer());
  let etag: string | undefined;
  if (body.length > 0) {
    const container = recurringInboundContainer(runtime);
    try {
      await container.createIfNotExists();
      const uploaded = await container.getBlockBlobClient(path).upload(body, body.length);
      etag = uploaded.etag?.replace(/"/g, '');
    } catch (error) {
      throw storageError(`writing ${container.containerName}/${path}`, error);
    }
  }
  const outcome = await startForBlob(
    runtime,
    df.getClient(context),
    path,
    etag,
    invocationLogger(context, { path }),
  );
  if (outcome.kind === 'gone')
    return problem(404, 'SOURCE_NOT_FOUND', `No blob "${path}" in the recurring-inbound container.`);
  if (outcome.kind === 'rejected') return problem(400, outcome.code, outcome.reason);
  const statusUrl = `${new URL(request.url).origin}/api/recurring/imports/${outcome.instanceId}`;
  return {
    status: 202,
    headers: { Location: statusUrl },
    jsonBody: { id: outcome.instanceId, started: outcome.kind === 'started', statusUrl },
  };
}

/** Handles `GET /api/recurring/imports/{id}`: the orchestration's status and, once final, its result. */
export async function handleGetRecurringImport(
  request: HttpRequest,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const id = request.params.id ?? '';
  const status = id.startsWith(RECURRING_IMPORT_INSTANCE_PREFIX)
    ? await findStatus(df.getClient(context), id, { showInput: false })
    : undefined;
  if (!status || status.name !== RECURRING_IMPORT_ORCHESTRATOR) {
    return problem(404, 'JOB_NOT_FOUND', `No recurring import "${id}".`);
  }
  const runtimeStatus = String(status.runtimeStatus);
  return {
    status: 200,
    jsonBody: {
      id,
      runtimeStatus,
      customStatus: status.customStatus ?? null,
      result: runtimeStatus === 'Completed' ? status.output : undefined,
    },
  };
}

const common = { authLevel: 'function' as const, extraInputs: [df.input.durableClient()] };
app.timer(RECURRING_FUNCTIONS.drainTimer, {
  schedule: RECURRING_EXPORT_CRON,
  extraInputs: [df.input.durableClient()],
  handler: handleRecurringExportTimer,
});
app.http(RECURRING_FUNCTIONS.importStart, {
  ...common,
  methods: ['POST'],
  route: 'recurring/imports',
  handler: handleStartRecurringImport,
});
app.http(RECURRING_FUNCTIONS.importGet, {
  ...common,
  methods: ['GET'],
  route: 'recurring/imports/{id}',
  handler: handleGetRecurringImport,
});
