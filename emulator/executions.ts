/**
 * Executions: the import and export runs of the package API (ImportFromPackage, ExportToPackage and
 * their Async/Preview forms) and the imports recurring pickups start. Their ids, their start (an
 * import planned by import-plan.ts, parallel ImportFromPackage overlaps), their status on the
 * emulator clock, what their end does (rows committed, staging error files, the export package,
 * blob retention), and the target error keys files asked for afterwards.
 */
import { randomUUID } from 'node:crypto';
import { iso } from './clock.js';
import type { DataProjectConfig } from './config.js';
import type { EngineContext } from './engine.js';
import { FoError } from './http.js';
import { failExecution, mappingLoss, planImport, reliedMapping } from './import-plan.js';
import { buildPackage, toCsv, type DataTable } from './package.js';
import type { DataProjects } from './projects.js';
import type { RowStore } from './rows.js';
import type { EngineState } from './state.js';

/** Final and non-final execution states, as GetExecutionSummaryStatus spells them. */
export type ExecutionStatus =
  'Unknown' | 'NotRun' | 'Executing' | 'Succeeded' | 'PartiallySucceeded' | 'Failed' | 'Canceled';
/** Final states of an execution. */
export type ExecutionOutcome = 'Succeeded' | 'PartiallySucceeded' | 'Failed' | 'Canceled';
type Outcome = ExecutionOutcome;

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

/** Fields of one entity an import relies on the project's mapping for. */
export interface ReliedMapping {
  entity: string;
  fields: string[];
}

/** One entity of an import, in the order the execution processed them (execution unit → level → sequence). */
export interface EntityOrderEntry {
  /** DMF label (the configured one, else the manifest's EntityName). */
  entityName: string;
  executionUnit: number;
  levelInExecutionUnit: number;
  sequenceInLevel: number;
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
  /** Imports: the entities in the order they were processed (an entity that failed the execution is the last). */
  entityOrder?: EntityOrderEntry[];
}

/** A package or data file read for import: its tables in processing order, or why it cannot run. */
export type ParsedImport =
  | {
      ok: true;
      tables: {
        entity: string;
        table: DataTable;
        hasMap: boolean;
        mappedFields?: string[];
        /** Manifest ExecutionUnit, LevelInExecutionUnit, SequenceInLevel (a recurring file job: none, i.e. 1). */
        executionUnit?: number;
        level?: number;
        sequence?: number;
      }[];
    }
  | { ok: false; message: string };

/** Two ImportFromPackage executions in flight at once on one environment. */
export interface OverlapRecord {
  environment: string;
  first: { executionId: string; startedAt: string };
  second: { executionId: string; startedAt: string };
  detectedAt: string;
  /** True when the second execution was failed for it (strict mode, the default). */
  secondFailed?: boolean;
}

/** Every execution of the emulator (all environments), by id. */
export class Executions {
  private readonly byId = new Map<string, Execution>();
  /** ImportFromPackage overlaps seen. */
  readonly overlaps: OverlapRecord[] = [];
  /** Finalizations and blob deletions in progress. */
  private readonly pending = new Set<Promise<unknown>>();
  /** Executions whose finalization (row commit, files) is in progress. */
  private readonly finalizing = new Set<Execution>();

  constructor(
    private readonly ctx: EngineContext,
    private readonly projects: DataProjects,
    private readonly rows: RowStore,
  ) {}

  /** The execution with that id (any environment). */
  get(executionId: string): Execution | undefined {
    return this.byId.get(executionId);
  }

