import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** DurableTask.Core history event as the out-of-proc protocol carries it (PascalCase). */
export interface HistoryEvent {
  EventType: number;
  EventId: number;
  IsPlayed: boolean;
  Timestamp: string;
  [field: string]: unknown;
}

/** Runtime status names as the Durable HTTP API reports them. */
export type RuntimeStatus = 'Pending' | 'Running' | 'Completed' | 'Failed' | 'Terminated' | 'ContinuedAsNew';

/** Retry bookkeeping for CallActivityWithRetry / CallSubOrchestratorWithRetry. */
export interface RetryState {
  options: {
    firstRetryIntervalInMilliseconds: number;
    maxNumberOfAttempts: number;
    backoffCoefficient?: number;
    maxRetryIntervalInMilliseconds?: number;
    retryTimeoutInMilliseconds?: number;
  };
  /** 1-based number of the attempt this task is (or, for a retry timer, the attempt that failed). */
  attempt: number;
  /** What each attempt calls. */
  target: { kind: 'activity' | 'subOrchestration'; name: string; input: unknown; instanceId?: string };
  /** Set on the timer after the last attempt: its firing fails the task and consumes no id. */
  exhausted?: boolean;
}

/** An outstanding unit of work of an orchestration, keyed by its sequence id. */
export type TaskRecord =
  | { kind: 'activity'; id: number; name: string; inputJson: string | undefined; retry?: RetryState }
  | { kind: 'timer'; id: number; fireAt: string; retry?: RetryState; longFinalFireAt?: string }
  | {
      kind: 'subOrchestration';
      id: number;
      name: string;
      instanceId: string;
      input: unknown;
      retry?: RetryState;
    }
  | {
      kind: 'entityCall';
      id: number;
      entity: string;
      op: string;
      inputJson: string | undefined;
      requestId: string;
    }
  | { kind: 'entitySignal'; id: number; entity: string; op: string; inputJson: string | undefined };

/** Everything persisted about one orchestration instance. */
export interface InstanceState {
  instanceId: string;
  name: string;
  input: unknown;
  runtimeStatus: RuntimeStatus;
  createdTime: string;
  lastUpdatedTime: string;
  output: unknown;
  customStatus: unknown;
  parent?: { instanceId: string; taskId: number };
  /** Events already shown to the orchestrator (committed episodes). */
  history: HistoryEvent[];
  /** Events received but not yet shown to the orchestrator. */
  inbox: HistoryEvent[];
  /** Next sequence id, mirroring the library's task numbering. */
  nextSeq: number;
  /** Signatures of the leaf actions already acted on (replay must reproduce them in order). */
  leaves: string[];
  /** Task id of each leaf action (null for actions without one), to honour timer cancellation. */
  leafTaskIds?: (number | null)[];
  /** Outstanding work by sequence id. */
  tasks: Record<string, TaskRecord>;
}

/** Persisted state of one durable entity. */
export interface EntityRecord {
  name: string;
  key: string;
  exists: boolean;
  state: string | null;
  lastModifiedTime: string;
}

const enc = (id: string): string => encodeURIComponent(id).replace(/\*/g, '%2A').replace(/^\./, '%2E');

/**
 * Instance and entity state as JSON files under `<dataDir>/durable/<taskHub>/`. Each write goes to
 * a temporary file renamed over the old one, so a killed process leaves either the old or the new
 * state, never a torn file.
 */
export class FileDurableStore {
  readonly #instancesDir: string;
  readonly #entitiesDir: string;
  #tmpCounter = 0;

  constructor(dataDir: string, taskHub: string) {
    this.#instancesDir = join(dataDir, 'durable', enc(taskHub), 'instances');
    this.#entitiesDir = join(dataDir, 'durable', enc(taskHub), 'entities');
  }

  async init(): Promise<void> {
    await mkdir(this.#instancesDir, { recursive: true });
    await mkdir(this.#entitiesDir, { recursive: true });
  }

  async #atomicWrite(file: string, data: string): Promise<void> {
    const tmp = `${file}.${process.pid}.${++this.#tmpCounter}.tmp`;
    await writeFile(tmp, data);
    await rename(tmp, file);
  }

  async saveInstance(state: InstanceState): Promise<void> {
    await this.#atomicWrite(join(this.#instancesDir, `${enc(state.instanceId)}.json`), JSON.stringify(state));
  }

  /** Reads one instance, or undefined when it does not exist. */
  readInstanceSync(instanceId: string): InstanceState | undefined {
    const file = join(this.#instancesDir, `${enc(instanceId)}.json`);
    if (!existsSync(file)) return undefined;
    return JSON.parse(readFileSync(file, 'utf8')) as InstanceState;
  }

  async deleteInstance(instanceId: string): Promise<boolean> {
    const file = join(this.#instancesDir, `${enc(instanceId)}.json`);
    if (!existsSync(file)) return false;
    await rm(file, { force: true });
    return true;
  }

  /** Every stored instance (used at startup and for status queries over all instances). */
  async listInstances(): Promise<InstanceState[]> {
    const out: InstanceState[] = [];
    for (const name of await readdir(this.#instancesDir)) {
      if (!name.endsWith('.json')) continue;
      try {
        out.push(JSON.parse(await readFile(join(this.#instancesDir, name), 'utf8')) as InstanceState);
      } catch {
        // A file deleted by a concurrent purge; skip it.
      }
    }
    return out;
  }

  readEntitySync(schedulerId: string): EntityRecord | undefined {
    const file = join(this.#entitiesDir, `${enc(schedulerId)}.json`);
    if (!existsSync(file)) return undefined;
    return JSON.parse(readFileSync(file, 'utf8')) as EntityRecord;
  }

  async saveEntity(schedulerId: string, record: EntityRecord): Promise<void> {
    await this.#atomicWrite(join(this.#entitiesDir, `${enc(schedulerId)}.json`), JSON.stringify(record));
  }
}
