import { randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, request as httpRequest } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { AppRegistry, RegisteredFunction } from './core-api.js';
import type { RpcHttpData, RpcInvocationResponse, RpcTypedData } from './core-types.js';
import type { BindingServices } from './bindings.js';
import type { DurableEngine } from './durable/engine.js';
import { handleDurableRequest, WEBHOOK_PREFIX } from './durable/http-api.js';
import { invokeRegistered } from './invoke.js';
import type { HostLogger } from './invoke.js';
import { DURABLE_SYSTEM_KEY_NAME } from './keys.js';
import type { HostKeys } from './keys.js';
import type { ResolvedLimits } from './limits.js';

/** Header carrying the function key, as on Azure. */
export const FUNCTIONS_KEY_HEADER = 'x-functions-key';

/** How long a finished streaming invocation's answer may take to arrive from the worker's proxy. */
const PROXY_ANSWER_GRACE_MS = 1000;

/** Trigger metadata of an HTTP invocation: `Headers`, `Query` and the route parameters, as the host sends them. */
function httpTriggerMetadata(
  headers: Record<string, string>,
  url: URL,
  params: Record<string, string>,
): Record<string, RpcTypedData> {
  const metadata: Record<string, RpcTypedData> = {
    Headers: { json: JSON.stringify(headers) },
    Query: { json: JSON.stringify(Object.fromEntries(url.searchParams)) },
  };
  for (const [k, v] of Object.entries(params)) metadata[k] = { string: v };
  return metadata;
}

interface CompiledRoute {
  fn: RegisteredFunction;
  triggerName: string;
  methods: string[] | undefined;
  authLevel: string;
  segments: { literal?: string; param?: string; optional?: boolean; catchAll?: boolean }[];
}

function compileRoute(template: string): CompiledRoute['segments'] {
  return template
    .split('/')
    .filter((s) => s !== '')
    .map((s) => {
      const m = /^\{(\*)?([A-Za-z0-9_]+)(?::[^}?]*)?(\?)?\}$/.exec(s);
      if (!m) return { literal: s.toLowerCase() };
      return { param: m[2] as string, catchAll: Boolean(m[1]), optional: Boolean(m[3]) };
    });
}

function matchRoute(route: CompiledRoute, pathSegments: string[]): Record<string, string> | undefined {
  const params: Record<string, string> = {};
  let i = 0;
  for (const seg of route.segments) {
    const value = pathSegments[i];
    if (seg.catchAll) {
      params[seg.param as string] = pathSegments.slice(i).join('/');
      return params;
    }
    if (value === undefined) {
      if (seg.optional) continue;
      return undefined;
    }
    if (seg.literal !== undefined) {
      if (seg.literal !== value.toLowerCase()) return undefined;
    } else params[seg.param as string] = value;
    i++;
  }
  return i === pathSegments.length ? params : undefined;
}

/** One request matched to an HTTP-triggered function, authorized, about to be invoked. */
interface RouteCall {
  req: IncomingMessage;
  res: ServerResponse;
  route: CompiledRoute;
  params: Record<string, string>;
  url: URL;
  method: string;
  idle: ReturnType<typeof idleCutoff>;
}

/** Options for {@link startHttpServer}. */
export interface HttpServerOptions {
  registry: AppRegistry;
  engine: DurableEngine;
  logger: HostLogger;
  /** Key for authLevel `function` routes (and, as a local leniency, the admin API). */
  functionsKey: string;
  /** Master key and system keys (the Durable webhooks take `durabletask_extension` or the master key). */
  keys: HostKeys;
  port: number;
  host: string;
  routePrefix: string;
  /** Extra inputs and output bindings. */
  bindings: BindingServices;
  /** Azure's limits (body cap, idle timeout, durable content types). */
  limits: ResolvedLimits;
  /**
   * The worker's HTTP proxy (`HttpUri` capability) when the app enabled HTTP streaming with
   * `app.setup({ enableHttpStream: true })`: requests are then forwarded there, body streamed.
   */
  streamingUri?: string;
  /** Runs a non-HTTP function now (`POST /admin/functions/{name}`, key required); false if unknown. */
  runNow?: (name: string) => boolean;
}

