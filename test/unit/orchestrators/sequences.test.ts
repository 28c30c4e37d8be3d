/**
 * The durable task sequences of every orchestrator, held against a recorded copy
 * (sequences.golden.json). Running instances replay their history against the code: an activity
 * called in another order, a timer more or less, another entity operation — and they fail. So a
 * change that alters a sequence must be on purpose: it fails here, is said in docs/development.md,
 * and the copy is recorded again with `UPDATE_SEQUENCES=1 npx vitest run test/unit/orchestrators/sequences.test.ts`.
 *
 * Each scenario runs the real orchestrator under durable-functions' replay on the local host's
 * durable engine and records the actions of its last episode (what the Functions host replays:
 * activities with their inputs and retry options, timers, entity calls and signals) and its output.
 * Activities are answered here by their durable names (the strings in history). The scenarios run in
 * order on one host: the duration history and the slot entity carry over from one to the next.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  FAILED_IMPORT_NOTICE,
  sampleExportInput,
  sampleImportInput,
  samplePrepared,
} from '../../support/inputs.js';
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

const fail = (message: string): Answer => ({ error: new Error(message) });
const ok = (value: unknown): Answer => ({ value });
const status = (s: string): Answer => ok({ kind: 'status', status: s });
const notFound = ok({ kind: 'notFound' });
const unavailable = (message: string): Answer => ok({ kind: 'unavailable', message });
const throttled = (retryAfterMs?: number): Answer =>
  ok({ kind: 'throttled', message: 'HTTP 429', ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) });
const summary = ok({
  executionPageUrl: 'https://fo.example/?mi=DMFExecutionSummary&executionId=x',
  entityCounts: [{ entity: 'Customers V3', status: 'Succeeded', targetRecords: 3 }],
});
const collected = (over: Record<string, unknown> = {}): Answer =>
  ok({ errors: [], files: [], pendingTargetKeys: [], ...over });
/** A finish activity: the result it was given, stored. */
const stored = (call: Call): Answer => {
  const input = call.input as { result?: object };
  return ok({ ...(input.result ?? input), resultBlob: 'results/r.json' });
};

/**
 * How the activities answer, by durable name: a list is answered in order (the last one repeats),
 * a function is asked each time. An activity not named answers null.
 */
type Answers = Record<string, Answer[] | ((call: Call, calls: Call[]) => Answer)>;

interface Scenario {
  key: string;
  orchestrator: string;
  id: string;
  /** The input, or a function making it when the scenario starts (times to come: from the host's now). */
  input: unknown;
  answers: Answers;
  /** Run before the orchestration starts. */
  before?: () => void;
}

async function run(scenario: Scenario): Promise<void> {
  const answer = (call: Call, calls: Call[]): Answer => {
    const given = scenario.answers[call.name ?? ''];
    if (given === undefined) return ok(null);
    if (typeof given === 'function') return given(call, calls);
    const n = calls.filter((c) => c.name === call.name).length - 1;
    return given[Math.min(n, given.length - 1)]!;
  };
  scenario.before?.();
  const result = await replay.run(scenario.orchestrator, {
    input: typeof scenario.input === 'function' ? (scenario.input as () => unknown)() : scenario.input,
    instanceId: scenario.id,
    answer,
  });
  const seen = normalize({ actions: result.actions, output: result.output }, result.startedAt.getTime());
  recorded[scenario.key] = seen;
  if (!update) expect(seen).toEqual(golden[scenario.key]);
}

// ---------------------------------------------------------------- importPackage

const polling = {
  firstIntervalSeconds: 15,
  backoffFactor: 1.6,
  maxIntervalSeconds: 300,
  deadlineHours: 1,
  notStartedGraceSeconds: 60,
};
const importInput = (environment = 'prod') => sampleImportInput({ environment });
const sourceBlob = { container: 'inbound', path: 'prod/customers/c.zip' };
const prepared = (over: Record<string, unknown> = {}): Answer =>
  ok({ ...samplePrepared(sourceBlob, polling), ...over });
