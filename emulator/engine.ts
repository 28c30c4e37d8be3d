import { randomUUID } from 'node:crypto';
import type { DataProjectConfig, EmulatorConfig, EntityConfig, RecurringActivityConfig } from './config.js';
import { FaultSpecSchema, type ActiveFault, type EmulatorSwitches, type FaultSpec } from './options.js';
import { buildPackage, PackageProblem, readDataFile, readPackage, toCsv, type DataTable } from './package.js';
import type { EngineState } from './state.js';
import type { EmulatorStorage } from './storage.js';

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

/** Final and non-final execution states, as GetExecutionSummaryStatus spells them. */
export type ExecutionStatus =
  'Unknown' | 'NotRun' | 'Executing' | 'Succeeded' | 'PartiallySucceeded' | 'Failed' | 'Canceled';
/** Final states of an execution. */
export type ExecutionOutcome = 'Succeeded' | 'PartiallySucceeded' | 'Failed' | 'Canceled';
type Outcome = ExecutionOutcome;

/** How the emulator clock runs (see {@link EmulatorClock}). */
export type EmulatorClockOptions =
  | { mode: 'real'; speed?: number }
  | { mode: 'manual' }
  | {
      mode: 'external';
      /** Epoch ms of the shared time source (e.g. a local host's clock). */
      now: () => number;
    };

/** The emulator clock: real time times a speed factor, advanced by hand, or another clock's time. */
export class EmulatorClock {
  /**
   * `real`: wall clock × speed; `manual`: moves only with advance(); `external`: reads a time source
   * shared with a host, so durable timers and executions run in lock step (benchmarks).
   */
  readonly mode: 'real' | 'manual' | 'external';
  /** Speed factor of the real clock (0 for manual). */
  readonly speed: number;
  private readonly realStart = Date.now();
  private readonly emulatorStart: number;
  private offset = 0;
  private readonly external: (() => number) | undefined;

  /**
   * `resume`: the emulator time saved by an earlier process (`now`) and the wall-clock time it was
   * saved at (`savedAt`, epoch ms). A manual clock continues at `now`; a real clock continues as if
   * it had kept running while the process was stopped (`now` + elapsed wall time × speed), so
   * executions finish when they would have, or at once if that time has passed.
   */
  constructor(options: EmulatorClockOptions = { mode: 'real' }, resume?: { now: number; savedAt: number }) {
    this.mode = options.mode;
    this.external = options.mode === 'external' ? options.now : undefined;
    this.speed = options.mode === 'real' ? (options.speed ?? 1) : 0;
    this.emulatorStart = resume
      ? resume.now + Math.max(0, this.realStart - resume.savedAt) * this.speed
      : this.realStart;
  }

  /** Emulator time in epoch ms. */
  now(): number {
    if (this.external) return this.external();
    return this.emulatorStart + (Date.now() - this.realStart) * this.speed + this.offset;
  }

  /** Moves emulator time forward (not for an external clock: its owner moves it). */
  advance(ms: number): void {
    if (this.external)
      throw new Error('the emulator clock follows an external time source; advance that one');
    this.offset += ms;
  }
}

/** One row of GetExecutionErrors. */
export interface ExecutionErrorRecord {
  RecordId: string;
  Field: string;
  ErrorMessage: string;
}

/** Per entity result of an execution (jobstatus ExecutionDetail). */
export interface EntityResult {
  entityName: string;
  company: string;
  stagingRecords: number;
  stagingErrorCount: number;
  targetRecords: number;
  targetErrorCount: number;
  /** Rows with errors, with their staging record id, for the error files. */
  errorRows: { recordId: string; values: string[]; key: string[]; messages: string[] }[];
  columns: string[];
  keyFields: string[];
}

interface PlannedEntity {
  entity: string;
  legalEntity: string;
  columns: string[];
  keyIdx: number[];
  rows: string[][];
  /** Staging record id of each row in `rows`. */
  recordIds: string[];
}

/** An entity of a data project's definition and the source fields its mapping maps. */
export interface ProjectEntityDefinition {
  /** DMF entity label. */
  label: string;
  /**
   * Source fields the project's mapping maps (from a package manifest's EntityMapList), or `null`
   * for a project from the emulator config (F&O generates the mapping from matching names).
   */
  mappedFields: string[] | null;
}

/**
 * A data project (definition group) as the environment knows it now: from the config, or created or
 * replaced by ImportFromPackage from a package's manifest.
 */
export interface DataProjectDefinition {
  name: string;
  direction: 'import' | 'export';
  legalEntity: string;
  executionDurationMs?: DataProjectConfig['executionDurationMs'];
  entities: ProjectEntityDefinition[];
  /** `config`, or `package` once ImportFromPackage created or replaced it. */
  origin: 'config' | 'package';
  /** Incremented whenever ImportFromPackage replaces the definition (starts at 1). */
  revision: number;
  /** The execution whose ImportFromPackage created or last replaced the definition. */
  definedBy?: string;
  /** Emulator time (ISO) of that. */
  definedAt?: string;
}

/** Fields of one entity an import relies on the project's mapping for. */
export interface ReliedMapping {
  entity: string;
  fields: string[];
}

/** An execution (import or export) and everything known about it. */
export interface Execution {
  executionId: string;
  environment: string;
  kind: 'import' | 'export';
  source: 'package-api' | 'recurring';
  definitionGroupId: string;
  legalEntityId: string;
  createdAt: number;
  startAt: number;
  endAt: number;
  outcome: Outcome;
  finalized: boolean;
  failureMessage?: string;
  entities: EntityResult[];
  errors: ExecutionErrorRecord[];
  messageId?: string;
  packageName?: string;
  exportBlob?: string;
  blobsDeleted?: boolean;
  stagingErrorBlobs: Record<string, string>;
  targetKeysRequested: Record<string, number>;
  targetKeysBlobs: Record<string, string>;
  planned: PlannedEntity[];
  /** Imports: the project definition revision at the start and the mapped fields the import relies on. */
  projectRevision?: number;
  relied?: ReliedMapping[];
  /** Exports: at most this many rows per entity (ExportToPackagePreview `count`; 0 = all). */
  maxRows?: number;
}

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

