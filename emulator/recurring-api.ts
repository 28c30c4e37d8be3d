/**
 * The recurring integration API of an environment (`/api/connector/…`): enqueue, dequeue,
 * download, ack and jobstatus of a recurring data job. Requests reach it through fo.ts (routing,
 * bearer token, faults) with the route and the activity id of their path.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import type { CallRecord } from './faults.js';
import type { FoContext } from './fo.js';
import { FoError, readBody, sendEmpty, sendJson } from './http.js';

/** Recurring integration routes (fault and call-log route names). */
export const RECURRING_ROUTES = ['enqueue', 'dequeue', 'ack', 'download', 'jobstatus'] as const;
/** A recurring integration route. */
export type RecurringRoute = (typeof RECURRING_ROUTES)[number];

/** FileDownLoadErrorMessage of a dequeued message whose file is missing (F&O's wording is not documented). */
const FILE_NOT_UPLOADED_MESSAGE = 'The file of this message was not uploaded to blob storage.';

const AckSchema = z.looseObject({
  CorrelationId: z.string().min(1),
  PopReceipt: z.string().min(1),
  DownloadLocation: z.string().optional(),
});

/** Handles a recurring integration request for the activity its path names. */
export async function handleRecurring(
  ctx: FoContext,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  route: { route: RecurringRoute; activityId: string },
  call: CallRecord,
): Promise<number> {
  const { engine, env } = ctx;
  const activity = engine.recurring.activity(route.activityId);
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
      const forced = engine.faults.take(env.name, 'enqueue', ['outcome'])?.outcome;
      const message = await engine.recurring.enqueue({
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
      const message = activity.direction === 'export' ? engine.recurring.dequeue(activity.id) : undefined;
      if (!message) {
        sendEmpty(res, 204);
        return 204;
      }
      call.messageId = message.messageId;
      // "In cases when there was no file uploaded to the blob, the dequeue API will return a
      // response indicating as such" (recurring-integrations.md): a `fileMissing` fault.
      if (engine.faults.take(env.name, 'dequeue', ['fileMissing'])) {
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
      const message = engine.recurring.get(id);
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
      const message = engine.recurring.get(ack.data.CorrelationId.toLowerCase());
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
      const message = engine.recurring.get(jobId);
      if (!message || message.activityId !== activity.id)
        throw new FoError(400, `The job '${jobId}' was not found.`);
      call.messageId = message.messageId;
      const e = message.executionId ? engine.executions.get(message.executionId) : undefined;
      const status = e ? engine.executions.status(e) : undefined;
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
          DataJobState: engine.recurring.dataJobState(message),
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
