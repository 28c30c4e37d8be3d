import { createPublicKey, createSign, createHash, X509Certificate, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  ClientAssertionCredential,
  ClientCertificateCredential,
  ClientSecretCredential,
} from '@azure/identity';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_CLIENT_ID,
  DEFAULT_CONFIG,
  DEFAULT_FEDERATED_SUBJECT,
  type RunningEmulator,
} from '../index.js';
import { action, getToken, signWithEmulatorKey, tokenResponse, useTestEmulator } from './helpers.js';

let em: RunningEmulator;
useTestEmulator(
  (e) => {
    em = e;
  },
  {
    config: {
      ...DEFAULT_CONFIG,
      clients: [...DEFAULT_CONFIG.clients, { clientId: 'unregistered-app', secrets: ['other-secret'] }],
      environments: [
        { name: 'default', type: 'cloud', port: 0, clients: [DEFAULT_CLIENT_ID] },
        { name: 'second', type: 'cloud', port: 0, clients: [DEFAULT_CLIENT_ID] },
        { name: 'onprem', type: 'onprem', port: 0, clients: [DEFAULT_CLIENT_ID] },
      ],
    },
  },
);

function decode(token: string): { header: Record<string, unknown>; payload: Record<string, unknown> } {
  const [h, p] = token.split('.');
  return {
    header: JSON.parse(Buffer.from(h ?? '', 'base64url').toString()) as Record<string, unknown>,
    payload: JSON.parse(Buffer.from(p ?? '', 'base64url').toString()) as Record<string, unknown>,
  };
}

