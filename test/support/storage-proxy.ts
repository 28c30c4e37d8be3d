/**
 * An HTTP proxy in front of Azurite's blob service that answers chosen requests with a storage
 * error, as the real service does under load (500 InternalError, 503 ServerBusy). Requests pass
 * through untouched otherwise (Shared Key signatures do not cover the host, so they stay valid).
 */
import { createServer, request, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A request the proxy saw: method, path (query string apart) and headers. */
export interface ProxiedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: Record<string, string | string[] | undefined>;
}

/** A running {@link startStorageFaultProxy}. */
export interface StorageFaultProxy {
  /** The Azurite connection string with its BlobEndpoint moved to the proxy. */
  connectionString: string;
  /**
   * Requests for which `match` is true are answered `status` with a storage error body (`code`,
   * default InternalError) instead of being forwarded, `times` times (default: until {@link clear}).
   */
  fail(
    match: (req: ProxiedRequest) => boolean,
    options?: { status?: number; code?: string; times?: number },
  ): void;
  clear(): void;
  /** Requests answered with an injected error so far. */
  failed: ProxiedRequest[];
  close(): Promise<void>;
}

/** Starts a {@link StorageFaultProxy} for the Azurite of `connectionString`. */
export async function startStorageFaultProxy(connectionString: string): Promise<StorageFaultProxy> {
  const endpoint = /BlobEndpoint=([^;]+)/.exec(connectionString)?.[1];
  if (!endpoint) throw new Error('the connection string names no BlobEndpoint');
  const target = new URL(endpoint);
  const rules: { match: (req: ProxiedRequest) => boolean; status: number; code: string; left: number }[] = [];
  const failed: ProxiedRequest[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    const url = new URL(req.url ?? '/', 'http://proxy');
    const seen = {
      method: req.method ?? 'GET',
      path: decodeURIComponent(url.pathname),
      query: url.searchParams,
      headers: req.headers,
    };
    const rule = rules.find((r) => r.left > 0 && r.match(seen));
    if (rule) {
      rule.left--;
      failed.push(seen);
      req.resume();
      const body =
        `<?xml version="1.0" encoding="utf-8"?><Error><Code>${rule.code}</Code>` +
        '<Message>Injected by the test proxy.</Message></Error>';
      res.writeHead(rule.status, {
        'content-type': 'application/xml',
        'x-ms-error-code': rule.code,
        'content-length': Buffer.byteLength(body),
      });
      res.end(body);
      return;
    }
    const upstream = request(
      {
        host: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: target.host },
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const moved = new URL(endpoint);
  moved.hostname = '127.0.0.1';
  moved.port = String(port);
  return {
    connectionString: connectionString.replace(endpoint, moved.toString().replace(/\/$/, '')),
    fail(match, options = {}) {
      rules.push({
        match,
        status: options.status ?? 500,
        code: options.code ?? 'InternalError',
        left: options.times ?? Number.POSITIVE_INFINITY,
      });
    },
    clear() {
      rules.length = 0;
    },
    failed,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