  /** True when an execution has that id (ids are unique across environments). */
  has(executionId: string): boolean {
    return this.byId.has(executionId);
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p)).catch(() => undefined);
    return p;
  }

  /**
   * Finalizes the executions whose end has passed by `now` (rows committed, files written) and
   * deletes the files of those past their retention. Resolves when that and all earlier such work is done.
   */
  async progress(now: number): Promise<void> {
    const work: Promise<unknown>[] = [];
    for (const execution of this.byId.values()) {
      if (!execution.finalized && execution.endAt <= now) {
        execution.finalized = true;
        this.finalizing.add(execution);
        work.push(this.track(this.finalize(execution).finally(() => this.finalizing.delete(execution))));
      }
      // F&O deletes exported packages and error files after a retention period (7 days).
      if (
        execution.finalized &&
        !execution.blobsDeleted &&
        execution.endAt + this.ctx.switches.blobRetentionMs <= now
      ) {
        execution.blobsDeleted = true;
        const blobs = [
          execution.exportBlob,
          ...Object.values(execution.stagingErrorBlobs),
          ...Object.values(execution.targetKeysBlobs),
        ].filter((b): b is string => b !== undefined);
        work.push(this.track(Promise.all(blobs.map((b) => this.ctx.storage.delete(b)))));
      }
    }
    await Promise.all([...work, ...this.pending]);
  }

  /** Status of an execution at the current emulator time. */
  status(execution: Execution): ExecutionStatus {
    const now = this.ctx.clock.now();
    if (now < execution.startAt) return 'NotRun';
    if (now < execution.endAt || !execution.finalized) return 'Executing';
    return execution.outcome;
  }

  private newExecutionId(definitionGroupId: string, provided: string | undefined): string {
    if (provided && provided.trim() !== '') {
      if (this.byId.has(provided)) {
        throw new FoError(
          400,
          `Execution id '${provided}' is already in use. Provide a unique execution id.`,
        );
      }
      return provided;
    }
    const stamp = iso(this.ctx.clock.now()).slice(0, 19);
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
    const createdAt = input.at ?? this.ctx.clock.now();
    const durationMs =
      projectDuration === undefined
        ? this.ctx.switches.executionDurationMs
        : typeof projectDuration === 'number'
          ? projectDuration
          : Math.round(projectDuration.min + Math.random() * (projectDuration.max - projectDuration.min));
    return {
      ...rest,
      createdAt,
      startAt: createdAt + this.ctx.switches.notRunMs,
      endAt: createdAt + Math.max(durationMs, this.ctx.switches.notRunMs),
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
    /** ImportFromPackage: create or replace the data project from the package first ({@link DataProjects.defineImportProject}). */
    defineProject?: boolean;
  }): Execution {
    const executionId = this.newExecutionId(
      this.projects.get(input.definitionGroupId)?.name ?? input.definitionGroupId,
      input.executionId,
    );
    if (input.defineProject)
      this.projects.defineImportProject(input.definitionGroupId, input.parsed, executionId);
    const project = this.projects.forStart(input.definitionGroupId, 'import');
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
    planImport(execution, input.parsed, input.forced, {
      projects: this.projects,
      switches: this.ctx.switches,
      rows: this.rows,
    });
    execution.projectRevision = project.revision;
    execution.relied = reliedMapping(project, input.parsed, this.projects);
    const first = overlapping[0];
    if (first && !this.ctx.switches.enhancedParallelPackageImport) {
      // Docs: ImportFromPackage "must not be called in parallel threads. Otherwise, it will fail";
      // F&O fails it with a mapping error (framework parameter "Enhanced parallel package import"
      // off, data-para.md; error code DMF2025 in dm-error-descriptions.md).
      const entity = input.parsed.ok ? (input.parsed.tables[0]?.entity ?? '') : '';
      failExecution(
        execution,
        `DMF2025: The mapping is incorrect for entity '${entity}': ImportFromPackage was called while execution '${first.executionId}' (data project '${first.definitionGroupId}') was still running on this environment. ImportFromPackage must not be called in parallel; concurrent package imports need the framework parameter "Enhanced parallel package import".`,
      );
    }
    this.byId.set(executionId, execution);
    this.ctx.log(`import ${executionId} (${project.name}, ${legalEntityId}) started → ${execution.outcome}`);
    return execution;
  }

  private detectOverlap(execution: Execution): Execution[] {
    const found: Execution[] = [];
    for (const other of this.byId.values()) {
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
          detectedAt: iso(this.ctx.clock.now()),
          secondFailed: !this.ctx.switches.enhancedParallelPackageImport,
        });
        this.ctx.log(`OVERLAP: ${execution.executionId} started while ${other.executionId} is ${status}`);
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
    const project = this.projects.forStart(input.definitionGroupId, 'export');
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
    this.byId.set(executionId, execution);
    return execution;
  }

  private async finalize(execution: Execution): Promise<void> {
    if (execution.kind === 'import') {
      const loss = execution.outcome === 'Canceled' ? undefined : mappingLoss(execution, this.projects);
      if (loss) failExecution(execution, loss);
      for (const p of execution.planned) {
        const table = this.rows.table(execution.environment, p.entity, p.legalEntity, true);
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
        await this.ctx.storage.put(
          blob,
          Buffer.from('\ufeff' + toCsv(['RECID', ...e.columns, 'ERRORMESSAGE'], rows)),
          'text/csv',
        );
        execution.stagingErrorBlobs[e.entityName.toLowerCase()] = blob;
      }
    } else if (execution.outcome === 'Succeeded' || execution.outcome === 'PartiallySucceeded') {
      const project = this.projects.get(execution.definitionGroupId);
      const entities = (project?.entities ?? []).map((e) => {
        const table = this.rows.table(execution.environment, e.label, execution.legalEntityId, false);
        const records = [...(table?.values() ?? [])];
        const columns: string[] = [];
        for (const r of records) for (const c of Object.keys(r)) if (!columns.includes(c)) columns.push(c);
        const keyFields = this.projects.entity(e.label)?.keyFields ?? [];
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
      const limit = this.ctx.switches.maxExportPackageBytes;
      if (limit > 0 && zip.length > limit) {
        // data-entities-data-packages.md: "there was a 256 MB limit for the file size that can be
        // handled via export". F&O's wording of the failure is not documented.
        failExecution(
          execution,
          `The exported package is ${zip.length} bytes, larger than the export file size limit of ${limit} bytes. Export fewer records (filter the entities) or export to your own database.`,
        );
      } else {
        const blob = `exports/${randomUUID()}/${execution.packageName ?? 'package'}.zip`;
        await this.ctx.storage.put(blob, zip, 'application/zip');
        execution.exportBlob = blob;
      }
    }
    // The rows now live in the store; keep only what the error files and reports need.
    execution.planned = [];
    this.ctx.log(`execution ${execution.executionId} ${execution.outcome}`);
  }

  /** Requests the target error keys file (GenerateImportTargetErrorKeysFile): true when errors exist. */
  generateTargetKeys(execution: Execution, entityName: string): boolean {
    const e = execution.entities.find((x) => x.entityName.toLowerCase() === entityName.toLowerCase());
    if (!e || e.errorRows.length === 0) return false;
    execution.targetKeysRequested[e.entityName.toLowerCase()] ??=
      this.ctx.clock.now() + this.ctx.switches.errorKeysFileDelayMs;
    return true;
  }

  /** Writes the target error keys file once its delay has passed; returns its blob or undefined. */
  async targetKeysBlob(execution: Execution, entityName: string): Promise<string | undefined> {
    const lower = entityName.toLowerCase();
    const readyAt = execution.targetKeysRequested[lower];
    if (readyAt === undefined || readyAt > this.ctx.clock.now()) return undefined;
    const existing = execution.targetKeysBlobs[lower];
    if (existing) return existing;
    const e = execution.entities.find((x) => x.entityName.toLowerCase() === lower);
    if (!e) return undefined;
    const blob = `errors/${randomUUID()}/${e.entityName}-target-error-keys.csv`;
    await this.ctx.storage.put(
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

  /** Executions for the control API (without internal bulk). */
  views(): Record<string, unknown>[] {
    return [...this.byId.values()].map((e) => this.viewOf(e));
  }

  /** One execution for the control API (`GET /executions/{id}`), or undefined. */
  view(executionId: string): Record<string, unknown> | undefined {
    const execution = this.byId.get(executionId);
    return execution ? this.viewOf(execution) : undefined;
  }

  private viewOf(e: Execution): Record<string, unknown> {
    return {
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
      ...(e.kind === 'import' ? { entityOrder: e.entityOrder ?? [] } : {}),
    };
  }

  /** Resolves once no finalization or blob deletion is in progress. */
  async idle(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }

  /**
   * Every execution, for the state file. One whose finalization is still in progress is saved as
   * not finalized, so a restart finalizes it again (row upserts are idempotent).
   */
  snapshot(): Execution[] {
    return [...this.byId.values()].map((e) => (this.finalizing.has(e) ? { ...e, finalized: false } : e));
  }

  /** Puts saved executions and overlaps back (at start). */
  restore(executions: EngineState['executions'], overlaps: readonly OverlapRecord[]): void {
    for (const e of executions) this.byId.set(e.executionId, e);
    this.overlaps.push(...overlaps);
  }

  /** Forgets every execution and overlap. */
  clear(): void {
    this.byId.clear();
    this.overlaps.length = 0;
  }
}