const started = ok({ kind: 'started', executionId: 'x', alreadyStarted: false, bytes: 10 });
const importAnswers = (over: Answers = {}): Answers => ({
  importPrepare: [prepared()],
  importCheckDefinition: [ok({ ok: true })],
  importUploadAndStart: [started],
  importGetStatus: [status('Succeeded')],
  executionSummary: [summary],
  importCollectErrors: [collected()],
  importFindStaleHolders: [ok([])],
  importFinish: stored,
  ...over,
});
const importScenario = (key: string, answers: Answers, over: Partial<Scenario> = {}): Scenario => ({
  key,
  orchestrator: 'importPackage',
  id: key,
  input: importInput(),
  answers: importAnswers(answers),
  ...over,
});
const stagingFile = { kind: 'staging', entity: 'Customers V3', container: 'r', path: 's.csv', bytes: 1 };
const keysFile = { kind: 'targetKeys', entity: 'Customers V3', container: 'r', path: 't.csv', bytes: 1 };

const importScenarios: Scenario[] = [
  importScenario('import-succeeded', {
    importGetStatus: [status('Executing'), status('Executing'), status('Succeeded')],
  }),
  // the data project's earlier durations plan the later runs' polls
  ...[1, 2, 3, 4].map((n) =>
    importScenario(
      `import-history-${n}`,
      { importGetStatus: [status('NotRun'), status('Executing'), status('Executing'), status('Succeeded')] },
      { input: importInput('hist') },
    ),
  ),
  importScenario('import-invalid', {
    importPrepare: [
      ok({
        ok: false,
        errors: [{ code: 'PACKAGE_INVALID', message: 'no manifest' }],
        sourceBlob,
        stagingBlobs: [],
      }),
    ],
  }),
  importScenario('import-prepare-failed', { importPrepare: [fail('storage down')] }),
  importScenario('import-start-not-registered', {
    importUploadAndStart: [fail('ImportFromPackage 500')],
    importGetStatus: [notFound],
  }),
  // whether F&O registered the start stays unknown until the deadline: TimedOut, the slot stays held
  // (each scenario that keeps its slot runs on an environment of its own)
  importScenario(
    'import-start-unknown',
    {
      importUploadAndStart: [fail('ImportFromPackage 500')],
      importGetStatus: [unavailable('F&O down')],
    },
    { input: importInput('unknown') },
  ),
  importScenario('import-start-registered-failed', {
    importUploadAndStart: [fail('timeout')],
    importGetStatus: [status('Executing'), unavailable('x'), status('Failed')],
    importCollectErrors: [
      collected({
        errors: [{ code: 'DMF_EXECUTION_ERROR', message: 'bad row' }],
        files: [stagingFile],
        pendingTargetKeys: ['Customers V3'],
      }),
      collected({ pendingTargetKeys: ['Customers V3'] }),
      collected({ files: [keysFile] }),
    ],
  }),
  importScenario('import-target-keys-not-ready', {
    importGetStatus: [status('PartiallySucceeded')],
    importCollectErrors: [collected({ pendingTargetKeys: ['Customers V3'] })],
  }),
  importScenario('import-collect-failed', {
    importGetStatus: [status('Canceled')],
    importCollectErrors: [fail('F&O down')],
  }),
  // F&O never reports the accepted execution: asked until the deadline, outcome unknown, slot kept
  importScenario('import-not-found', { importGetStatus: [notFound] }, { input: importInput('notfound') }),
  // F&O still runs it at the deadline: TimedOut, the slot stays held until F&O is done
  importScenario(
    'import-timed-out',
    {
      importPrepare: [prepared({ polling: { ...polling, deadlineHours: 0.05 } })],
      importGetStatus: [status('Executing')],
    },
    { input: importInput('timedout') },
  ),
  // a holder that no longer runs keeps the slot: the waiter's recheck evicts it
  importScenario(
    'import-slot-wait',
    { importFindStaleHolders: [ok(['ghost'])] },
    {
      input: importInput('busy'),
      before: () =>
        replay.durable.signalEntity(
          'importSlot',
          'busy',
          'acquire',
          JSON.stringify({ instanceId: 'ghost', capacity: 1, now: '2025-12-31T00:00:00.000Z' }),
        ),
    },
  ),
  // a holder that ended while F&O still runs its execution keeps the slot until F&O is done
  importScenario(
    'import-slot-holder-still-running',
    { importFindStaleHolders: [ok([]), ok(['timed-out-holder'])] },
    {
      input: importInput('busy2'),
      before: () =>
        replay.durable.signalEntity(
          'importSlot',
          'busy2',
          'acquire',
          JSON.stringify({
            instanceId: 'timed-out-holder',
            capacity: 1,
            now: '2025-12-31T00:00:00.000Z',
            graceMs: 60_000,
          }),
        ),
    },
  ),
  // F&O throttles the start for a while: Retry-After waited on a durable timer, then started
  importScenario('import-start-throttled', {
    importUploadAndStart: [throttled(600_000), throttled(), started],
  }),
  // throttled until the deadline: not started (a 429 is refused before processing), slot released
  importScenario('import-start-throttled-out', {
    importPrepare: [prepared({ polling: { ...polling, deadlineHours: 0.05 } })],
    importUploadAndStart: [throttled(120_000)],
  }),
  // polls throttled: the next poll waits Retry-After
  importScenario('import-poll-throttled', {
    importGetStatus: [status('Executing'), throttled(240_000), status('Succeeded')],
  }),
  // F&O refuses an existing project without overwrite: the error names the setting
  importScenario(
    'import-project-exists',
    {
      importPrepare: [prepared({ overwrite: false })],
      importUploadAndStart: [
        ok({
          kind: 'refused',
          code: 'DMF_HTTP_400',
          message: 'ImportFromPackage failed with HTTP 400',
          innerMessage: "The data project 'Customers' exists and overwrite has not been specified.",
        }),
      ],
    },
    { input: { ...importInput(), overwrite: false } },
  ),
  // a package that would drop the project's mapping is refused before the slot
  importScenario('import-definition-refused', {
    importCheckDefinition: [
      ok({ ok: false, errors: [{ code: 'PACKAGE_DROPS_MAPPING', message: 'stale manifest' }] }),
    ],
  }),
  // a cancel raised while preparing wins before the upload
  importScenario('import-canceled', {
    importPrepare: () => {
      void replay.durable.raiseEvent('import-canceled', 'cancel', '{}');
      return prepared();
    },
  }),
  // (added after the others: the duration history and the slot carry over between scenarios)
  // a url import takes its place in the queue once its content is staged (after the prepare stage)
  importScenario(
    'import-url',
    {},
    {
      input: {
        ...importInput('web'),
        source: {
          kind: 'url',
          url: 'https://files.example/p/c.zip',
          ref: 'staging/import-url/url/source.json',
        },
        trigger: 'serviceBus',
      },
    },
  ),
  // F&O's deterministic refusal comes back as a value: no retry, then the start check
  importScenario(
    'import-start-refused',
    {
      importUploadAndStart: [
        ok({
          executionId: 'x',
          alreadyStarted: false,
          bytes: 10,
          refused: { code: 'DMF_HTTP_400', message: 'ImportFromPackage: HTTP 400' },
        }),
      ],
      importGetStatus: [notFound],
    },
    { input: importInput('refusing') },
  ),
  // the environment is paused: the import keeps its place, is listed Queued once, and is granted
  // at a recheck after the resume (here the resume comes while it is listed)
  importScenario(
    'import-paused',
    {
      jobRecordQueued: () => {
        replay.durable.signalEntity(
          'importSlot',
          'paused',
          'resume',
          JSON.stringify({ now: '2025-12-31T00:00:00.000Z' }),
        );
        return ok(null);
      },
    },
    {
      input: importInput('paused'),
      before: () =>
        replay.durable.signalEntity(
          'importSlot',
          'paused',
          'pause',
          JSON.stringify({ since: '2025-12-31T00:00:00.000Z', by: 'ops', reason: 'maintenance' }),
        ),
    },
  ),
];

