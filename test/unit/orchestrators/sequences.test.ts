/**
 * The durable task sequences of every orchestrator, held against a recorded copy
 * (sequences.golden.json). Running instances replay their history against the code: an activity
 * called in another order, a timer more or less, another entity operation — and they fail. So a
 * change that alters a sequence must be on purpose: it fails here, is said in docs/development.md,
 * and the copy is recorded again with `UPDATE_SEQUENCES=1 npx vitest run test/unit/orchestrators/sequences.test.ts`.
 *
 * Each scenario runs the real orchestrator under durable-functions' replay on the local host's
 * durable engine; activities are answered here by their durable names (the strings in history).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startReplayHost, type Answer, type Call, type ReplayHost } from '../../support/replay.js';

const GOLDEN = new URL('./sequences.golden.json', import.meta.url);
const update = process.env.UPDATE_SEQUENCES === '1';
const golden = JSON.parse(readFileSync(GOLDEN, 'utf8')) as Record<string, unknown>;
const recorded: Record<string, unknown> = {};

let replay: ReplayHost;
beforeAll(async () => {
  replay = await startReplayHost();
});
afterAll(async () => {
  await replay?.stop();
  if (update) writeFileSync(GOLDEN, `${JSON.stringify({ ...golden, ...recorded }, null, 2)}\n`);
});

const ISO = /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{3})?Z/g;

/** Times of the run as offsets from its start (earlier ones are inputs: kept as they are). */
function normalize(value: unknown, base: number): unknown {
  const text = JSON.stringify(value ?? null).replace(ISO, (iso) =>
    Date.parse(iso) < base ? iso : `T+${Date.parse(iso) - base}`,
  );
  return JSON.parse(text) as unknown;
}

type Script = (call: Call, calls: Call[]) => Answer;

async function record(
  key: string,
  orchestrator: string,
  input: unknown,
  answer: Script,
  instanceId = key,
): Promise<void> {
  const run = await replay.run(orchestrator, { input, instanceId, answer });
  const base = run.startedAt.getTime();
  const seen = normalize(
    {
      actions: run.actions,
      output: run.output,
    },
    base,
  );
  recorded[key] = seen;
  if (!update) expect(seen).toEqual(golden[key]);
}

const fail = (message: string): Answer => ({ error: new Error(message) });
const ok = (value: unknown): Answer => ({ value });
/** Answers the n-th call of an activity (0-based) from a list; the last entry repeats. */
const nth = (calls: Call[], name: string, answers: Answer[]): Answer => {
  const n = calls.filter((c) => c.name === name).length - 1;
  return answers[Math.min(n, answers.length - 1)]!;
};
const echoResult = (call: Call): Answer => ok({ ...(call.input as object), resultBlob: 'results/r.json' });

// ---------------------------------------------------------------- importPackage

const polling = {
  firstIntervalSeconds: 15,
  backoffFactor: 1.6,
  maxIntervalSeconds: 300,
  deadlineHours: 1,
  notStartedGraceSeconds: 60,
};
const importInput = (environment = 'prod', project = 'customers') => ({
  source: { kind: 'blob', container: 'inbound', path: `${environment}/${project}/c.zip`, etag: 'e1' },
  logicalPath: `${environment}/${project}/c.zip`,
  fileName: 'c.zip',
  environment,
  project,
  definitionGroupId: 'Customers',
  legalEntity: 'USMF',
  execute: true,
  overwrite: true,
  trigger: 'blob',
  requestedAt: '2025-12-31T00:00:00.000Z',
});
const prepared = (over: Record<string, unknown> = {}) =>
  ok({
    ok: true,
    packageBlob: { container: 'inbound', path: 'prod/customers/c.zip' },
    sourceBlob: { container: 'inbound', path: 'prod/customers/c.zip' },
    stagingBlobs: [],
    entities: ['Customers V3'],
    overwrite: true,
    warnings: [],
    polling,
    concurrency: 1,
    ...over,
  });