/** A package or data file read for import: its tables in processing order, or why it cannot run. */
export type ParsedImport =
  | {
      ok: true;
      tables: { entity: string; table: DataTable; hasMap: boolean; mappedFields?: string[] }[];
    }
  | { ok: false; message: string };

/** A call the emulator answered. */
export interface CallRecord {
  id: number;
  environment: string;
  route: string;
  method: string;
  path: string;
  status: number;
  executionId?: string;
  messageId?: string;
  fault?: string;
  /** Emulator-clock times. */
  startedAt: string;
  endedAt: string;
  /** Wall-clock duration of the call in ms (shows injected latency). */
  durationMs: number;
}

/** Two ImportFromPackage executions in flight at once on one environment. */
export interface OverlapRecord {
  environment: string;
  first: { executionId: string; startedAt: string };
  second: { executionId: string; startedAt: string };
  detectedAt: string;
  /** True when the second execution was failed for it (strict mode, the default). */
  secondFailed?: boolean;
}

/** An error F&O answers with the OData error envelope. */
export class FoError extends Error {
  /** HTTP status to answer. */
  readonly status: number;
  /** .NET exception type shown in innererror.type. */
  readonly type: string;

  constructor(status: number, message: string, type = 'System.InvalidOperationException') {
    super(message);
    this.name = 'FoError';
    this.status = status;
    this.type = type;
  }
}

const ZERO_GUID = '00000000-0000-0000-0000-000000000000';
/** The all-zero GUID: GetExecutionIdByMessageId while a message is queued, ExportToPackage when it started nothing. */
export { ZERO_GUID };

/** How F&O's OData service words an exception of the ImportFromPackage action (RIS issues #54, #75). */
const IMPORT_ACTION_PREFIX =
  'Exception occurred while executing action ImportFromPackage on Entity DataManagementDefinitionGroup: ';

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** The emulator's state and behaviour, independent of HTTP. */
export class EmulatorEngine {
  /** Every execution by id (all environments). */
  readonly executions = new Map<string, Execution>();
  /** Every recurring message by id (lower-case GUID). */
  readonly messages = new Map<string, RecurringMessage>();
  /** env → entity (lower) → legal entity (upper) → key → row (column → value). */
  private readonly rowStore = new Map<
    string,
    Map<string, Map<string, Map<string, Record<string, string>>>>
  >();
  private readonly entityLabels = new Map<string, string>();
  /** The call log (newest last, at most 10 000). */
  readonly calls: CallRecord[] = [];
  /** ImportFromPackage overlaps seen. */
  readonly overlaps: OverlapRecord[] = [];
  /** Active faults with their counters. */
  faults: ActiveFault[] = [];
  private callSeq = 0;
  private readonly callStarts = new WeakMap<CallRecord, number>();
  private faultSeq = 0;
  private pending = new Set<Promise<unknown>>();
  /** Executions whose finalization (row commit, files) is in progress. */
  private readonly finalizing = new Set<Execution>();
  /** Write urls issued by GetAzureWriteUrl, by blob name, with their emulator-clock expiry. */
  readonly issuedWriteUrls = new Map<string, { expiresAt: number }>();

  /** Data project definitions by lower-case name: the config's, then as ImportFromPackage creates or replaces them. */
  private readonly projects = new Map<string, DataProjectDefinition>();

  constructor(
    readonly config: EmulatorConfig,
    readonly clock: EmulatorClock,
    public switches: EmulatorSwitches,
    readonly storage: EmulatorStorage,
    private readonly log: (line: string) => void = () => undefined,
  ) {
    this.resetProjects();
  }

  // ---------- data projects and configuration lookups ----------

  private resetProjects(): void {
    this.projects.clear();
    for (const p of this.config.dataProjects) {
      this.projects.set(p.name.toLowerCase(), {
        name: p.name,
        direction: p.direction,
        legalEntity: p.legalEntity,
        ...(p.executionDurationMs !== undefined ? { executionDurationMs: p.executionDurationMs } : {}),
        entities: p.entities.map((e) => ({ label: e.label, mappedFields: null })),
        origin: 'config',
        revision: 1,
      });
    }
  }

  /** The data project with that name (case-insensitive), as the environment knows it now. */
  project(name: string): DataProjectDefinition | undefined {
    return this.projects.get(name.toLowerCase());
  }

  /** Every data project definition (control API). */
  projectViews(): DataProjectDefinition[] {
    return structuredClone([...this.projects.values()]);
  }

  /**
   * What ImportFromPackage does to the data project before it starts the import (RIS issues #47,
   * #54, #75, #93): an unknown project is created from the package's manifest; an existing one is
   * refused unless `overwrite` is set, and then its definition (entities, mapping) is replaced by
   * the package's. Call {@link refuseImportInto} first (before the package is read).
   */
  defineImportProject(name: string, parsed: ParsedImport, executionId: string): DataProjectDefinition {
    const existing = this.project(name);
    if (!parsed.ok) {
      if (existing) return existing; // the execution fails on its unreadable package; the definition stays
      throw new FoError(
        400,
        `${IMPORT_ACTION_PREFIX}The data project '${name}' does not exist and could not be created from the package: ${parsed.message}`,
      );
    }
    const entities = parsed.tables.map((t) => ({
      label: this.entity(t.entity)?.label ?? t.entity,
      mappedFields: t.hasMap ? [...(t.mappedFields ?? [])] : [],
    }));
    const definition: DataProjectDefinition = {
      name: existing?.name ?? name,
      direction: 'import',
      legalEntity: existing?.legalEntity ?? 'USMF',
      ...(existing?.executionDurationMs !== undefined
        ? { executionDurationMs: existing.executionDurationMs }
        : {}),
      entities,
      origin: 'package',
      revision: (existing?.revision ?? 0) + 1,
      definedBy: executionId,
      definedAt: iso(this.clock.now()),
    };
    this.projects.set(name.toLowerCase(), definition);
    this.log(
      `data project ${definition.name} ${existing ? 'replaced' : 'created'} from the package of ${executionId}`,
    );
    return definition;
  }

