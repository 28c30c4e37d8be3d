import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AppRegistry, RegisteredFunction } from './core-api.js';
import type { RpcHttpData, RpcTypedData } from './core-types.js';
import type { BindingServices } from './bindings.js';
import type { DurableEngine } from './durable/engine.js';
import { handleDurableRequest, RPC_PREFIX, WEBHOOK_PREFIX } from './durable/http-api.js';
import { invokeRegistered } from './invoke.js';
import type { HostLogger } from './invoke.js';

/** Header carrying the function key, as on Azure. */
export const FUNCTIONS_KEY_HEADER = 'x-functions-key';

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

/** Options for {@link startHttpServer}. */
export interface HttpServerOptions {
  registry: AppRegistry;
  engine: DurableEngine;
  logger: HostLogger;
  functionsKey: string;
  port: number;
  host: string;
  routePrefix: string;
  /** Extra inputs and output bindings. */
  bindings: BindingServices;
  /** Runs a non-HTTP function now (`POST /admin/functions/{name}`, key required); false if unknown. */
  runNow?: (name: string) => boolean;
}

/** A listening HTTP server of the host. */
export interface RunningHttpServer {
  server: Server;
  baseUrl: string;
  close(): Promise<void>;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
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
  res.writeHead(status, headers);
  res.end(body);
}

/**
 * Serves HTTP triggers under `/{routePrefix}/…` (function keys enforced for authLevel function/admin)
 * and the Durable HTTP API (`/durabletask/…` for the client, `/runtime/webhooks/durabletask/…`
 * for status links, which require the key in `code`).
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

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', baseUrl);
    const method = (req.method ?? 'GET').toUpperCase();
    const body = await readBody(req);
    const keyOk = (): boolean =>
      req.headers[FUNCTIONS_KEY_HEADER] === options.functionsKey ||
      url.searchParams.get('code') === options.functionsKey;

    for (const [apiPrefix, needsKey] of [
      [RPC_PREFIX, false],
      [WEBHOOK_PREFIX, true],
    ] as const) {
      if (url.pathname.startsWith(apiPrefix)) {
        if (needsKey && !keyOk()) return send(res, 401, {});
        const r = await handleDurableRequest(options.engine, {
          method,
          path: url.pathname.slice(apiPrefix.length),
          query: url.searchParams,
          body: body.toString('utf8'),
          baseUrl,
          functionsKey: options.functionsKey,
        });
        return send(
          res,
          r.status,
          { 'content-type': 'application/json; charset=utf-8', ...r.headers },
          r.body === undefined ? undefined : JSON.stringify(r.body),
        );
      }
    }

    const admin = /^\/admin\/functions\/([^/]+)$/.exec(url.pathname);
    if (admin && method === 'POST') {
      if (!keyOk()) return send(res, 401, {});
      return send(res, options.runNow?.(decodeURIComponent(admin[1] as string)) ? 202 : 404, {});
    }

    const path = url.pathname.replace(/^\/+/, '');
    if (prefix && !(path === prefix || path.startsWith(`${prefix}/`))) return send(res, 404, {});
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
    if (!matched) return send(res, methodMismatch ? 405 : 404, {});
    const { route, params } = matched;
    if (route.authLevel !== 'anonymous' && !keyOk()) return send(res, 401, {});

    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) {
      if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
    }
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
          triggerMetadata: {},
        },
        options.logger,
      );
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
    } catch (err) {
      options.logger(
        'error',
        'system',
        route.fn.metadata.name,
        `Executed with error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
      );
      return send(res, 500, {});
    }
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
