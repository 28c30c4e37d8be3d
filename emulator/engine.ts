/**
 * The emulator's state and behaviour, independent of HTTP: one engine per running emulator,
 * shared by all its environments. It holds the configuration, the clock, the switches in force and
 * the storage, and puts together the parts that do the work: data projects (projects.ts), stored
 * rows (rows.ts), executions (executions.ts), recurring queues (recurring.ts), faults and the call
 * log (faults.ts). Here: clock-driven progress (`tick`), read urls, GetAzureWriteUrl registrations,
 * and the state file's snapshot, restore and reset across all parts.
 */
import type { EmulatorClock } from './clock.js';
import type { EmulatorConfig } from './config.js';
import { Executions } from './executions.js';
import { CallLog, Faults } from './faults.js';
import type { EmulatorSwitches } from './options.js';
import { DataProjects } from './projects.js';
import { RecurringQueues } from './recurring.js';
import { RowStore } from './rows.js';
import type { EngineState } from './state.js';
import type { EmulatorStorage } from './storage.js';

/** What every part of the engine reads: configuration, clock, the switches in force, storage, log. */
export interface EngineContext {
  readonly config: EmulatorConfig;
  readonly clock: EmulatorClock;
  /** The switches in force now (the control API replaces them at runtime: read them at each use). */
  readonly switches: EmulatorSwitches;
  readonly storage: EmulatorStorage;
  /** One-line log messages (secrets redacted by the caller). */
  log(line: string): void;
}

/** The emulator's state and behaviour, independent of HTTP. */
export class EmulatorEngine implements EngineContext {
  readonly config: EmulatorConfig;
  readonly clock: EmulatorClock;
  switches: EmulatorSwitches;
  readonly storage: EmulatorStorage;
  readonly log: (line: string) => void;
  /** Data project definitions and configured entity lookups. */
  readonly projects: DataProjects;
  /** Rows committed by imports (and seeded). */
  readonly rows: RowStore;
  /** Every execution (all environments) and the ImportFromPackage overlaps seen. */
  readonly executions: Executions;
  /** Recurring integration messages of every activity. */
  readonly recurring: RecurringQueues;
  /** Active faults with their counters. */
  readonly faults: Faults;
  /** The call log. */
  readonly calls: CallLog;
  /** Write urls issued by GetAzureWriteUrl, by blob name, with their emulator-clock expiry. */
  readonly issuedWriteUrls = new Map<string, { expiresAt: number }>();

  constructor(
    config: EmulatorConfig,
    clock: EmulatorClock,
    switches: EmulatorSwitches,
    storage: EmulatorStorage,
    log: (line: string) => void = () => undefined,
  ) {
    // Assigned before the parts are made: they read the context from their constructors on.
    this.config = config;
    this.clock = clock;
    this.switches = switches;
    this.storage = storage;
    this.log = log;
    this.projects = new DataProjects(this);
    this.rows = new RowStore(this.projects);
    this.executions = new Executions(this, this.projects, this.rows);
    this.recurring = new RecurringQueues(this, this.executions);
    this.faults = new Faults(clock);
    this.calls = new CallLog(clock);
  }

  /**
   * Brings the state up to the current emulator time: picks up recurring messages and finalizes
   * executions whose end has passed (rows committed, files written). Resolves when done.
   */
  async tick(): Promise<void> {
    const now = this.clock.now();
    this.recurring.pickUpDue(now);
    await this.executions.progress(now);
  }

  /** Url of a read SAS for a blob, honouring a sasExpiry fault. */
  readUrl(blobName: string, ttlMs: number = this.switches.readUrlTtlMs): string {
    return this.storage.sasUrl(blobName, 'r', new Date(Date.now() + ttlMs));
  }

  // ---------- persistence ----------

  /** Resolves once no finalization or blob deletion is in progress. */
  async idle(): Promise<void> {
    await this.executions.idle();
  }

  /**
   * The persistent state (a deep copy). An execution whose finalization is still in progress is
   * saved as not finalized, so a restart finalizes it again (row upserts are idempotent).
   */
  snapshot(): EngineState {
    const rows = this.rows.snapshot();
    const executions = this.executions.snapshot();
    const messages = this.recurring.snapshot();
    return structuredClone({
      executions,
      messages,
      rows,
      writeUrls: [...this.issuedWriteUrls.entries()].map(([blob, v]): [string, number] => [
        blob,
        v.expiresAt,
      ]),
      overlaps: this.executions.overlaps,
      calls: this.calls.records,
      callSeq: this.calls.seq,
      projects: this.projects.list(),
    });
  }

  /** Replaces the state with a saved one (at start, before any request). */
  restore(state: EngineState): void {
    this.reset();
    this.executions.restore(state.executions, state.overlaps);
    this.recurring.restore(state.messages);
    this.rows.restore(state.rows);
    for (const [blob, expiresAt] of state.writeUrls) this.issuedWriteUrls.set(blob, { expiresAt });
    // A file saved before projects were kept has none: the config's definitions stay.
    this.projects.restore(state.projects ?? []);
    this.calls.restore(state.calls, state.callSeq);
  }

  /** Forgets everything (executions, rows, queues, calls, overlaps, faults). */
  reset(): void {
    this.executions.clear();
    this.recurring.clear();
    this.rows.clear();
    this.calls.clear();
    this.faults.clear();
    this.issuedWriteUrls.clear();
    this.projects.reset();
  }
}
