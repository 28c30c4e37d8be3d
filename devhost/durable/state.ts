/**
 * What the durable engine keeps about orchestrations and entities: history events, instance state
 * (history, inbox, outstanding tasks, replay bookkeeping), entity records, and the status the
 * Durable HTTP API shows. The store (store.ts) persists these shapes.
 */

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

/** Statuses an instance does not leave (except by being replaced through startNew). */
export const TERMINAL: readonly RuntimeStatus[] = ['Completed', 'Failed', 'Terminated'];

/** Status as the Durable HTTP API returns it. */
export interface InstanceStatus {
  name: string;
  instanceId: string;
  runtimeStatus: RuntimeStatus;
  input: unknown;
  customStatus: unknown;
  output: unknown;
  createdTime: string;
  lastUpdatedTime: string;
  history?: unknown[];
}

/** The API's view of an instance: history (without the replay flag) and input only on request. */
export function toStatus(
  state: InstanceState,
  options: { showHistory?: boolean; showInput?: boolean } = {},
): InstanceStatus {
  const status: InstanceStatus = {
    name: state.name,
    instanceId: state.instanceId,
    runtimeStatus: state.runtimeStatus,
    input: options.showInput === false ? null : (state.input ?? null),
    customStatus: state.customStatus ?? null,
    output: state.output ?? null,
    createdTime: state.createdTime,
    lastUpdatedTime: state.lastUpdatedTime,
  };
  if (options.showHistory) status.history = state.history.map(({ IsPlayed: _p, ...e }) => e);
  return status;
}
