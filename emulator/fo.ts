import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import type { AuthorityContext } from './authority.js';
import { issuerOf } from './authority.js';
import { FoError, ZERO_GUID, type CallRecord, type EmulatorEngine, type Execution } from './engine.js';
import { BodyTooLargeError, dropResponse, odataErrorBody, readBody, sendEmpty, sendJson } from './http.js';
import { decodeJwt, verifyJwtSignature } from './jwt.js';

/** Every package API action the emulator implements. */
export const PACKAGE_ACTIONS = [
  'GetAzureWriteUrl',
  'ImportFromPackage',
  'ImportFromPackageAsync',
  'ExportToPackage',
  'ExportToPackageAsync',
  'GetExportedPackageUrl',
  'GetExecutionSummaryStatus',
  'GetExecutionErrors',
  'GetImportStagingErrorFileUrl',
  'GenerateImportTargetErrorKeysFile',
  'GetImportTargetErrorKeysFileUrl',
  'GetExecutionIdByMessageId',
  'GetMessageStatus',
] as const;

/** Recurring integration routes (fault and call-log route names). */
export const RECURRING_ROUTES = ['enqueue', 'dequeue', 'ack', 'download', 'jobstatus'] as const;

/** Path prefix of package API actions. */
export const ACTION_PATH = '/data/DataManagementDefinitionGroups/Microsoft.Dynamics.DataEntities.';
/** On-premises path prefix in front of /data. */
export const ONPREM_PREFIX = '/namespaces/AXSF';

/** One running environment. */
export interface EnvironmentRuntime {
  name: string;
  type: 'cloud' | 'onprem';
  baseUrl: string;
  clients: string[];
}

const str = z.string({ error: (i) => (i.input === undefined ? 'is missing' : 'must be a string') });
const bool = z.boolean({ error: (i) => (i.input === undefined ? 'is missing' : 'must be a boolean') });
const execParams = z.looseObject({ executionId: str });
const entityParams = z.looseObject({ executionId: str, entityName: str });
const importParams = z.looseObject({
  packageUrl: str,
  definitionGroupId: str,
  executionId: str,
  execute: bool,
  overwrite: bool,
  legalEntityId: str,
});
const exportParams = z.looseObject({
  definitionGroupId: str,
  packageName: str,
  executionId: str,
  reExecute: bool,
  legalEntityId: str,
});

function parseParams<T extends z.ZodType>(schema: T, body: unknown): z.output<T> {
  const result = schema.safeParse(body);
  if (!result.success) {
    const issue = result.error.issues[0];
    const name = issue?.path.map(String).join('.') ?? '';
    throw new FoError(
      400,
      `The parameter '${name}' ${issue?.message ?? 'is invalid'}.`,
      'Microsoft.OData.ODataException',
    );
  }
  return result.data;
}

function notFoundExecution(executionId: string): FoError {
  return new FoError(400, `Execution details were not found for execution id: ${executionId}`);
}

/** Context for environment request handling. */
export interface FoContext {
  engine: EmulatorEngine;
  auth: AuthorityContext;
  env: EnvironmentRuntime;
}

type Route =
  | { kind: 'action'; action: string }
  | { kind: 'recurring'; route: (typeof RECURRING_ROUTES)[number]; activityId: string }
  | { kind: 'unknown' };

function classify(path: string, env: EnvironmentRuntime): Route {
  const prefix = env.type === 'onprem' ? ONPREM_PREFIX : '';
  if (path.startsWith(`${prefix}${ACTION_PATH}`))
    return { kind: 'action', action: path.slice(prefix.length + ACTION_PATH.length) };
  const m = /^\/api\/connector\/(enqueue|dequeue|ack|download|jobstatus)\/([^/]+)$/.exec(path);
  if (m)
    return {
      kind: 'recurring',
      route: m[1] as (typeof RECURRING_ROUTES)[number],
      activityId: decodeURIComponent(m[2] ?? ''),
    };
  return { kind: 'unknown' };
}

