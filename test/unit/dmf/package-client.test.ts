import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { caughtAs } from '../../support/caught.js';
import {
  DmfApiError,
  DmfPackageClient,
  type DmfLogger,
  type RetryOptions,
} from '../../../src/shared/dmf/index.js';
import { AuthError } from '../../../src/shared/auth/index.js';
import { countingCredential, odata, odataError, startFakeServer, type FakeServer } from './fake-server.js';

const ACTION_PATH = '/data/DataManagementDefinitionGroups/Microsoft.Dynamics.DataEntities.';

/** A manual clock whose sleep advances time instantly and records each wait. */
function fakeTime(): { delays: number[]; retry: Partial<RetryOptions> } {
  let now = 1_000_000;
  const delays: number[] = [];
  return {
    delays,
    retry: {
      now: () => now,
      sleep: async (ms: number) => {
        delays.push(ms);
        now += ms;
      },
      random: () => 0.5,
    },
  };
}

function recordingLogger(): DmfLogger & { lines: string[] } {
  const lines: string[] = [];
  const write = (message: string, props?: Record<string, unknown>): void => {
    lines.push(`${message} ${JSON.stringify(props ?? {})}`);
  };
  return { lines, debug: write, info: write, warn: write, error: write };
}

const caught = caughtAs(DmfApiError);