// ---------------------------------------------------------------- batches (importPackage, importChain)

const HEADERS = 'Sales order headers V2';
const LINES = 'Sales order lines V2';
const batchFolder = (environment: string, batchId: string): string => `${environment}/OrdersBatch/${batchId}`;
/** One hour from the host's now, when the scenario starts (recorded as T+3600000). */
const inAnHour = (): string => new Date(replay.now().getTime() + 3_600_000).toISOString();
const batchInput =
  (environment: string, batchId: string, complete = 'trigger') =>
  () => ({
    ...importInput(environment),
    source: {
      kind: 'batch',
      container: 'inbound',
      folder: batchFolder(environment, batchId),
      batchId,
      collect: { trigger: '_ready', complete, deadline: inAnHour() },
    },
    logicalPath: batchFolder(environment, batchId),
    fileName: batchId,
    project: 'OrdersBatch',
    definitionGroupId: 'OrdersBatch',
  });
const batchFile = (environment: string, batchId: string, name: string, entity?: string) => ({
  name,
  path: `${batchFolder(environment, batchId)}/${name}`,
  etag: 'e',
  ...(entity ? { entity } : {}),
});
/** A look at a batch: which of header, lines and trigger are there. */
const look = (
  environment: string,
  batchId: string,
  has: { lines?: boolean; ready?: boolean; problems?: string[] },
) =>
  ok({
    files: [
      batchFile(environment, batchId, 'orders-header.csv', HEADERS),
      ...(has.lines ? [batchFile(environment, batchId, 'orders-lines.csv', LINES)] : []),
    ],
    ...(has.ready ? { triggerFile: batchFile(environment, batchId, '_ready') } : {}),
    missing: has.lines ? [] : [LINES],
    problems: has.problems ?? [],
    ready: (has.ready ?? false) && (has.lines ?? false),
  });
