import { InstanceExistsError } from './engine.js';
import type { DurableEngine } from './engine.js';

/**
 * Path of the public Durable HTTP API (management links, `createCheckStatusResponse`), as on Azure:
 * the Functions host serves extension webhooks at `/runtime/webhooks/{extension}` and requires the
 * extension's system key or the master key.
 */
export const WEBHOOK_PREFIX = '/runtime/webhooks/durabletask';
/**
 * Path of the internal RPC API the durable client calls (`rpcBaseUrl`). On Azure the extension
 * serves it on its own loopback listener (LocalHttpListener); here that listener also demands a
 * per-process random path segment, because the developer's machine is shared.
 */
export const RPC_PREFIX = '/durabletask/';

/** A response of the Durable HTTP API. */
export interface DurableHttpResponse {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
}

/**
 * The `durableClient` input binding payload, as the extension sends it to the worker: management
 * links on the public webhook path carrying the Durable system key in `code` (the extension appends
 * the webhook url's query, which holds that key, to every link), and `rpcBaseUrl` pointing at the
 * internal listener.
 */
export function durableClientBindingData(
  publicBaseUrl: string,
  rpcBaseUrl: string,
  taskHub: string,
  systemKey: string,
) {
  const webhook = `${publicBaseUrl}${WEBHOOK_PREFIX}`;
  const code = `code=${encodeURIComponent(systemKey)}`;
  const q = `taskHub=${encodeURIComponent(taskHub)}&connection=Storage&${code}`;
  const instance = `${webhook}/instances/INSTANCEID`;
  return {
    taskHubName: taskHub,
    creationUrls: {
      createNewInstancePostUri: `${webhook}/orchestrators/{functionName}[/{instanceId}]?${code}`,
      createAndWaitOnNewInstancePostUri: `${webhook}/orchestrators/{functionName}[/{instanceId}]?timeout={timeoutInSeconds}&pollingInterval={intervalInSeconds}&${code}`,
    },
    managementUrls: {
      id: 'INSTANCEID',
      statusQueryGetUri: `${instance}?${q}`,
      sendEventPostUri: `${instance}/raiseEvent/{eventName}?${q}`,
      terminatePostUri: `${instance}/terminate?reason={text}&${q}`,
      rewindPostUri: `${instance}/rewind?reason={text}&${q}`,
      purgeHistoryDeleteUri: `${instance}?${q}`,
      restartPostUri: `${instance}/restart?${q}`,
      suspendPostUri: `${instance}/suspend?reason={text}&${q}`,
      resumePostUri: `${instance}/resume?reason={text}&${q}`,
    },
    baseUrl: webhook,
    requiredQueryStringParameters: code,
    rpcBaseUrl,
  };
}

