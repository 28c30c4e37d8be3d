/**
 * A webhook receiver on 127.0.0.1 (random port) for the alert tests: records every request and
 * answers as planned — by default 200, or a list of statuses (and delays) for requests whose body
 * contains a given text, consumed in order.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request the receiver got. */
export interface ReceivedHook {
  path: string;
  contentType: string | undefined;
  text: string;
  body: unknown;
  /** The status it was answered. */
  status: number;
  /** When it came, and when it was answered (`Date.now()`; undefined while the answer is delayed). */
  at: number;
  answeredAt?: number;
}

/** One planned answer. */
export interface HookAnswer {
  status: number;
  delayMs?: number;
}

/** A running receiver. */
export interface WebhookReceiver {
  /** `http://127.0.0.1:{port}`. */
  url: string;
  received: ReceivedHook[];
  /** Requests to `path` whose body contains `text` get these answers, in order (then 200). */
  plan(path: string, text: string, answers: HookAnswer[]): void;
  /** Waits until `predicate` holds for the received requests (bounded). */
  until(predicate: (received: ReceivedHook[]) => boolean, timeoutMs?: number): Promise<ReceivedHook[]>;
  stop(): Promise<void>;
}

/** Starts a receiver; stop it in `afterAll`. */
export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const received: ReceivedHook[] = [];
  const plans: { path: string; text: string; answers: HookAnswer[] }[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const path = (req.url ?? '').split('?')[0] ?? '';
      const plan = plans.find((p) => p.path === path && text.includes(p.text) && p.answers.length > 0);
      const answer = plan?.answers.shift() ?? { status: 200 };
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        body = undefined;
      }
      const hook: ReceivedHook = {
        path,
        contentType: req.headers['content-type'],
        text,
        body,
        status: answer.status,
        at: Date.now(),
      };
      received.push(hook);
      setTimeout(() => {
        res.writeHead(answer.status, { 'content-type': 'text/plain' });
        res.end(answer.status < 300 ? 'ok' : 'no');
        hook.answeredAt = Date.now();
      }, answer.delayMs ?? 0);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    plan(path, text, answers) {
      plans.push({ path, text, answers: [...answers] });
    },
    async until(predicate, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      while (!predicate(received)) {
        if (Date.now() > deadline)
          throw new Error(`webhook: condition not met; got ${received.length} request(s)`);
        await new Promise((r) => setTimeout(r, 50));
      }
      return received;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