function importScript(options: {
  prepare?: (calls: Call[]) => Answer;
  upload?: Answer;
  statuses?: Answer[];
  collect?: Answer[];
  stale?: string[];
}): Script {
  return (call, calls) => {
    switch (call.name) {
      case 'importPrepare':
        return options.prepare?.(calls) ?? prepared();
      case 'importUploadAndStart':
        return options.upload ?? ok({ executionId: 'x', alreadyStarted: false, bytes: 10 });
      case 'importGetStatus':
        return nth(
          calls,
          'importGetStatus',
          options.statuses ?? [ok({ kind: 'status', status: 'Succeeded' })],
        );
      case 'importCollectErrors':
        return nth(
          calls,
          'importCollectErrors',
          options.collect ?? [ok({ errors: [], files: [], pendingTargetKeys: [] })],
        );
      case 'importFindStaleHolders':
        return ok(options.stale ?? []);
      case 'importFinish':
        return ok({ ...(call.input as { result: object }).result, resultBlob: 'results/r.json' });
      default:
        return ok(null);
    }
  };
}

const status = (s: string): Answer => ok({ kind: 'status', status: s });

describe('importPackage task sequence', () => {
  it('succeeds after a few polls', async () => {
    await record(
      'import-succeeded',
      'importPackage',
      importInput(),
      importScript({ statuses: [status('Executing'), status('Executing'), status('Succeeded')] }),
    );
  });

  it('learns from the data project’s earlier durations', async () => {
    for (let n = 1; n <= 4; n++) {
      await record(
        `import-history-${n}`,
        'importPackage',
        importInput('hist', 'customers'),
        importScript({
          statuses: [status('NotRun'), status('Executing'), status('Executing'), status('Succeeded')],
        }),
      );
    }
  });

  it('refuses an invalid package', async () => {
    await record(
      'import-invalid',
      'importPackage',
      importInput(),
      importScript({
        prepare: () =>
          ok({
            ok: false,
            errors: [{ code: 'PACKAGE_INVALID', message: 'no manifest' }],
            sourceBlob: { container: 'inbound', path: 'prod/customers/c.zip' },
            stagingBlobs: [],
          }),
      }),
    );
  });

  it('ends readably when prepare keeps failing', async () => {
    await record(
      'import-prepare-failed',
      'importPackage',
      importInput(),
      importScript({ prepare: () => fail('storage down') }),
    );
  });

  it('a failed start F&O does not know is a start failure', async () => {
    await record(
      'import-start-not-registered',
      'importPackage',
      importInput(),
      importScript({ upload: fail('ImportFromPackage 500'), statuses: [ok({ kind: 'notFound' })] }),
    );
  });

  it('a failed start F&O cannot be asked about is unconfirmed', async () => {
    await record(
      'import-start-unknown',
      'importPackage',
      importInput(),
      importScript({
        upload: fail('ImportFromPackage 500'),
        statuses: [ok({ kind: 'unavailable', message: 'F&O down' })],
      }),
    );
  });

  it('a failed start F&O registered is polled, and its errors are collected', async () => {
    await record(
      'import-start-registered-failed',
      'importPackage',
      importInput(),
      importScript({
        upload: fail('timeout'),
        statuses: [status('Executing'), ok({ kind: 'unavailable', message: 'x' }), status('Failed')],
        collect: [
          ok({
            errors: [{ code: 'DMF_EXECUTION_ERROR', message: 'bad row' }],
            files: [{ kind: 'staging', entity: 'Customers V3', container: 'r', path: 's.csv', bytes: 1 }],
            pendingTargetKeys: ['Customers V3'],
          }),
          ok({ errors: [], files: [], pendingTargetKeys: ['Customers V3'] }),
          ok({
            errors: [],
            files: [{ kind: 'targetKeys', entity: 'Customers V3', container: 'r', path: 't.csv', bytes: 1 }],
            pendingTargetKeys: [],
          }),
        ],
      }),
    );
  });

  it('target keys that never come are reported', async () => {
    await record(
      'import-target-keys-not-ready',
      'importPackage',
      importInput(),
      importScript({
        statuses: [status('PartiallySucceeded')],
        collect: [ok({ errors: [], files: [], pendingTargetKeys: ['Customers V3'] })],
      }),
    );
  });

  it('error collection that keeps failing is reported', async () => {
    await record(
      'import-collect-failed',
      'importPackage',
      importInput(),
      importScript({ statuses: [status('Canceled')], collect: [fail('F&O down')] }),
    );
  });

  it('an execution F&O never knows ends after the grace', async () => {
    await record(
      'import-not-found',
      'importPackage',
      importInput(),
      importScript({ statuses: [ok({ kind: 'notFound' })] }),
    );
  });

  it('an execution that never ends times out', async () => {
    await record(
      'import-timed-out',
      'importPackage',
      importInput(),
      importScript({
        prepare: () => prepared({ polling: { ...polling, deadlineHours: 0.05 } }),
        statuses: [status('Executing')],
      }),
    );
  });

  it('waits for the slot, evicts a holder that no longer runs and goes on', async () => {
    replay.durable.signalEntity(
      'importSlot',
      'busy',
      'acquire',
      JSON.stringify({ instanceId: 'ghost', capacity: 1, now: '2025-12-31T00:00:00.000Z' }),
    );
    await record(
      'import-slot-wait',
      'importPackage',
      importInput('busy'),
      importScript({ stale: ['ghost'] }),
    );
  });

  it('a cancel raised while preparing wins before the upload', async () => {
    await record(
      'import-canceled',
      'importPackage',
      importInput(),
      importScript({
        prepare: () => {
          void replay.durable.raiseEvent('import-canceled', 'cancel', '{}');
          return prepared();
        },
      }),
    );
  });
});