describe('DmfPackageClient', () => {
  let server: FakeServer;
  let time: ReturnType<typeof fakeTime>;
  let credential: ReturnType<typeof countingCredential>;
  let client: DmfPackageClient;

  beforeEach(async () => {
    server = await startFakeServer();
    time = fakeTime();
    credential = countingCredential();
    client = new DmfPackageClient({
      baseUrl: `${server.url}/`,
      credential,
      scope: `${server.url}/.default`,
      retry: time.retry,
    });
  });
  afterEach(async () => {
    await server.close();
  });

  it('posts camelCase JSON with the bearer token to the action url and parses the stringified write url', async () => {
    server.enqueue(odata(JSON.stringify({ BlobId: '{B1}', BlobUrl: 'https://blob/pkg.zip?sv=1&sig=abc' })));
    const result = await client.getAzureWriteUrl('pkg.zip');
    expect(result).toEqual({ blobId: '{B1}', blobUrl: 'https://blob/pkg.zip?sv=1&sig=abc' });
    const call = server.calls[0]!;
    expect(call.method).toBe('POST');
    expect(call.url).toBe(`${ACTION_PATH}GetAzureWriteUrl`);
    expect(call.headers.authorization).toBe('Bearer token-1');
    expect(call.headers['content-type']).toContain('application/json');
    expect(JSON.parse(call.body)).toEqual({ uniqueFileName: 'pkg.zip' });
  });

  it('appends /namespaces/AXSF on-premises', async () => {
    const onPrem = new DmfPackageClient({ baseUrl: server.url, onPremises: true, credential, scope: 's' });
    server.enqueue(odata('Succeeded'));
    await onPrem.getExecutionSummaryStatus('e1');
    expect(server.calls[0]!.url).toBe(`/namespaces/AXSF${ACTION_PATH}GetExecutionSummaryStatus`);
  });

  it('sends every action with its documented body and parses each answer', async () => {
    server.enqueue(
      odata('imp-1'),
      odata('exp-1'),
      odata({ value: 'exp-2' }),
      odata(''),
      odata('https://blob/out.zip?sig=x'),
      odata('PartiallySucceeded'),
      odata(JSON.stringify([{ RecordId: '5637144576', Field: 'Name', ErrorMessage: 'bad' }])),
      odata('[]'),
      odata(''),
      odata(true),
      odata('https://blob/keys.txt'),
      odata('00000000-0000-0000-0000-000000000000'),
      odata('exec-9'),
      odata('PostProcessingError'),
      odata('PreProcessing'),
    );
    const imported = await client.importFromPackage({
      packageUrl: 'https://blob/pkg.zip',
      definitionGroupId: 'CustomerImport',
      executionId: 'imp-1',
      legalEntityId: 'USMF',
    });
    expect(imported).toBe('imp-1');
    expect(JSON.parse(server.calls[0]!.body)).toEqual({
      packageUrl: 'https://blob/pkg.zip',
      definitionGroupId: 'CustomerImport',
      executionId: 'imp-1',
      execute: true,
      overwrite: true,
      legalEntityId: 'USMF',
    });
    expect(
      await client.exportToPackage({
        definitionGroupId: 'CustomerExport',
        packageName: 'p',
        legalEntityId: 'USMF',
      }),
    ).toBe('exp-1');
    const exportBody = JSON.parse(server.calls[1]!.body) as Record<string, unknown>;
    expect(exportBody).toMatchObject({
      definitionGroupId: 'CustomerExport',
      packageName: 'p',
      reExecute: false,
    });
    expect(exportBody.executionId).toMatch(/^[0-9a-f-]{36}$/);
    // The docs' nested {"value":{"value":…}} shape is accepted too.
    expect(
      await client.exportToPackageAsync({ definitionGroupId: 'G', packageName: 'p', legalEntityId: 'USMF' }),
    ).toBe('exp-2');
    expect(await client.getExportedPackageUrl('exp-1')).toBeUndefined();
    expect(await client.getExportedPackageUrl('exp-1')).toBe('https://blob/out.zip?sig=x');
    expect(await client.getExecutionSummaryStatus('exp-1')).toBe('PartiallySucceeded');
    expect(await client.getExecutionErrors('imp-1')).toEqual([
      {
        recordId: '5637144576',
        field: 'Name',
        errorMessage: 'bad',
        raw: { RecordId: '5637144576', Field: 'Name', ErrorMessage: 'bad' },
      },
    ]);
    expect(await client.getExecutionErrors('imp-1')).toEqual([]);
    expect(await client.getImportStagingErrorFileUrl('imp-1', 'Customers V3')).toBeUndefined();
    expect(await client.generateImportTargetErrorKeysFile('imp-1', 'Customers V3')).toBe(true);
    expect(await client.getImportTargetErrorKeysFileUrl('imp-1', 'Customers V3')).toBe(
      'https://blob/keys.txt',
    );
    expect(await client.getExecutionIdByMessageId('m1')).toBeUndefined();
    expect(await client.getExecutionIdByMessageId('m1')).toBe('exec-9');
    expect(await client.getMessageStatus('m1')).toBe('PostProcessingFailed');
    expect(await client.getMessageStatus('m1')).toBe('Preprocessing');
    const bodies = server.calls.map((c) => [c.url.slice(ACTION_PATH.length), JSON.parse(c.body) as unknown]);
    expect(bodies.slice(8)).toEqual([
      ['GetImportStagingErrorFileUrl', { executionId: 'imp-1', entityName: 'Customers V3' }],
      ['GenerateImportTargetErrorKeysFile', { executionId: 'imp-1', entityName: 'Customers V3' }],
      ['GetImportTargetErrorKeysFileUrl', { executionId: 'imp-1', entityName: 'Customers V3' }],
      ['GetExecutionIdByMessageId', { _messageId: 'm1' }],
      ['GetExecutionIdByMessageId', { _messageId: 'm1' }],
      ['GetMessageStatus', { messageId: 'm1' }],
      ['GetMessageStatus', { messageId: 'm1' }],
    ]);
  });

  it('sends the unconfirmed ImportFromPackageAsync extras only when set', async () => {
    server.enqueue(odata('a1'), odata('a2'));
    const base = { packageUrl: 'u', definitionGroupId: 'G', executionId: 'a1', legalEntityId: 'USMF' };
    await client.importFromPackageAsync(base);
    await client.importFromPackageAsync({
      ...base,
      executionId: 'a2',
      failOnError: true,
      thresholdToRunInBatch: 10,
    });
    expect(JSON.parse(server.calls[0]!.body)).not.toHaveProperty('failOnError');
    expect(JSON.parse(server.calls[1]!.body)).toMatchObject({ failOnError: true, thresholdToRunInBatch: 10 });
    expect(JSON.parse(server.calls[1]!.body)).not.toHaveProperty('runAsyncWithoutBatch');
  });

  it('reports the status "Unknown" as DMF_EXECUTION_NOT_FOUND, like "Execution details were not found"', async () => {
    server.enqueue(odata('Unknown'), odataError(400, 'Execution details were not found for execution id: e'));
    const unknown = await caught(client.getExecutionSummaryStatus('e'));
    const notFound = await caught(client.getExecutionSummaryStatus('e'));
    for (const error of [unknown, notFound]) {
      expect(error).toMatchObject({ code: 'DMF_EXECUTION_NOT_FOUND', transient: true });
    }
    expect(unknown.message).toContain('"Unknown"');
  });

  it('does not wait a Retry-After longer than maxRetryAfterMs: thrown at once with retryAfterMs', async () => {
    const patient = new DmfPackageClient({
      baseUrl: server.url,
      credential,
      scope: 's',
      retry: { ...time.retry, maxRetryAfterMs: 10_000 },
    });
    server.enqueue(odataError(429, 'busy', { 'retry-after': '5' }), odata('Executing'));
    expect(await patient.getExecutionSummaryStatus('e')).toBe('Executing');
    server.enqueue(odataError(429, 'busy', { 'retry-after': '300' }));
    const error = await caught(patient.getExecutionSummaryStatus('e'));
    expect(error).toMatchObject({ code: 'DMF_HTTP_429', retryAfterMs: 300_000, attempts: 1 });
    expect(time.delays).toEqual([5_000]);
  });

  it("reads an execution's F&O page and per entity counts (numbers or numeric strings, stringified or not)", async () => {
    const row = {
      EntityName: 'Customers V3',
      Company: 'USMF',
      Status: 'PartiallySucceeded',
      StagingRecords: 4,
      StagingErrorCount: '1',
      TargetRecords: 3,
      TargetErrorCount: 0,
    };
    server.enqueue(
      odata('https://fo.example/?cmp=USMF&mi=DMFExecutionSummary&executionId=e'),
      odata(''),
      odata([row, { NoName: 1 }]),
      odata(JSON.stringify([{ EntityName: 'Vendors V2' }])),
    );
    expect(await client.getExecutionSummaryPageUrl('e')).toBe(
      'https://fo.example/?cmp=USMF&mi=DMFExecutionSummary&executionId=e',
    );
    expect(await client.getExecutionSummaryPageUrl('e')).toBeUndefined();
    expect(await client.getEntityExecutionSummaryStatusList('e')).toEqual([
      {
        entityName: 'Customers V3',
        company: 'USMF',
        status: 'PartiallySucceeded',
        stagingRecords: 4,
        stagingErrors: 1,
        targetRecords: 3,
        targetErrors: 0,
        raw: row,
      },
    ]);
    expect(await client.getEntityExecutionSummaryStatusList('e')).toEqual([
      { entityName: 'Vendors V2', raw: { EntityName: 'Vendors V2' } },
    ]);
    expect(server.calls.map((c) => c.url.slice(ACTION_PATH.length))).toEqual([
      'GetExecutionSummaryPageUrl',
      'GetExecutionSummaryPageUrl',
      'GetEntityExecutionSummaryStatusList',
      'GetEntityExecutionSummaryStatusList',
    ]);
  });

  it('keeps a GetMessageStatus word the documented list lacks, as sent', async () => {
    server.enqueue(odata('Archived'), odata(''));
    expect(await client.getMessageStatus('m')).toBe('Archived');
    expect((await caught(client.getMessageStatus('m'))).code).toBe('DMF_INVALID_RESPONSE');
  });

  it('rejects an unknown status and a body without value as DMF_INVALID_RESPONSE', async () => {
    server.enqueue(odata('Exploded'), { status: 200, body: '{"nope":1}' });
    const e1 = await caught(client.getExecutionSummaryStatus('e'));
    expect(e1.code).toBe('DMF_INVALID_RESPONSE');
    expect(e1.message).toContain('Exploded');
    const e2 = await caught(client.getExecutionSummaryStatus('e'));
    expect(e2.code).toBe('DMF_INVALID_RESPONSE');
    expect(e2.transient).toBe(false);
  });

  it('honours Retry-After in seconds on 429', async () => {
    server.enqueue(odataError(429, 'throttled', { 'retry-after': '7' }), odata('Executing'));
    expect(await client.getExecutionSummaryStatus('e')).toBe('Executing');
    expect(time.delays).toEqual([7_000]);
    expect(server.calls).toHaveLength(2);
  });

  it('honours Retry-After as an HTTP date', async () => {
    const at = new Date(1_000_000 + 12_000).toUTCString();
    server.enqueue({ status: 429, headers: { 'retry-after': at } }, odata('Executing'));
    await client.getExecutionSummaryStatus('e');
    // HTTP dates have one-second resolution: 1_000_000 ms rounds down to 1_000 s.
    expect(time.delays).toEqual([12_000]);
  });

  it('backs off exponentially with jitter on 408/5xx/connection errors', async () => {
    server.enqueue({ status: 503 }, { status: 408 }, { destroy: true }, { status: 500 }, odata('Succeeded'));
    expect(await client.getExecutionSummaryStatus('e')).toBe('Succeeded');
    // equal jitter with random() = 0.5: 3/4 of min(30 s, 1 s * 2^(n-1))
    expect(time.delays).toEqual([750, 1_500, 3_000, 6_000]);
  });

  it('gives up after maxAttempts with the last error, transient, and the attempt count', async () => {
    server.fallback(() => odataError(502, 'bad gateway'));
    const error = await caught(client.getExecutionSummaryStatus('e'));
    expect(error.code).toBe('DMF_HTTP_502');
    expect(error.status).toBe(502);
    expect(error.transient).toBe(true);
    expect(error.retryable).toBe(true);
    expect(error.attempts).toBe(5);
    expect(error.action).toBe('GetExecutionSummaryStatus');
    expect(server.calls).toHaveLength(5);
  });

  it('does not wait beyond maxTotalMs: a long Retry-After is thrown with retryAfterMs', async () => {
    server.enqueue(odataError(429, 'throttled', { 'retry-after': '600' }));
    const error = await caught(client.getExecutionSummaryStatus('e'));
    expect(error.code).toBe('DMF_HTTP_429');
    expect(error.retryAfterMs).toBe(600_000);
    expect(time.delays).toEqual([]);
  });

  it("throws F&O's innererror message without retrying a 400", async () => {
    server.enqueue(odataError(400, 'Data project CustomerImport not found'));
    const error = await caught(client.getExecutionErrors('e'));
    expect(error.code).toBe('DMF_HTTP_400');
    expect(error.innerMessage).toBe('Data project CustomerImport not found');
    expect(error.message).toContain('Data project CustomerImport not found');
    expect(error.message).not.toContain('stacktrace');
    expect(error.transient).toBe(false);
    expect(server.calls).toHaveLength(1);
  });

  it('gives "Execution details were not found" its own transient code and does not retry it', async () => {
    server.enqueue(odataError(400, 'Execution details were not found for execution id: x-1'));
    const error = await caught(client.getExecutionSummaryStatus('x-1'));
    expect(error.code).toBe('DMF_EXECUTION_NOT_FOUND');
    expect(error.transient).toBe(true);
    expect(server.calls).toHaveLength(1);
  });

  it('refreshes the token once after a 401 and retries', async () => {
    server.enqueue({ status: 401 }, odata('Succeeded'));
    expect(await client.getExecutionSummaryStatus('e')).toBe('Succeeded');
    expect(credential.invalidations).toBe(1);
    expect(server.calls.map((c) => c.headers.authorization)).toEqual(['Bearer token-1', 'Bearer token-2']);
    expect(time.delays).toEqual([]);
  });

  it('throws DMF_HTTP_401 when the refreshed token is refused too', async () => {
    server.fallback(() => ({ status: 401 }));
    const error = await caught(client.getExecutionSummaryStatus('e'));
    expect(error.code).toBe('DMF_HTTP_401');
    expect(error.transient).toBe(false);
    expect(server.calls).toHaveLength(2);
    expect(credential.invalidations).toBe(1);
  });

  it('wraps a failing credential as DMF_AUTH_FAILED without calling F&O', async () => {
    const broken = new DmfPackageClient({
      baseUrl: server.url,
      scope: 's',
      credential: { getToken: () => Promise.reject(new Error('AADSTS7000215: Invalid client secret')) },
    });
    const error = await caught(broken.getExecutionSummaryStatus('e'));
    expect(error.code).toBe('DMF_AUTH_FAILED');
    expect(error.message).toContain('AADSTS7000215');
    expect(server.calls).toHaveLength(0);
  });

  it('retries a transient token failure (e.g. AD FS 503) for reads and starts, never sending twice', async () => {
    let calls = 0;
    const flaky = new DmfPackageClient({
      baseUrl: server.url,
      scope: 's',
      retry: time.retry,
      credential: {
        getToken: async () => {
          calls += 1;
          if (calls % 2 === 1)
            throw new AuthError('AD FS answered 503', { code: 'AUTH_TOKEN_FAILED', transient: true });
          return { token: 'ok', expiresOnTimestamp: Date.now() + 60_000 };
        },
      },
    });
    server.enqueue(odata('Succeeded'), odata('s-1'));
    expect(await flaky.getExecutionSummaryStatus('e')).toBe('Succeeded');
    expect(
      await flaky.importFromPackage({
        packageUrl: 'u',
        definitionGroupId: 'G',
        executionId: 's-1',
        legalEntityId: 'USMF',
      }),
    ).toBe('s-1');
    expect(server.calls.map((c) => c.url.slice(ACTION_PATH.length))).toEqual([
      'GetExecutionSummaryStatus',
      'ImportFromPackage',
    ]);
    expect(time.delays).toHaveLength(2);
  });

  it('times out one attempt (DMF_TIMEOUT, transient) and retries it', async () => {
    const quick = new DmfPackageClient({
      baseUrl: server.url,
      credential,
      scope: 's',
      timeoutMs: 100,
      retry: { ...time.retry, maxAttempts: 2 },
    });
    server.enqueue({ ...odata('Succeeded'), delayMs: 1_000 }, odata('Succeeded'));
    expect(await quick.getExecutionSummaryStatus('e')).toBe('Succeeded');
    expect(time.delays).toHaveLength(1);
    server.fallback(() => ({ ...odata('Succeeded'), delayMs: 1_000 }));
    const error = await caught(quick.getExecutionSummaryStatus('e'));
    expect(error.code).toBe('DMF_TIMEOUT');
    expect(error.transient).toBe(true);
  });

  it('stops at once when the caller aborts (DMF_ABORTED)', async () => {
    server.fallback(() => ({ ...odata('Succeeded'), delayMs: 2_000 }));
    const controller = new AbortController();
    const pending = client.getExecutionSummaryStatus('e', { abortSignal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    const error = await caught(pending);
    expect(error.code).toBe('DMF_ABORTED');
    expect(error.transient).toBe(false);
    expect(server.calls).toHaveLength(1);
  });

  it('reports a refused connection as DMF_NETWORK', async () => {
    const url = server.url;
    await server.close();
    const offline = new DmfPackageClient({
      baseUrl: url,
      credential,
      scope: 's',
      retry: { ...time.retry, maxAttempts: 1 },
    });
    const error = await caught(offline.getExecutionSummaryStatus('e'));
    expect(error.code).toBe('DMF_NETWORK');
    expect(error.transient).toBe(true);
    expect(error.message).toContain('ECONNREFUSED');
    server = await startFakeServer();
  });

  describe('non-idempotent starts', () => {
    const params = { packageUrl: 'https://blob/p.zip?sig=s', definitionGroupId: 'G', legalEntityId: 'USMF' };
    const actionOf = (i: number): string => server.calls[i]!.url.slice(ACTION_PATH.length);

    it('asks GetExecutionSummaryStatus after a transient failure and returns the id when it registered', async () => {
      server.enqueue({ status: 504 }, odata('Executing'));
      const id = await client.importFromPackage(params);
      expect(server.calls.map((_, i) => actionOf(i))).toEqual([
        'ImportFromPackage',
        'GetExecutionSummaryStatus',
      ]);
      const sent = JSON.parse(server.calls[0]!.body) as { executionId: string };
      expect(id).toBe(sent.executionId);
      expect(JSON.parse(server.calls[1]!.body)).toEqual({ executionId: sent.executionId });
    });

    it('sends the start again with the same execution id when the status says "not found"', async () => {
      server.enqueue(
        { destroy: true },
        odataError(400, 'Execution details were not found for execution id: x'),
        odata('my-id'),
      );
      expect(
        await client.exportToPackage({
          definitionGroupId: 'G',
          packageName: 'p',
          executionId: 'my-id',
          legalEntityId: 'USMF',
        }),
      ).toBe('my-id');
      expect(server.calls.map((_, i) => actionOf(i))).toEqual([
        'ExportToPackage',
        'GetExecutionSummaryStatus',
        'ExportToPackage',
      ]);
      expect(JSON.parse(server.calls[2]!.body)).toMatchObject({ executionId: 'my-id' });
      expect(time.delays).toEqual([750]);
    });

    it('sends the start again when the status of the execution id is "Unknown"', async () => {
      server.enqueue({ status: 502 }, odata('Unknown'), odata('u-2'));
      expect(await client.importFromPackage({ ...params, executionId: 'u-2' })).toBe('u-2');
      expect(server.calls.map((_, i) => actionOf(i))).toEqual([
        'ImportFromPackage',
        'GetExecutionSummaryStatus',
        'ImportFromPackage',
      ]);
    });

    it('waits Retry-After and resends a throttled start without a status check (a 429 is refused before processing)', async () => {
      server.enqueue(odataError(429, 'throttled', { 'retry-after': '3' }), odata('a'));
      expect(await client.importFromPackageAsync({ ...params, executionId: 'a' })).toBe('a');
      expect(time.delays).toEqual([3_000]);
      expect(server.calls.map((_, i) => actionOf(i))).toEqual([
        'ImportFromPackageAsync',
        'ImportFromPackageAsync',
      ]);
    });

    it('throws a throttled start with its Retry-After when it is longer than maxRetryAfterMs', async () => {
      const patient = new DmfPackageClient({
        baseUrl: server.url,
        credential,
        scope: 's',
        retry: { ...time.retry, maxRetryAfterMs: 10_000 },
      });
      server.enqueue(odataError(429, 'throttled', { 'retry-after': '600' }));
      const error = await caught(patient.importFromPackage({ ...params, executionId: 't-1' }));
      expect(error).toMatchObject({ code: 'DMF_HTTP_429', transient: true, retryAfterMs: 600_000 });
      expect(server.calls.map((_, i) => actionOf(i))).toEqual(['ImportFromPackage']);
      expect(time.delays).toEqual([]);
    });

    it('throws DMF_ZERO_EXECUTION_ID when a start answers the all-zero GUID (it started nothing)', async () => {
      server.enqueue(odata('00000000-0000-0000-0000-000000000000'));
      const error = await caught(
        client.exportToPackage({
          definitionGroupId: 'G',
          packageName: 'p',
          executionId: 'z-1',
          legalEntityId: 'USMF',
        }),
      );
      expect(error).toMatchObject({ code: 'DMF_ZERO_EXECUTION_ID', transient: true, executionId: 'z-1' });
      expect(server.calls.map((_, i) => actionOf(i))).toEqual(['ExportToPackage']);
    });

    it('throws DMF_START_UNCONFIRMED with the execution id when the status cannot be read', async () => {
      server.enqueue({ status: 500 });
      server.fallback(() => ({ status: 503 }));
      const error = await caught(client.importFromPackage({ ...params, executionId: 'u-1' }));
      expect(error.code).toBe('DMF_START_UNCONFIRMED');
      expect(error.executionId).toBe('u-1');
      expect(error.transient).toBe(false);
      expect(server.calls.filter((_, i) => actionOf(i) === 'ImportFromPackage')).toHaveLength(1);
    });

    it('throws a permanent refusal at once, without a status check', async () => {
      server.enqueue(odataError(400, 'Package is invalid'));
      const error = await caught(client.importFromPackage(params));
      expect(error.code).toBe('DMF_HTTP_400');
      expect(server.calls).toHaveLength(1);
    });

    it('stops after maxAttempts starts that never registered', async () => {
      server.fallback((call) =>
        call.url.endsWith('ImportFromPackage')
          ? { status: 503 }
          : odataError(400, 'Execution details were not found for execution id: z'),
      );
      const limited = new DmfPackageClient({
        baseUrl: server.url,
        credential,
        scope: 's',
        retry: { ...time.retry, maxAttempts: 3 },
      });
      const error = await caught(limited.importFromPackage({ ...params, executionId: 'z' }));
      expect(error.code).toBe('DMF_HTTP_503');
      expect(error.executionId).toBe('z');
      expect(server.calls.filter((c) => c.url.endsWith('ImportFromPackage'))).toHaveLength(3);
    });

    it('never uses the status check for a re-execution: only a 429 is resent', async () => {
      const reRun = {
        definitionGroupId: 'G',
        packageName: 'p',
        executionId: 'old-1',
        reExecute: true,
        legalEntityId: 'USMF',
      };
      server.enqueue({ status: 502 });
      const error = await caught(client.exportToPackage(reRun));
      expect(error.code).toBe('DMF_START_UNCONFIRMED');
      expect(error.executionId).toBe('old-1');
      expect(server.calls.map((_, i) => actionOf(i))).toEqual(['ExportToPackage']);

      server.enqueue(odataError(429, 'throttled', { 'retry-after': '2' }), odata('old-1'));
      expect(await client.exportToPackage(reRun)).toBe('old-1');
      expect(server.calls.map((_, i) => actionOf(i))).toEqual([
        'ExportToPackage',
        'ExportToPackage',
        'ExportToPackage',
      ]);
      expect(time.delays).toEqual([2_000]);
    });

    it('resends a start after a 401 (refused before processing) with a fresh token', async () => {
      server.enqueue({ status: 401 }, odata('r-1'));
      expect(await client.importFromPackage({ ...params, executionId: 'r-1' })).toBe('r-1');
      expect(server.calls.map((_, i) => actionOf(i))).toEqual(['ImportFromPackage', 'ImportFromPackage']);
      expect(server.calls[1]!.headers.authorization).toBe('Bearer token-2');
    });
  });

  it('logs each attempt without tokens or SAS signatures', async () => {
    const logger = recordingLogger();
    const logged = new DmfPackageClient({
      baseUrl: server.url,
      credential,
      scope: 's',
      logger,
      retry: time.retry,
    });
    server.enqueue(
      odataError(503, 'Could not read https://acct.blob.core.windows.net/c/p.zip?sv=1&sig=SECRETSIG'),
      odata('e'),
    );
    await logged
      .importFromPackage({
        packageUrl: 'https://x/p.zip?sig=SECRETSIG',
        definitionGroupId: 'G',
        executionId: 'e',
        legalEntityId: 'USMF',
      })
      .catch(() => undefined);
    const text = logger.lines.join('\n');
    expect(text).toContain('ImportFromPackage');
    expect(text).not.toContain('SECRETSIG');
    expect(text).not.toContain('token-1');
  });
});
