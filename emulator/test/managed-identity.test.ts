import { ClientAssertionCredential, ManagedIdentityCredential } from '@azure/identity';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_CLIENT_ID,
  DEFAULT_CONFIG,
  DEFAULT_FEDERATED_SUBJECT,
  DEFAULT_MANAGED_IDENTITY_CLIENT_ID,
  MANAGED_IDENTITY_API_VERSION,
  type RunningEmulator,
} from '../index.js';
import { action, startTestEmulator } from './helpers.js';

/** A user-assigned identity next to the built-in (system-assigned) one; not trusted by any client. */
const USER_ASSIGNED = '3a4b5c6d-7e8f-4a1b-8c2d-00000000b2e8';

let em: RunningEmulator;
beforeAll(async () => {
  em = await startTestEmulator({
    config: {
      ...DEFAULT_CONFIG,
      managedIdentities: [
        ...(DEFAULT_CONFIG.managedIdentities ?? []),
        { clientId: USER_ASSIGNED, principalId: 'c0ffee00-0000-4000-8000-000000000001' },
      ],
      environments: [
        {
          name: 'default',
          clients: [DEFAULT_CLIENT_ID, DEFAULT_MANAGED_IDENTITY_CLIENT_ID, USER_ASSIGNED],
        },
      ],
    },
  });
});
afterAll(async () => {
  await em?.stop();
});

function decode(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<
    string,
    unknown
  >;
}

async function msi(
  params: Record<string, string>,
  header: string | null = em.managedIdentity.identityHeader,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const url = new URL(em.managedIdentity.identityEndpoint);
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  const res = await fetch(url, { headers: header === null ? {} : { 'x-identity-header': header } });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** Sets IDENTITY_ENDPOINT/IDENTITY_HEADER while `fn` constructs and uses credentials. */
async function withIdentityEnv<T>(fn: () => Promise<T>): Promise<T> {
  const saved = { endpoint: process.env.IDENTITY_ENDPOINT, header: process.env.IDENTITY_HEADER };
  process.env.IDENTITY_ENDPOINT = em.managedIdentity.identityEndpoint;
  process.env.IDENTITY_HEADER = em.managedIdentity.identityHeader;
  try {
    return await fn();
  } finally {
    if (saved.endpoint === undefined) delete process.env.IDENTITY_ENDPOINT;
    else process.env.IDENTITY_ENDPOINT = saved.endpoint;
    if (saved.header === undefined) delete process.env.IDENTITY_HEADER;
    else process.env.IDENTITY_HEADER = saved.header;
  }
}

describe('managed identity endpoint (App Service protocol)', () => {
  it('issues a token for an environment audience that the F&O endpoints accept', async () => {
    const r = await msi({ resource: em.baseUrl, 'api-version': MANAGED_IDENTITY_API_VERSION });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ resource: em.baseUrl, token_type: 'Bearer' });
    expect(String(r.body.expires_on)).toMatch(/^\d+$/);
    expect(Number(r.body.expires_on)).toBeGreaterThan(Date.now() / 1000 + 3000);
    const token = String(r.body.access_token);
    expect(decode(token)).toMatchObject({ aud: em.baseUrl, appid: DEFAULT_MANAGED_IDENTITY_CLIENT_ID });
    expect((await action(em, 'GetAzureWriteUrl', { uniqueFileName: 'mi.zip' }, token)).status).toBe(200);
  });

  it('selects a user-assigned identity by client_id or principal_id', async () => {
    const byClient = await msi({
      resource: `${em.baseUrl}/`,
      'api-version': MANAGED_IDENTITY_API_VERSION,
      client_id: USER_ASSIGNED,
    });
    expect(decode(String(byClient.body.access_token)).appid).toBe(USER_ASSIGNED);
    const byPrincipal = await msi({
      resource: em.baseUrl,
      'api-version': MANAGED_IDENTITY_API_VERSION,
      principal_id: 'c0ffee00-0000-4000-8000-000000000001',
    });
    expect(decode(String(byPrincipal.body.access_token)).appid).toBe(USER_ASSIGNED);
  });

  it('refuses a wrong header, a wrong api-version, an unknown identity and an unknown resource', async () => {
    const ok = { resource: em.baseUrl, 'api-version': MANAGED_IDENTITY_API_VERSION };
    expect((await msi(ok, null)).status).toBe(401);
    expect((await msi(ok, 'wrong')).status).toBe(401);
    expect((await msi({ ...ok, 'api-version': '2017-09-01' })).status).toBe(400);
    expect((await msi({ ...ok, client_id: '00000000-0000-4000-8000-00000000dead' })).status).toBe(400);
    const unknown = await msi({ ...ok, resource: 'https://contoso.operations.dynamics.com' });
    expect(unknown.status).toBe(400);
    expect(String(unknown.body.message)).toContain('AADSTS500011');
  });

  it('works with @azure/identity ManagedIdentityCredential (system- and user-assigned)', async () => {
    await withIdentityEnv(async () => {
      const system = await new ManagedIdentityCredential().getToken(em.credentials.scope);
      expect(decode(system.token)).toMatchObject({
        aud: em.baseUrl,
        appid: DEFAULT_MANAGED_IDENTITY_CLIENT_ID,
      });
      expect(system.expiresOnTimestamp).toBeGreaterThan(Date.now());
      expect(
        (await action(em, 'GetAzureWriteUrl', { uniqueFileName: 'mi-sdk.zip' }, system.token)).status,
      ).toBe(200);
      const user = await new ManagedIdentityCredential({ clientId: USER_ASSIGNED }).getToken(
        em.credentials.scope,
      );
      expect(decode(user.token).appid).toBe(USER_ASSIGNED);
    });
  });

  it('workload identity: a managed identity assertion signs in an app that trusts its subject', async () => {
    await withIdentityEnv(async () => {
      const mi = new ManagedIdentityCredential();
      const assertion = await mi.getToken('api://AzureADTokenExchange/.default');
      expect(decode(assertion.token)).toMatchObject({
        aud: 'api://AzureADTokenExchange',
        sub: DEFAULT_FEDERATED_SUBJECT,
      });
      const app = new ClientAssertionCredential(
        em.tenantId,
        em.credentials.clientId,
        async () => (await mi.getToken('api://AzureADTokenExchange/.default')).token,
        { authorityHost: em.authorityHost, disableInstanceDiscovery: true },
      );
      const token = await app.getToken(em.credentials.scope);
      expect(decode(token.token)).toMatchObject({ aud: em.baseUrl, appid: em.credentials.clientId });
      expect((await action(em, 'GetAzureWriteUrl', { uniqueFileName: 'wi.zip' }, token.token)).status).toBe(
        200,
      );
      // The user-assigned identity's subject (its principal id) is trusted by no client.
      const untrusted = new ClientAssertionCredential(
        em.tenantId,
        em.credentials.clientId,
        async () =>
          (
            await new ManagedIdentityCredential({ clientId: USER_ASSIGNED }).getToken(
              'api://AzureADTokenExchange/.default',
            )
          ).token,
        { authorityHost: em.authorityHost, disableInstanceDiscovery: true },
      );
      await expect(untrusted.getToken(em.credentials.scope)).rejects.toThrow(/AADSTS700213/);
    });
  });
});