// ---------------------------------------------------------------- exportPackage

const exportInput = {
  environment: 'prod',
  project: 'customers-export',
  definitionGroupId: 'Export-Customers',
  legalEntity: 'USMF',
  packageName: 'customers',
  reExecute: false,
  unpack: true,
  polling,
  trigger: 'http',
  requestedAt: '2025-12-30T05:06:07.000Z',
};

function exportScript(options: {
  start?: Answer;
  statuses?: Answer[];
  store?: Answer[];
  collect?: Answer;
}): Script {
  return (call, calls) => {
    switch (call.name) {
      case 'exportStart':
        return options.start ?? ok({ executionId: 'x', alreadyStarted: false });
      case 'importGetStatus':
        return nth(calls, 'importGetStatus', options.statuses ?? [status('Succeeded')]);
      case 'exportStore':
        return nth(
          calls,
          'exportStore',
          options.store ?? [
            ok({ ready: true, package: { container: 'out', path: 'p.zip', bytes: 10 }, unpacked: [] }),
          ],
        );
      case 'importCollectErrors':
        return (
          options.collect ??
          ok({ errors: [{ code: 'DMF_EXECUTION_ERROR', message: 'e' }], files: [], pendingTargetKeys: [] })
        );
      case 'exportFinish':
        return echoResult(call);
      default:
        return ok(null);
    }
  };
}
const notReady = ok({ ready: false });

