import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { caughtAs } from '../../support/caught.js';
import { DEFAULT_FEDERATED_SUBJECT, type RunningEmulator } from '@dmf-functions/emulator';
import { createCredential, type AuthEnvironment } from '../../../src/shared/auth/index.js';
import { DmfApiError, DmfPackageClient, RecurringClient } from '../../../src/shared/dmf/index.js';
import {
  CONFIG_WITH_ONPREM,
  secretEnvironment,
  settingsOf,
  startTestEmulator,
  callsDuring,
  routesAcrossTokenExpiry,
} from '../dmf/emulator-setup.js';

const caught = caughtAs(DmfApiError);

/**
 * An App Service-style managed identity endpoint (IDENTITY_ENDPOINT/IDENTITY_HEADER) on loopback, so the real
 * ManagedIdentityCredential runs: for `api://AzureADTokenExchange` it hands out the emulator's federated
 * assertion; for an F&O resource it hands out a token the emulator issued to its app (standing in for the
 * identity's own token).
 */
async function startIdentityEndpoint(
  emu: RunningEmulator,
): Promise<{ url: string; resources: string[]; server: Server }> {
  const resources: string[] = [];
  const server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const resource = url.searchParams.get('resource') ?? '';
      resources.push(resource);
      if (req.headers['x-identity-header'] !== 'test-identity-header') {
        res.writeHead(401).end();
        return;
      }
      let token: string;
      if (resource === 'api://AzureADTokenExchange') {
        token = await emu.control.federatedToken(DEFAULT_FEDERATED_SUBJECT);
      } else {
        const answer = await fetch(emu.tokenUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({
            grant_type: 'client_credentials',
            client_id: emu.credentials.clientId,
            client_secret: emu.credentials.clientSecret ?? '',
            scope: `${resource}/.default`,
          }),
        });
        token = ((await answer.json()) as { access_token: string }).access_token;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          access_token: token,
          expires_on: Math.floor(Date.now() / 1000) + 3600,
          resource,
          token_type: 'Bearer',
        }),
      );
    })().catch(() => res.writeHead(500).end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/msi/token`, resources, server };
}

describe('createCredential with real @azure/identity credentials against the emulator', () => {
  let emu: RunningEmulator;
  let identity: Awaited<ReturnType<typeof startIdentityEndpoint>>;
  const savedEnv = { endpoint: process.env.IDENTITY_ENDPOINT, header: process.env.IDENTITY_HEADER };
  let onpremUrl: string;

  beforeAll(async () => {
    emu = await startTestEmulator({ config: CONFIG_WITH_ONPREM });
    onpremUrl = emu.environments.find((e) => e.name === 'onprem')!.baseUrl;
    identity = await startIdentityEndpoint(emu);
    process.env.IDENTITY_ENDPOINT = identity.url;
    process.env.IDENTITY_HEADER = 'test-identity-header';
  });
  afterAll(async () => {
    if (savedEnv.endpoint === undefined) delete process.env.IDENTITY_ENDPOINT;
    else process.env.IDENTITY_ENDPOINT = savedEnv.endpoint;
    if (savedEnv.header === undefined) delete process.env.IDENTITY_HEADER;
    else process.env.IDENTITY_HEADER = savedEnv.header;
    await new Promise<void>((resolve) => (identity ? identity.server.close(() => resolve()) : resolve()));
    await emu?.stop();
  });

  const cloud = (auth: AuthEnvironment['auth']): AuthEnvironment => ({
    name: 'default',
    url: emu.baseUrl,
    auth,
  });
  const packagesWith = (environment: AuthEnvironment, env: Record<string, string>): DmfPackageClient =>
    new DmfPackageClient({
      baseUrl: environment.url,
      onPremises: environment.onPremises,
      credential: createCredential(environment, { env }),
      scope: `${environment.url}/.default`,
    });

  it('client secret, with disableInstanceDiscovery for the non-Microsoft authority', async () => {
    const environment = cloud(secretEnvironment(emu).auth);
    const { blobId } = await packagesWith(environment, settingsOf(emu)).getAzureWriteUrl('secret.zip');
    expect(blobId).toMatch(/^\{[0-9A-F-]+\}$/);
  });

  it('a wrong client secret is DMF_AUTH_FAILED with the AADSTS code and never the secret', async () => {
    const environment = cloud(secretEnvironment(emu).auth);
    const error = await caught(
      packagesWith(environment, { FO_CLIENT_SECRET: 'wrong-secret-value' }).getAzureWriteUrl('x.zip'),
    );
    expect(error.code).toBe('DMF_AUTH_FAILED');
    expect(error.message).toContain('AADSTS7000215');
    expect(error.message).not.toContain('wrong-secret-value');
  });

  it('client certificate from a path setting and from a PEM setting (one line with \\n escapes)', async () => {
    const base = {
      kind: 'clientCertificate' as const,
      tenantId: emu.tenantId,
      clientId: emu.credentials.clientId,
      authorityHost: emu.authorityHost,
    };
    const byPath = cloud({ ...base, certificatePathSetting: 'FO_CERT_PATH' });
    expect(
      (
        await packagesWith(byPath, { FO_CERT_PATH: emu.credentials.certificatePath }).getAzureWriteUrl(
          'c1.zip',
        )
      ).blobUrl,
    ).toContain('c1.zip');
    const pem = readFileSync(emu.credentials.certificatePath, 'utf8').replace(/\r?\n/g, '\\n');
    const byPem = cloud({ ...base, certificateSetting: 'FO_CERT_PEM', sendCertificateChain: true });
    expect((await packagesWith(byPem, { FO_CERT_PEM: pem }).getAzureWriteUrl('c2.zip')).blobUrl).toContain(
      'c2.zip',
    );
  });

  it('workload identity: a managed-identity token for api://AzureADTokenExchange is the client assertion', async () => {
    const environment = cloud({
      kind: 'workloadIdentity',
      tenantId: emu.tenantId,
      clientId: emu.credentials.clientId,
      authorityHost: emu.authorityHost,
    });
    const before = identity.resources.length;
    expect((await packagesWith(environment, {}).getAzureWriteUrl('wi.zip')).blobUrl).toContain('wi.zip');
    expect(identity.resources.slice(before)).toEqual(['api://AzureADTokenExchange']);
  });

  it('managed identity asks the identity endpoint for the environment resource', async () => {
    const before = identity.resources.length;
    expect(
      (await packagesWith(cloud({ kind: 'managedIdentity' }), {}).getAzureWriteUrl('mi.zip')).blobUrl,
    ).toContain('mi.zip');
    expect(identity.resources.slice(before)).toEqual([emu.baseUrl]);
  });

  describe('on-premises (AD FS)', () => {
    const adfsEnvironment = (): AuthEnvironment => ({
      name: 'onprem',
      url: onpremUrl,
      onPremises: true,
      auth: {
        kind: 'adfs',
        adfsUrl: emu.authorityHost,
        clientId: emu.credentials.clientId,
        clientSecretSetting: 'FO_CLIENT_SECRET',
      },
    });

    it('gets an AD FS token for the AOS resource and calls /namespaces/AXSF', async () => {
      const calls = await callsDuring(emu, async () => {
        const { blobUrl } = await packagesWith(adfsEnvironment(), settingsOf(emu)).getAzureWriteUrl(
          'onprem.zip',
        );
        expect(blobUrl).toContain('onprem.zip');
      });
      expect(calls.map((c) => `${c.route} ${c.status}`)).toEqual(['token 200', 'GetAzureWriteUrl 200']);
      expect(calls[1]!.path.startsWith('/namespaces/AXSF/data/')).toBe(true);
    });

    it('refreshes the AD FS token after F&O answers 401', async () => {
      const client = packagesWith(adfsEnvironment(), settingsOf(emu));
      expect(await routesAcrossTokenExpiry(emu, (name) => client.getAzureWriteUrl(name))).toEqual([
        'token 200',
        'GetAzureWriteUrl 200',
        'GetAzureWriteUrl 401',
        'token 200',
        'GetAzureWriteUrl 200',
      ]);
    });

    it('the recurring API answers 302 on-premises: DMF_RECURRING_UNAVAILABLE', async () => {
      const environment = adfsEnvironment();
      const recurring = new RecurringClient({
        baseUrl: onpremUrl,
        credential: createCredential(environment, { env: settingsOf(emu) }),
        scope: `${onpremUrl}/.default`,
      });
      const error = await caught(
        recurring.enqueue(emu.recurring.importActivityId!, 'CustomerAccount\r\nX\r\n'),
      );
      expect(error.code).toBe('DMF_RECURRING_UNAVAILABLE');
      expect(error.status).toBe(302);
      expect(error.transient).toBe(false);
    });
  });
});
