/** Raw HTTP for the local host's body-limit tests (fetch cannot show an answer given mid-upload). */
import { request } from 'node:http';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';

/**
 * POSTs `body` with node:http and resolves once the answer is in, even when the host answers and
 * closes the connection while the body is still being sent. `sentMb` is what left this side by then.
 */
export function postStream(
  url: string,
  headers: Record<string, string>,
  body: Readable,
): Promise<{ status: number; text: string; sentMb: number }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers });
    let socket: Socket | undefined;
    let status: number | undefined;
    let text = '';
    let done = false;
    const finish = (): void => {
      if (done || status === undefined) return;
      done = true;
      const sentMb = (socket?.bytesWritten ?? 0) / 1024 / 1024;
      body.unpipe(req);
      body.destroy();
      req.destroy();
      resolve({ status, text, sentMb });
    };
    req.on('socket', (s) => (socket = s));
    req.on('response', (res) => {
      status = res.statusCode;
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', finish);
      res.on('error', finish);
    });
    req.on('error', (err) => (status === undefined ? reject(err) : finish()));
    req.on('close', finish);
    body.pipe(req);
  });
}
