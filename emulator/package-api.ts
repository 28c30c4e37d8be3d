/**
 * The package REST API of an environment (`/data/DataManagementDefinitionGroups/…` actions:
 * GetAzureWriteUrl, ImportFromPackage, ExportToPackage, GetExecutionSummaryStatus, the error
 * files, …) and the execution summary page GetExecutionSummaryPageUrl points at. Requests reach it
 * through fo.ts (routing, bearer token, faults) with the action's name.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import type { Execution, ParsedImport } from './executions.js';
import type { CallRecord } from './faults.js';
import type { EnvironmentRuntime, FoContext } from './fo.js';
import { FoError, readBody, sendJson } from './http.js';
import { parseImportPackage } from './import-plan.js';

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

/** Path prefix of package API actions. */
export const ACTION_PATH = '/data/DataManagementDefinitionGroups/Microsoft.Dynamics.DataEntities.';
/** On-premises path prefix in front of /data. */
export const ONPREM_PREFIX = '/namespaces/AXSF';

/** Query value `mi` of the execution summary page GetExecutionSummaryPageUrl answers. */
export const EXECUTION_SUMMARY_PAGE = 'DMFExecutionSummary';

/** The all-zero GUID: GetExecutionIdByMessageId while a message is queued, ExportToPackage when it started nothing. */
export const ZERO_GUID = '00000000-0000-0000-0000-000000000000';

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
export function handleSummaryPage(
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
  const status = e ? ctx.engine.executions.status(e) : undefined;
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
  const status = ctx.engine.executions.status(e);
  const final = status !== 'NotRun' && status !== 'Executing';
  // An export knows its entities once its package is built; until then they are the project's.
  const labels =
    e.entities.length > 0 || e.kind === 'import'
      ? e.entities.map((d) => d.entityName)
      : (ctx.engine.projects.get(e.definitionGroupId)?.entities.map((x) => x.label) ?? []);
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

/** Handles a package API action: POST with a JSON object of parameters, answered in OData form. */
export async function handlePackageAction(
  ctx: FoContext,
  req: IncomingMessage,
  res: ServerResponse,
  action: string,
  call: CallRecord,
): Promise<number> {
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
  return handleAction(ctx, res, action, body, call);
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
  const fault = ctx.engine.faults.take(ctx.env.name, action, ['sasExpiry']);
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
      engine.projects.refuseImportInto(p.definitionGroupId, p.overwrite);
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
      let parsed: ParsedImport;
      try {
        parsed = await parseImportPackage(bytes);
      } catch (error) {
        // Not a zip / a folder inside: refused with 400 (the wire doc), or a failed execution (switch).
        if (!(error instanceof FoError) || engine.switches.invalidPackage === 'request400') throw error;
        parsed = { ok: false, message: error.message };
      }
      const forced = engine.faults.take(env.name, action, ['outcome'])?.outcome;
      const started = engine.executions.startImport({
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
      if (engine.faults.take(env.name, action, ['zeroExecutionId'])) {
        call.fault = 'zeroExecutionId';
        return answer(ZERO_GUID);
      }
      const forced = engine.faults.take(env.name, action, ['outcome'])?.outcome;
      const started = engine.executions.startExport({
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
      return ok(ctx, res, engine.executions.status(e));
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
      return ok(
        ctx,
        res,
        e?.finalized ? engine.executions.generateTargetKeys(e, p.entityName) : false,
        'Edm.Boolean',
      );
    }
    case 'GetImportTargetErrorKeysFileUrl': {
      const p = parseParams(entityParams, body);
      call.executionId = p.executionId;
      const e = execution(ctx, p.executionId);
      const blob = e ? await engine.executions.targetKeysBlob(e, p.entityName) : undefined;
      return ok(
        ctx,
        res,
        blob ? engine.readUrl(blob, sasTtl(ctx, action, engine.switches.readUrlTtlMs)) : '',
      );
    }
    case 'GetExecutionIdByMessageId': {
      const { _messageId } = parseParams(z.looseObject({ _messageId: str }), body);
      call.messageId = _messageId;
      const m = engine.recurring.get(_messageId.replace(/^\{|\}$/g, '').toLowerCase());
      if (!m || m.environment !== env.name) throw new FoError(400, `Message '${_messageId}' was not found.`);
      return ok(ctx, res, m.executionId ?? ZERO_GUID);
    }
    case 'GetMessageStatus': {
      const { messageId } = parseParams(z.looseObject({ messageId: str }), body);
      call.messageId = messageId;
      const m = engine.recurring.get(messageId.replace(/^\{|\}$/g, '').toLowerCase());
      if (!m || m.environment !== env.name) throw new FoError(400, `Message '${messageId}' was not found.`);
      return ok(ctx, res, engine.recurring.messageStatus(m));
    }
    default:
      throw new FoError(
        404,
        `No HTTP resource was found that matches the request URI '${env.baseUrl}${ACTION_PATH}${action}': the action '${action}' is not defined on DataManagementDefinitionGroups.`,
        'Microsoft.OData.ODataException',
      );
  }
}