const batchPrepared = (environment: string, batchId: string): Answer =>
  prepared({
    packageBlob: { container: 'archive', path: `staging/${batchId}/package.zip` },
    sourceBlob: undefined,
    sourceBlobs: ['orders-header.csv', 'orders-lines.csv', '_ready'].map((n) => ({
      container: 'inbound',
      path: `${batchFolder(environment, batchId)}/${n}`,
    })),
    entities: [HEADERS, LINES],
  });

const batchScenarios: Scenario[] = [
  // the lines arrive later (the deadline timer wakes the look here): one package, one execution
  importScenario(
    'import-batch',
    {
      batchCheck: [look('batch', 'b1', {}), look('batch', 'b1', { lines: true, ready: true })],
      importPrepare: [batchPrepared('batch', 'b1')],
    },
    { id: 'import-batch', input: batchInput('batch', 'b1') },
  ),
  // a file arriving wakes the batch before its deadline
  importScenario(
    'import-batch-file-event',
    {
      batchCheck: (_call, calls) => {
        const n = calls.filter((c) => c.name === 'batchCheck').length;
        if (n === 1) {
          void replay.durable.raiseEvent(
            'import-batch-file-event',
            'batchFile',
            '{"name":"orders-lines.csv"}',
          );
          return look('batch2', 'b2', {});
        }
        return look('batch2', 'b2', { lines: true, ready: true });
      },
      importPrepare: [batchPrepared('batch2', 'b2')],
    },
    { id: 'import-batch-file-event', input: batchInput('batch2', 'b2') },
  ),
  // still without its lines at the deadline: Failed naming the entity, nothing sent, files kept
  importScenario(
    'import-batch-timed-out',
    { batchCheck: [look('batch3', 'b3', { ready: true })] },
    { id: 'import-batch-timed-out', input: batchInput('batch3', 'b3') },
  ),
  // complete, but a file matches no entity: Failed at once, nothing sent
  importScenario(
    'import-batch-invalid',
    {
      batchCheck: [
        look('batch4', 'b4', {
          lines: true,
          ready: true,
          problems: ['file "x.txt" matches no entity\'s file pattern'],
        }),
      ],
    },
    { id: 'import-batch-invalid', input: batchInput('batch4', 'b4') },
  ),
];

