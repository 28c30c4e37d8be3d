import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request the fake server received. */
export interface RecordedCall {
  method: string;
  /** Path and query. */
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
}

/** What a handler answers. `destroy` drops the connection without an answer. */
export interface FakeAnswer {
  status?: number;
  headers?: Record<string, string>;
  body?: string | Buffer;
  destroy?: boolean;
  /** Wait this long before answering (ms). */
  delayMs?: number;
}

type Handler = (call: RecordedCall) => FakeAnswer | Promise<FakeAnswer>;

/** A scripted HTTP server on 127.0.0.1 for unit tests: answers come from a queue, then a fallback. */
export interface FakeServer {
  url: string;
  calls: RecordedCall[];
  /** Queue answers for the next requests (first in, first out). */
  enqueue(...answers: (FakeAnswer | Handler)[]): void;
  /** Answer for requests when the queue is empty. */
  fallback(handler: Handler): void;
  close(): Promise<void>;
}

/** JSON success envelope as F&O sends it. */
export function odata(value: unknown): FakeAnswer {
  return {
    status: 200,
    headers: { 'content-type': 'application/json; odata.metadata=minimal' },
    body: JSON.stringify({ '@odata.context': 'https://fo/data/$metadata#Edm.String', value }),
  };
}

/** F&O's error shape. */
export function odataError(status: number, inner: string, headers: Record<string, string> = {}): FakeAnswer {
  return {
    status,
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({
      error: {
        code: '',
        message: 'An error has occurred.',
        innererror: { message: inner, type: 'System.InvalidOperationException', stacktrace: 'at X.Y()' },
      },
    }),
  };
}

/** Starts the fake server on a random loopback port. */
export async function startFakeServer(): Promise<FakeServer> {
  const queue: (FakeAnswer | Handler)[] = [];
  let fallback: Handler = () => ({ status: 500, body: 'no answer scripted' });
  const calls: RecordedCall[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const call: RecordedCall = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        at: Date.now(),
      };
      calls.push(call);
      const next = queue.shift() ?? fallback;
      void Promise.resolve(typeof next === 'function' ? next(call) : next).then(async (answer) => {
        if (answer.delayMs) await new Promise((r) => setTimeout(r, answer.delayMs));
        if (answer.destroy) {
          req.socket.destroy();
          return;
        }
        res.writeHead(answer.status ?? 200, answer.headers ?? {});
        res.end(answer.body ?? '');
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    enqueue: (...answers) => queue.push(...answers),
    fallback: (handler) => (fallback = handler),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A TokenCredential handing out `token-1`, `token-2`, … and counting invalidations. */
export function countingCredential(): {
  getToken: () => Promise<{ token: string; expiresOnTimestamp: number }>;
  invalidate: () => void;
  issued: number;
  invalidations: number;
} {
  const state = {
    issued: 0,
    invalidations: 0,
    current: 'token-1',
    getToken: async () => {
      state.issued += 1;
      return { token: state.current, expiresOnTimestamp: Date.now() + 3_600_000 };
    },
    invalidate: () => {
      state.invalidations += 1;
      state.current = `token-${state.invalidations + 1}`;
    },
  };
  return state;
}