async function tokenForm(
  form: Record<string, string>,
  url = em.tokenUrl,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url, { method: 'POST', body: new URLSearchParams(form) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const status = (r: { status: number }): number => r.status;

describe('token endpoint', () => {
  it('serves the discovery documents MSAL reads, and a JWKS that verifies issued RS256 tokens', async () => {
    const oidc = (await (
      await fetch(`${em.authorityHost}/${em.tenantId}/v2.0/.well-known/openid-configuration`)
    ).json()) as Record<string, unknown>;
    for (const key of [
      'token_endpoint',
      'issuer',
      'authorization_endpoint',
      'jwks_uri',
      'response_types_supported',
      'subject_types_supported',
      'id_token_signing_alg_values_supported',
      'end_session_endpoint',
    ]) {
      expect(oidc).toHaveProperty(key);
    }
    expect(oidc.token_endpoint).toBe(em.tokenUrl);
    const jwks = (await (await fetch(oidc.jwks_uri as string)).json()) as {
      keys: { kid: string; n: string; e: string }[];
    };
    const token = await getToken(em);
    const { header, payload } = decode(token);
    expect(header.alg).toBe('RS256');
    const jwk = jwks.keys.find((k) => k.kid === header.kid);
    expect(jwk).toBeDefined();
    const key = createPublicKey({ key: { kty: 'RSA', n: jwk?.n ?? '', e: jwk?.e ?? '' }, format: 'jwk' });
    const [h, p, s] = token.split('.');
    expect(verify('sha256', Buffer.from(`${h}.${p}`), key, Buffer.from(s ?? '', 'base64url'))).toBe(true);
    expect(payload.aud).toBe(em.baseUrl);
    expect(payload.appid).toBe(em.credentials.clientId);
    expect(typeof payload.exp).toBe('number');
  });

  it('answers the token shape MSAL expects', async () => {
    const r = await tokenForm({
      grant_type: 'client_credentials',
      client_id: em.credentials.clientId,
      client_secret: em.credentials.clientSecret ?? '',
      scope: em.credentials.scope,
    });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      token_type: 'Bearer',
      expires_in: 3599,
      ext_expires_in: 3599,
    });
    expect(typeof r.body.access_token).toBe('string');
  });

  it('refuses a wrong secret, an unknown client, a bad scope, an unknown resource and a wrong tenant with Entra-shaped errors', async () => {
    const base = {
      grant_type: 'client_credentials',
      client_id: em.credentials.clientId,
      scope: em.credentials.scope,
    };
    const wrongSecret = await tokenForm({ ...base, client_secret: 'nope' });
    expect(wrongSecret.status).toBe(401);
    expect(wrongSecret.body).toMatchObject({ error: 'invalid_client', error_codes: [7000215] });
    expect(wrongSecret.body.error_description).toMatch(/^AADSTS7000215:/);
    expect(status(await tokenForm({ ...base, client_id: 'unknown', client_secret: 'x' }))).toBe(400);
    expect(
      status(
        await tokenForm({ ...base, client_secret: em.credentials.clientSecret ?? '', scope: em.baseUrl }),
      ),
    ).toBe(400);
    expect(
      status(
        await tokenForm({
          ...base,
          client_secret: em.credentials.clientSecret ?? '',
          scope: 'https://other/.default',
        }),
      ),
    ).toBe(400);
    expect(
      status(
        await tokenForm(
          { ...base, client_secret: em.credentials.clientSecret ?? '' },
          em.tokenUrl.replace(em.tenantId, 'other-tenant'),
        ),
      ),
    ).toBe(400);
  });

  it('accepts a certificate client assertion (RS256, x5t) signed by the registered certificate, and refuses a foreign one', async () => {
    const pem = readFileSync(em.credentials.certificatePath, 'utf8');
    const cert = new X509Certificate(pem);
    const now = Math.floor(Date.now() / 1000);
    const header = { alg: 'RS256', typ: 'JWT', x5t: createHash('sha1').update(cert.raw).digest('base64url') };
    const claims = {
      aud: em.tokenUrl,
      iss: em.credentials.clientId,
      sub: em.credentials.clientId,
      exp: now + 600,
      nbf: now,
      jti: 'x',
    };
    const input = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
    const good = `${input}.${createSign('sha256').update(input).sign(pem, 'base64url')}`;
    const form = {
      grant_type: 'client_credentials',
      client_id: em.credentials.clientId,
      scope: em.credentials.scope,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    };
    expect(status(await tokenForm({ ...form, client_assertion: good }))).toBe(200);
    // Signed by the emulator's token key instead: not a registered certificate.
    const foreign = signWithEmulatorKey(claims);
    const refused = await tokenForm({ ...form, client_assertion: foreign });
    expect(refused.status).toBe(401);
    expect(refused.body.error).toBe('invalid_client');
  });

  it('works with the real @azure/identity ClientSecretCredential and ClientCertificateCredential', async () => {
    const secret = new ClientSecretCredential(
      em.tenantId,
      em.credentials.clientId,
      em.credentials.clientSecret ?? '',
      {
        authorityHost: em.authorityHost,
        disableInstanceDiscovery: true,
      },
    );
    const a = await secret.getToken(em.credentials.scope);
    expect(decode(a.token).payload.aud).toBe(em.baseUrl);
    const cert = new ClientCertificateCredential(
      em.tenantId,
      em.credentials.clientId,
      em.credentials.certificatePath,
      {
        authorityHost: em.authorityHost,
        disableInstanceDiscovery: true,
      },
    );
    const b = await cert.getToken(em.credentials.scope);
    expect(decode(b.token).payload.appid).toBe(em.credentials.clientId);
    const r = await action(em, 'GetAzureWriteUrl', { uniqueFileName: 'identity.zip' }, b.token);
    expect(r.status).toBe(200);
  });

  it('accepts an emulator-issued managed identity assertion (workload identity federation)', async () => {
    const credential = new ClientAssertionCredential(
      em.tenantId,
      em.credentials.clientId,
      () => em.control.federatedToken(DEFAULT_FEDERATED_SUBJECT),
      { authorityHost: em.authorityHost, disableInstanceDiscovery: true },
    );
    const t = await credential.getToken(em.credentials.scope);
    expect(decode(t.token).payload.aud).toBe(em.baseUrl);
    const wrongSubject = await tokenForm({
      grant_type: 'client_credentials',
      client_id: em.credentials.clientId,
      scope: em.credentials.scope,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: await em.control.federatedToken('someone-else'),
    });
    expect(wrongSubject.status).toBe(401);
  });
});

