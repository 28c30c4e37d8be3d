/** The HTTP answers and routes every API of the app shares, and the capped reading of bodies. */
import { Readable, Transform, type TransformCallback } from 'node:stream';
import {
  app,
  type HttpHandler,
  type HttpMethod,
  type HttpRequest,
  type HttpResponseInit,
} from '@azure/functions';
import * as df from 'durable-functions';

/** JSON error answer: `{ "error": { "code", "message" } }`. */
export function problem(status: number, code: string, message: string): HttpResponseInit {
  return { status, jsonBody: { error: { code, message } } };
}

/** Registers an HTTP route behind the function key; its handler may read the durable client. */
export function keyedRoute(name: string, method: HttpMethod, route: string, handler: HttpHandler): void {
  app.http(name, {
    methods: [method],
    authLevel: 'function',
    route,
    extraInputs: [df.input.durableClient()],
    handler,
  });
}

/** Largest JSON (or other small) request body the app reads: 64 KiB. */
export const MAX_JSON_BODY_BYTES = 64 * 1024;

/**
 * Largest body streamed into storage (`POST /api/imports`, `POST /api/recurring/imports`): the
 * Functions front end's own limit, 100 MB (104,857,600 bytes). Larger files go through
 * `POST /api/uploads` (a direct upload url).
 */
export const MAX_UPLOAD_BODY_BYTES = 104_857_600;

/** The 413 answer of a body over a cap. */
export function bodyTooLarge(maxBytes: number, hint = ''): HttpResponseInit {
  return problem(
    413,
    'BODY_TOO_LARGE',
    `The request body is larger than ${maxBytes} bytes.${hint ? ` ${hint}` : ''}`,
  );
}

/** The declared `Content-Length` is over `maxBytes` (a body without one is counted as it is read). */
export function declaredTooLarge(request: HttpRequest, maxBytes: number): boolean {
  const declared = Number(request.headers.get('content-length') ?? '');
  return Number.isFinite(declared) && declared > maxBytes;
}

/**
 * Reads a small body as text, at most `maxBytes` (never the whole of a larger one: reading stops
 * there). @returns the text, or undefined when the body is larger.
 */
export async function readSmallBody(
  request: HttpRequest,
  maxBytes = MAX_JSON_BODY_BYTES,
): Promise<string | undefined> {
  if (declaredTooLarge(request, maxBytes)) return undefined;
  if (!request.body) return '';
  const reader = (request.body as ReadableStream<Uint8Array>).getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => undefined);
      return undefined;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** A pass-through that fails once more than `maxBytes` went through; `exceeded` tells why it failed. */
export class ByteCap extends Transform {
  bytes = 0;
  exceeded = false;

  constructor(readonly maxBytes: number) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.maxBytes) {
      this.exceeded = true;
      callback(new Error(`more than ${this.maxBytes} bytes`));
    } else callback(null, chunk);
  }
}

/**
 * The request body as a Node stream, or undefined when it is empty (its first chunk is read to
 * know: an empty body must not overwrite a blob with nothing). Never buffers more than one chunk.
 */
export async function nonEmptyBody(request: HttpRequest): Promise<Readable | undefined> {
  if (!request.body) return undefined;
  const reader = (request.body as ReadableStream<Uint8Array>).getReader();
  let first: Awaited<ReturnType<typeof reader.read>>;
  do first = await reader.read();
  while (!first.done && first.value.byteLength === 0);
  if (first.done) return undefined;
  const head = first.value;
  async function* chunks(): AsyncGenerator<Uint8Array> {
    yield head;
    try {
      for (;;) {
        const next = await reader.read();
        if (next.done) return;
        yield next.value;
      }
    } finally {
      reader.releaseLock();
    }
  }
  return Readable.from(chunks(), { objectMode: false });
}
