/**
 * Recurring integrations: the recurring data jobs' message queues. Import activities take files
 * and packages (enqueue) that a batch picks up after a delay and imports as an execution; export
 * activities hold files for dequeue, download and ack (visibility timeout, pop receipts). Also
 * the two ways F&O reports a message: GetMessageStatus's words and jobstatus's DataJobState.
 */
import { randomUUID } from 'node:crypto';
import { iso } from './clock.js';
import type { RecurringActivityConfig } from './config.js';
import type { EngineContext } from './engine.js';
import type { ExecutionOutcome, Executions, ParsedImport } from './executions.js';
import { parseImportPackage } from './import-plan.js';
import { readDataFile } from './package.js';
import type { EngineState } from './state.js';

type Outcome = ExecutionOutcome;

/**
 * F&O's DataJobState enum in its numeric order (RIS Common/Contracts/ContractEnums.cs:
 * Enqueued = 0 … PostProcessError = 7, PreProcessError = 8): recurring jobstatus's `DataJobState`.
 */
export const DATA_JOB_STATES = [
  'Enqueued',
  'Dequeued',
  'Downloaded',
  'Acked',
  'InProcess',
  'Processed',
  'ProcessedWithErrors',
  'PostProcessError',
  'PreProcessError',
] as const;
/** A DataJobState name. */
export type DataJobStateName = (typeof DATA_JOB_STATES)[number];

/** A recurring-integration message (import: enqueued file; export: file waiting to be dequeued). */
export interface RecurringMessage {
  messageId: string;
  activityId: string;
  environment: string;
  direction: 'import' | 'export';
  enqueuedAt: number;
  externalIdentifier: string;
  entity?: string;
  company: string;
  blobName: string;
  size: number;
  /** Import: when the batch picks it up; its execution and any preprocessing error. */
  pickupAt: number;
  executionId?: string;
  preprocessingError?: string;
  /** Import: the body, kept until pickup (already read as a package or a data file). */
  pending?: { kind: 'package'; bytes: Buffer } | { kind: 'file'; bytes: Buffer };
  parsed?: ParsedImport;
  /** Export queue state. */
  popReceipt?: string;
  invisibleUntil?: number;
  lastDequeueAt?: number;
  dequeuedAt?: number;
  dequeueCount: number;
  acked: boolean;
  /** Export: downloaded since its last dequeue (jobstatus `Downloaded`). */
  downloaded?: boolean;
  /** Export: its file was not uploaded (a `fileMissing` fault): `IsDownLoadFileExist: false`. */
  fileMissing?: boolean;
  /** Outcome forced by an `outcome` fault at enqueue time, applied at pickup. */
  forced?: Outcome;
}

/** The recurring messages of every activity and environment. */
export class RecurringQueues {
  /** Every recurring message by id (lower-case GUID). */
  private readonly byId = new Map<string, RecurringMessage>();

  constructor(
    private readonly ctx: EngineContext,
    private readonly executions: Executions,
  ) {}

  /** The message with that id (a lower-case GUID). */
  get(messageId: string): RecurringMessage | undefined {
    return this.byId.get(messageId);
  }

  /** The recurring activity with that id (braces and case ignored). */
  activity(id: string): RecurringActivityConfig | undefined {
    const clean = id.replace(/^\{|\}$/g, '').toLowerCase();
    return this.ctx.config.recurringActivities.find((a) => a.id.toLowerCase() === clean);
  }

  /** Picks up the import messages whose pickup time has come by `now`: each starts its import. */
  pickUpDue(now: number): void {
    for (const message of this.byId.values()) {
      if (
        message.direction === 'import' &&
        message.pickupAt <= now &&
        !message.executionId &&
        !message.preprocessingError
      ) {
        this.pickUp(message);
      }
    }
  }

