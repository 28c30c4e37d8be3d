import { describe, expect, it } from 'vitest';
import {
  REDACTED,
  createLogger,
  isSensitiveKey,
  redact,
  redactUrl,
  redactValue,
} from '../../../src/shared/log/index.js';

// Realistic samples (fake keys/signatures, real shapes). The signatures are joined at run time so the
// committed source never looks like a leaked SAS to secret scanners.
const sig = (value: string): string => ['sig', value].join('=');
const AZURITE_KEY =
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';
const AZURITE_SAS_URL =
  'http://127.0.0.1:10000/devstoreaccount1/dmf-inbound/customers.zip?sv=2025-05-05&spr=https%2Chttp&st=2026-11-23T10%3A00%3A00Z&se=2026-11-23T11%3A00%3A00Z&sr=b&sp=r&' +
  sig('Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZmdoaWprbG0%3D');
const FNO_WRITE_URL =
  'https://uswedpl1catf4s6ot2nb0lgj.blob.core.windows.net/dmf/8b2f0b8e-7c5a-4a1e-9d0f-3f1f6d1e2a11?sv=2014-02-14&sr=b&' +
  sig('hG2xI%2FQ9wH3p5oWmC0Zk5l7vT0x1yQ2b3c4d5e6f7g8%3D') +
  '&st=2026-11-23T10%3A05%3A11Z&se=2026-11-23T10%3A40%3A11Z&sp=rw';
const JWT =
  'eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiIsIng1dCI6Im5PbzNaRHJPRFhFSzFqS1doWHNsSFJfS1hFZyJ9.eyJhdWQiOiJodHRwczovL3VzbWYuY2xvdWRheC5keW5hbWljcy5jb20iLCJpc3MiOiJodHRwczovL3N0cy53aW5kb3dzLm5ldC8ifQ.kZ5cQh3-ZmFrZXNpZ25hdHVyZV9fX2ZvcnRlc3Rz_Ab9';
const CLIENT_SECRET = 'Xk8Q~abcDEF123ghiJKL456mnoPQR789stuVWX0yz';

describe('redact', () => {
  it('masks the sig of an Azurite SAS url and keeps the rest readable', () => {
    const out = redact(`uploading to ${AZURITE_SAS_URL} now`);
    expect(out).not.toContain('Zm9vYmFy');
    expect(out).toContain(`sig=${REDACTED}`);
    expect(out).toContain('se=2026-11-23T11%3A00%3A00Z');
    expect(out).toContain('/dmf-inbound/customers.zip');
  });

  it('masks the sig of an F&O GetAzureWriteUrl answer even when sig is not the last parameter', () => {
    const answer = JSON.stringify({ BlobId: '{8B2F}', BlobUrl: FNO_WRITE_URL });
    const out = redact(answer);
    expect(out).not.toContain('hG2xI');
    expect(out).toContain('&st=2026-11-23T10%3A05%3A11Z');
  });

  it('masks bearer tokens in header dumps and JWTs anywhere', () => {
    const out = redact(
      `POST /data/X HTTP/1.1\r\nAuthorization: Bearer ${JWT}\r\nContent-Type: application/json`,
    );
    expect(out).not.toContain('eyJ0eXAi');
    expect(out).toContain('Authorization: Bearer [REDACTED]');
    expect(out).toContain('Content-Type: application/json');
    expect(redact(`token was ${JWT}.`)).toBe(`token was ${REDACTED}.`);
    expect(redact(`{"authorization":"Bearer ${JWT}"}`)).not.toContain('eyJ');
  });

  it('masks token request bodies: client_secret, client_assertion and token answers', () => {
    const body = `grant_type=client_credentials&client_id=0f1e2d3c-0000-4000-8000-000000000001&client_secret=${encodeURIComponent(CLIENT_SECRET)}&scope=https%3A%2F%2Fusmf.cloudax.dynamics.com%2F.default`;
    const out = redact(body);
    expect(out).not.toContain('Xk8Q');
    expect(out).toContain('client_id=0f1e2d3c-0000-4000-8000-000000000001');
    expect(redact(`client_assertion_type=x&client_assertion=${JWT}`)).not.toContain('eyJ');
    expect(redact(`{"token_type":"Bearer","access_token":"opaque-token-value-123"}`)).not.toContain(
      'opaque-token',
    );
  });

  it('masks keys of storage and Service Bus connection strings', () => {
    const storage = `DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=${AZURITE_KEY};BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;`;
    const out = redact(storage);
    expect(out).not.toContain('Eby8vdM02');
    expect(out).toContain('AccountName=devstoreaccount1');
    expect(out).toContain('BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1');
    const sb =
      'Endpoint=sb://contoso.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=';
    const sbOut = redact(sb);
    expect(sbOut).not.toContain('c2VjcmV0');
    expect(sbOut).toContain('SharedAccessKeyName=RootManageSharedAccessKey');
  });

  it('masks a SAS url percent-encoded inside another url, and secret fields of JSON text', () => {
    const nested = `https://proxy.example/fetch?target=${encodeURIComponent(FNO_WRITE_URL)}&x=1`;
    const out = redact(nested);
    expect(out).not.toContain('hG2xI');
    expect(out).toContain('%26st%3D2026');
    expect(out).toContain('&x=1');
    const json = JSON.stringify({ clientSecret: 'with \\"quote\\" inside', name: 'usmf' });
    expect(redact(json)).toBe(`{"clientSecret":"${REDACTED}","name":"usmf"}`);
  });

  it('leaves ordinary text alone', () => {
    const text = 'Execution USMF-123 finished: PartiallySucceeded (code=DMF_HTTP_429, missing bearer token)';
    expect(redact(text)).toBe(text);
  });
});

