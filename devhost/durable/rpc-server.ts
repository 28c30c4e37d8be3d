/**
 * The internal endpoint the durable client calls (`rpcBaseUrl` in the `durableClient` binding data).
 * On Azure the Durable extension serves it on its own listener on 127.0.0.1 (LocalHttpListener, port
 * 17071 or a random one in 30000-31000) inside the app's sandbox, without a key. A developer's
 * machine is shared, so this listener binds 127.0.0.1 on a random port and answers only under a
 * per-process random path segment that only the binding data carries: nothing without that secret
 * reaches the API. durable-functions builds every request as `new URL(relativePath, rpcBaseUrl)`,
 * so the secret segment is kept unchanged.
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { DurableEngine } from './engine.js';
import { handleDurableRequest, RPC_PREFIX } from './http-api.js';

/** Options for {@link startDurableRpcServer}. */
export interface DurableRpcServerOptions {
  engine: DurableEngine;
  /** Origin of the public API, for the management links in start answers. */
  publicBaseUrl: () => string;
  systemKey: string;
  jsonOnlyStarts: boolean;
  onError: (error: unknown) => void;
}

/** A running internal RPC endpoint. */
export interface DurableRpcServer {
  /** `http://127.0.0.1:{port}/durabletask/{secret}/`: what the binding data names as `rpcBaseUrl`. */
  rpcBaseUrl: string;
  close(): Promise<void>;
}

async function readAll(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Starts the internal Durable RPC endpoint on 127.0.0.1 with a random port and secret path. */
export async function startDurableRpcServer(options: DurableRpcServerOptions): Promise<DurableRpcServer> {
  const secret = randomBytes(32).toString('base64url');
  const prefix = `${RPC_PREFIX}${secret}/`;
  const reply = (
    res: ServerResponse,
    status: number,
    body?: unknown,
    headers: Record<string, string> = {},
  ) => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
    res.end(body === undefined ? undefined : JSON.stringify(body));
  };
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    // Nothing is read from a request that does not carry the secret.
    if (!url.pathname.startsWith(prefix)) {
      res.writeHead(404, { connection: 'close' });
      res.end();
      return;
    }
    const r = await handleDurableRequest(options.engine, {
      method: (req.method ?? 'GET').toUpperCase(),
      path: url.pathname.slice(prefix.length),
      query: url.searchParams,
      body: await readAll(req),
      contentType: req.headers['content-type'],
      publicBaseUrl: options.publicBaseUrl(),
      systemKey: options.systemKey,
      jsonOnlyStarts: options.jsonOnlyStarts,
    });
    reply(res, r.status, r.body, r.headers);
  };
  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      options.onError(err);
      if (!res.headersSent) reply(res, 500);
      else res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    rpcBaseUrl: `http://127.0.0.1:${port}${prefix}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