describe('exportPackage task sequence', () => {
  it('waits for the package url and stores it', async () => {
    await record(
      'export-succeeded',
      'exportPackage',
      exportInput,
      exportScript({
        statuses: [status('Executing'), status('Succeeded')],
        store: [
          notReady,
          notReady,
          notReady,
          ok({ ready: true, package: { container: 'out', path: 'p.zip', bytes: 10 }, unpacked: [] }),
        ],
      }),
      'exp-succeeded',
    );
  });

  it('gives up on a package url that never comes', async () => {
    await record(
      'export-url-never',
      'exportPackage',
      exportInput,
      exportScript({ store: [notReady] }),
      'exp-url',
    );
  });

  it('reports a store that keeps failing', async () => {
    await record(
      'export-store-failed',
      'exportPackage',
      exportInput,
      exportScript({ store: [fail('disk')] }),
      'exp-store',
    );
  });

  it('collects the errors of a failed export', async () => {
    await record(
      'export-failed',
      'exportPackage',
      exportInput,
      exportScript({ statuses: [status('Failed')] }),
      'exp-failed',
    );
  });

  it('names a failed export without error details', async () => {
    await record(
      'export-failed-no-details',
      'exportPackage',
      exportInput,
      exportScript({ statuses: [status('Canceled')], collect: fail('F&O down') }),
      'exp-failed2',
    );
  });

  it('confirms a failed start', async () => {
    for (const [key, check] of [
      ['export-start-not-registered', ok({ kind: 'notFound' })],
      ['export-start-unknown', ok({ kind: 'unavailable', message: 'down' })],
      ['export-start-registered', status('Executing')],
    ] as const) {
      await record(
        key,
        'exportPackage',
        exportInput,
        exportScript({ start: fail('ExportToPackage 500'), statuses: [check, status('Succeeded')] }),
        `exp-${key}`,
      );
    }
  });

  it('times out and ends an execution F&O never knows', async () => {
    await record(
      'export-timed-out',
      'exportPackage',
      { ...exportInput, polling: { ...polling, deadlineHours: 0.05 } },
      exportScript({ statuses: [status('Executing')] }),
      'exp-timed-out',
    );
    await record(
      'export-not-found',
      'exportPackage',
      exportInput,
      exportScript({ statuses: [ok({ kind: 'notFound' })] }),
      'exp-not-found',
    );
  });
});

// ---------------------------------------------------------------- recurringImport

const recurringInput = {
  container: 'dmf-recurring-inbound',
  path: 'prod/6f1f1b52-4a1c-4f0e-9c43-2f0a8c7d9e10/Customers V3/c.csv',
  etag: 'e1',
  fileName: 'c.csv',
  environment: 'prod',
  activityId: '6f1f1b52-4a1c-4f0e-9c43-2f0a8c7d9e10',
  entity: 'Customers V3',
  maxEnqueueBytes: 1000,
  polling: { firstIntervalSeconds: 15, backoffFactor: 1.6, maxIntervalSeconds: 300, deadlineHours: 1 },
  requestedAt: '2025-12-31T00:00:00.000Z',
};

function recurringScript(options: {
  enqueue?: Answer;
  statuses?: Answer[];
  executionIds?: Answer[];
  collect?: Answer[];
}): Script {
  return (call, calls) => {
    switch (call.name) {
      case 'recurringEnqueue':
        return options.enqueue ?? ok({ kind: 'enqueued', messageId: 'm-1', bytes: 10 });
      case 'recurringMessageStatus':
        return nth(calls, 'recurringMessageStatus', options.statuses ?? [status('Processed')]);
      case 'recurringExecutionId':
        return nth(calls, 'recurringExecutionId', options.executionIds ?? [ok('exec-1')]);
      case 'importCollectErrors':
        return nth(
          calls,
          'importCollectErrors',
          options.collect ?? [ok({ errors: [], files: [], pendingTargetKeys: [] })],
        );
      case 'recurringImportFinish':
        return ok({ ...(call.input as { result: object }).result, resultBlob: 'results/r.json' });
      default:
        return ok(null);
    }
  };
}