describe('redactUrl', () => {
  it('masks sig and user info but keeps host, path and other parameters', () => {
    const out = redactUrl(FNO_WRITE_URL);
    expect(out).not.toContain('hG2xI');
    expect(out).toContain('sig=[REDACTED]');
    expect(out).toContain('sp=rw');
    expect(redactUrl(new URL('https://user:pw@host/x?code=1'))).not.toContain('pw');
  });

  it('falls back to text redaction for strings that are not urls', () => {
    expect(redactUrl('not a url')).toBe('not a url');
    expect(redactUrl(`relative?x=1&sig=abc`)).toBe(`relative?x=1&sig=${REDACTED}`);
  });
});

describe('redactValue', () => {
  it('masks secret-named keys deeply and redacts strings, without touching setting names', () => {
    const out = redactValue({
      environment: 'usmf',
      auth: { clientSecret: CLIENT_SECRET, clientSecretSetting: 'USMF_CLIENT_SECRET', password: 'p@ss' },
      headers: { Authorization: `Bearer ${JWT}`, 'x-ms-client-request-id': 'abc' },
      storage: { connectionString: 'UseDevelopmentStorage=true', accountKey: AZURITE_KEY },
      list: [{ access_token: 'opaque' }, `see ${AZURITE_SAS_URL}`],
    }) as Record<string, Record<string, unknown>> & { list: unknown[] };
    const json = JSON.stringify(out);
    for (const secret of [
      CLIENT_SECRET,
      'p@ss',
      'eyJ0eXAi',
      'Eby8vdM02',
      'opaque',
      'Zm9vYmFy',
      'UseDevelopmentStorage',
    ]) {
      expect(json).not.toContain(secret);
    }
    expect(out.auth?.clientSecretSetting).toBe('USMF_CLIENT_SECRET');
    expect(out.headers?.['x-ms-client-request-id']).toBe('abc');
    expect(out.environment).toBe('usmf');
  });

  it('turns errors into plain redacted objects, with cause and custom fields', () => {
    const cause = new Error(`PUT ${AZURITE_SAS_URL} failed`);
    const error = Object.assign(new Error(`token ${JWT} refused`, { cause }), {
      code: 'X',
      token: 'secret-token',
    });
    const out = redactValue(error) as Record<string, unknown>;
    const json = JSON.stringify(out);
    expect(out.name).toBe('Error');
    expect(out.code).toBe('X');
    expect(json).not.toContain('eyJ0eXAi');
    expect(json).not.toContain('Zm9vYmFy');
    expect(json).not.toContain('secret-token');
    expect((out.cause as Record<string, unknown>).message).toContain('sig=[REDACTED]');
  });

  it('masks fetch Headers and Maps', () => {
    const headers = new Headers({ authorization: `Bearer ${JWT}`, 'content-type': 'application/json' });
    expect(redactValue({ headers })).toEqual({
      headers: { authorization: REDACTED, 'content-type': 'application/json' },
    });
    expect(redactValue(new Map([['accountKey', AZURITE_KEY]]))).toEqual({ accountKey: REDACTED });
  });

  it('survives cycles', () => {
    const a: Record<string, unknown> = { name: 'a' };
    a.self = a;
    expect(redactValue(a)).toEqual({ name: 'a', self: '[Circular]' });
  });

  it('knows which keys are secrets', () => {
    expect(isSensitiveKey('clientSecret')).toBe(true);
    expect(isSensitiveKey('SharedAccessKey')).toBe(true);
    expect(isSensitiveKey('client_assertion')).toBe(true);
    expect(isSensitiveKey('clientSecretSetting')).toBe(false);
    expect(isSensitiveKey('entityName')).toBe(false);
  });
});

describe('createLogger', () => {
  it('redacts messages, fields and bindings before they reach the sink', () => {
    const lines: unknown[][] = [];
    const sink = {
      info: (...args: unknown[]) => lines.push(['info', ...args]),
      error: (...args: unknown[]) => lines.push(['error', ...args]),
      log: (...args: unknown[]) => lines.push(['log', ...args]),
    };
    const logger = createLogger(sink, { bindings: { environment: 'usmf', accountKey: AZURITE_KEY } });
    logger.info(`uploaded to ${AZURITE_SAS_URL}`);
    logger
      .child({ executionId: 'E1' })
      .error('token call failed', { error: new Error(`client_secret=${CLIENT_SECRET}`) });
    logger.warn('falls back to log');
    const json = JSON.stringify(lines);
    expect(json).not.toContain('Zm9vYmFy');
    expect(json).not.toContain('Eby8vdM02');
    expect(json).not.toContain('Xk8Q');
    expect(lines[0]?.[0]).toBe('info');
    expect(lines[1]?.[0]).toBe('error');
    expect(lines[1]?.[2]).toMatchObject({ environment: 'usmf', executionId: 'E1' });
    expect(lines[2]?.[0]).toBe('log');
  });

  it('drops lines below minLevel and writes the bare message when there are no fields', () => {
    const lines: unknown[][] = [];
    const logger = createLogger(
      { debug: (...a) => lines.push(a), info: (...a) => lines.push(a) },
      { minLevel: 'info' },
    );
    logger.debug('hidden');
    logger.info('shown');
    expect(lines).toEqual([['shown']]);
  });
});