  /** Enqueues a file or package for a recurring import activity. */
  async enqueue(input: {
    environment: string;
    activity: RecurringActivityConfig;
    body: Buffer;
    entity?: string;
    company?: string;
    externalIdentifier?: string;
    forced?: Outcome;
  }): Promise<RecurringMessage> {
    const messageId = randomUUID();
    let parsed: ParsedImport;
    if (input.entity) {
      try {
        const table = await readDataFile(
          input.body,
          'CSV',
          input.externalIdentifier ?? `${input.entity}.csv`,
        );
        parsed = { ok: true, tables: [{ entity: input.entity, table, hasMap: true }] };
      } catch (error) {
        parsed = { ok: false, message: (error as Error).message };
      }
    } else {
      try {
        parsed = await parseImportPackage(input.body);
      } catch (error) {
        parsed = { ok: false, message: (error as Error).message };
      }
    }
    const blobName = `recurring/${input.activity.id}/${messageId}`;
    await this.ctx.storage.put(blobName, input.body);
    const now = this.ctx.clock.now();
    const message: RecurringMessage = {
      messageId,
      activityId: input.activity.id,
      environment: input.environment,
      direction: 'import',
      enqueuedAt: now,
      externalIdentifier: input.externalIdentifier ?? '',
      entity: input.entity,
      company: (input.company ?? input.activity.legalEntity).toUpperCase(),
      blobName,
      size: input.body.length,
      pickupAt: now + this.ctx.switches.recurringPickupDelayMs,
      parsed,
      dequeueCount: 0,
      acked: false,
    };
    if (input.forced) message.forced = input.forced;
    this.byId.set(messageId, message);
    return message;
  }

  private pickUp(message: RecurringMessage): void {
    const activity = this.activity(message.activityId);
    const parsed = message.parsed;
    if (!activity || !parsed) return;
    if (!parsed.ok) {
      message.preprocessingError = parsed.message;
      return;
    }
    const execution = this.executions.startImport({
      environment: message.environment,
      definitionGroupId: activity.dataProject,
      legalEntityId: message.company,
      parsed,
      source: 'recurring',
      forced: message.forced,
      at: message.pickupAt,
      messageId: message.messageId,
    });
    message.executionId = execution.executionId;
    delete message.parsed;
  }

  /** GetMessageStatus value of a message at the current time. */
  messageStatus(message: RecurringMessage): string {
    const alt = this.ctx.switches.messageStatusSpelling === 'alternate';
    if (message.direction === 'export')
      return message.acked ? 'Acked' : message.dequeueCount > 0 ? 'Dequeued' : 'Enqueued';
    if (message.preprocessingError) return 'PreProcessingError';
    if (!message.executionId) return 'Enqueued';
    const execution = this.executions.get(message.executionId);
    if (!execution) return 'Enqueued';
    const status = this.executions.status(execution);
    if (status === 'NotRun') return 'Dequeued';
    if (status === 'Executing') {
      const half = execution.startAt + (execution.endAt - execution.startAt) / 2;
      return this.ctx.clock.now() < half ? (alt ? 'PreProcessing' : 'Preprocessing') : 'Processing';
    }
    if (status === 'Succeeded') return 'Processed';
    if (status === 'Canceled') return alt ? 'PostProcessingError' : 'PostProcessingFailed';
    return 'ProcessedWithErrors';
  }

  /**
   * The recurring jobstatus `DataJobStatus.DataJobState` of a message: F&O's DataJobState enum
   * (RIS Common/Contracts/ContractEnums.cs), not GetMessageStatus's words. As a name or, with the
   * `jobStatusStateFormat: 'number'` switch, its number.
   */
  dataJobState(message: RecurringMessage): DataJobStateName | number {
    const name = this.dataJobStateName(message);
    return this.ctx.switches.jobStatusStateFormat === 'number' ? DATA_JOB_STATES.indexOf(name) : name;
  }