/** A listening HTTP server of the host. */
export interface RunningHttpServer {
  server: Server;
  baseUrl: string;
  close(): Promise<void>;
}

/** A request body over the host's limit (answered 413, as Kestrel does). */
class BodyTooLargeError extends Error {
  constructor(limit: number) {
    super(`Request body too large. The max request body size is ${limit} bytes.`);
  }
}

/** Whether the request declares a body larger than the cap (checked before anything is read). */
function declaresTooLarge(req: IncomingMessage, cap: number | false): boolean {
  if (cap === false) return false;
  const declared = Number(req.headers['content-length']);
  return Number.isFinite(declared) && declared > cap;
}

/** Reads a body up to `cap` bytes (throws {@link BodyTooLargeError} past it); `onChunk` sees each chunk. */
async function readCappedBody(
  req: IncomingMessage,
  cap: number | false,
  onChunk?: () => void,
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    total += buf.length;
    if (cap !== false && total > cap) throw new BodyTooLargeError(cap);
    onChunk?.();
    chunks.push(buf);
  }
  return Buffer.concat(chunks);
}

/** Compares a presented key with the accepted ones in constant time. */
function keyMatches(presented: string | undefined, ...accepted: string[]): boolean {
  if (presented === undefined) return false;
  const given = Buffer.from(presented);
  return accepted.some((key) => {
    const expected = Buffer.from(key);
    return expected.length === given.length && timingSafeEqual(expected, given);
  });
}

/** Hop-by-hop headers a proxy does not forward (RFC 9110 §7.6.1). */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** Request headers as one string per name (the RPC shape). */
function flatHeaders(req: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) {
    if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
  }
  return headers;
}

/**
 * The front end's idle cut-off: no request byte received and no response started for `ms` → 502.
 * The function keeps running; whatever it answers later is dropped.
 */
function idleCutoff(res: ServerResponse, ms: number | false, onCut: () => void) {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const arm = (): void => {
    if (ms === false || stopped) return;
    clearTimeout(timer);
    timer = setTimeout(() => {
      if (stopped || res.headersSent) return;
      stopped = true;
      res.writeHead(502, { connection: 'close' });
      res.end();
      onCut();
    }, ms);
  };
  const stop = (): void => {
    stopped = true;
    clearTimeout(timer);
  };
  res.once('close', stop);
  arm();
  return { arm, stop };
}

interface RpcCookie {
  name?: string;
  value?: string;
  domain?: { value?: string } | null;
  path?: { value?: string } | null;
  expires?: { value?: { seconds?: number } } | null;
  secure?: { value?: boolean } | null;
  httpOnly?: { value?: boolean } | null;
  sameSite?: string;
  maxAge?: { value?: number } | null;
}

/** A `Set-Cookie` value from the library's RPC cookie (as the host writes it). */
export function setCookieHeader(c: RpcCookie): string {
  const parts = [`${c.name ?? ''}=${c.value ?? ''}`];
  if (c.domain?.value) parts.push(`Domain=${c.domain.value}`);
  if (c.path?.value) parts.push(`Path=${c.path.value}`);
  if (c.expires?.value?.seconds !== undefined) {
    parts.push(`Expires=${new Date(c.expires.value.seconds * 1000).toUTCString()}`);
  }
  if (c.maxAge?.value !== undefined) parts.push(`Max-Age=${c.maxAge.value}`);
  if (c.secure?.value) parts.push('Secure');
  if (c.httpOnly?.value) parts.push('HttpOnly');
  if (c.sameSite === 'lax') parts.push('SameSite=Lax');
  else if (c.sameSite === 'strict') parts.push('SameSite=Strict');
  else if (c.sameSite === 'explicitNone') parts.push('SameSite=None');
  return parts.join('; ');
}

function send(
  res: ServerResponse,
  status: number,
  headers: Record<string, string | string[]>,
  body?: Buffer | string,
): void {
  // A response already cut by the idle timeout (502) is not written again.
  if (res.headersSent) return;
  res.writeHead(status, headers);
  res.end(body);
}

/**
 * Answers without reading the request body: the connection is closed after the answer, so a large
 * body a caller keeps sending is never buffered.
 */