function checkBearer(ctx: FoContext, req: IncomingMessage): string | undefined {
  const header = req.headers.authorization ?? '';
  const m = /^Bearer\s+(\S+)$/i.exec(header);
  if (!m?.[1]) return 'missing bearer token';
  const jwt = decodeJwt(m[1]);
  if (!jwt || jwt.header.alg !== 'RS256' || !verifyJwtSignature(jwt, ctx.auth.signer.publicKey))
    return 'invalid token signature';
  const p = jwt.payload;
  const issuers = [issuerOf(ctx.auth), `${ctx.auth.authorityHost()}/adfs`];
  if (typeof p.iss !== 'string' || !issuers.includes(p.iss)) return 'invalid issuer';
  const aud = typeof p.aud === 'string' ? p.aud.replace(/\/+$/, '').toLowerCase() : '';
  if (aud !== ctx.env.baseUrl.toLowerCase()) return 'invalid audience';
  if (typeof p.exp !== 'number' || p.exp * 1000 <= ctx.engine.clock.now()) return 'token expired';
  const appid = typeof p.appid === 'string' ? p.appid.toLowerCase() : '';
  if (!ctx.env.clients.some((c) => c.toLowerCase() === appid))
    return 'application not registered in Microsoft Entra applications';
  return undefined;
}

/** Handles one request to an environment listener (package API and recurring API). */
export async function handleEnvironment(
  ctx: FoContext,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const { engine, env } = ctx;
  const url = new URL(req.url ?? '/', env.baseUrl);
  const path = url.pathname;
  await engine.tick();
  const route = classify(path, env);
  const routeName =
    route.kind === 'action' ? route.action : route.kind === 'recurring' ? route.route : 'unknown';
  const call = engine.startCall(env.name, routeName, req.method ?? 'GET', path);
  let status: number;
  try {
    status = await dispatch(ctx, req, res, url, route, call);
  } catch (error) {
    if (res.headersSent) {
      status = res.statusCode;
    } else if (error instanceof BodyTooLargeError) {
      status = 413;
      sendJson(res, 413, odataErrorBody(`The request body is larger than the allowed ${error.limit} bytes.`));
    } else if (error instanceof FoError) {
      status = error.status;
      sendJson(res, error.status, odataErrorBody(error.message, error.type));
    } else {
      status = 500;
      sendJson(res, 500, odataErrorBody(`Unexpected error: ${(error as Error).message}`, 'System.Exception'));
    }
  }
  engine.endCall(call, status);
}

async function applyFaults(
  ctx: FoContext,
  req: IncomingMessage,
  res: ServerResponse,
  routeName: string,
  call: CallRecord,
): Promise<number | undefined> {
  const latency = ctx.engine.takeFault(ctx.env.name, routeName, ['latency']);
  if (latency) {
    call.fault = 'latency';
    await new Promise((r) => setTimeout(r, latency.ms));
  }
  const fault = ctx.engine.takeFault(ctx.env.name, routeName, ['reset', 'status']);
  if (!fault) {
    if (ctx.engine.takeFault(ctx.env.name, routeName, ['dropResponse'])) {
      call.fault = call.fault ? `${call.fault}, dropResponse` : 'dropResponse';
      dropResponse(req, res);
    }
    return undefined;
  }
  call.fault = fault.kind === 'status' ? `status ${fault.status}` : 'reset';
  if (fault.kind === 'reset') {
    req.resume();
    req.socket.destroy();
    return 0;
  }
  const headers: Record<string, string> = {};
  if (fault.retryAfterSeconds !== undefined) headers['retry-after'] = String(fault.retryAfterSeconds);
  else if (fault.status === 429) headers['retry-after'] = '1';
  req.resume();
  const message =
    fault.status === 429
      ? 'Number of requests exceeded the limit of the resource-based service protection API limits. Retry after the time given in the Retry-After header.'
      : `Injected fault: HTTP ${fault.status}.`;
  sendJson(res, fault.status, odataErrorBody(message), headers);
  return fault.status;
}