const chainId = 'chn-golden';
const chainProjects = ['CustomerGroups', 'Customers', 'Addresses'];
const chainFolder = 'chains/_chains/customers/c1';
const chainInput =
  (onPartialSuccess: 'stop' | 'continue', environment = 'chains') =>
  () => ({
    chain: 'customers',
    environment,
    container: 'inbound',
    folder: chainFolder,
    batchId: 'c1',
    collect: { trigger: '_ready', complete: 'trigger', deadline: inAnHour() },
    onPartialSuccess,
    steps: chainProjects.map((project) => ({
      project,
      definitionGroupId: project,
      legalEntity: 'USMF',
      execute: true,
      overwrite: true,
    })),
    trigger: 'blob',
    requestedAt: '2025-12-31T00:00:00.000Z',
  });
const chainLook = ok({
  files: chainProjects.map((project) => ({
    name: `${project.toLowerCase()}.csv`,
    path: `${chainFolder}/${project.toLowerCase()}.csv`,
    entity: project,
    project,
  })),
  triggerFile: { name: '_ready', path: `${chainFolder}/_ready` },
  missing: [],
  problems: [],
  ready: true,
});
/** The step's F&O status: by the data project its execution imports into (the child's prepare says). */
const stepStatus =
  (byProject: Record<string, string>) =>
  (call: Call, calls: Call[]): Answer => {
    const executionId = (call.input as { executionId: string }).executionId;
    const start = [...calls]
      .reverse()
      .find(
        (c) =>
          c.name === 'importUploadAndStart' &&
          (c.input as { executionId: string }).executionId === executionId,
      );
    const project = (start?.input as { definitionGroupId?: string } | undefined)?.definitionGroupId ?? '';
    return status(byProject[project] ?? 'Succeeded');
  };
const chainScenario = (key: string, id: string, answers: Answers, input: unknown): Scenario => ({
  key,
  orchestrator: 'importChain',
  id,
  input,
  answers: importAnswers({ batchCheck: [chainLook], chainFinish: stored, ...answers }),
});

const chainScenarios: Scenario[] = [
  // the second project fails: the third never runs, the chain is Failed
  chainScenario(
    'chain-stopped',
    chainId,
    { importGetStatus: stepStatus({ Customers: 'Failed' }) },
    chainInput('stop'),
  ),
  // continue on PartiallySucceeded: every project runs, the chain is PartiallySucceeded
  chainScenario(
    'chain-continue',
    'chn-golden-continue',
    { importGetStatus: stepStatus({ CustomerGroups: 'PartiallySucceeded' }) },
    chainInput('continue', 'chains2'),
  ),
  // its batch never completes: every step skipped, Failed
  chainScenario(
    'chain-batch-timed-out',
    'chn-golden-timed-out',
    { batchCheck: [ok({ files: [], missing: ['Customers (Customers)'], problems: [], ready: false })] },
    chainInput('stop', 'chains3'),
  ),
];

// ---------------------------------------------------------------- exportPackage

const exportInput = sampleExportInput({ polling, requestedAt: '2025-12-30T05:06:07.000Z' });
const notReady = ok({ ready: false });
const ready = ok({ ready: true, package: { container: 'out', path: 'p.zip', bytes: 10 }, unpacked: [] });
const exportScenario = (
  key: string,
  id: string,
  answers: Answers,
  input: unknown = exportInput,
): Scenario => ({
  key,
  orchestrator: 'exportPackage',
  id,
  input,
  answers: {
    exportStart: [ok({ executionId: 'x', alreadyStarted: false })],
    importGetStatus: [status('Succeeded')],
    exportStore: [ready],
    importCollectErrors: [collected({ errors: [{ code: 'DMF_EXECUTION_ERROR', message: 'e' }] })],
    exportFinish: stored,
    ...answers,
  },
});

