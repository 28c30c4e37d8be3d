import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DATA_JOB_STATES as EMULATOR_DATA_JOB_STATES } from '@dmf-functions/emulator';
import { caughtAs } from '../../support/caught.js';
import {
  DATA_JOB_STATES,
  DmfApiError,
  RecurringClient,
  downloadSasStream,
  type RetryOptions,
} from '../../../src/shared/dmf/index.js';
import { countingCredential, odata, startFakeServer, type FakeServer } from './fake-server.js';

const ACTIVITY = '6d31b2b5-5ad4-4c0d-8a6e-1bbd8c0a1f00';

const caught = caughtAs(DmfApiError);

describe('RecurringClient', () => {
  let server: FakeServer;
  let credential: ReturnType<typeof countingCredential>;
  let client: RecurringClient;
  let delays: number[];

  beforeEach(async () => {
    server = await startFakeServer();
    credential = countingCredential();
    delays = [];
    const retry: Partial<RetryOptions> = {
      sleep: async (ms) => {
        delays.push(ms);
      },
      random: () => 0.5,
    };
    client = new RecurringClient({ baseUrl: server.url, credential, scope: 's', retry });
  });
  afterEach(async () => {
    await server.close();
  });

  it('enqueues a streamed body with entity, company and external identifier, stripping the quoted id', async () => {
    server.enqueue({ status: 200, body: '"84a383c8-8d5e-4c5b-a0d9-3c6e5e1a1d11"' });
    const body = Readable.from([Buffer.from('CUSTOMERACCOUNT,NAME\r\n'), Buffer.from('C1,Contoso\r\n')]);
    const id = await client.enqueue(`{${ACTIVITY}}`, body, {
      entity: 'Customers V3',
      company: 'USMF',
      externalIdentifier: 'customers 2026.csv',
    });
    expect(id).toBe('84a383c8-8d5e-4c5b-a0d9-3c6e5e1a1d11');
    const call = server.calls[0]!;
    expect(call.method).toBe('POST');
    const url = new URL(call.url, server.url);
    expect(decodeURIComponent(url.pathname)).toBe(`/api/connector/enqueue/{${ACTIVITY}}`);
    expect(url.searchParams.get('entity')).toBe('Customers V3');
    expect(url.searchParams.get('company')).toBe('USMF');
    expect(call.headers['x-ms-dyn-externalidentifier']).toBe('customers 2026.csv');
    expect(call.headers.authorization).toBe('Bearer token-1');
    expect(call.body).toBe('CUSTOMERACCOUNT,NAME\r\nC1,Contoso\r\n');
  });

  it('enqueues a web ReadableStream and omits entity/company when not given', async () => {
    server.enqueue({ status: 200, body: '"m-2"' });
    const web = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new TextEncoder().encode('zipbytes'));
        c.close();
      },
    });
    expect(await client.enqueue(ACTIVITY, web as never)).toBe('m-2');
    expect(server.calls[0]!.url).toBe(`/api/connector/enqueue/${ACTIVITY}`);
    expect(server.calls[0]!.body).toBe('zipbytes');
  });

  it('turns a 302 (on-premises) into a permanent DMF_RECURRING_UNAVAILABLE', async () => {
    server.enqueue({ status: 302, headers: { location: 'https://aos/namespaces/AXSF/' } });
    const error = await caught(client.enqueue(ACTIVITY, 'x'));
    expect(error.code).toBe('DMF_RECURRING_UNAVAILABLE');
    expect(error.status).toBe(302);
    expect(error.transient).toBe(false);
    expect(error.message).toMatch(/not available/);
  });

  it('does not resend an enqueue after a 5xx (the message may be queued) but throws it as transient', async () => {
    server.fallback(() => ({ status: 503 }));
    const error = await caught(client.enqueue(ACTIVITY, 'data'));
    expect(error.code).toBe('DMF_HTTP_503');
    expect(error.transient).toBe(true);
    expect(server.calls).toHaveLength(1);
  });

  it('resends a replayable enqueue after 429 (Retry-After), but not a one-shot stream', async () => {
    server.enqueue({ status: 429, headers: { 'retry-after': '2' } }, { status: 200, body: '"m-3"' });
    expect(await client.enqueue(ACTIVITY, () => Readable.from(['abc']))).toBe('m-3');
    expect(delays).toEqual([2_000]);
    expect(server.calls.map((c) => c.body)).toEqual(['abc', 'abc']);

    server.enqueue({ status: 429, headers: { 'retry-after': '2' } });
    const error = await caught(client.enqueue(ACTIVITY, Readable.from(['abc'])));
    expect(error.code).toBe('DMF_HTTP_429');
    expect(server.calls).toHaveLength(3);
  });

  it('refreshes the token after a 401 on enqueue when the body can be replayed', async () => {
    server.enqueue({ status: 401 }, { status: 200, body: '"m-4"' });
    expect(await client.enqueue(ACTIVITY, Buffer.from('abc'))).toBe('m-4');
    expect(server.calls.map((c) => c.headers.authorization)).toEqual(['Bearer token-1', 'Bearer token-2']);
  });

  it('cannot replay a one-shot stream after a 401: the 401 is thrown', async () => {
    server.enqueue({ status: 401 });
    const error = await caught(client.enqueue(ACTIVITY, Readable.from(['abc'])));
    expect(error.code).toBe('DMF_HTTP_401');
    expect(server.calls).toHaveLength(1);
  });

  it('dequeues: 204 means empty, 200 is parsed, ack sends the answer back verbatim', async () => {
    const answer = {
      CorrelationId: 'c0ffee00-0000-0000-0000-000000000001',
      PopReceipt: 'pop-1',
      DownloadLocation: `http://fo.example:80/api/connector/download/${ACTIVITY}?correlation-id=c&blob=b`,
      IsDownLoadFileExist: true,
      FileDownLoadErrorMessage: null,
      LastDequeueDateTime: null,
      Extra: 'kept',
    };
    server.enqueue({ status: 204 }, { status: 200, body: JSON.stringify(answer) }, { status: 200 });
    expect(await client.dequeue(ACTIVITY)).toBeUndefined();
    const message = await client.dequeue(ACTIVITY);
    expect(message).toMatchObject({
      correlationId: answer.CorrelationId,
      popReceipt: 'pop-1',
      downloadLocation: answer.DownloadLocation,
      isDownloadFileExist: true,
      fileDownloadErrorMessage: undefined,
      lastDequeueDateTime: undefined,
    });
    await client.ack(ACTIVITY, message!);
    expect(server.calls.map((c) => `${c.method} ${c.url}`)).toEqual([
      `GET /api/connector/dequeue/${ACTIVITY}`,
      `GET /api/connector/dequeue/${ACTIVITY}`,
      `POST /api/connector/ack/${ACTIVITY}`,
    ]);
    expect(JSON.parse(server.calls[2]!.body)).toEqual(answer);
  });

  it('downloads with the bearer token on the environment origin, rewriting http://…:80', async () => {
    server.enqueue({ status: 200, headers: { 'content-length': '5' }, body: 'hello' });
    const location = `http://fo.example:80/api/connector/download/${ACTIVITY}?correlation-id=c&blob=b`;
    expect(client.resolveDownloadUrl(location)).toBe(
      `${server.url}/api/connector/download/${ACTIVITY}?correlation-id=c&blob=b`,
    );
    const download = await client.download(location);
    expect(await text(download.stream)).toBe('hello');
    expect(download.contentLength).toBe(5);
    expect(server.calls[0]!.url).toBe(`/api/connector/download/${ACTIVITY}?correlation-id=c&blob=b`);
    expect(server.calls[0]!.headers.authorization).toBe('Bearer token-1');
  });

  it('reads jobstatus', async () => {
    server.enqueue({
      status: 200,
      body: JSON.stringify({
        DataJobStatus: {
          DataProject: 'CustomerImport',
          ExecutionIdentifier: 'exec-1',
          DataJobState: 'Processed',
        },
        ExecutionLog: 'ok',
        ExecutionDetail: [{ EntityName: 'Customers V3', StagingRecords: 2, TargetRecords: 2 }],
      }),
    });
    const status = await client.jobStatus(ACTIVITY, 'm-1');
    expect(server.calls[0]!.url).toBe(`/api/connector/jobstatus/${ACTIVITY}?jobId=m-1`);
    expect(status.dataJobState).toBe('Processed');
    expect(status.executionId).toBe('exec-1');
    expect(status.executionDetail).toEqual([
      { EntityName: 'Customers V3', StagingRecords: 2, TargetRecords: 2 },
    ]);
  });

  it("maps every DataJobState, in F&O's words or as the enum's number; an unknown one is kept as sent", async () => {
    const answers: [unknown, string | undefined][] = [
      ...DATA_JOB_STATES.map((word, n): [unknown, string] => [n, word]),
      ...DATA_JOB_STATES.map((word): [unknown, string] => [word.toLowerCase(), word]),
      ['6', 'ProcessedWithErrors'],
      [42, '42'],
      ['Archived', 'Archived'],
      [null, undefined],
    ];
    for (const [sent, expected] of answers) {
      server.enqueue({ status: 200, body: JSON.stringify({ DataJobStatus: { DataJobState: sent } }) });
      expect((await client.jobStatus(ACTIVITY, 'm-1')).dataJobState, String(sent)).toBe(expected);
    }
    // the same enum, in the same order, as the emulator serves (RIS's ContractEnums.cs)
    expect(DATA_JOB_STATES).toEqual(EMULATOR_DATA_JOB_STATES);
  });

  it('forwards GetMessageStatus and GetExecutionIdByMessageId to the package API', async () => {
    server.enqueue(odata('Processing'), odata('{00000000-0000-0000-0000-000000000000}'));
    expect(await client.getMessageStatus('m')).toBe('Processing');
    expect(await client.getExecutionIdByMessageId('m')).toBeUndefined();
    expect(server.calls[0]!.url).toContain('Microsoft.Dynamics.DataEntities.GetMessageStatus');
  });
});

describe('downloadSasStream', () => {
  let server: FakeServer;
  beforeEach(async () => {
    server = await startFakeServer();
  });
  afterEach(async () => {
    await server.close();
  });

  it('GETs without any Authorization header and streams the body', async () => {
    server.enqueue({
      status: 200,
      headers: { 'content-type': 'application/zip' },
      body: Buffer.from('PK..'),
    });
    const result = await downloadSasStream(`${server.url}/c/out.zip?sv=2014-02-14&sig=SIG`);
    expect(await text(result.stream)).toBe('PK..');
    expect(result.contentType).toBe('application/zip');
    expect(server.calls[0]!.headers.authorization).toBeUndefined();
  });

  it('maps 403 to DMF_SAS_REJECTED and retries 503', async () => {
    server.enqueue(
      { status: 503 },
      { status: 403, body: '<Error><Code>AuthenticationFailed</Code></Error>' },
    );
    const error = await caught(
      downloadSasStream(`${server.url}/c/out.zip?sig=SIG`, { retry: { sleep: async () => undefined } }),
    );
    expect(error.code).toBe('DMF_SAS_REJECTED');
    expect(error.transient).toBe(false);
    expect(error.message).not.toContain('SIG');
    expect(server.calls).toHaveLength(2);
  });
});
