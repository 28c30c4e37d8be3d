/**
 * An F&O environment's listener: routes each request (package API, recurring API, the execution
 * summary page), checks its bearer token as F&O does, applies injected faults (latency,
 * throttling, status, reset, dropped answers), records it in the call log and answers errors in
 * F&O's OData form. The APIs themselves: package-api.ts and recurring-api.ts.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuthorityContext } from './authority.js';
import { issuerOf } from './authority.js';
import type { EmulatorEngine } from './engine.js';
import type { CallRecord } from './faults.js';
import { BodyTooLargeError, dropResponse, FoError, odataErrorBody, sendEmpty, sendJson } from './http.js';
import { decodeJwt, verifyJwtSignature } from './jwt.js';
import {
  ACTION_PATH,
  EXECUTION_SUMMARY_PAGE,
  handlePackageAction,
  handleSummaryPage,
  ONPREM_PREFIX,
} from './package-api.js';
import { handleRecurring, type RecurringRoute } from './recurring-api.js';

/** One running environment. */
export interface EnvironmentRuntime {
  name: string;
  type: 'cloud' | 'onprem';
  baseUrl: string;
  clients: string[];
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
  | { kind: 'recurring'; route: RecurringRoute; activityId: string }
  | { kind: 'page' }
  | { kind: 'unknown' };

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
      route: m[1] as RecurringRoute,
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
  const call = engine.calls.start(env.name, routeName, req.method ?? 'GET', path);
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
  engine.calls.end(call, status);
}

async function applyFaults(
  ctx: FoContext,
  req: IncomingMessage,
  res: ServerResponse,
  routeName: string,
  call: CallRecord,
): Promise<number | undefined> {
  const latency = ctx.engine.faults.take(ctx.env.name, routeName, ['latency']);
  if (latency) {
    call.fault = 'latency';
    await new Promise((r) => setTimeout(r, latency.ms));
  }
  const throttle = ctx.engine.faults.take(ctx.env.name, routeName, ['throttle']);
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
  const fault = ctx.engine.faults.take(ctx.env.name, routeName, ['reset', 'status']);
  if (!fault) {
    if (ctx.engine.faults.take(ctx.env.name, routeName, ['dropResponse'])) {
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
  if (route.kind === 'page') return handleSummaryPage(ctx, req, res, url, call);
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
  return handlePackageAction(ctx, req, res, route.action, call);
}
