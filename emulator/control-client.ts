import { request } from 'node:https';
import type { OverlapRecord } from './executions.js';
import type { CallRecord } from './faults.js';
import type { DataProjectDefinition } from './projects.js';
import type { ActiveFault, EmulatorSwitches, EmulatorSwitchesInput, FaultSpec } from './options.js';

/** An execution as the control API reports it. */
export interface ExecutionView {
  executionId: string;
  environment: string;
  kind: 'import' | 'export';
  source: 'package-api' | 'recurring';
  definitionGroupId: string;
  legalEntityId: string;
  status: string;
  outcome: string;
  createdAt: string;
  startAt: string;
  endAt: string;
  messageId?: string;
  failureMessage?: string;
  errors: { RecordId: string; Field: string; ErrorMessage: string }[];
  entities: {
    entityName: string;
    company: string;
    stagingRecords: number;
    stagingErrorCount: number;
    targetRecords: number;
    targetErrorCount: number;
    keyFields: string[];
  }[];
  /**
   * Imports: the entities in the order the execution processed them (execution unit → level →
   * sequence of the manifest); an entity that failed the whole execution is the last one.
   */
  entityOrder?: {
    entityName: string;
    executionUnit: number;
    levelInExecutionUnit: number;
    sequenceInLevel: number;
  }[];
}

/** A recurring message as the control API reports it. */
export interface QueueMessageView {
  messageId: string;
  activityId: string;
  environment: string;
  direction: 'import' | 'export';
  /** GetMessageStatus word. */
  status: string;
  /** Recurring jobstatus DataJobState word. */
  dataJobState: string;
  externalIdentifier: string;
  entity?: string;
  company: string;
  size: number;
  enqueuedAt: string;
  executionId?: string;
  preprocessingError?: string;
  dequeueCount: number;
  lastDequeueDateTime: string | null;
  visible: boolean;
  acked: boolean;
  /** Its file was not uploaded (a `fileMissing` fault). */
  fileMissing?: boolean;
}

/** Typed client for the emulator's control API (`{baseUrl}/_emulator`). */
export interface EmulatorControl {
  /** The control API url. */
  readonly url: string;
  /** Advances the emulator clock and waits until every due state change is done. */
  advanceClock(ms: number): Promise<{ now: string }>;
  /** Current emulator time. */
  clock(): Promise<{ now: string; mode: 'real' | 'manual' | 'external'; speed: number }>;
  /** Injects a fault; returns it with its id and counters. */
  setFault(fault: FaultSpec): Promise<ActiveFault>;
  /** Active faults with their hit counters. */
  faults(): Promise<ActiveFault[]>;
  /** Removes all faults. */
  clearFaults(): Promise<void>;
  /** Every call answered (route, status, executionId, times; newest last). */
  calls(): Promise<CallRecord[]>;
  /** Every execution. */
  executions(): Promise<ExecutionView[]>;
  /** One execution (`GET /executions/{id}`); rejects with a 404 {@link ControlApiError} for an unknown id. */
  execution(executionId: string): Promise<ExecutionView>;
  /** Rows stored for an entity label and legal entity. */
  rows(entity: string, legalEntity: string, environment?: string): Promise<Record<string, string>[]>;
  /** Stores rows directly, as if imported (for export tests). */
  seedRows(
    entity: string,
    legalEntity: string,
    rows: Record<string, string>[],
    environment?: string,
  ): Promise<void>;
  /** ImportFromPackage overlaps seen (`secondFailed`: the later execution was failed for it). */
  overlaps(): Promise<OverlapRecord[]>;
  /** Data project definitions as the environment knows them now (config, or created/replaced by ImportFromPackage). */
  projects(): Promise<DataProjectDefinition[]>;
  /** Recurring messages of every activity. */
  queues(): Promise<QueueMessageView[]>;
  /** Puts a file in an export activity's queue; returns its message id (= CorrelationId). */
  seedExportMessage(input: {
    activityId: string;
    fileName?: string;
    content?: string | Buffer;
  }): Promise<{ messageId: string }>;
  /** Current switches. */
  options(): Promise<EmulatorSwitches>;
  /** Changes switches at runtime; returns all switches. */
  setOptions(patch: Partial<EmulatorSwitchesInput>): Promise<EmulatorSwitches>;
  /** An emulator-signed managed identity assertion for workload identity federation. */
  federatedToken(subject: string): Promise<string>;
  /** Forgets executions, rows, queues, calls, overlaps and faults, and restores the config's data projects. */
  reset(): Promise<void>;
}

/** Error from the control API. */
export class ControlApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = 'ControlApiError';
  }
}

/**
 * Creates a control API client for `controlUrl` (`{baseUrl}/_emulator`), trusting `caCertPem`
 * explicitly so it works in processes started without NODE_EXTRA_CA_CERTS.
 */
export function createControlClient(
  controlUrl: string,
  options: { caCertPem?: string; timeoutMs?: number } = {},
): EmulatorControl {
  const base = controlUrl.replace(/\/+$/, '');
  const call = <T>(method: string, path: string, body?: unknown): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
      const req = request(
        `${base}${path}`,
        {
          method,
          ca: options.caCertPem,
          headers: payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {},
          signal: AbortSignal.timeout(options.timeoutMs ?? 30_000),
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            if ((res.statusCode ?? 500) >= 400) {
              reject(
                new ControlApiError(
                  `control API ${method} ${path}: ${res.statusCode ?? '?'} ${text}`,
                  res.statusCode ?? 500,
                ),
              );
              return;
            }
            try {
              resolve((text ? JSON.parse(text) : undefined) as T);
            } catch (error) {
              reject(error instanceof Error ? error : new Error(String(error)));
            }
          });
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  return {
    url: base,
    advanceClock: (ms) => call('POST', '/clock/advance', { ms }),
    clock: () => call('GET', '/clock'),
    setFault: (fault) => call('POST', '/faults', fault),
    faults: () => call('GET', '/faults'),
    clearFaults: async () => {
      await call('DELETE', '/faults');
    },
    calls: () => call('GET', '/calls'),
    executions: () => call('GET', '/executions'),
    execution: (executionId) => call('GET', `/executions/${encodeURIComponent(executionId)}`),
    rows: (entity, legalEntity, environment) => {
      const q = new URLSearchParams({ entity, legalEntity });
      if (environment) q.set('environment', environment);
      return call('GET', `/rows?${q.toString()}`);
    },
    seedRows: async (entity, legalEntity, rows, environment) => {
      await call('POST', '/rows', { entity, legalEntity, rows, ...(environment ? { environment } : {}) });
    },
    overlaps: () => call('GET', '/overlaps'),
    projects: () => call('GET', '/projects'),
    queues: () => call('GET', '/queues'),
    seedExportMessage: (input) =>
      call('POST', `/recurring/${encodeURIComponent(input.activityId)}/messages`, {
        fileName: input.fileName ?? 'export.csv',
        ...(Buffer.isBuffer(input.content)
          ? { contentBase64: input.content.toString('base64') }
          : { content: input.content ?? '' }),
      }),
    options: () => call('GET', '/options'),
    setOptions: (patch) => call('POST', '/options', patch),
    federatedToken: async (subject) =>
      (await call<{ assertion: string }>('POST', '/federated-token', { subject })).assertion,
    reset: async () => {
      await call('POST', '/reset');
    },
  };
}