async function dispatch(
  ctx: FoContext,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  route: Route,
  call: CallRecord,
): Promise<number> {
  const { env } = ctx;
  if (route.kind === 'recurring' && env.type === 'onprem') {
    req.resume();
    sendEmpty(res, 302, { location: `${ctx.auth.authorityHost()}/adfs/ls/?wa=wsignin1.0` });
    return 302;
  }
  const authProblem = checkBearer(ctx, req);
  if (authProblem) {
    req.resume();
    sendEmpty(res, 401, {
      'www-authenticate': `Bearer error="invalid_token", error_description="${authProblem}"`,
    });
    return 401;
  }
  if (route.kind === 'unknown') {
    req.resume();
    sendJson(
      res,
      404,
      odataErrorBody(
        `No HTTP resource was found that matches the request URI '${env.baseUrl}${url.pathname}'.`,
      ),
    );
    return 404;
  }
  const faulted = await applyFaults(
    ctx,
    req,
    res,
    route.kind === 'action' ? route.action : route.route,
    call,
  );
  if (faulted !== undefined) return faulted;
  if (route.kind === 'recurring') return handleRecurring(ctx, req, res, url, route, call);
  if (req.method !== 'POST') {
    req.resume();
    throw new FoError(405, `The requested resource does not support http method '${req.method ?? ''}'.`);
  }
  const contentType = req.headers['content-type'] ?? '';
  if (!/^application\/json\b/i.test(contentType)) {
    req.resume();
    throw new FoError(
      415,
      `The request entity's media type '${contentType || '(none)'}' is not supported for this resource.`,
      'System.Web.Http.HttpResponseException',
    );
  }
  const raw = await readBody(req, 10 * 1024 * 1024);
  let body: unknown;
  try {
    body = raw.length === 0 ? {} : JSON.parse(raw.toString('utf8'));
  } catch {
    throw new FoError(
      400,
      'The request body is not valid JSON: the action parameters could not be read.',
      'Microsoft.OData.ODataException',
    );
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new FoError(400, 'The action parameters must be a JSON object.', 'Microsoft.OData.ODataException');
  }
  return handleAction(ctx, res, route.action, body, call);
}

function contextUrl(env: EnvironmentRuntime, type: 'Edm.String' | 'Edm.Boolean'): string {
  return `${env.baseUrl}${env.type === 'onprem' ? ONPREM_PREFIX : ''}/data/$metadata#${type}`;
}

function ok(
  ctx: FoContext,
  res: ServerResponse,
  value: unknown,
  type: 'Edm.String' | 'Edm.Boolean' = 'Edm.String',
): number {
  sendJson(res, 200, { '@odata.context': contextUrl(ctx.env, type), value });
  return 200;
}

function execution(ctx: FoContext, executionId: string): Execution | undefined {
  const e = ctx.engine.executions.get(executionId);
  return e && e.environment === ctx.env.name ? e : undefined;
}

function sasTtl(ctx: FoContext, action: string, fallback: number): number {
  const fault = ctx.engine.takeFault(ctx.env.name, action, ['sasExpiry']);
  return fault ? fault.seconds * 1000 : fallback;
}

