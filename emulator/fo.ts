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
  'GetExecutionSummaryPageUrl',
  'GetEntityExecutionSummaryStatusList',
  'ExportToPackagePreview',
  'ExportToPackagePreviewAsync',
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
/** ExportToPackagePreview adds `count` (rows to return; 0 = no top count). Its type is not documented: a number or a numeric string. */
const previewParams = exportParams.extend({
  count: z.union([z.number().int().min(0), z.string().regex(/^\d+$/)], {
    error: (i) => (i.input === undefined ? 'is missing' : 'must be a non-negative integer'),
  }),
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

/** F&O's message when resource-based service protection limits throttle a request (service-protection-api-limits.md). */
export const RESOURCE_THROTTLED_MESSAGE =
  'This request could not be processed at this time due to system experiencing high resource utilization.';

/** Context for environment request handling. */
export interface FoContext {
  engine: EmulatorEngine;
  auth: AuthorityContext;
  env: EnvironmentRuntime;
}

type Route =
  | { kind: 'action'; action: string }
  | { kind: 'recurring'; route: (typeof RECURRING_ROUTES)[number]; activityId: string }
  | { kind: 'page' }
  | { kind: 'unknown' };

/** Query value `mi` of the execution summary page GetExecutionSummaryPageUrl answers. */
export const EXECUTION_SUMMARY_PAGE = 'DMFExecutionSummary';

function classify(path: string, url: URL, env: EnvironmentRuntime): Route {
  const prefix = env.type === 'onprem' ? ONPREM_PREFIX : '';
  if (path.startsWith(`${prefix}${ACTION_PATH}`))
    return { kind: 'action', action: path.slice(prefix.length + ACTION_PATH.length) };
  if (path === '/' && url.searchParams.get('mi') === EXECUTION_SUMMARY_PAGE) return { kind: 'page' };
  // The recurring integrations article shows the connector under a language segment too
  // (`GET https://…/en/api/connector/dequeue/…`, `POST …/en/api/connector/ack/…`).
  const m =
    /^(?:\/[A-Za-z]{2}(?:-[A-Za-z]{2,4})?)?\/api\/connector\/(enqueue|dequeue|ack|download|jobstatus)\/([^/]+)$/.exec(
      path,
    );
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
  const route = classify(path, url, env);
  const routeName =
    route.kind === 'action'
      ? route.action
      : route.kind === 'recurring'
        ? route.route
        : route.kind === 'page'
          ? 'executionSummaryPage'
          : 'unknown';
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

const HTML_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

function html(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => HTML_ESCAPES[c] ?? c);
}

/**
 * The execution summary page GetExecutionSummaryPageUrl points at: F&O's UI, stood in for by a
 * small HTML page (status and per entity counts). Served without a token: F&O would ask for an
 * interactive sign-in, which the emulator does not emulate.
 */
function handlePage(
  ctx: FoContext,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  call: CallRecord,
): number {
  req.resume();
  const id = url.searchParams.get('executionId') ?? '';
  call.executionId = id;
  const e = execution(ctx, id);
  const status = e ? ctx.engine.status(e) : undefined;
  const rows = (e ? entityStatuses(ctx, e) : [])
    .map(
      (r) =>
        `<tr><td>${html(r.EntityName)}</td><td>${html(r.Status)}</td><td>${r.StagingRecords}</td><td>${r.StagingErrorCount}</td><td>${r.TargetRecords}</td><td>${r.TargetErrorCount}</td></tr>`,
    )
    .join('');
  const body = e
    ? `<h1>Execution summary</h1><p>Job ID <code>${html(id)}</code>, data project ${html(e.definitionGroupId)}, legal entity ${html(e.legalEntityId)}: <strong>${html(status)}</strong></p>` +
      (e.failureMessage ? `<p>${html(e.failureMessage)}</p>` : '') +
      `<table><tr><th>Entity</th><th>Status</th><th>Staging records</th><th>Staging errors</th><th>Target records</th><th>Target errors</th></tr>${rows}</table>`
    : `<h1>Execution summary</h1><p>No execution with Job ID <code>${html(id)}</code>.</p>`;
  const text = `<!doctype html><html><head><meta charset="utf-8"><title>Execution summary (F&amp;O emulator)</title></head><body>${body}</body></html>`;
  const code = e ? 200 : 404;
  res.writeHead(code, {
    'content-type': 'text/html; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
  return code;
}

/** Per entity status of an execution (GetEntityExecutionSummaryStatusList, the summary page). */
function entityStatuses(ctx: FoContext, e: Execution): EntityStatusRow[] {
  const status = ctx.engine.status(e);
  const final = status !== 'NotRun' && status !== 'Executing';
  // An export knows its entities once its package is built; until then they are the project's.
  const labels =
    e.entities.length > 0 || e.kind === 'import'
      ? e.entities.map((d) => d.entityName)
      : (ctx.engine.project(e.definitionGroupId)?.entities.map((x) => x.label) ?? []);
  return labels.map((label) => {
    const d = e.entities.find((x) => x.entityName === label);
    const counted = final && d !== undefined;
    const entityStatus = !final
      ? status
      : status === 'Failed' || status === 'Canceled'
        ? status
        : (d?.stagingErrorCount ?? 0) + (d?.targetErrorCount ?? 0) > 0
          ? 'PartiallySucceeded'
          : 'Succeeded';
    return {
      EntityName: label,
      Company: e.legalEntityId,
      Status: entityStatus,
      StagingRecords: counted ? d.stagingRecords : 0,
      StagingErrorCount: counted ? d.stagingErrorCount : 0,
      TargetRecords: counted ? d.targetRecords : 0,
      TargetErrorCount: counted ? d.targetErrorCount : 0,
    };
  });
}

/** One row of GetEntityExecutionSummaryStatusList (shape not documented; field names of RIS's EntityExecutionStatus). */
interface EntityStatusRow {
  EntityName: string;
  Company: string;
  Status: string;
  StagingRecords: number;
  StagingErrorCount: number;
  TargetRecords: number;
  TargetErrorCount: number;
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
  const throttle = ctx.engine.takeFault(ctx.env.name, routeName, ['throttle']);
  if (throttle) {
    // Resource-based (priority-based) throttling: 429 Too Many Requests with Retry-After and the
    // message of service-protection-api-limits.md, for as long as the window lasts.
    const left = Date.parse(throttle.until ?? '') - ctx.engine.clock.now();
    const retryAfter = throttle.retryAfterSeconds ?? Math.max(1, Math.ceil(left / 1000));
    call.fault = 'throttle';
    req.resume();
    sendJson(res, 429, odataErrorBody(RESOURCE_THROTTLED_MESSAGE), { 'retry-after': String(retryAfter) });
    return 429;
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
  const message = fault.status === 429 ? RESOURCE_THROTTLED_MESSAGE : `Injected fault: HTTP ${fault.status}.`;
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
  if (route.kind === 'page') return handlePage(ctx, req, res, url, call);
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

/** The `$metadata#…` type of an answer. */
type ODataType = 'Edm.String' | 'Edm.Boolean' | `Collection(${string})`;

function contextUrl(env: EnvironmentRuntime, type: ODataType): string {
  return `${env.baseUrl}${env.type === 'onprem' ? ONPREM_PREFIX : ''}/data/$metadata#${type}`;
}

function ok(ctx: FoContext, res: ServerResponse, value: unknown, type: ODataType = 'Edm.String'): number {
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
      engine.refuseImportInto(p.definitionGroupId, p.overwrite);
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
        definitionGroupId: p.definitionGroupId,
        legalEntityId: p.legalEntityId,
        executionId: p.executionId,
        parsed,
        source: 'package-api',
        forced,
        defineProject: true,
      });
      call.executionId = started.executionId;
      return ok(ctx, res, started.executionId);
    }
    case 'ExportToPackage':
    case 'ExportToPackageAsync':
    case 'ExportToPackagePreview':
    case 'ExportToPackagePreviewAsync': {
      const preview = action.startsWith('ExportToPackagePreview');
      const p = preview ? parseParams(previewParams, body) : parseParams(exportParams, body);
      if (p.executionId !== '') call.executionId = p.executionId;
      const answer = (value: string): number =>
        engine.switches.exportResponseShape === 'nested' ? ok(ctx, res, { value }) : ok(ctx, res, value);
      // Microsoft's Logic App sample (d365_to_oneDrive_logic_app) retries ExportToPackage "until"
      // its value is not the all-zero GUID: F&O can answer it without starting anything.
      if (engine.takeFault(env.name, action, ['zeroExecutionId'])) {
        call.fault = 'zeroExecutionId';
        return answer(ZERO_GUID);
      }
      const forced = engine.takeFault(env.name, action, ['outcome'])?.outcome;
      const started = engine.startExport({
        environment: env.name,
        definitionGroupId: p.definitionGroupId,
        legalEntityId: p.legalEntityId,
        executionId: p.executionId,
        packageName: p.packageName,
        forced,
        ...('count' in p ? { maxRows: Number(p.count) } : {}),
      });
      call.executionId = started.executionId;
      return answer(started.executionId);
    }
    case 'GetExportedPackageUrl': {
      const { executionId } = parseParams(execParams, body);
      call.executionId = executionId;
      const e = execution(ctx, executionId);
      const url =
        e?.exportBlob && e.finalized
          ? engine.readUrl(e.exportBlob, sasTtl(ctx, action, engine.switches.readUrlTtlMs))
          : '';
      // The docs show `"value":{"value":"https://…"}`; clients that read `value` as a string see the plain one.
      return engine.switches.exportedPackageUrlShape === 'nested'
        ? ok(ctx, res, { value: url })
        : ok(ctx, res, url);
    }
    case 'GetExecutionSummaryPageUrl': {
      // Used by RIS (HttpClientHelper.GetExecutionSummaryPageUrl: `{executionId}` → `value`, a url
      // it writes into an Internet shortcut). The url's form is not documented.
      const { executionId } = parseParams(execParams, body);
      call.executionId = executionId;
      const e = execution(ctx, executionId);
      if (!e) return ok(ctx, res, '');
      const page = new URL('/', env.baseUrl);
      page.searchParams.set('cmp', e.legalEntityId);
      page.searchParams.set('mi', EXECUTION_SUMMARY_PAGE);
      page.searchParams.set('executionId', e.executionId);
      return ok(ctx, res, page.toString());
    }
    case 'GetEntityExecutionSummaryStatusList': {
      // An action of DataManagementDefinitionGroups whose answer is not documented: a collection,
      // one object per entity (status and counts; field names of RIS's EntityExecutionStatus).
      const { executionId } = parseParams(execParams, body);
      call.executionId = executionId;
      const e = execution(ctx, executionId);
      if (!e) throw notFoundExecution(executionId);
      return ok(
        ctx,
        res,
        entityStatuses(ctx, e),
        'Collection(Microsoft.Dynamics.DataEntities.DMFEntityExecutionStatus)',
      );
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

/** FileDownLoadErrorMessage of a dequeued message whose file is missing (F&O's wording is not documented). */
const FILE_NOT_UPLOADED_MESSAGE = 'The file of this message was not uploaded to blob storage.';

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
      // "In cases when there was no file uploaded to the blob, the dequeue API will return a
      // response indicating as such" (recurring-integrations.md): a `fileMissing` fault.
      if (engine.takeFault(env.name, 'dequeue', ['fileMissing'])) {
        message.fileMissing = true;
        call.fault = 'fileMissing';
      }
      const real = new URL(env.baseUrl);
      const origin =
        engine.switches.downloadLocation === 'http80' ? `http://${real.hostname}:80` : env.baseUrl;
      const blobGuid = message.blobName.split('/').pop() ?? '';
      sendJson(res, 200, {
        CorrelationId: message.messageId,
        PopReceipt: message.popReceipt,
        DownloadLocation: `${origin}/api/connector/download/${activity.id}?correlation-id=${message.messageId}&blob=${blobGuid}`,
        IsDownLoadFileExist: !message.fileMissing,
        FileDownLoadErrorMessage: message.fileMissing ? FILE_NOT_UPLOADED_MESSAGE : null,
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
      if (
        !message ||
        message.activityId !== activity.id ||
        message.fileMissing ||
        !message.blobName.endsWith(`/${blob}`)
      ) {
        throw new FoError(404, `The file for correlation id '${id}' was not found.`);
      }
      call.messageId = message.messageId;
      const bytes = await engine.storage.get(message.blobName);
      if (!message.acked) message.downloaded = true;
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
          DataJobState: engine.dataJobState(message),
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