  private dataJobStateName(message: RecurringMessage): DataJobStateName {
    if (message.direction === 'export') {
      if (message.acked) return 'Acked';
      if (message.downloaded) return 'Downloaded';
      return message.dequeueCount > 0 ? 'Dequeued' : 'Enqueued';
    }
    if (message.preprocessingError) return 'PreProcessError';
    const execution = message.executionId ? this.executions.get(message.executionId) : undefined;
    if (!execution) return 'Enqueued';
    const status = this.executions.status(execution);
    if (status === 'NotRun') return 'Dequeued';
    if (status === 'Executing') return 'InProcess';
    if (status === 'Succeeded') return 'Processed';
    if (status === 'Canceled') return 'PostProcessError';
    return 'ProcessedWithErrors';
  }

  /** Adds a file to an export activity's queue (control API). */
  async seedExportMessage(input: {
    environment: string;
    activity: RecurringActivityConfig;
    body: Buffer;
    fileName: string;
  }): Promise<RecurringMessage> {
    const messageId = randomUUID();
    const blobName = `recurring/${input.activity.id}/${messageId}`;
    await this.ctx.storage.put(blobName, input.body);
    const now = this.ctx.clock.now();
    const message: RecurringMessage = {
      messageId,
      activityId: input.activity.id,
      environment: input.environment,
      direction: 'export',
      enqueuedAt: now,
      externalIdentifier: input.fileName,
      company: input.activity.legalEntity,
      blobName,
      size: input.body.length,
      pickupAt: now,
      dequeueCount: 0,
      acked: false,
    };
    this.byId.set(messageId, message);
    return message;
  }

  /** Dequeues the next visible export message of an activity, or undefined. */
  dequeue(activityId: string): RecurringMessage | undefined {
    const now = this.ctx.clock.now();
    const message = [...this.byId.values()]
      .filter(
        (m) =>
          m.direction === 'export' &&
          m.activityId === activityId &&
          !m.acked &&
          (m.invisibleUntil ?? 0) <= now,
      )
      .sort((a, b) => a.enqueuedAt - b.enqueuedAt)[0];
    if (!message) return undefined;
    message.popReceipt = randomUUID();
    delete message.downloaded;
    if (message.dequeuedAt !== undefined) message.lastDequeueAt = message.dequeuedAt;
    message.dequeuedAt = now;
    message.invisibleUntil = now + this.ctx.switches.visibilityTimeoutMs;
    message.dequeueCount++;
    return message;
  }

  /** Per-activity queue overview for the control API. */
  views(): Record<string, unknown>[] {
    const now = this.ctx.clock.now();
    return [...this.byId.values()].map((m) => ({
      messageId: m.messageId,
      activityId: m.activityId,
      environment: m.environment,
      direction: m.direction,
      status: this.messageStatus(m),
      dataJobState: this.dataJobStateName(m),
      externalIdentifier: m.externalIdentifier,
      entity: m.entity,
      company: m.company,
      size: m.size,
      enqueuedAt: iso(m.enqueuedAt),
      executionId: m.executionId,
      preprocessingError: m.preprocessingError,
      dequeueCount: m.dequeueCount,
      lastDequeueDateTime: m.lastDequeueAt === undefined ? null : iso(m.lastDequeueAt),
      visible: m.direction === 'export' && !m.acked && (m.invisibleUntil ?? 0) <= now,
      acked: m.acked,
      ...(m.fileMissing ? { fileMissing: true } : {}),
    }));
  }

  /** Every message, for the state file (an import's unread body is not kept). */
  snapshot(): Omit<RecurringMessage, 'pending'>[] {
    return [...this.byId.values()].map(({ pending: _pending, ...m }) => m);
  }

  /** Puts saved messages back (at start). */
  restore(messages: EngineState['messages']): void {
    for (const m of messages) this.byId.set(m.messageId, m);
  }

  /** Forgets every message. */
  clear(): void {
    this.byId.clear();
  }
}