const exportScenarios: Scenario[] = [
  exportScenario('export-succeeded', 'exp-succeeded', {
    importGetStatus: [status('Executing'), status('Succeeded')],
    exportStore: [notReady, notReady, notReady, ready],
  }),
  exportScenario('export-url-never', 'exp-url', { exportStore: [notReady] }),
  exportScenario('export-store-failed', 'exp-store', { exportStore: [fail('disk')] }),
  exportScenario('export-failed', 'exp-failed', { importGetStatus: [status('Failed')] }),
  exportScenario('export-failed-no-details', 'exp-failed2', {
    importGetStatus: [status('Canceled')],
    importCollectErrors: [fail('F&O down')],
  }),
  ...(
    [
      ['export-start-not-registered', notFound],
      ['export-start-unknown', unavailable('down')],
      ['export-start-registered', status('Executing')],
    ] as const
  ).map(([key, check]) =>
    exportScenario(key, `exp-${key}`, {
      exportStart: [fail('ExportToPackage 500')],
      importGetStatus: [check, status('Succeeded')],
    }),
  ),
  exportScenario(
    'export-timed-out',
    'exp-timed-out',
    { importGetStatus: [status('Executing')] },
    { ...exportInput, polling: { ...polling, deadlineHours: 0.05 } },
  ),
  exportScenario('export-not-found', 'exp-not-found', { importGetStatus: [notFound] }),
  // the all-zero GUID started nothing: started again after a durable wait
  exportScenario('export-zero-guid', 'exp-zero-guid', {
    exportStart: [
      ok({ kind: 'notStarted', message: 'zero' }),
      ok({ kind: 'started', executionId: 'x', alreadyStarted: false }),
    ],
  }),
  exportScenario('export-zero-guid-always', 'exp-zero-guid-always', {
    exportStart: [ok({ kind: 'notStarted', message: 'zero' })],
  }),
  exportScenario('export-start-throttled', 'exp-start-throttled', {
    exportStart: [throttled(300_000), ok({ kind: 'started', executionId: 'x', alreadyStarted: false })],
  }),
  // the environment is paused: nothing sent, listed Queued, asked again after the resume (or the recheck)
  exportScenario('export-paused', 'exp-paused', {
    exportStart: [
      ok({ kind: 'paused', since: '2025-12-31T00:00:00.000Z', by: 'ops' }),
      ok({ kind: 'paused', since: '2025-12-31T00:00:00.000Z', by: 'ops' }),
      ok({ kind: 'started', executionId: 'x', alreadyStarted: false }),
    ],
  }),
];

// ---------------------------------------------------------------- multiCompanyExport

const multiInput = {
  environment: 'prod',
  project: 'customers-export',
  definitionGroupId: 'Export-Customers',
  legalEntities: ['USMF', 'DEMF'],
  packageName: 'customers',
  reExecute: false,
  unpack: false,
  polling,
  trigger: 'http',
  requestedAt: '2025-12-30T05:06:07.000Z',
};
const multiScenarios: Scenario[] = [
  // one export per company, one after the other; DEMF's fails, USMF's package is stored
  {
    key: 'multi-company-export',
    orchestrator: 'multiCompanyExport',
    id: 'mce-golden',
    input: multiInput,
    answers: {
      exportStart: [ok({ executionId: 'x', alreadyStarted: false })],
      importGetStatus: (call, calls) => {
        const executionId = (call.input as { executionId: string }).executionId;
        const start = calls.find(
          (c) => c.name === 'exportStart' && (c.input as { executionId: string }).executionId === executionId,
        );
        return status(
          (start?.input as { legalEntity: string }).legalEntity === 'DEMF' ? 'Failed' : 'Succeeded',
        );
      },
      exportStore: [ready],
      importCollectErrors: [collected({ errors: [{ code: 'DMF_EXECUTION_ERROR', message: 'e' }] })],
      exportFinish: stored,
      exportMultiCompanyFinish: stored,
    },
  },
];

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
const recurringScenario = (key: string, id: string, answers: Answers, input: unknown = recurringInput) => ({
  key,
  orchestrator: 'recurringImport',
  id,
  input,
  answers: {
    recurringEnqueue: [ok({ kind: 'enqueued', messageId: 'm-1', bytes: 10 })],
    recurringMessageStatus: [status('Processed')],
    recurringExecutionId: [ok('exec-1')],
    recurringJobState: [ok({ dataJobState: 'Processed' })],
    executionSummary: [summary],
    importCollectErrors: [collected()],
    recurringImportFinish: stored,
    ...answers,
  },
});

