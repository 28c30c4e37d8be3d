/** HTTP helpers of the emulator's listeners: bodies, answers, F&O's OData errors, log redaction. */
import type { IncomingMessage, ServerResponse } from 'node:http';

/** The body exceeded the allowed size. */
export class BodyTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`Request body larger than ${limit} bytes`);
    this.name = 'BodyTooLargeError';
  }
}

/** Reads a request body up to `limit` bytes (then rejects with BodyTooLargeError and drains the rest). */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (Number.isFinite(declared) && declared > limit) {
    req.resume();
    throw new BodyTooLargeError(limit);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > limit) {
      req.resume();
      throw new BodyTooLargeError(limit);
    }
    chunks.push(buf);
  }
  return Buffer.concat(chunks);
}

/**
 * Makes the answer of `res` never reach the client: whatever the handler sends is discarded and
 * the socket is destroyed when it ends the response ("processed, but the answer was lost").
 */
export function dropResponse(req: IncomingMessage, res: ServerResponse): void {
  const swallow = (): ServerResponse => res;
  res.writeHead = swallow;
  res.setHeader = swallow;
  res.write = () => true;
  res.end = () => {
    req.socket.destroy();
    return res;
  };
}

/** Sends a JSON body. */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; odata.metadata=minimal; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

/** Sends an empty body. */
export function sendEmpty(res: ServerResponse, status: number, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-length': '0', ...headers });
  res.end();
}

/** An error F&O answers with the OData error envelope ({@link odataErrorBody}). */
export class FoError extends Error {
  /** HTTP status to answer. */
  readonly status: number;
  /** .NET exception type shown in innererror.type. */
  readonly type: string;

  constructor(status: number, message: string, type = 'System.InvalidOperationException') {
    super(message);
    this.name = 'FoError';
    this.status = status;
    this.type = type;
  }
}

/** The OData error envelope F&O answers with. */
export function odataErrorBody(message: string, type = 'System.InvalidOperationException'): unknown {
  return {
    error: {
      code: '',
      message: 'An error has occurred.',
      innererror: {
        message,
        type,
        stacktrace: '   at Microsoft.Dynamics.DataEntities.DataManagementDefinitionGroup (emulated)',
      },
    },
  };
}

/** Removes `sig=` values and bearer tokens from text bound for logs. */
export function redact(text: string): string {
  return text
    .replace(/([?&]sig=)[^&\s"]+/gi, '$1REDACTED')
    .replace(/(Bearer\s+)[A-Za-z0-9._-]+/g, '$1REDACTED');
}