async function handleAction(
  ctx: FoContext,
  res: ServerResponse,
  action: string,
  body: object,
  call: CallRecord,
): Promise<number> {
  const { engine, env } = ctx;
  switch (action) {
    case 'GetAzureWriteUrl': {
      const { uniqueFileName } = parseParams(z.looseObject({ uniqueFileName: str }), body);
      if (uniqueFileName.trim() === '')
        throw new FoError(400, 'The parameter uniqueFileName must not be empty.');
      const blobId = `{${randomUUID().toUpperCase()}}`;
      const ttl = sasTtl(ctx, action, engine.switches.writeUrlTtlMs);
      const blobUrl = engine.storage.sasUrl(uniqueFileName, 'rw', new Date(Date.now() + ttl));
      engine.issuedWriteUrls.set(uniqueFileName, { expiresAt: engine.clock.now() + ttl });
      return ok(ctx, res, JSON.stringify({ BlobId: blobId, BlobUrl: blobUrl }));
    }
    case 'ImportFromPackage':
    case 'ImportFromPackageAsync': {
      const p = parseParams(importParams, body);
      // A refused start still shows the id the client asked for (e.g. a retry of a lost answer).
      if (p.executionId !== '') call.executionId = p.executionId;
      const project = engine.project(p.definitionGroupId);
      if (!project) throw new FoError(400, `Data project '${p.definitionGroupId}' was not found.`);
      if (project.direction !== 'import')
        throw new FoError(
          400,
          `Data project '${project.name}' is an export project; it cannot be used to import.`,
        );
      if (p.executionId !== '' && engine.executions.has(p.executionId)) {
        throw new FoError(
          400,
          `Execution id '${p.executionId}' is already in use. Provide a unique execution id.`,
        );
      }
      const blobName = engine.storage.blobNameOf(p.packageUrl);
      const issued = blobName === undefined ? undefined : engine.issuedWriteUrls.get(blobName);
      if (issued && issued.expiresAt <= engine.clock.now()) {
        throw new FoError(
          400,
          `The package url has expired: the shared access signature is no longer valid. Request a new url with GetAzureWriteUrl.`,
        );
      }
      let bytes: Buffer;
      try {
        bytes = await engine.storage.getByUrl(p.packageUrl);
      } catch (error) {
        const status = (error as { statusCode?: number }).statusCode;
        throw new FoError(
          400,
          `Unable to download the package from '${p.packageUrl.split('?')[0] ?? ''}': ${status === 404 ? 'the blob does not exist' : status === 403 ? 'access denied (the shared access signature is invalid or expired)' : (error as Error).message}.`,
        );
      }
      let parsed: Awaited<ReturnType<typeof engine.parsePackage>>;
      try {
        parsed = await engine.parsePackage(bytes);
      } catch (error) {
        // Not a zip / a folder inside: refused with 400 (the wire doc), or a failed execution (switch).
        if (!(error instanceof FoError) || engine.switches.invalidPackage === 'request400') throw error;
        parsed = { ok: false, message: error.message };
      }
      const forced = engine.takeFault(env.name, action, ['outcome'])?.outcome;
      const started = engine.startImport({
        environment: env.name,
        definitionGroupId: project.name,
        legalEntityId: p.legalEntityId,
        executionId: p.executionId,
        parsed,
        source: 'package-api',
        forced,
      });
      call.executionId = started.executionId;
      return ok(ctx, res, started.executionId);
    }
    case 'ExportToPackage':
    case 'ExportToPackageAsync': {
      const p = parseParams(exportParams, body);
      if (p.executionId !== '') call.executionId = p.executionId;
      const forced = engine.takeFault(env.name, action, ['outcome'])?.outcome;
      const started = engine.startExport({
        environment: env.name,
        definitionGroupId: p.definitionGroupId,
        legalEntityId: p.legalEntityId,
        executionId: p.executionId,
        packageName: p.packageName,
        forced,
      });
      call.executionId = started.executionId;
      return engine.switches.exportResponseShape === 'nested'
        ? ok(ctx, res, { value: started.executionId })
        : ok(ctx, res, started.executionId);
    }
    case 'GetExportedPackageUrl': {
      const { executionId } = parseParams(execParams, body);
      call.executionId = executionId;
      const e = execution(ctx, executionId);
      if (!e?.exportBlob || !e.finalized) return ok(ctx, res, '');
      return ok(ctx, res, engine.readUrl(e.exportBlob, sasTtl(ctx, action, engine.switches.readUrlTtlMs)));
    }
    case 'GetExecutionSummaryStatus': {
      const { executionId } = parseParams(execParams, body);
      call.executionId = executionId;
      const e = execution(ctx, executionId);
      if (!e && engine.switches.unknownExecutionStatus === 'Unknown') return ok(ctx, res, 'Unknown');
      if (!e || engine.clock.now() < e.createdAt + engine.switches.notFoundWindowMs)
        throw notFoundExecution(executionId);
      return ok(ctx, res, engine.status(e));
    }
    case 'GetExecutionErrors': {
      const { executionId } = parseParams(execParams, body);
      call.executionId = executionId;
      const e = execution(ctx, executionId);
      if (!e) throw notFoundExecution(executionId);
      const final = e.finalized && engine.clock.now() >= e.endAt;
      return ok(ctx, res, JSON.stringify(final ? e.errors : []));
    }
    case 'GetImportStagingErrorFileUrl': {
      const p = parseParams(entityParams, body);
      call.executionId = p.executionId;
      const e = execution(ctx, p.executionId);
      const blob = e?.stagingErrorBlobs[p.entityName.toLowerCase()];
      return ok(
        ctx,
        res,
        blob ? engine.readUrl(blob, sasTtl(ctx, action, engine.switches.readUrlTtlMs)) : '',
      );
    }
    case 'GenerateImportTargetErrorKeysFile': {
      const p = parseParams(entityParams, body);
      call.executionId = p.executionId;
      const e = execution(ctx, p.executionId);
      return ok(ctx, res, e?.finalized ? engine.generateTargetKeys(e, p.entityName) : false, 'Edm.Boolean');
    }
    case 'GetImportTargetErrorKeysFileUrl': {
      const p = parseParams(entityParams, body);
      call.executionId = p.executionId;
      const e = execution(ctx, p.executionId);
      const blob = e ? await engine.targetKeysBlob(e, p.entityName) : undefined;
      return ok(
        ctx,
        res,
        blob ? engine.readUrl(blob, sasTtl(ctx, action, engine.switches.readUrlTtlMs)) : '',
      );
    }
    case 'GetExecutionIdByMessageId': {
      const { _messageId } = parseParams(z.looseObject({ _messageId: str }), body);
      call.messageId = _messageId;
      const m = engine.messages.get(_messageId.replace(/^\{|\}$/g, '').toLowerCase());
      if (!m || m.environment !== env.name) throw new FoError(400, `Message '${_messageId}' was not found.`);
      return ok(ctx, res, m.executionId ?? ZERO_GUID);
    }
    case 'GetMessageStatus': {
      const { messageId } = parseParams(z.looseObject({ messageId: str }), body);
      call.messageId = messageId;
      const m = engine.messages.get(messageId.replace(/^\{|\}$/g, '').toLowerCase());
      if (!m || m.environment !== env.name) throw new FoError(400, `Message '${messageId}' was not found.`);
      return ok(ctx, res, engine.messageStatus(m));
    }
    default:
      throw new FoError(
        404,
        `No HTTP resource was found that matches the request URI '${env.baseUrl}${ACTION_PATH}${action}': the action '${action}' is not defined on DataManagementDefinitionGroups.`,
        'Microsoft.OData.ODataException',
      );
  }
}