  /**
   * ImportFromPackage's refusals that need no package: an export project, or an existing project
   * without `overwrite` ("The data project '{name}' exists and overwrite has not been specified.",
   * quoted from F&O's event log in RIS issues #54 and #75).
   */
  refuseImportInto(name: string, overwrite: boolean): void {
    const project = this.project(name);
    if (!project) return;
    if (project.direction !== 'import')
      throw new FoError(
        400,
        `Data project '${project.name}' is an export project; it cannot be used to import.`,
      );
    if (!overwrite)
      throw new FoError(
        400,
        `${IMPORT_ACTION_PREFIX}The data project '${project.name}' exists and overwrite has not been specified.`,
      );
  }

  /** The data project a start names, refused as F&O does when it is unknown or of the other direction. */
  private projectFor(definitionGroupId: string, direction: 'import' | 'export'): DataProjectDefinition {
    const project = this.project(definitionGroupId);
    if (!project) throw new FoError(400, `Data project '${definitionGroupId}' was not found.`);
    if (project.direction !== direction) {
      const other = direction === 'import' ? 'export' : 'import';
      throw new FoError(
        400,
        `Data project '${project.name}' is an ${other} project; it cannot be used to ${direction}.`,
      );
    }
    return project;
  }

  /** The configured entity with that label, from any data project. */
  entity(label: string): EntityConfig | undefined {
    const lower = label.toLowerCase();
    for (const p of this.config.dataProjects) {
      const e = p.entities.find((x) => x.label.toLowerCase() === lower);
      if (e) return e;
    }
    return undefined;
  }

  /** The configured entity whose public (OData) `name` is `name`, when that differs from its label. */
  entityByPublicName(name: string): EntityConfig | undefined {
    const lower = name.toLowerCase();
    for (const p of this.config.dataProjects) {
      const e = p.entities.find((x) => x.name?.toLowerCase() === lower && x.label.toLowerCase() !== lower);
      if (e) return e;
    }
    return undefined;
  }

  /** The recurring activity with that id (braces and case ignored). */
  activity(id: string): RecurringActivityConfig | undefined {
    const clean = id.replace(/^\{|\}$/g, '').toLowerCase();
    return this.config.recurringActivities.find((a) => a.id.toLowerCase() === clean);
  }

  // ---------- faults and call log ----------

  /** Adds a fault; returns it with its id. */
  addFault(spec: FaultSpec): ActiveFault {
    const parsed = FaultSpecSchema.parse(spec);
    const fault: ActiveFault = {
      ...parsed,
      id: `fault-${++this.faultSeq}`,
      hits: 0,
      remaining: parsed.times ?? null,
      // Throttling lasts a span of emulator time from now, so a manual or shared clock ends it.
      ...(parsed.kind === 'throttle' ? { until: iso(this.clock.now() + parsed.forMs) } : {}),
    };
    this.faults.push(fault);
    return fault;
  }

  /** Removes all faults (counters included). */
  clearFaults(): void {
    this.faults = [];
  }

  /** Takes (consumes one use of) the first fault of `kinds` matching the route. */
  takeFault<K extends ActiveFault['kind']>(
    environment: string,
    route: string,
    kinds: readonly K[],
  ): Extract<ActiveFault, { kind: K }> | undefined {
    const now = this.clock.now();
    const fault = this.faults.find(
      (f) =>
        (kinds as readonly string[]).includes(f.kind) &&
        (f.route === route ||
          (f.route === '*' && (f.kind !== 'throttle' || !f.actions || f.actions.includes(route)))) &&
        (f.environment === undefined || f.environment === environment) &&
        (f.remaining === null || f.remaining > 0) &&
        (f.until === undefined || Date.parse(f.until) > now),
    );
    if (!fault) return undefined;
    fault.hits++;
    if (fault.remaining !== null) fault.remaining--;
    return fault as Extract<ActiveFault, { kind: K }>;
  }

  /** Starts a call record. */
  startCall(environment: string, route: string, method: string, path: string): CallRecord {
    const now = iso(this.clock.now());
    const record: CallRecord = {
      id: ++this.callSeq,
      environment,
      route,
      method,
      path,
      status: 0,
      startedAt: now,
      endedAt: now,
      durationMs: 0,
    };
    this.callStarts.set(record, Date.now());
    this.calls.push(record);
    if (this.calls.length > 10_000) this.calls.splice(0, this.calls.length - 10_000);
    return record;
  }

  /** Completes a call record. */
  endCall(record: CallRecord, status: number): void {
    record.status = status;
    record.endedAt = iso(this.clock.now());
    record.durationMs = Date.now() - (this.callStarts.get(record) ?? Date.now());
    this.callStarts.delete(record);
  }

  // ---------- clock-driven progress ----------