describe('bearer token checks on F&O endpoints (401)', () => {
  const call = (token: string | undefined, baseUrl = em.baseUrl) =>
    action(em, 'GetAzureWriteUrl', { uniqueFileName: 'x.zip' }, token, baseUrl);

  it('no token, garbage, wrong audience, foreign signature → 401; the right token → 200', async () => {
    expect((await call(undefined)).status).toBe(401);
    expect((await call('not-a-jwt')).status).toBe(401);
    const second = em.environments[1]?.baseUrl ?? '';
    const forSecond = await getToken(em, second);
    expect((await call(forSecond)).status).toBe(401);
    expect((await call(forSecond, second)).status).toBe(200);
    const now = Math.floor(Date.now() / 1000);
    const crafted = signWithEmulatorKey({
      aud: 'https://elsewhere',
      iss: 'x',
      appid: DEFAULT_CLIENT_ID,
      exp: now + 600,
    });
    expect((await call(crafted)).status).toBe(401);
    // A valid token of an app the tenant knows but F&O has not registered.
    const unregistered = await tokenForm({
      grant_type: 'client_credentials',
      client_id: 'unregistered-app',
      client_secret: 'other-secret',
      scope: em.credentials.scope,
    });
    expect(unregistered.status).toBe(200);
    expect((await call(unregistered.body.access_token as string)).status).toBe(401);
    const recurring = await fetch(
      `${em.baseUrl}/api/connector/dequeue/${em.recurring.exportActivityId ?? ''}`,
    );
    expect(recurring.status).toBe(401);
    expect(recurring.headers.get('www-authenticate')).toMatch(/^Bearer/);
  });

  it('an expired token (emulator clock) → 401, and the tokenExpiry fault shortens lifetimes', async () => {
    const token = await getToken(em);
    expect((await call(token)).status).toBe(200);
    await em.control.advanceClock(3_600_000);
    expect((await call(token)).status).toBe(401);
    await em.control.setFault({ route: 'token', kind: 'tokenExpiry', seconds: 60, times: 1 });
    const short = await tokenResponse(em, em.credentials.scope);
    const body = (await short.json()) as { expires_in: number; access_token: string };
    expect(body.expires_in).toBe(60);
    expect((await call(body.access_token)).status).toBe(200);
    await em.control.advanceClock(61_000);
    expect((await call(body.access_token)).status).toBe(401);
    expect((await em.control.faults())[0]?.hits).toBe(1);
  });
});

describe('on-premises mode', () => {
  it('issues AD FS tokens (form with resource), serves the package API under /namespaces/AXSF, answers 302 on the recurring API', async () => {
    const onprem = em.environments.find((e) => e.type === 'onprem');
    const baseUrl = onprem?.baseUrl ?? '';
    const r = await tokenForm(
      {
        grant_type: 'client_credentials',
        client_id: em.credentials.clientId,
        client_secret: em.credentials.clientSecret ?? '',
        resource: baseUrl,
      },
      em.adfsTokenUrl,
    );
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      token_type: 'bearer',
    });
    expect(typeof r.body.access_token).toBe('string');
    expect(typeof r.body.expires_in).toBe('number');
    const token = r.body.access_token as string;
    const ok = await action(
      em,
      'GetAzureWriteUrl',
      { uniqueFileName: 'onprem.zip' },
      token,
      baseUrl,
      '/namespaces/AXSF',
    );
    expect(ok.status).toBe(200);
    expect((ok.body as Record<string, unknown>)['@odata.context']).toBe(
      `${baseUrl}/namespaces/AXSF/data/$metadata#Edm.String`,
    );
    expect(
      (await action(em, 'GetAzureWriteUrl', { uniqueFileName: 'onprem.zip' }, token, baseUrl)).status,
    ).toBe(404);
    const enqueue = await fetch(`${baseUrl}/api/connector/enqueue/${em.recurring.importActivityId ?? ''}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
      body: 'x',
      redirect: 'manual',
    });
    expect(enqueue.status).toBe(302);
  });
});