const recurringScenarios: Scenario[] = [
  // processed after a few polls, learning the activity's durations
  ...[1, 2, 3, 4].map((n) =>
    recurringScenario(`recurring-processed-${n}`, `rim-processed-${n}`, {
      recurringMessageStatus: [
        status('Enqueued'),
        unavailable('x'),
        status('Processing'),
        status('Processed'),
      ],
    }),
  ),
  recurringScenario('recurring-with-errors', 'rim-errors', {
    recurringMessageStatus: [status('ProcessedWithErrors')],
    recurringExecutionId: [ok(null), ok(null), ok('exec-1')],
    importCollectErrors: [
      collected({
        errors: [{ code: 'DMF_EXECUTION_ERROR', message: 'e' }],
        pendingTargetKeys: ['Customers V3'],
      }),
      collected(),
    ],
  }),
  recurringScenario('recurring-no-execution-id', 'rim-no-exec', {
    recurringMessageStatus: [status('PreProcessingError')],
    recurringExecutionId: [ok(null)],
  }),
  recurringScenario('recurring-refused', 'rim-refused', {
    recurringEnqueue: [ok({ kind: 'refused', code: 'ENQUEUE_TOO_LARGE', reason: 'big', bytes: 2000 })],
  }),
  recurringScenario('recurring-enqueue-failed', 'rim-enqueue-failed', {
    recurringEnqueue: [fail('F&O 500')],
  }),
  recurringScenario(
    'recurring-timed-out',
    'rim-timed-out',
    { recurringMessageStatus: [status('Processing')] },
    { ...recurringInput, polling: { ...recurringInput.polling, deadlineHours: 0.05 } },
  ),
  recurringScenario('recurring-collect-failed', 'rim-collect-failed', {
    recurringMessageStatus: [status('PostProcessingFailed')],
    importCollectErrors: [fail('down')],
  }),
  // a package job (no entity): the entities of its manifest get their error files; rows imported
  recurringScenario(
    'recurring-package-partial',
    'rim-package-partial',
    {
      recurringEnqueue: [
        ok({ kind: 'enqueued', messageId: 'm-2', bytes: 10, entities: ['Customers V3', 'Vendors V2'] }),
      ],
      recurringMessageStatus: [status('Processing'), status('ProcessedWithErrors')],
      recurringJobState: [ok({ dataJobState: 'ProcessedWithErrors' })],
      importGetStatus: [status('PartiallySucceeded')],
    },
    {
      ...recurringInput,
      path: 'prod/6f1f1b52-4a1c-4f0e-9c43-2f0a8c7d9e10/p.zip',
      fileName: 'p.zip',
      entity: undefined,
    },
  ),
  // a 429 on the enqueue queued nothing: waited out, then enqueued; an unlisted status word is polled on
  recurringScenario('recurring-throttled', 'rim-throttled', {
    recurringEnqueue: [throttled(90_000), ok({ kind: 'enqueued', messageId: 'm-3', bytes: 10 })],
    recurringMessageStatus: [status('Archived'), throttled(120_000), status('Processed')],
  }),
  // the environment is paused: nothing enqueued, listed Queued once, enqueued after the resume
  recurringScenario('recurring-paused', 'rim-paused', {
    recurringEnqueue: [
      ok({ kind: 'paused', since: '2025-12-31T00:00:00.000Z', by: 'ops', reason: 'maintenance' }),
      ok({ kind: 'enqueued', messageId: 'm-4', bytes: 10 }),
    ],
  }),
];