/** The media type of a Content-Type header, lower case (`application/json; charset=utf-8` → `application/json`). */
export function mediaType(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

function statusCodeFor(runtimeStatus: string): number {
  if (runtimeStatus === 'Completed') return 200;
  if (runtimeStatus === 'Failed' || runtimeStatus === 'Terminated') return 400;
  return 202;
}

/**
 * durable-functions posts `""` (axios JSON-encodes the empty string) when startNew has no input;
 * that is read as "no input".
 */
function parseBody(body: string): unknown {
  if (body.trim() === '' || body.trim() === '""') return undefined;
  return JSON.parse(body) as unknown;
}

/**
 * Serves the Durable extension's HTTP API (`path` relative to the prefix) for the durable client
 * and for the management links of `createCheckStatusResponse`.
 */
export async function handleDurableRequest(
  engine: DurableEngine,
  request: {
    method: string;
    path: string;
    query: URLSearchParams;
    body: string;
    /** The request's Content-Type header. */
    contentType: string | undefined;
    /** Origin of the public API, for management links. */
    publicBaseUrl: string;
    /** The Durable system key the management links carry. */
    systemKey: string;
    /** Refuse a start whose body is not `application/json` (415). */
    jsonOnlyStarts: boolean;
  },
): Promise<DurableHttpResponse> {
  const { method, query } = request;
  const parts = request.path
    .split('/')
    .filter((p) => p !== '')
    .map(decodeURIComponent);
  const links = durableClientBindingData(
    request.publicBaseUrl,
    '',
    engine.taskHub,
    request.systemKey,
  ).managementUrls;
  const payloadFor = (id: string): Record<string, string> =>
    Object.fromEntries(
      Object.entries(links).map(([k, v]) => [k, v.replace('INSTANCEID', encodeURIComponent(id))]),
    );

  if (parts[0] === 'orchestrators' && method === 'POST' && parts[1]) {
    if (
      request.jsonOnlyStarts &&
      request.body.trim() !== '' &&
      mediaType(request.contentType) !== 'application/json'
    ) {
      return {
        status: 415,
        body: {
          Message: 'Only application/json request content is supported for starting an orchestration.',
        },
      };
    }
    let input: unknown;
    try {
      input = parseBody(request.body);
    } catch {
      return { status: 400, body: { Message: 'The request body is not valid JSON.' } };
    }
    try {
      const id = await engine.startNew(parts[1], { instanceId: parts[2], input });
      const payload = payloadFor(id);
      return { status: 202, headers: { Location: payload.statusQueryGetUri ?? '' }, body: payload };
    } catch (err) {
      if (err instanceof InstanceExistsError) return { status: 409, body: { Message: err.message } };
      return { status: 400, body: { Message: err instanceof Error ? err.message : String(err) } };
    }
  }

  if (parts[0] === 'instances') {
    const id = parts[1];
    if (!id) {
      if (method === 'GET') {
        const statuses = await engine.queryStatuses({
          runtimeStatus: query.get('runtimeStatus')?.split(',').filter(Boolean),
          createdTimeFrom: query.get('createdTimeFrom')
            ? new Date(query.get('createdTimeFrom') as string)
            : undefined,
          createdTimeTo: query.get('createdTimeTo')
            ? new Date(query.get('createdTimeTo') as string)
            : undefined,
          showInput: query.get('showInput') !== 'false',
        });
        return { status: 200, body: statuses };
      }
      if (method === 'DELETE') {
        const statuses = await engine.queryStatuses({
          runtimeStatus: query.get('runtimeStatus')?.split(',').filter(Boolean),
          createdTimeFrom: query.get('createdTimeFrom')
            ? new Date(query.get('createdTimeFrom') as string)
            : undefined,
          createdTimeTo: query.get('createdTimeTo')
            ? new Date(query.get('createdTimeTo') as string)
            : undefined,
        });
        let deleted = 0;
        for (const s of statuses) deleted += await engine.purge(s.instanceId);
        return deleted === 0 ? { status: 404 } : { status: 200, body: { instancesDeleted: deleted } };
      }
    } else if (parts.length === 2 && method === 'GET') {
      const status = await engine.getStatus(id, {
        showHistory: query.get('showHistory') === 'true',
        showInput: query.get('showInput') !== 'false',
      });
      if (!status) return { status: 404 };
      const code = statusCodeFor(status.runtimeStatus);
      return {
        status: code,
        headers:
          code === 202 ? { Location: payloadFor(id).statusQueryGetUri ?? '', 'Retry-After': '10' } : {},
        body: status,
      };
    } else if (parts.length === 2 && method === 'DELETE') {
      const deleted = await engine.purge(id);
      return deleted === 0 ? { status: 404 } : { status: 200, body: { instancesDeleted: deleted } };
    } else if (parts[2] === 'raiseEvent' && parts[3] && method === 'POST') {
      // The extension's order: unknown instance 404, finished 410, then the content type.
      const status = await engine.getStatus(id, { showInput: false });
      if (!status) return { status: 404 };
      if (['Completed', 'Failed', 'Terminated', 'Canceled'].includes(status.runtimeStatus))
        return { status: 410 };
      if (mediaType(request.contentType) !== 'application/json') {
        return { status: 400, body: { Message: 'Only application/json request content is supported' } };
      }
      const result = await engine.raiseEvent(id, parts[3], request.body);
      return { status: result === 'ok' ? 202 : result === 'gone' ? 410 : 404 };
    } else if (parts[2] === 'terminate' && method === 'POST') {
      const result = await engine.terminate(id, query.get('reason') ?? '');
      return { status: result === 'ok' ? 202 : result === 'gone' ? 410 : 404 };
    }
    return { status: 501, body: { Message: `The local host does not support ${method} ${request.path}.` } };
  }

  if (parts[0] === 'entities' && parts[1] && parts[2]) {
    if (method === 'GET') {
      const record = await engine.readEntity(parts[1], parts[2]);
      if (!record) return { status: 404 };
      return { status: 200, body: record.state === null ? null : JSON.parse(record.state) };
    }
    if (method === 'POST') {
      // As the extension: a JSON body is the operation's input, any other body is a string input.
      let input: string | undefined;
      if (request.body !== '') {
        if (mediaType(request.contentType) !== 'application/json') input = JSON.stringify(request.body);
        else {
          try {
            JSON.parse(request.body);
          } catch {
            return { status: 400, body: { Message: 'Could not parse JSON content' } };
          }
          input = request.body;
        }
      }
      engine.signalEntity(parts[1], parts[2], query.get('op') ?? '', input);
      return { status: 202 };
    }
  }
  return { status: 404, body: { Message: `No Durable API route for ${method} ${request.path}.` } };
}