function refuse(res: ServerResponse, status: number, headers: Record<string, string> = {}): void {
  send(res, status, { connection: 'close', ...headers });
}

/**
 * Serves HTTP triggers under `/{routePrefix}/…` (keys checked before the body is read; the body
 * capped, buffered or streamed as the app's HTTP mode says; idle requests cut with 502) and the
 * public Durable HTTP API under `/runtime/webhooks/durabletask/…` (system or master key). The
 * durable client's internal API is not served here (see durable/rpc-server.ts).
 */
export async function startHttpServer(options: HttpServerOptions): Promise<RunningHttpServer> {
  const routes: CompiledRoute[] = [];
  for (const fn of options.registry.functions.values()) {
    const entry = Object.entries(fn.metadata.bindings).find(([, b]) => b.type === 'httpTrigger');
    if (!entry) continue;
    const [triggerName, binding] = entry;
    routes.push({
      fn,
      triggerName,
      methods: Array.isArray(binding.methods)
        ? (binding.methods as string[]).map((m) => m.toUpperCase())
        : undefined,
      authLevel: typeof binding.authLevel === 'string' ? binding.authLevel.toLowerCase() : 'anonymous',
      segments: compileRoute(typeof binding.route === 'string' ? binding.route : fn.metadata.name),
    });
  }
  // Literal segments win over parameters, as in ASP.NET routing.
  routes.sort(
    (a, b) => b.segments.filter((s) => s.literal).length - a.segments.filter((s) => s.literal).length,
  );

  let baseUrl = '';
  const prefix = options.routePrefix.replace(/^\/|\/$/g, '');
  const { limits, keys } = options;
  const systemKey = keys.systemKeys[DURABLE_SYSTEM_KEY_NAME] ?? '';

  const durableApi = async (
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    method: string,
  ): Promise<void> => {
    let body: Buffer;
    try {
      body = await readCappedBody(req, limits.maxRequestBodyBytes);
    } catch (err) {
      if (err instanceof BodyTooLargeError) return refuse(res, 413);
      throw err;
    }
    const r = await handleDurableRequest(options.engine, {
      method,
      path: url.pathname.slice(WEBHOOK_PREFIX.length),
      query: url.searchParams,
      body: body.toString('utf8'),
      contentType: req.headers['content-type'],
      publicBaseUrl: baseUrl,
      systemKey,
      jsonOnlyStarts: limits.jsonOnlyDurableStarts,
    });
    return send(
      res,
      r.status,
      { 'content-type': 'application/json; charset=utf-8', ...r.headers },
      r.body === undefined ? undefined : JSON.stringify(r.body),
    );
  };

  /** Writes the function's HTTP answer and delivers its other outputs. */
  const respond = async (
    res: ServerResponse,
    route: CompiledRoute,
    params: Record<string, string>,
    response: RpcInvocationResponse,
  ): Promise<void> => {
    const outputs = response.outputData ?? [];
    const httpOut: RpcTypedData | null | undefined =
      route.fn.metadata.bindings.$return?.type === 'http'
        ? response.returnValue
        : outputs.find((o) => route.fn.metadata.bindings[o.name]?.type === 'http')?.data;
    await options.bindings.applyOutputs(
      route.fn,
      outputs.filter((o) => route.fn.metadata.bindings[o.name]?.type !== 'http'),
      params,
    );
    const out = httpOut?.http;
    if (!out) return send(res, 204, {});
    const resHeaders: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(out.headers ?? {})) resHeaders[k] = String(v);
    const cookies = (out.cookies ?? []).map((c) => setCookieHeader(c as RpcCookie));
    if (cookies.length > 0) resHeaders['set-cookie'] = cookies;
    const bodyData = out.body;
    const bytes = bodyData?.bytes
      ? Buffer.from(bodyData.bytes)
      : typeof bodyData?.string === 'string'
        ? Buffer.from(bodyData.string)
        : undefined;
    return send(res, Number(out.statusCode ?? 200), resHeaders, bytes);
  };

  const logFailure = (route: CompiledRoute, err: unknown): void =>
    options.logger(
      'error',
      'system',
      route.fn.metadata.name,
      `Executed with error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
    );

  /** Without HTTP streaming the host buffers the body (up to the cap) and sends it over RPC. */
  const invokeBuffered = async ({ req, res, route, params, url, method, idle }: RouteCall): Promise<void> => {
    let body: Buffer;
    try {
      body = await readCappedBody(req, limits.maxRequestBodyBytes, idle.arm);
    } catch (err) {
      if (err instanceof BodyTooLargeError) return refuse(res, 413);
      throw err;
    }
    const headers = flatHeaders(req);
    const http: RpcHttpData = {
      method,
      url: url.href,
      headers,
      query: Object.fromEntries(url.searchParams),
      params,
      body: { bytes: body },
    };
    try {
      const response = await invokeRegistered(
        options.registry,
        route.fn,
        {
          inputData: [{ name: route.triggerName, data: { http } }, ...options.bindings.extraInputs(route.fn)],
          triggerMetadata: httpTriggerMetadata(headers, url, params),
        },
        options.logger,
      );
      idle.stop();
      await respond(res, route, params, response);
    } catch (err) {
      logFailure(route, err);
      return send(res, 500, {});
    }
  };

  /**
   * With HTTP streaming (`app.setup({ enableHttpStream: true })`) the host forwards the request to
   * the worker's own HTTP proxy, body streamed, and streams the answer back; the invocation request
   * carries the request without its body. The body cap still applies while it flows.
   */
  const invokeStreaming = async (
    { req, res, route, params, url, method, idle }: RouteCall,
    streamingUri: string,
  ): Promise<void> => {
    const invocationId = randomUUID();
    const headers = flatHeaders(req);
    const forwardHeaders: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(req.headers)) {
      if (v !== undefined && !HOP_BY_HOP.has(k)) forwardHeaders[k] = v;
    }
    forwardHeaders['x-ms-invocation-id'] = invocationId;
    forwardHeaders['x-forwarded-host'] = req.headers.host ?? new URL(baseUrl).host;
    forwardHeaders['x-forwarded-proto'] = 'http';
    const proxyReq = httpRequest(new URL(`${url.pathname}${url.search}`, streamingUri), {
      method,
      headers: forwardHeaders,
    });
    const proxyResponse = new Promise<IncomingMessage>((resolve, reject) => {
      proxyReq.once('response', resolve);
      proxyReq.once('error', reject);
    });
    proxyResponse.catch(() => undefined);
    let total = 0;
    let overCap = false;
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        total += chunk.length;
        idle.arm();
        if (limits.maxRequestBodyBytes !== false && total > limits.maxRequestBodyBytes) {
          overCap = true;
          callback(new BodyTooLargeError(limits.maxRequestBodyBytes));
        } else callback(null, chunk);
      },
    });
    // The client's request is piped, not joined to the pipeline: when the forward ends early the
    // client connection must stay usable for the answer.
    req.pipe(counter);
    pipeline(counter, proxyReq).catch(() => undefined);

    const invocation = invokeRegistered(
      options.registry,
      route.fn,
      {
        invocationId,
        inputData: [
          {
            name: route.triggerName,
            data: {
              http: { method, url: url.href, headers, query: Object.fromEntries(url.searchParams), params },
            },
          },
          ...options.bindings.extraInputs(route.fn),
        ],
        triggerMetadata: httpTriggerMetadata(headers, url, params),
      },
      options.logger,
    );
    const first = await Promise.race([
      proxyResponse.then(
        (r) => ({ kind: 'response' as const, r }),
        () => ({ kind: 'proxyError' as const }),
      ),
      invocation.then(
        (r) => ({ kind: 'done' as const, r }),
        (err: unknown) => ({ kind: 'failed' as const, err }),
      ),
    ]);
    let upstream: IncomingMessage | undefined;
    if (first.kind === 'response') upstream = first.r;
    else if (first.kind === 'done') {
      // The library writes its answer to the proxy before the invocation resolves; a function that
      // returned nothing writes none (204, as without streaming).
      upstream = await Promise.race([
        proxyResponse.catch(() => undefined),
        new Promise<undefined>((resolve) =>
          setTimeout(() => resolve(undefined), PROXY_ANSWER_GRACE_MS).unref(),
        ),
      ]);
    }
    if (!upstream) {
      proxyReq.destroy();
      const outcome = await invocation.then(
        (r) => ({ ok: true as const, r }),
        (err: unknown) => ({ ok: false as const, err }),
      );
      if (!outcome.ok) {
        logFailure(route, outcome.err);
        return overCap ? refuse(res, 413) : send(res, 500, {});
      }
      idle.stop();
      return respond(res, route, params, outcome.r);
    }
    idle.stop();
    if (res.headersSent) {
      upstream.resume();
    } else {
      const resHeaders: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(upstream.headers)) {
        if (v !== undefined && !HOP_BY_HOP.has(k) && k !== 'x-ms-invocation-id') resHeaders[k] = v;
      }
      res.writeHead(upstream.statusCode ?? 200, resHeaders);
      await pipeline(upstream, res).catch(() => undefined);
    }
    try {
      const response = await invocation;
      await options.bindings.applyOutputs(
        route.fn,
        (response.outputData ?? []).filter((o) => route.fn.metadata.bindings[o.name]?.type !== 'http'),
        params,
      );
    } catch (err) {
      logFailure(route, err);
    }
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', baseUrl);
    const method = (req.method ?? 'GET').toUpperCase();
    // Keys are checked before any byte of the body is read.
    const headerKey = req.headers[FUNCTIONS_KEY_HEADER];
    const presented = typeof headerKey === 'string' ? headerKey : (url.searchParams.get('code') ?? undefined);

    if (url.pathname === WEBHOOK_PREFIX || url.pathname.startsWith(`${WEBHOOK_PREFIX}/`)) {
      // Extension webhooks: the extension's system key or the master key (HostController).
      if (!keyMatches(presented, systemKey, keys.masterKey)) return refuse(res, 401);
      if (declaresTooLarge(req, limits.maxRequestBodyBytes)) return refuse(res, 413);
      return durableApi(req, res, url, method);
    }

    const admin = /^\/admin\/functions\/([^/]+)$/.exec(url.pathname);
    if (admin && method === 'POST') {
      if (!keyMatches(presented, options.functionsKey, keys.masterKey)) return refuse(res, 401);
      return refuse(res, options.runNow?.(decodeURIComponent(admin[1] as string)) ? 202 : 404);
    }

    const path = url.pathname.replace(/^\/+/, '');
    if (prefix && !(path === prefix || path.startsWith(`${prefix}/`))) return refuse(res, 404);
    const rest = (prefix ? path.slice(prefix.length) : path)
      .split('/')
      .filter((s) => s !== '')
      .map(decodeURIComponent);
    let matched: { route: CompiledRoute; params: Record<string, string> } | undefined;
    let methodMismatch = false;
    for (const route of routes) {
      const params = matchRoute(route, rest);
      if (!params) continue;
      if (route.methods && !route.methods.includes(method)) {
        methodMismatch = true;
        continue;
      }
      matched = { route, params };
      break;
    }
    if (!matched) return refuse(res, methodMismatch ? 405 : 404);
    const { route, params } = matched;
    const authorized =
      route.authLevel === 'anonymous' ||
      (route.authLevel === 'admin'
        ? keyMatches(presented, keys.masterKey)
        : keyMatches(presented, options.functionsKey, keys.masterKey));
    if (!authorized) return refuse(res, 401);
    if (declaresTooLarge(req, limits.maxRequestBodyBytes)) return refuse(res, 413);

    const idle = idleCutoff(res, limits.httpIdleTimeoutMs, () =>
      options.logger(
        'warning',
        'system',
        route.fn.metadata.name,
        `No response within the front end's idle timeout (${String(limits.httpIdleTimeoutMs)} ms): answered 502; the function keeps running and its answer is dropped.`,
      ),
    );
    const call: RouteCall = { req, res, route, params, url, method, idle };
    return options.streamingUri ? invokeStreaming(call, options.streamingUri) : invokeBuffered(call);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      options.logger('error', 'system', 'http', String(err));
      if (!res.headersSent) send(res, 500, {});
      else res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  baseUrl = `http://${options.host}:${port}`;
  return {
    server,
    baseUrl,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