// ---------------------------------------------------------------- jobAlert

const alertInput = {
  notice: { ...FAILED_IMPORT_NOTICE, at: '2025-12-31T00:00:00.000Z' },
  alerts: ['teams', 'ops'],
};
const alertScenarios: Scenario[] = [
  {
    key: 'alert-delivered',
    orchestrator: 'jobAlert',
    id: 'alert-delivered',
    input: alertInput,
    answers: { alertDeliver: [ok({ delivered: true, status: 202 })] },
  },
  // the first webhook stays down (retried on durable timers, then given up), the second refuses
  {
    key: 'alert-failed',
    orchestrator: 'jobAlert',
    id: 'alert-failed',
    input: alertInput,
    answers: {
      alertDeliver: (call) =>
        (call.input as { alert: string }).alert === 'teams'
          ? fail('The webhook at teams.example answered HTTP 503')
          : ok({ delivered: false, status: 404 }),
    },
  },
];

// ---------------------------------------------------------------- recurringExportDrain

const ref = (id: string) => ({ correlationId: id, raw: { CorrelationId: id, PopReceipt: 'p' } });

/** 57 messages: stored, stored before, without file, failed; some redelivered. */
function drainQueue(): unknown[] {
  return Array.from({ length: 57 }, (_, i) => {
    const id = `m${i}`;
    if (i % 13 === 5) return { kind: 'missing', message: ref(id), fileDownloadErrorMessage: 'purged' };
    if (i % 11 === 3) return { kind: 'failed', message: ref(id), error: 'download failed' };
    const blob = { container: 'out', path: `p/${id}`, bytes: 1 };
    if (i % 7 === 2) return { kind: 'alreadyStored', message: ref(id), ...blob };
    const redelivered = i % 5 === 0 ? '2025-12-31T00:00:00.000Z' : undefined;
    return { kind: 'stored', message: { ...ref(id), lastDequeueDateTime: redelivered }, ...blob };
  });
}

const items = drainQueue();
let acks = 0;
const drainScenario: Scenario = {
  key: 'drain',
  orchestrator: 'recurringExportDrain',
  id: 'recurring-export-prod-golden',
  input: {
    environment: 'prod',
    activityId: '6f1f1b52-4a1c-4f0e-9c43-2f0a8c7d9e10',
    maxMessages: 100,
    ackWhenFileMissing: true,
    scheduledFor: '2025-12-31T00:00:00.000Z',
  },
  answers: {
    recurringDequeueBatch: (call) => {
      const max = (call.input as { max: number }).max;
      const taken = items.splice(0, max);
      return ok({ items: taken, empty: taken.length < max });
    },
    // the second ack call fails, every third one loses its first message
    recurringAckBatch: (call) => {
      acks++;
      if (acks === 2) return fail('ack endpoint down');
      const ids = (call.input as { items: { message: { correlationId: string } }[] }).items.map(
        (i) => i.message.correlationId,
      );
      return ok({ failed: acks % 3 === 0 ? ids.slice(0, 1) : [] });
    },
  },
};

/** A drain that finds the queue empty: nothing to list in the job index, so no recordRun. */
const emptyDrainScenario: Scenario = {
  ...drainScenario,
  key: 'drain-empty',
  id: 'recurring-export-prod-empty',
  answers: { recurringDequeueBatch: [ok({ items: [], empty: true })] },
};

describe.each([
  ['importPackage', importScenarios],
  ['importPackage (batches)', batchScenarios],
  ['importChain', chainScenarios],
  ['exportPackage', exportScenarios],
  ['multiCompanyExport', multiScenarios],
  ['recurringImport', recurringScenarios],
  ['recurringExportDrain', [drainScenario, emptyDrainScenario]],
  ['jobAlert', alertScenarios],
])('%s task sequence', (_name, scenarios) => {
  it.each(scenarios.map((s) => [s.key, s] as const))('%s', async (_key, scenario) => {
    await run(scenario);
  });
});