describe('recurringImport task sequence', () => {
  it('is processed after a few polls (and learns from it)', async () => {
    for (let n = 1; n <= 4; n++) {
      await record(
        `recurring-processed-${n}`,
        'recurringImport',
        recurringInput,
        recurringScript({
          statuses: [
            status('Enqueued'),
            ok({ kind: 'unavailable', message: 'x' }),
            status('Processing'),
            status('Processed'),
          ],
        }),
        `rim-processed-${n}`,
      );
    }
  });

  it('collects the errors of a message processed with errors', async () => {
    await record(
      'recurring-with-errors',
      'recurringImport',
      recurringInput,
      recurringScript({
        statuses: [status('ProcessedWithErrors')],
        executionIds: [ok(null), ok(null), ok('exec-1')],
        collect: [
          ok({
            errors: [{ code: 'DMF_EXECUTION_ERROR', message: 'e' }],
            files: [],
            pendingTargetKeys: ['Customers V3'],
          }),
          ok({ errors: [], files: [], pendingTargetKeys: [] }),
        ],
      }),
      'rim-errors',
    );
  });

  it('names a message without execution id', async () => {
    await record(
      'recurring-no-execution-id',
      'recurringImport',
      recurringInput,
      recurringScript({ statuses: [status('PreProcessingError')], executionIds: [ok(null)] }),
      'rim-no-exec',
    );
  });

  it('refuses a file too large, reports an enqueue that fails, and times out', async () => {
    await record(
      'recurring-refused',
      'recurringImport',
      recurringInput,
      recurringScript({
        enqueue: ok({ kind: 'refused', code: 'ENQUEUE_TOO_LARGE', reason: 'big', bytes: 2000 }),
      }),
      'rim-refused',
    );
    await record(
      'recurring-enqueue-failed',
      'recurringImport',
      recurringInput,
      recurringScript({ enqueue: fail('F&O 500') }),
      'rim-enqueue-failed',
    );
    await record(
      'recurring-timed-out',
      'recurringImport',
      { ...recurringInput, polling: { ...recurringInput.polling, deadlineHours: 0.05 } },
      recurringScript({ statuses: [status('Processing')] }),
      'rim-timed-out',
    );
    await record(
      'recurring-collect-failed',
      'recurringImport',
      recurringInput,
      recurringScript({ statuses: [status('PostProcessingFailed')], collect: [fail('down')] }),
      'rim-collect-failed',
    );
  });
});

// ---------------------------------------------------------------- recurringExportDrain

const ref = (id: string) => ({ correlationId: id, raw: { CorrelationId: id, PopReceipt: 'p' } });

describe('recurringExportDrain task sequence', () => {
  it('stores, records missing files, retries failed acks and continues as new', async () => {
    const items: unknown[] = [];
    for (let i = 0; i < 57; i++) {
      const id = `m${i}`;
      items.push(
        i % 13 === 5
          ? { kind: 'missing', message: ref(id), fileDownloadErrorMessage: 'purged' }
          : i % 11 === 3
            ? { kind: 'failed', message: ref(id), error: 'download failed' }
            : i % 7 === 2
              ? { kind: 'alreadyStored', message: ref(id), container: 'out', path: `p/${id}`, bytes: 1 }
              : {
                  kind: 'stored',
                  message: {
                    ...ref(id),
                    lastDequeueDateTime: i % 5 === 0 ? '2025-12-31T00:00:00.000Z' : undefined,
                  },
                  container: 'out',
                  path: `p/${id}`,
                  bytes: 1,
                },
      );
    }
    let acks = 0;
    await record(
      'drain',
      'recurringExportDrain',
      {
        environment: 'prod',
        activityId: '6f1f1b52-4a1c-4f0e-9c43-2f0a8c7d9e10',
        maxMessages: 100,
        ackWhenFileMissing: true,
        scheduledFor: '2025-12-31T00:00:00.000Z',
      },
      (call) => {
        if (call.name === 'recurringDequeueBatch') {
          const max = (call.input as { max: number }).max;
          const taken = items.splice(0, max);
          return ok({ items: taken, empty: taken.length < max });
        }
        if (call.name === 'recurringAckBatch') {
          acks++;
          if (acks === 2) return fail('ack endpoint down');
          const ids = (call.input as { items: { message: { correlationId: string } }[] }).items.map(
            (i) => i.message.correlationId,
          );
          return ok({ failed: acks % 3 === 0 ? ids.slice(0, 1) : [] });
        }
        return ok(null);
      },
      'recurring-export-prod-golden',
    );
  });
});
