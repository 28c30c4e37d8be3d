import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  AdfsCredential,
  AuthError,
  adfsTokenEndpoint,
  createCredential,
  environmentScope,
  isMicrosoftAuthorityHost,
  type AuthEnvironment,
} from '../../../src/shared/auth/index.js';
import { EnvironmentConfigSchema } from '../../../src/shared/config/index.js';
import { createEnvironmentClients } from '../../../src/shared/dmf/index.js';
import { ConfigError } from '../../../src/shared/errors.js';

const TENANT = '5f3b1c2e-0e6d-4b7a-9d1e-000000000d3f';
const CLIENT = '9b0b8e52-1c3a-4a8e-9f55-0000000c1e47';
import { startFakeServer, type FakeServer } from '../dmf/fake-server.js';

const tokenAnswer = (token: string, expiresIn: number | string = 3600) => ({
  status: 200,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ access_token: token, token_type: 'bearer', expires_in: expiresIn }),
});

describe('AdfsCredential', () => {
  let server: FakeServer;
  let now: number;
  let credential: AdfsCredential;

  beforeEach(async () => {
    server = await startFakeServer();
    now = 1_000_000;
    credential = new AdfsCredential({
      adfsUrl: `${server.url}/adfs/`,
      clientId: 'app-1',
      clientSecret: 's3cr3t',
      resource: 'https://aos.contoso.local',
      now: () => now,
    });
  });
  afterEach(async () => {
    await server.close();
  });

  it('posts client credentials with the resource to /adfs/oauth2/token', async () => {
    server.enqueue(tokenAnswer('t1'));
    const token = await credential.getToken('https://aos.contoso.local/.default');
    expect(token).toMatchObject({ token: 't1', expiresOnTimestamp: now + 3_600_000, tokenType: 'Bearer' });
    const call = server.calls[0]!;
    expect(call.url).toBe('/adfs/oauth2/token');
    expect(call.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(Object.fromEntries(new URLSearchParams(call.body))).toEqual({
      grant_type: 'client_credentials',
      client_id: 'app-1',
      client_secret: 's3cr3t',
      resource: 'https://aos.contoso.local',
    });
  });

  it('caches the token, refreshes it 5 minutes before expiry, and shares concurrent requests', async () => {
    server.enqueue(tokenAnswer('t1', '3600'), tokenAnswer('t2'));
    const [a, b] = await Promise.all([credential.getToken('x'), credential.getToken('x')]);
    expect([a.token, b.token]).toEqual(['t1', 't1']);
    now += 3_600_000 - 300_001;
    expect((await credential.getToken('x')).token).toBe('t1');
    now += 2;
    expect((await credential.getToken('x')).token).toBe('t2');
    expect(server.calls).toHaveLength(2);
  });

  it('asks AD FS again after invalidate()', async () => {
    server.enqueue(tokenAnswer('t1'), tokenAnswer('t2'));
    expect((await credential.getToken('x')).token).toBe('t1');
    credential.invalidate();
    expect((await credential.getToken('x')).token).toBe('t2');
  });

  it('throws AuthError with the AD FS error, never the secret', async () => {
    server.enqueue({
      status: 401,
      body: JSON.stringify({
        error: 'invalid_client',
        error_description: 'MSIS9622: Client authentication failed.',
      }),
    });
    const error = (await credential.getToken('x').catch((e: unknown) => e)) as AuthError;
    expect(error).toBeInstanceOf(AuthError);
    expect(error.status).toBe(401);
    expect(error.transient).toBe(false);
    expect(error.message).toContain('MSIS9622');
    expect(error.message).not.toContain('s3cr3t');
    server.enqueue({ status: 503 });
    expect(((await credential.getToken('x').catch((e: unknown) => e)) as AuthError).transient).toBe(true);
  });

  it('normalizes the AD FS url', () => {
    expect(adfsTokenEndpoint('https://adfs.contoso.com')).toBe('https://adfs.contoso.com/adfs/oauth2/token');
    expect(adfsTokenEndpoint('https://adfs.contoso.com/adfs/')).toBe(
      'https://adfs.contoso.com/adfs/oauth2/token',
    );
  });
});

describe('createCredential', () => {
  const env = (auth: AuthEnvironment['auth']): AuthEnvironment => ({
    name: 'prod',
    url: 'https://contoso.operations.dynamics.com/',
    auth,
  });

  it('reads secrets from the given settings only and names the missing one', () => {
    const config = env({
      kind: 'clientSecret',
      tenantId: 't',
      clientId: 'c',
      clientSecretSetting: 'FO_SECRET',
    });
    const error = (() => {
      try {
        createCredential(config, { env: {} });
      } catch (e) {
        return e;
      }
      return undefined;
    })() as ConfigError;
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.issues).toEqual([
      {
        path: 'environments.prod.auth.clientSecretSetting',
        message: expect.stringMatching(/^names an app setting that is not set/) as string,
      },
    ]);
    expect(() =>
      createCredential(config, { env: { FO_SECRET: '@Microsoft.KeyVault(SecretUri=https://kv/secrets/x)' } }),
    ).toThrow(/unresolved Key Vault reference/);
    expect(createCredential(config, { env: { FO_SECRET: 'x' } }).kind).toBe('clientSecret');
  });

  it('requires a certificate or certificate path setting', () => {
    expect(() =>
      createCredential(env({ kind: 'clientCertificate', tenantId: 't', clientId: 'c' }), { env: {} }),
    ).toThrow(ConfigError);
    expect(
      createCredential(
        env({ kind: 'clientCertificate', tenantId: 't', clientId: 'c', certificatePathSetting: 'P' }),
        {
          env: { P: '/certs/fo.pem' },
        },
      ).kind,
    ).toBe('clientCertificate');
  });

  it('builds managed identity and workload identity credentials without any secret', () => {
    expect(createCredential(env({ kind: 'managedIdentity' }), { env: {} }).kind).toBe('managedIdentity');
    expect(
      createCredential(env({ kind: 'workloadIdentity', tenantId: 't', clientId: 'c' }), { env: {} }).kind,
    ).toBe('workloadIdentity');
  });

  it('defaults the AD FS resource to the environment url', async () => {
    const server = await startFakeServer();
    try {
      server.enqueue(tokenAnswer('t'));
      const credential = createCredential(
        env({ kind: 'adfs', adfsUrl: server.url, clientId: 'c', clientSecretSetting: 'S' }),
        { env: { S: 'x' } },
      );
      expect((await credential.getToken('ignored'))?.token).toBe('t');
      expect(new URLSearchParams(server.calls[0]!.body).get('resource')).toBe(
        'https://contoso.operations.dynamics.com',
      );
    } finally {
      await server.close();
    }
  });

  it('accepts an environment as loaded by src/shared/config', () => {
    const loaded = EnvironmentConfigSchema.parse({
      name: 'uat',
      url: 'https://uat.sandbox.operations.dynamics.com/',
      auth: { kind: 'clientSecret', tenantId: TENANT, clientId: CLIENT, clientSecretSetting: 'UAT_SECRET' },
    });
    const clients = createEnvironmentClients(loaded, { env: { UAT_SECRET: 'x' } });
    expect(clients.scope).toBe('https://uat.sandbox.operations.dynamics.com/.default');
    expect(clients.packages.actionUrlPrefix).toBe(
      'https://uat.sandbox.operations.dynamics.com/data/DataManagementDefinitionGroups/Microsoft.Dynamics.DataEntities.',
    );
  });

  it('knows the Microsoft authority hosts and builds the environment scope', () => {
    expect(isMicrosoftAuthorityHost('https://login.microsoftonline.com')).toBe(true);
    expect(isMicrosoftAuthorityHost('https://login.microsoftonline.us/')).toBe(true);
    expect(isMicrosoftAuthorityHost('https://127.0.0.1:8443')).toBe(false);
    expect(environmentScope('https://contoso.operations.dynamics.com/')).toBe(
      'https://contoso.operations.dynamics.com/.default',
    );
  });
});
