import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DURABLE_SYSTEM_KEY_NAME, HOST_SECRETS_FILE, startHost } from '../index.js';
import type { RunningHost } from '../index.js';

const appRoot = join(import.meta.dirname, 'fixtures', 'durable-app');
let host: RunningHost;
let dataDir: string;
let systemKey: string;
const webhook = (path: string): string => `${host.baseUrl}/runtime/webhooks/durabletask${path}`;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'devhost-durable-api-'));
  host = await startHost({ appRoot, dataDir, logger: () => {}, startTriggers: false });
  systemKey = host.systemKeys[DURABLE_SYSTEM_KEY_NAME] ?? '';
});

afterAll(async () => {
  await host?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

async function startViaApp(name: string, input: unknown): Promise<Record<string, string>> {
  const res = await fetch(`${host.baseUrl}/api/orchestrators/${name}`, {
    method: 'POST',
    headers: { 'x-functions-key': host.functionsKey, 'content-type': 'application/json' },
    body: JSON.stringify(input),
  });
  expect(res.status).toBe(202);
  return (await res.json()) as Record<string, string>;
}

describe('durable HTTP API: only under /runtime/webhooks/durabletask, with the system or master key', () => {
  it('no longer serves the keyless /durabletask/ API on the public port (no job input leaks)', async () => {
    const { id } = await startViaApp('sequence', { prefix: 'secret-input' });
    await host.durable.waitForCompletion(id as string);
    const listing = await fetch(`${host.baseUrl}/durabletask/instances`);
    expect(listing.status).toBe(404);
    expect(await listing.text()).not.toContain('secret-input');
    const start = await fetch(`${host.baseUrl}/durabletask/orchestrators/sequence/x`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: '{"prefix":"csrf"}',
    });
    expect(start.status).toBe(404);
    expect(await host.durable.getStatus('x')).toBeUndefined();
  });

  it('refuses the webhook API without a key or with the function key (401), answers the system and master keys', async () => {
    const { id } = await startViaApp('sequence', { prefix: 'listed' });
    await host.durable.waitForCompletion(id as string);
    expect((await fetch(webhook('/instances'))).status).toBe(401);
    expect((await fetch(webhook(`/instances?code=${host.functionsKey}`))).status).toBe(401);
    expect(
      (await fetch(webhook('/instances'), { headers: { 'x-functions-key': host.functionsKey } })).status,
    ).toBe(401);
    const bySystemKey = await fetch(webhook('/instances'), { headers: { 'x-functions-key': systemKey } });
    expect(bySystemKey.status).toBe(200);
    expect(JSON.stringify(await bySystemKey.json())).toContain('listed');
    expect((await fetch(webhook(`/instances/${id}?code=${host.masterKey}`))).status).toBe(200);
  });

  it('refuses a text/plain start (what any web page can send) with 415 and starts nothing, even with the key', async () => {
    const keyless = await fetch(webhook('/orchestrators/sequence/csrf-1'), {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: '{"prefix":"csrf"}',
    });
    expect(keyless.status).toBe(401);
    const plain = await fetch(webhook(`/orchestrators/sequence/csrf-2?code=${systemKey}`), {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: '{"prefix":"csrf"}',
    });
    expect(plain.status).toBe(415);
    expect(await host.durable.getStatus('csrf-1')).toBeUndefined();
    expect(await host.durable.getStatus('csrf-2')).toBeUndefined();
    const json = await fetch(webhook(`/orchestrators/sequence/json-1?code=${systemKey}`), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"prefix":"ok"}',
    });
    expect(json.status).toBe(202);
    expect((await host.durable.waitForCompletion('json-1')).runtimeStatus).toBe('Completed');
  });

  it('answers raiseEvent with a non-JSON body 400, as the extension does', async () => {
    const { id } = await startViaApp('approval', {});
    const raise = (contentType: string): Promise<Response> =>
      fetch(webhook(`/instances/${id}/raiseEvent/approve?code=${systemKey}`), {
        method: 'POST',
        headers: { 'content-type': contentType },
        body: JSON.stringify({ ok: true }),
      });
    const plain = await raise('text/plain');
    expect(plain.status).toBe(400);
    expect(await plain.json()).toEqual({ Message: 'Only application/json request content is supported' });
    expect((await raise('application/json')).status).toBe(202);
  });

  it('signals an entity with a JSON body as JSON and any other body as a string; broken JSON is 400', async () => {
    const signal = (contentType: string, body: string): Promise<Response> =>
      fetch(webhook(`/entities/counter/api-e1?op=add&code=${systemKey}`), {
        method: 'POST',
        headers: { 'content-type': contentType },
        body,
      });
    expect((await signal('application/json', '{broken')).status).toBe(400);
    expect((await signal('application/json', '5')).status).toBe(202);
    expect((await signal('text/plain', 'note')).status).toBe(202);
  });

  it('hands out management links that carry the system key, never the function key, as Azure does', async () => {
    const body = await startViaApp('sequence', { prefix: 'links' });
    const text = JSON.stringify(body);
    expect(text).not.toContain(host.functionsKey);
    expect(text).not.toContain(host.masterKey);
    expect(body.statusQueryGetUri).toBe(
      `${host.baseUrl}/runtime/webhooks/durabletask/instances/${body.id}?taskHub=FixtureHub&connection=Storage&code=${systemKey}`,
    );
    await host.durable.waitForCompletion(body.id as string);
  });

  it('serves the durable client on an internal 127.0.0.1 listener that answers only under the secret path', async () => {
    const data = (await (
      await fetch(`${host.baseUrl}/api/binding-data`, { headers: { 'x-functions-key': host.functionsKey } })
    ).json()) as { rpcBaseUrl: string; requiredQueryStringParameters: string };
    const rpc = new URL(data.rpcBaseUrl);
    expect(rpc.hostname).toBe('127.0.0.1');
    expect(rpc.port).not.toBe(new URL(host.baseUrl).port);
    expect(rpc.pathname).toMatch(/^\/durabletask\/[A-Za-z0-9_-]{43}\/$/);
    expect(data.requiredQueryStringParameters).toBe(`code=${systemKey}`);
    // Without the secret segment nothing is served, not even the listing.
    expect((await fetch(`${rpc.origin}/durabletask/instances`)).status).toBe(404);
    expect((await fetch(`${rpc.origin}/durabletask/x/instances`)).status).toBe(404);
    const listed = await fetch(new URL('instances', data.rpcBaseUrl));
    expect(listed.status).toBe(200);
  });

  it('mints the system and master keys once (32 random bytes each), keeps them owner-only and reuses them', async () => {
    const file = join(dataDir, HOST_SECRETS_FILE);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const saved = JSON.parse(readFileSync(file, 'utf8')) as {
      masterKey: { value: string };
      systemKeys: { name: string; value: string }[];
    };
    expect(saved.masterKey.value).toBe(host.masterKey);
    expect(saved.systemKeys).toEqual([
      expect.objectContaining({ name: 'durabletask_extension', value: systemKey }),
    ]);
    expect(systemKey).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(new Set([systemKey, host.masterKey, host.functionsKey]).size).toBe(3);
  });
});
