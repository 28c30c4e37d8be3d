import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import {
  DEFAULT_CLIENT_ID,
  DEFAULT_CONFIG,
  buildPackage,
  type RunningEmulator,
} from '@dmf-functions/emulator';
import type { AuthEnvironment } from '../../../src/shared/auth/index.js';
import {
  createEnvironmentClients,
  type EnvironmentClients,
  type RetryOptions,
} from '../../../src/shared/dmf/index.js';

/** The emulator's built-in config plus an on-premises environment. */
export const CONFIG_WITH_ONPREM = {
  ...DEFAULT_CONFIG,
  environments: [
    ...(DEFAULT_CONFIG.environments ?? []),
    { name: 'onprem', type: 'onprem' as const, port: 0, clients: [DEFAULT_CLIENT_ID] },
  ],
};

export { startTestEmulator } from '@dmf-functions/emulator/fixture';

/** The client-secret environment config of an emulator environment. */
export function secretEnvironment(
  emu: RunningEmulator,
  baseUrl = emu.baseUrl,
  onPremises = false,
): AuthEnvironment {
  return {
    name: 'default',
    url: baseUrl,
    onPremises,
    auth: {
      kind: 'clientSecret',
      tenantId: emu.tenantId,
      clientId: emu.credentials.clientId,
      clientSecretSetting: 'FO_CLIENT_SECRET',
      authorityHost: emu.authorityHost,
    },
  };
}

/** App settings holding the emulator's client secret. */
export function settingsOf(emu: RunningEmulator): Record<string, string> {
  return { FO_CLIENT_SECRET: emu.credentials.clientSecret ?? '' };
}

/**
 * Retry options whose sleep advances the emulator's manual clock instead of waiting, so the call log shows
 * the gap the client waited while the test runs instantly.
 */
export function emulatorTime(emu: RunningEmulator): { delays: number[]; retry: Partial<RetryOptions> } {
  const delays: number[] = [];
  return {
    delays,
    retry: {
      sleep: async (ms) => {
        delays.push(ms);
        await emu.control.advanceClock(ms);
      },
    },
  };
}

/** Package and recurring clients for the emulator's first environment with real @azure/identity auth. */
export function clientsFor(
  emu: RunningEmulator,
  options: { retry?: Partial<RetryOptions>; timeoutMs?: number } = {},
): EnvironmentClients {
  return createEnvironmentClients(secretEnvironment(emu), { env: settingsOf(emu), ...options });
}

/** The calls the emulator logged while `run` ran, in order. */
export async function callsDuring(
  emu: RunningEmulator,
  run: () => Promise<unknown>,
): Promise<Awaited<ReturnType<RunningEmulator['control']['calls']>>> {
  const before = (await emu.control.calls()).length;
  await run();
  return (await emu.control.calls()).slice(before);
}

/** The calls the emulator logged while `run` ran, as `route status` lines. */
export async function routesDuring(emu: RunningEmulator, run: () => Promise<unknown>): Promise<string[]> {
  return (await callsDuring(emu, run)).map((c) => `${c.route} ${c.status}`);
}

/**
 * Makes `route` answer 429 with `Retry-After: {seconds}` once, then runs `run` with clients whose
 * retry sleeps move the emulator clock: the HTTP status of each call to `route`, the gap between the
 * first two (emulator time), and the delays the clients waited.
 */
export async function throttledOnce(
  emu: RunningEmulator,
  route: string,
  seconds: number,
  run: (clients: EnvironmentClients) => Promise<unknown>,
): Promise<{ statuses: number[]; gapMs: number; delays: number[] }> {
  const time = emulatorTime(emu);
  const clients = clientsFor(emu, { retry: time.retry });
  await emu.control.setFault({ route, kind: 'status', status: 429, retryAfterSeconds: seconds, times: 1 });
  const calls = (await callsDuring(emu, () => run(clients))).filter((c) => c.route === route);
  const gapMs = Date.parse(calls[1]?.startedAt ?? '') - Date.parse(calls[0]?.startedAt ?? '');
  return { statuses: calls.map((c) => c.status), gapMs, delays: time.delays };
}

/**
 * `call` twice around a token expiry (the next token lives 600 s, then the clock moves 601 s): the
 * calls logged meanwhile, as `route status` lines.
 */
export async function routesAcrossTokenExpiry(
  emu: RunningEmulator,
  call: (fileName: string) => Promise<unknown>,
): Promise<string[]> {
  await emu.control.setFault({ route: 'token', kind: 'tokenExpiry', seconds: 600, times: 1 });
  return routesDuring(emu, async () => {
    await call('before-expiry.zip');
    await emu.control.advanceClock(601_000);
    await call('after-expiry.zip');
  });
}

/** A small CustomerImport package; a cell containing `#BAD#` makes its row a staging error. */
export async function customerPackage(rows: string[][]): Promise<Buffer> {
  return buildPackage({
    definitionGroupName: 'CustomerImport',
    entities: [{ entityName: 'Customers V3', columns: ['CustomerAccount', 'Name'], rows }],
  });
}

/** A Readable over a buffer, in small chunks (so uploads really stream). */
export function streamOf(bytes: Buffer): Readable {
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += 1024) chunks.push(bytes.subarray(i, i + 1024));
  return Readable.from(chunks);
}

/** An HTTP proxy in front of an emulator environment that can lose answers after F&O processed the request. */
export interface LosingProxy {
  /** `http://127.0.0.1:{port}`: use as the client's base url (keep the emulator's scope). */
  url: string;
  /** The next request whose path ends with `pathSuffix` is forwarded, answered by F&O, and its answer dropped. */
  loseNextAnswer(pathSuffix: string): void;
  close(): Promise<void>;
}

/** Starts a {@link LosingProxy} forwarding to `target` (an emulator base url). */
export async function startLosingProxy(target: string): Promise<LosingProxy> {
  const pending: string[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const headers: Record<string, string> = {};
        for (const name of ['authorization', 'content-type', 'accept']) {
          const value = req.headers[name];
          if (typeof value === 'string') headers[name] = value;
        }
        const upstream = await fetch(`${target}${req.url ?? '/'}`, {
          method: req.method ?? 'GET',
          headers,
          ...(chunks.length > 0 ? { body: Buffer.concat(chunks) } : {}),
          redirect: 'manual',
        });
        const body = Buffer.from(await upstream.arrayBuffer());
        const index = pending.findIndex((suffix) => (req.url ?? '').split('?')[0]!.endsWith(suffix));
        if (index >= 0) {
          pending.splice(index, 1);
          req.socket.destroy();
          return;
        }
        res.writeHead(upstream.status, Object.fromEntries(upstream.headers));
        res.end(body);
      })().catch(() => req.socket.destroy());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    loseNextAnswer: (suffix) => pending.push(suffix),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