const AckSchema = z.looseObject({
  CorrelationId: z.string().min(1),
  PopReceipt: z.string().min(1),
  DownloadLocation: z.string().optional(),
});

async function handleRecurring(
  ctx: FoContext,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  route: Extract<Route, { kind: 'recurring' }>,
  call: CallRecord,
): Promise<number> {
  const { engine, env } = ctx;
  const activity = engine.activity(route.activityId);
  if (!activity || (activity.environment ?? engine.config.environments[0]?.name) !== env.name) {
    req.resume();
    throw new FoError(400, `The recurring data job with activity id '${route.activityId}' was not found.`);
  }
  const expectMethod = (m: string): void => {
    if (req.method !== m) {
      req.resume();
      throw new FoError(405, `The requested resource does not support http method '${req.method ?? ''}'.`);
    }
  };
  switch (route.route) {
    case 'enqueue': {
      expectMethod('POST');
      if (activity.direction !== 'import') {
        req.resume();
        throw new FoError(
          400,
          `The recurring data job '${activity.name}' is an export job; files cannot be enqueued.`,
        );
      }
      const body = await readBody(req, engine.switches.maxEnqueueBytes);
      const header = req.headers['x-ms-dyn-externalidentifier'];
      const forced = engine.takeFault(env.name, 'enqueue', ['outcome'])?.outcome;
      const message = await engine.enqueue({
        environment: env.name,
        activity,
        body,
        entity: url.searchParams.get('entity') ?? undefined,
        company: url.searchParams.get('company') ?? undefined,
        externalIdentifier: Array.isArray(header) ? header[0] : header,
        forced,
      });
      call.messageId = message.messageId;
      sendJson(res, 200, message.messageId, { 'content-type': 'application/json; charset=utf-8' });
      return 200;
    }
    case 'dequeue': {
      expectMethod('GET');
      req.resume();
      const message = activity.direction === 'export' ? engine.dequeue(activity.id) : undefined;
      if (!message) {
        sendEmpty(res, 204);
        return 204;
      }
      call.messageId = message.messageId;
      const real = new URL(env.baseUrl);
      const origin =
        engine.switches.downloadLocation === 'http80' ? `http://${real.hostname}:80` : env.baseUrl;
      const blobGuid = message.blobName.split('/').pop() ?? '';
      sendJson(res, 200, {
        CorrelationId: message.messageId,
        PopReceipt: message.popReceipt,
        DownloadLocation: `${origin}/api/connector/download/${activity.id}?correlation-id=${message.messageId}&blob=${blobGuid}`,
        IsDownLoadFileExist: true,
        FileDownLoadErrorMessage: null,
        LastDequeueDateTime:
          message.lastDequeueAt === undefined ? null : new Date(message.lastDequeueAt).toISOString(),
      });
      return 200;
    }
    case 'download': {
      expectMethod('GET');
      req.resume();
      const id = (url.searchParams.get('correlation-id') ?? '').toLowerCase();
      const message = engine.messages.get(id);
      const blob = url.searchParams.get('blob') ?? '';
      if (!message || message.activityId !== activity.id || !message.blobName.endsWith(`/${blob}`)) {
        throw new FoError(404, `The file for correlation id '${id}' was not found.`);
      }
      call.messageId = message.messageId;
      const bytes = await engine.storage.get(message.blobName);
      res.writeHead(200, {
        'content-type': 'application/octet-stream',
        'content-length': bytes.length,
        'content-disposition': `attachment; filename="${message.externalIdentifier.replace(/"/g, '') || `${message.messageId}.zip`}"`,
      });
      res.end(bytes);
      return 200;
    }
    case 'ack': {
      expectMethod('POST');
      const raw = await readBody(req, 1024 * 1024);
      let parsedBody: unknown;
      try {
        parsedBody = JSON.parse(raw.toString('utf8'));
      } catch {
        throw new FoError(400, 'The ack body is not valid JSON.');
      }
      const ack = AckSchema.safeParse(parsedBody);
      if (!ack.success) throw new FoError(400, 'The ack body must contain CorrelationId and PopReceipt.');
      const message = engine.messages.get(ack.data.CorrelationId.toLowerCase());
      call.messageId = ack.data.CorrelationId;
      if (!message || message.activityId !== activity.id || message.direction !== 'export') {
        throw new FoError(400, `The message with correlation id '${ack.data.CorrelationId}' was not found.`);
      }
      if (message.acked) {
        sendEmpty(res, 200);
        return 200;
      }
      if (message.popReceipt !== ack.data.PopReceipt) {
        throw new FoError(
          400,
          `The pop receipt does not match the last dequeue of message '${ack.data.CorrelationId}'.`,
        );
      }
      message.acked = true;
      sendEmpty(res, 200);
      return 200;
    }
    case 'jobstatus': {
      expectMethod('GET');
      req.resume();
      const jobId = (url.searchParams.get('jobId') ?? '').replace(/^\{|\}$/g, '').toLowerCase();
      const message = engine.messages.get(jobId);
      if (!message || message.activityId !== activity.id)
        throw new FoError(400, `The job '${jobId}' was not found.`);
      call.messageId = message.messageId;
      const e = message.executionId ? engine.executions.get(message.executionId) : undefined;
      const status = e ? engine.status(e) : undefined;
      const final = status !== undefined && status !== 'NotRun' && status !== 'Executing';
      call.executionId = e?.executionId;
      sendJson(res, 200, {
        DataJobStatus: {
          DataProject: activity.dataProject,
          DataJobIdentifier: message.messageId,
          ExternalIdentifier: message.externalIdentifier,
          ExecutionIdentifier: e?.executionId ?? '',
          DataJobStartedDateTime: e ? new Date(e.startAt).toISOString() : null,
          DataJobCompletedDateTime: e && final ? new Date(e.endAt).toISOString() : null,
          DataJobState: engine.messageStatus(message),
        },
        ExecutionLog: (message.preprocessingError ? [message.preprocessingError] : []).concat(
          e?.failureMessage ? [e.failureMessage] : [],
        ),
        ExecutionDetail: (e && final ? e.entities : []).map((d) => ({
          EntityName: d.entityName,
          Company: d.company,
          StagingRecords: d.stagingRecords,
          StagingStatus: d.stagingErrorCount > 0 ? 'PartiallySucceeded' : status,
          StagingErrorCount: d.stagingErrorCount,
          TargetRecords: d.targetRecords,
          TargetStatus: status,
          TargetErrorCount: d.targetErrorCount,
          StagingStartDateTime: new Date(e?.startAt ?? 0).toISOString(),
          StagingEndDateTime: new Date(e?.endAt ?? 0).toISOString(),
          TargetStartDateTime: new Date(e?.startAt ?? 0).toISOString(),
          TargetEndDateTime: new Date(e?.endAt ?? 0).toISOString(),
        })),
      });
      return 200;
    }
  }
}