  private track<T>(p: Promise<T>): Promise<T> {
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p)).catch(() => undefined);
    return p;
  }

  /**
   * Brings the state up to the current emulator time: picks up recurring messages and finalizes
   * executions whose end has passed (rows committed, files written). Resolves when done.
   */
  async tick(): Promise<void> {
    const now = this.clock.now();
    for (const message of this.messages.values()) {
      if (
        message.direction === 'import' &&
        message.pickupAt <= now &&
        !message.executionId &&
        !message.preprocessingError
      ) {
        this.pickUp(message);
      }
    }
    const work: Promise<unknown>[] = [];
    for (const execution of this.executions.values()) {
      if (!execution.finalized && execution.endAt <= now) {
        execution.finalized = true;
        this.finalizing.add(execution);
        work.push(this.track(this.finalize(execution).finally(() => this.finalizing.delete(execution))));
      }
      // F&O deletes exported packages and error files after a retention period (7 days).
      if (
        execution.finalized &&
        !execution.blobsDeleted &&
        execution.endAt + this.switches.blobRetentionMs <= now
      ) {
        execution.blobsDeleted = true;
        const blobs = [
          execution.exportBlob,
          ...Object.values(execution.stagingErrorBlobs),
          ...Object.values(execution.targetKeysBlobs),
        ].filter((b): b is string => b !== undefined);
        work.push(this.track(Promise.all(blobs.map((b) => this.storage.delete(b)))));
      }
    }
    await Promise.all([...work, ...this.pending]);
  }

  /** Status of an execution at the current emulator time. */
  status(execution: Execution): ExecutionStatus {
    const now = this.clock.now();
    if (now < execution.startAt) return 'NotRun';
    if (now < execution.endAt || !execution.finalized) return 'Executing';
    return execution.outcome;
  }

  private newExecutionId(definitionGroupId: string, provided: string | undefined): string {
    if (provided && provided.trim() !== '') {
      if (this.executions.has(provided)) {
        throw new FoError(
          400,
          `Execution id '${provided}' is already in use. Provide a unique execution id.`,
        );
      }
      return provided;
    }
    const stamp = iso(this.clock.now()).slice(0, 19);
    return `${definitionGroupId}-${stamp}-${randomUUID().toUpperCase()}`;
  }

  private baseExecution(input: {
    environment: string;
    kind: 'import' | 'export';
    source: 'package-api' | 'recurring';
    definitionGroupId: string;
    legalEntityId: string;
    executionId: string;
    at?: number;
    /** The project's own duration (config), else the executionDurationMs switch. */
    durationMs?: DataProjectConfig['executionDurationMs'];
  }): Execution {
    const { durationMs: projectDuration, ...rest } = input;
    const createdAt = input.at ?? this.clock.now();
    const durationMs =
      projectDuration === undefined
        ? this.switches.executionDurationMs
        : typeof projectDuration === 'number'
          ? projectDuration
          : Math.round(projectDuration.min + Math.random() * (projectDuration.max - projectDuration.min));
    return {
      ...rest,
      createdAt,
      startAt: createdAt + this.switches.notRunMs,
      endAt: createdAt + Math.max(durationMs, this.switches.notRunMs),
      outcome: 'Succeeded',
      finalized: false,
      entities: [],
      errors: [],
      stagingErrorBlobs: {},
      targetKeysRequested: {},
      targetKeysBlobs: {},
      planned: [],
    };
  }

  /** Reads a package body for import; request-stage problems throw FoError 400. */
  async parsePackage(bytes: Buffer): Promise<ParsedImport> {
    try {
      const pkg = await readPackage(bytes);
      return {
        ok: true,
        // Execution unit → level → sequence: the order F&O processes a package's entities in.
        tables: [...pkg.entities]
          .sort((a, b) => a.executionUnit - b.executionUnit || a.level - b.level || a.sequence - b.sequence)
          .map((e) => ({
            entity: e.entityName,
            table: e.table,
            hasMap: e.hasEntityMapList,
            mappedFields: e.mappedFields,
          })),
      };
    } catch (error) {
      if (error instanceof PackageProblem && error.stage === 'request') throw new FoError(400, error.message);
      if (error instanceof PackageProblem) return { ok: false, message: error.message };
      throw error;
    }
  }

  /** Plans an import execution from parsed tables: validates rows, decides the outcome. */
  private planImport(execution: Execution, parsed: ParsedImport, forced: Outcome | undefined): void {
    if (!parsed.ok) {
      execution.outcome = 'Failed';
      execution.failureMessage = parsed.message;
      execution.errors.push({ RecordId: '0', Field: '', ErrorMessage: parsed.message });
      return;
    }
    let recordSeq = 5637144576; // F&O-like RecId range for staging records
    for (const { entity, table, hasMap } of parsed.tables) {
      const config = this.entity(entity);
      const byPublicName = config ? undefined : this.entityByPublicName(entity);
      if (!config && (byPublicName || this.switches.unknownEntities === 'reject')) {
        // DMF names entities by label; an OData/public name is a classic client bug.
        const message = byPublicName
          ? `Entity '${entity}' is not found in the data entity list. DMF uses entity labels: did you mean '${byPublicName.label}'?`
          : `Entity '${entity}' is not found in the data entity list.`;
        execution.outcome = 'Failed';
        execution.failureMessage = message;
        execution.errors.push({ RecordId: '0', Field: '', ErrorMessage: message });
        return;
      }
      const label = config?.label ?? entity;
      const keyFields = config?.keyFields ?? (table.columns[0] !== undefined ? [table.columns[0]] : []);
      const upper = table.columns.map((c) => c.toUpperCase());
      const keyIdx = keyFields.map((k) => upper.indexOf(k.toUpperCase()));
      const result: EntityResult = {
        entityName: label,
        company: execution.legalEntityId,
        stagingRecords: 0,
        stagingErrorCount: 0,
        targetRecords: 0,
        targetErrorCount: 0,
        errorRows: [],
        columns: table.columns,
        keyFields,
      };
      execution.entities.push(result);
      if (!hasMap) continue; // F&O imports 0 rows "successfully" when the manifest has no EntityMapList.
      const missing = keyFields.filter((_, i) => keyIdx[i] === -1);
      if (missing.length > 0) {
        const message = `Field '${missing.join(', ')}' is not mapped: the key field must be present in the source file for entity '${label}'.`;
        execution.outcome = 'Failed';
        execution.failureMessage = message;
        execution.errors.push({ RecordId: '0', Field: missing[0] ?? '', ErrorMessage: message });
        return;
      }
      const seen = new Set<string>();
      const good: string[][] = [];
      const goodIds: string[] = [];
      for (const row of table.rows) {
        const recordId = String(++recordSeq);
        const key = keyIdx.map((i) => (row[i] ?? '').trim());
        const messages: { field: string; message: string }[] = [];
        key.forEach((v, i) => {
          if (v === '')
            messages.push({
              field: keyFields[i] ?? '',
              message: `Field '${keyFields[i]}' must be filled in.`,
            });
        });
        const keyText = key.join('|').toUpperCase();
        if (messages.length === 0 && seen.has(keyText)) {
          messages.push({
            field: keyFields[0] ?? '',
            message: `Duplicate record: ${keyFields.map((k, i) => `${k} '${key[i]}'`).join(', ')} appears more than once in the file.`,
          });
        }
        row.forEach((v, i) => {
          if (v.includes(this.switches.badValueMarker)) {
            messages.push({
              field: table.columns[i] ?? '',
              message: `The value '${v}' in field '${table.columns[i]}' is not valid.`,
            });
          }
        });
        result.stagingRecords++;
        if (messages.length > 0) {
          result.stagingErrorCount++;
          result.errorRows.push({ recordId, values: row, key, messages: messages.map((m) => m.message) });
          for (const m of messages)
            execution.errors.push({ RecordId: recordId, Field: m.field, ErrorMessage: m.message });
        } else {
          seen.add(keyText);
          good.push(row);
          goodIds.push(recordId);
        }
      }
      result.targetRecords = good.length;
      execution.planned.push({
        entity: label,
        legalEntity: execution.legalEntityId,
        columns: table.columns,
        keyIdx,
        rows: good,
        recordIds: goodIds,
      });
    }
    if (execution.errors.length > 0) execution.outcome = 'PartiallySucceeded';
    if (forced) this.force(execution, forced);
  }

  private force(execution: Execution, outcome: Outcome): void {
    execution.outcome = outcome;
    if (outcome === 'Failed' || outcome === 'Canceled') {
      this.fail(
        execution,
        outcome === 'Failed' ? 'Injected fault: the execution failed.' : 'The execution was canceled.',
      );
      execution.outcome = outcome;
    } else if (outcome === 'PartiallySucceeded' && execution.errors.length === 0) {
      // Keep errors, error files and target counts consistent: reject the last row of the first entity.
      const planned = execution.planned[0];
      const result = execution.entities.find((e) => e.entityName === planned?.entity);
      const row = planned?.rows.pop();
      const recordId = planned?.recordIds.pop();
      if (planned && result && row && recordId) {
        const message = 'Injected fault: the record was rejected.';
        const key = planned.keyIdx.map((i) => row[i] ?? '');
        result.stagingErrorCount++;
        result.targetRecords--;
        result.errorRows.push({ recordId, values: row, key, messages: [message] });
        execution.errors.push({
          RecordId: recordId,
          Field: result.keyFields[0] ?? '',
          ErrorMessage: message,
        });
      } else {
        execution.errors.push({
          RecordId: '0',
          Field: '',
          ErrorMessage: 'Injected fault: the execution partially succeeded.',
        });
      }
    }
  }

  /** Starts an import execution (ImportFromPackage or a recurring pickup). */
  startImport(input: {
    environment: string;
    definitionGroupId: string;
    legalEntityId: string;
    executionId?: string;
    parsed: ParsedImport;
    source: 'package-api' | 'recurring';
    forced?: Outcome;
    at?: number;
    messageId?: string;
    /** ImportFromPackage: create or replace the data project from the package first ({@link defineImportProject}). */
    defineProject?: boolean;
  }): Execution {
    const executionId = this.newExecutionId(
      this.project(input.definitionGroupId)?.name ?? input.definitionGroupId,
      input.executionId,
    );
    if (input.defineProject) this.defineImportProject(input.definitionGroupId, input.parsed, executionId);
    const project = this.projectFor(input.definitionGroupId, 'import');
    const legalEntityId = (input.legalEntityId || project.legalEntity).toUpperCase();
    const execution = this.baseExecution({
      environment: input.environment,
      kind: 'import',
      source: input.source,
      definitionGroupId: project.name,
      legalEntityId,
      executionId,
      at: input.at,
      durationMs: project.executionDurationMs,
    });
    if (input.messageId) execution.messageId = input.messageId;
    const overlapping = input.source === 'package-api' ? this.detectOverlap(execution) : [];
    this.planImport(execution, input.parsed, input.forced);
    execution.projectRevision = project.revision;
    execution.relied = this.reliedMapping(project, input.parsed);
    const first = overlapping[0];
    if (first && !this.switches.enhancedParallelPackageImport) {
      // Docs: ImportFromPackage "must not be called in parallel threads. Otherwise, it will fail";
      // F&O fails it with a mapping error (framework parameter "Enhanced parallel package import"
      // off, data-para.md; error code DMF2025 in dm-error-descriptions.md).
      const entity = input.parsed.ok ? (input.parsed.tables[0]?.entity ?? '') : '';
      this.fail(
        execution,
        `DMF2025: The mapping is incorrect for entity '${entity}': ImportFromPackage was called while execution '${first.executionId}' (data project '${first.definitionGroupId}') was still running on this environment. ImportFromPackage must not be called in parallel; concurrent package imports need the framework parameter "Enhanced parallel package import".`,
      );
    }
    this.executions.set(executionId, execution);
    this.log(`import ${executionId} (${project.name}, ${legalEntityId}) started → ${execution.outcome}`);
    return execution;
  }

  /** Fails an execution: no rows reach the target, the message is its execution error. */
  private fail(execution: Execution, message: string): void {
    execution.outcome = 'Failed';
    execution.planned = [];
    for (const e of execution.entities) e.targetRecords = 0;
    execution.failureMessage = message;
    execution.errors.push({ RecordId: '0', Field: '', ErrorMessage: message });
  }

  /**
   * The source fields an import relies on the project's mapping for: the mapped columns of each
   * entity's file (all of them while the project's mapping is the config's generated one).
   */
  private reliedMapping(project: DataProjectDefinition, parsed: ParsedImport): ReliedMapping[] {
    if (!parsed.ok) return [];
    return parsed.tables
      .filter((t) => t.hasMap)
      .map((t) => {
        const label = this.entity(t.entity)?.label ?? t.entity;
        const mapped = project.entities.find(
          (e) => e.label.toLowerCase() === label.toLowerCase(),
        )?.mappedFields;
        const upper = new Set((mapped ?? []).map((f) => f.toUpperCase()));
        const fields = t.table.columns.filter(
          (c) => mapped === null || mapped === undefined || upper.has(c.toUpperCase()),
        );
        return { entity: label, fields };
      });
  }

  /**
   * Why an import can no longer run on its project's current definition: ImportFromPackage with
   * `overwrite` replaced the project's mapping while it ran, and fields it relies on are no longer
   * mapped (RIS issue #93: a later file "destroyed the field mapping and that breaks the execution"
   * of the files still being processed). Undefined when nothing it relies on changed.
   */
  private mappingLoss(execution: Execution): string | undefined {
    const project = this.project(execution.definitionGroupId);
    if (!project || execution.projectRevision === undefined || project.revision === execution.projectRevision)
      return undefined;
    for (const relied of execution.relied ?? []) {
      const now = project.entities.find((e) => e.label.toLowerCase() === relied.entity.toLowerCase());
      if (now?.mappedFields === null) continue;
      const mapped = new Set((now?.mappedFields ?? []).map((f) => f.toUpperCase()));
      const lost = relied.fields.filter((f) => !mapped.has(f.toUpperCase()));
      if (lost.length === 0) continue;
      const by = project.definedBy ? ` by execution '${project.definedBy}'` : '';
      return now
        ? `The field mapping of entity '${relied.entity}' in data project '${project.name}' was replaced${by} (ImportFromPackage with overwrite) while this execution was running; no longer mapped: ${lost.join(', ')}.`
        : `Entity '${relied.entity}' is no longer part of data project '${project.name}': its definition was replaced${by} (ImportFromPackage with overwrite) while this execution was running.`;
    }
    return undefined;
  }

  private detectOverlap(execution: Execution): Execution[] {
    const found: Execution[] = [];
    for (const other of this.executions.values()) {
      if (
        other.environment !== execution.environment ||
        other.kind !== 'import' ||
        other.source !== 'package-api'
      )
        continue;
      const status = this.status(other);
      if (status === 'NotRun' || status === 'Executing') {
        found.push(other);
        this.overlaps.push({
          environment: execution.environment,
          first: { executionId: other.executionId, startedAt: iso(other.createdAt) },
          second: { executionId: execution.executionId, startedAt: iso(execution.createdAt) },
          detectedAt: iso(this.clock.now()),
          secondFailed: !this.switches.enhancedParallelPackageImport,
        });
        this.log(`OVERLAP: ${execution.executionId} started while ${other.executionId} is ${status}`);
      }
    }
    return found;
  }

  /** Starts an export execution. */
  startExport(input: {
    environment: string;
    definitionGroupId: string;
    legalEntityId: string;
    executionId?: string;
    packageName: string;
    forced?: Outcome;
    /** ExportToPackagePreview `count`: at most this many rows per entity (0 = all). */
    maxRows?: number;
  }): Execution {
    const project = this.projectFor(input.definitionGroupId, 'export');
    const executionId = this.newExecutionId(project.name, input.executionId);
    const execution = this.baseExecution({
      environment: input.environment,
      kind: 'export',
      source: 'package-api',
      definitionGroupId: project.name,
      legalEntityId: (input.legalEntityId || project.legalEntity).toUpperCase(),
      executionId,
      durationMs: project.executionDurationMs,
    });
    execution.packageName = input.packageName || project.name;
    if (input.maxRows) execution.maxRows = input.maxRows;
    if (input.forced) {
      execution.outcome = input.forced;
      if (input.forced !== 'PartiallySucceeded') {
        execution.failureMessage =
          input.forced === 'Failed' ? 'Injected fault: the export failed.' : 'The execution was canceled.';
        execution.errors.push({ RecordId: '0', Field: '', ErrorMessage: execution.failureMessage });
      }
    }
    this.executions.set(executionId, execution);
    return execution;
  }

  private async finalize(execution: Execution): Promise<void> {
    if (execution.kind === 'import') {
      const loss = execution.outcome === 'Canceled' ? undefined : this.mappingLoss(execution);
      if (loss) this.fail(execution, loss);
      for (const p of execution.planned) {
        const table = this.table(execution.environment, p.entity, p.legalEntity, true);
        for (const row of p.rows) {
          const record: Record<string, string> = {};
          p.columns.forEach((c, i) => (record[c] = row[i] ?? ''));
          table.set(p.keyIdx.map((i) => (row[i] ?? '').trim().toUpperCase()).join('|'), record);
        }
      }
      for (const e of execution.entities) {
        if (e.errorRows.length === 0) continue;
        const blob = `errors/${randomUUID()}/${e.entityName}-staging-errors.csv`;
        const rows = e.errorRows.map((r) => [r.recordId, ...r.values, r.messages.join('; ')]);
        await this.storage.put(
          blob,
          Buffer.from('\ufeff' + toCsv(['RECID', ...e.columns, 'ERRORMESSAGE'], rows)),
          'text/csv',
        );
        execution.stagingErrorBlobs[e.entityName.toLowerCase()] = blob;
      }
    } else if (execution.outcome === 'Succeeded' || execution.outcome === 'PartiallySucceeded') {
      const project = this.project(execution.definitionGroupId);
      const entities = (project?.entities ?? []).map((e) => {
        const table = this.table(execution.environment, e.label, execution.legalEntityId, false);
        const records = [...(table?.values() ?? [])];
        const columns: string[] = [];
        for (const r of records) for (const c of Object.keys(r)) if (!columns.includes(c)) columns.push(c);
        const keyFields = this.entity(e.label)?.keyFields ?? [];
        if (columns.length === 0) columns.push(...keyFields.map((k) => k.toUpperCase()));
        const all = records.map((r) => columns.map((c) => r[c] ?? ''));
        const rows = execution.maxRows ? all.slice(0, execution.maxRows) : all;
        execution.entities.push({
          entityName: e.label,
          company: execution.legalEntityId,
          stagingRecords: rows.length,
          stagingErrorCount: 0,
          targetRecords: rows.length,
          targetErrorCount: 0,
          errorRows: [],
          columns,
          keyFields,
        });
        return { entityName: e.label, columns, rows };
      });
      const zip = await buildPackage({ definitionGroupName: execution.definitionGroupId, entities });
      const limit = this.switches.maxExportPackageBytes;
      if (limit > 0 && zip.length > limit) {
        // data-entities-data-packages.md: "there was a 256 MB limit for the file size that can be
        // handled via export". F&O's wording of the failure is not documented.
        this.fail(
          execution,
          `The exported package is ${zip.length} bytes, larger than the export file size limit of ${limit} bytes. Export fewer records (filter the entities) or export to your own database.`,
        );
      } else {
        const blob = `exports/${randomUUID()}/${execution.packageName ?? 'package'}.zip`;
        await this.storage.put(blob, zip, 'application/zip');
        execution.exportBlob = blob;
      }
    }
    // The rows now live in the store; keep only what the error files and reports need.
    execution.planned = [];
    this.log(`execution ${execution.executionId} ${execution.outcome}`);
  }

  private table(
    environment: string,
    entity: string,
    legalEntity: string,
    create: true,
  ): Map<string, Record<string, string>>;
  private table(
    environment: string,
    entity: string,
    legalEntity: string,
    create: false,
  ): Map<string, Record<string, string>> | undefined;
  private table(
    environment: string,
    entity: string,
    legalEntity: string,
    create: boolean,
  ): Map<string, Record<string, string>> | undefined {
    const lower = entity.toLowerCase();
    if (!this.entityLabels.has(lower)) this.entityLabels.set(lower, entity);
    let env = this.rowStore.get(environment);
    if (!env && create)
      this.rowStore.set(
        environment,
        (env = new Map<string, Map<string, Map<string, Record<string, string>>>>()),
      );
    let byEntity = env?.get(lower);
    if (!byEntity && create)
      env?.set(lower, (byEntity = new Map<string, Map<string, Record<string, string>>>()));
    let rows = byEntity?.get(legalEntity.toUpperCase());
    if (!rows && create)
      byEntity?.set(legalEntity.toUpperCase(), (rows = new Map<string, Record<string, string>>()));
    return rows;
  }

  /** Rows stored for an entity (label, case-insensitive) and legal entity. */
  rows(environment: string, entity: string, legalEntity: string): Record<string, string>[] {
    return [...(this.table(environment, entity, legalEntity, false)?.values() ?? [])];
  }

  /** Adds rows directly (control API), as if imported. */
  seedRows(environment: string, entity: string, legalEntity: string, rows: Record<string, string>[]): void {
    const config = this.entity(entity);
    const table = this.table(environment, config?.label ?? entity, legalEntity, true);
    for (const row of rows) {
      const upper = new Map(Object.entries(row).map(([k, v]) => [k.toUpperCase(), v]));
      const keyFields = config?.keyFields ?? [Object.keys(row)[0] ?? ''];
      table.set(keyFields.map((k) => (upper.get(k.toUpperCase()) ?? '').trim().toUpperCase()).join('|'), {
        ...row,
      });
    }
  }

  /** Url of a read SAS for a blob, honouring a sasExpiry fault. */
  readUrl(blobName: string, ttlMs: number = this.switches.readUrlTtlMs): string {
    return this.storage.sasUrl(blobName, 'r', new Date(Date.now() + ttlMs));
  }

  /** Requests the target error keys file (GenerateImportTargetErrorKeysFile): true when errors exist. */
  generateTargetKeys(execution: Execution, entityName: string): boolean {
    const e = execution.entities.find((x) => x.entityName.toLowerCase() === entityName.toLowerCase());
    if (!e || e.errorRows.length === 0) return false;
    execution.targetKeysRequested[e.entityName.toLowerCase()] ??=
      this.clock.now() + this.switches.errorKeysFileDelayMs;
    return true;
  }

  /** Writes the target error keys file once its delay has passed; returns its blob or undefined. */
  async targetKeysBlob(execution: Execution, entityName: string): Promise<string | undefined> {
    const lower = entityName.toLowerCase();
    const readyAt = execution.targetKeysRequested[lower];
    if (readyAt === undefined || readyAt > this.clock.now()) return undefined;
    const existing = execution.targetKeysBlobs[lower];
    if (existing) return existing;
    const e = execution.entities.find((x) => x.entityName.toLowerCase() === lower);
    if (!e) return undefined;
    const blob = `errors/${randomUUID()}/${e.entityName}-target-error-keys.csv`;
    await this.storage.put(
      blob,
      Buffer.from(
        '\ufeff' +
          toCsv(
            e.keyFields.map((k) => k.toUpperCase()),
            e.errorRows.map((r) => r.key),
          ),
      ),
      'text/csv',
    );
    execution.targetKeysBlobs[lower] = blob;
    return blob;
  }

  // ---------- recurring integrations ----------

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
        parsed = await this.parsePackage(input.body);
      } catch (error) {
        parsed = { ok: false, message: (error as Error).message };
      }
    }
    const blobName = `recurring/${input.activity.id}/${messageId}`;
    await this.storage.put(blobName, input.body);
    const now = this.clock.now();
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
      pickupAt: now + this.switches.recurringPickupDelayMs,
      parsed,
      dequeueCount: 0,
      acked: false,
    };
    if (input.forced) message.forced = input.forced;
    this.messages.set(messageId, message);
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
    const execution = this.startImport({
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
    const alt = this.switches.messageStatusSpelling === 'alternate';
    if (message.direction === 'export')
      return message.acked ? 'Acked' : message.dequeueCount > 0 ? 'Dequeued' : 'Enqueued';
    if (message.preprocessingError) return 'PreProcessingError';
    if (!message.executionId) return 'Enqueued';
    const execution = this.executions.get(message.executionId);
    if (!execution) return 'Enqueued';
    const status = this.status(execution);
    if (status === 'NotRun') return 'Dequeued';
    if (status === 'Executing') {
      const half = execution.startAt + (execution.endAt - execution.startAt) / 2;
      return this.clock.now() < half ? (alt ? 'PreProcessing' : 'Preprocessing') : 'Processing';
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
    return this.switches.jobStatusStateFormat === 'number' ? DATA_JOB_STATES.indexOf(name) : name;
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
    const status = this.status(execution);
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
    await this.storage.put(blobName, input.body);
    const now = this.clock.now();
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
    this.messages.set(messageId, message);
    return message;
  }

  /** Dequeues the next visible export message of an activity, or undefined. */
  dequeue(activityId: string): RecurringMessage | undefined {
    const now = this.clock.now();
    const message = [...this.messages.values()]
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
    message.invisibleUntil = now + this.switches.visibilityTimeoutMs;
    message.dequeueCount++;
    return message;
  }

  /** Per-activity queue overview for the control API. */
  queues(): Record<string, unknown>[] {
    const now = this.clock.now();
    return [...this.messages.values()].map((m) => ({
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

  /** Executions for the control API (without internal bulk). */
  executionViews(): Record<string, unknown>[] {
    return [...this.executions.values()].map((e) => ({
      executionId: e.executionId,
      environment: e.environment,
      kind: e.kind,
      source: e.source,
      definitionGroupId: e.definitionGroupId,
      legalEntityId: e.legalEntityId,
      status: this.status(e),
      outcome: e.outcome,
      createdAt: iso(e.createdAt),
      startAt: iso(e.startAt),
      endAt: iso(e.endAt),
      messageId: e.messageId,
      failureMessage: e.failureMessage,
      errors: e.errors,
      entities: e.entities.map(({ errorRows: _r, columns: _c, ...rest }) => rest),
    }));
  }

  // ---------- persistence ----------

  /** Resolves once no finalization or blob deletion is in progress. */
  async idle(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }

  /**
   * The persistent state (a deep copy). An execution whose finalization is still in progress is
   * saved as not finalized, so a restart finalizes it again (row upserts are idempotent).
   */
  snapshot(): EngineState {
    const rows: EngineState['rows'] = [];
    for (const [environment, byEntity] of this.rowStore) {
      for (const [lower, byLegalEntity] of byEntity) {
        for (const [legalEntity, table] of byLegalEntity) {
          rows.push({
            environment,
            entity: this.entityLabels.get(lower) ?? lower,
            legalEntity,
            rows: [...table.entries()],
          });
        }
      }
    }
    const executions = [...this.executions.values()].map((e) =>
      this.finalizing.has(e) ? { ...e, finalized: false } : e,
    );
    const messages = [...this.messages.values()].map(({ pending: _pending, ...m }) => m);
    return structuredClone({
      executions,
      messages,
      rows,
      writeUrls: [...this.issuedWriteUrls.entries()].map(([blob, v]): [string, number] => [
        blob,
        v.expiresAt,
      ]),
      overlaps: this.overlaps,
      calls: this.calls,
      callSeq: this.callSeq,
      projects: [...this.projects.values()],
    });
  }

  /** Replaces the state with a saved one (at start, before any request). */
  restore(state: EngineState): void {
    this.reset();
    for (const e of state.executions) this.executions.set(e.executionId, e);
    for (const m of state.messages) this.messages.set(m.messageId, m);
    for (const t of state.rows) {
      const table = this.table(t.environment, t.entity, t.legalEntity, true);
      for (const [key, row] of t.rows) table.set(key, row);
    }
    for (const [blob, expiresAt] of state.writeUrls) this.issuedWriteUrls.set(blob, { expiresAt });
    this.overlaps.push(...state.overlaps);
    // A file saved before projects were kept has none: the config's definitions stay.
    for (const p of state.projects ?? []) this.projects.set(p.name.toLowerCase(), p);
    this.calls.push(...state.calls);
    this.callSeq = Math.max(state.callSeq, ...state.calls.map((c) => c.id));
  }

  /** Forgets everything (executions, rows, queues, calls, overlaps, faults). */
  reset(): void {
    this.executions.clear();
    this.messages.clear();
    this.rowStore.clear();
    this.calls.length = 0;
    this.overlaps.length = 0;
    this.faults = [];
    this.issuedWriteUrls.clear();
    this.resetProjects();
  }
}
