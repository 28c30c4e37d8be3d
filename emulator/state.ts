import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';

/**
 * Version of the state file format; a file with another version is moved aside, not read. Bump it
 * when the engine's state changes shape, and add the new fields to the schemas below (the state
 * test checks that a saved file parses back unchanged).
 */
export const STATE_FILE_VERSION = 1;

/** Longest time between a state change and its save (ms). */
export const STATE_SAVE_DEBOUNCE_MS = 200;

const outcome = z.enum(['Succeeded', 'PartiallySucceeded', 'Failed', 'Canceled']);
const table = z.object({ columns: z.array(z.string()), rows: z.array(z.array(z.string())) });
const parsedPackage = z.union([
  z.object({
    ok: z.literal(true),
    tables: z.array(
      z.object({
        entity: z.string(),
        table,
        hasMap: z.boolean(),
        mappedFields: z.array(z.string()).optional(),
        executionUnit: z.number().optional(),
        level: z.number().optional(),
        sequence: z.number().optional(),
      }),
    ),
  }),
  z.object({ ok: z.literal(false), message: z.string() }),
]);

const executionSchema = z.object({
  executionId: z.string(),
  environment: z.string(),
  kind: z.enum(['import', 'export']),
  source: z.enum(['package-api', 'recurring']),
  definitionGroupId: z.string(),
  legalEntityId: z.string(),
  createdAt: z.number(),
  startAt: z.number(),
  endAt: z.number(),
  outcome,
  finalized: z.boolean(),
  failureMessage: z.string().optional(),
  entities: z.array(
    z.object({
      entityName: z.string(),
      company: z.string(),
      stagingRecords: z.number(),
      stagingErrorCount: z.number(),
      targetRecords: z.number(),
      targetErrorCount: z.number(),
      errorRows: z.array(
        z.object({
          recordId: z.string(),
          values: z.array(z.string()),
          key: z.array(z.string()),
          messages: z.array(z.string()),
        }),
      ),
      columns: z.array(z.string()),
      keyFields: z.array(z.string()),
    }),
  ),
  errors: z.array(z.object({ RecordId: z.string(), Field: z.string(), ErrorMessage: z.string() })),
  messageId: z.string().optional(),
  packageName: z.string().optional(),
  exportBlob: z.string().optional(),
  blobsDeleted: z.boolean().optional(),
  stagingErrorBlobs: z.record(z.string(), z.string()),
  targetKeysRequested: z.record(z.string(), z.number()),
  targetKeysBlobs: z.record(z.string(), z.string()),
  planned: z.array(
    z.object({
      entity: z.string(),
      legalEntity: z.string(),
      columns: z.array(z.string()),
      keyIdx: z.array(z.number()),
      rows: z.array(z.array(z.string())),
      recordIds: z.array(z.string()),
    }),
  ),
  projectRevision: z.number().optional(),
  relied: z.array(z.object({ entity: z.string(), fields: z.array(z.string()) })).optional(),
  maxRows: z.number().optional(),
  entityOrder: z
    .array(
      z.object({
        entityName: z.string(),
        executionUnit: z.number(),
        levelInExecutionUnit: z.number(),
        sequenceInLevel: z.number(),
      }),
    )
    .optional(),
});

const messageSchema = z.object({
  messageId: z.string(),
  activityId: z.string(),
  environment: z.string(),
  direction: z.enum(['import', 'export']),
  enqueuedAt: z.number(),
  externalIdentifier: z.string(),
  entity: z.string().optional(),
  company: z.string(),
  blobName: z.string(),
  size: z.number(),
  pickupAt: z.number(),
  executionId: z.string().optional(),
  preprocessingError: z.string().optional(),
  parsed: parsedPackage.optional(),
  popReceipt: z.string().optional(),
  invisibleUntil: z.number().optional(),
  lastDequeueAt: z.number().optional(),
  dequeuedAt: z.number().optional(),
  dequeueCount: z.number(),
  acked: z.boolean(),
  downloaded: z.boolean().optional(),
  fileMissing: z.boolean().optional(),
  forced: outcome.optional(),
});

const callSchema = z.object({
  id: z.number(),
  environment: z.string(),
  route: z.string(),
  method: z.string(),
  path: z.string(),
  status: z.number(),
  executionId: z.string().optional(),
  messageId: z.string().optional(),
  fault: z.string().optional(),
  startedAt: z.string(),
  endedAt: z.string(),
  durationMs: z.number(),
});

const overlapSchema = z.object({
  environment: z.string(),
  first: z.object({ executionId: z.string(), startedAt: z.string() }),
  second: z.object({ executionId: z.string(), startedAt: z.string() }),
  detectedAt: z.string(),
  secondFailed: z.boolean().optional(),
});

const projectSchema = z.object({
  name: z.string(),
  direction: z.enum(['import', 'export']),
  legalEntity: z.string(),
  executionDurationMs: z.union([z.number(), z.object({ min: z.number(), max: z.number() })]).optional(),
  entities: z.array(z.object({ label: z.string(), mappedFields: z.array(z.string()).nullable() })),
  origin: z.enum(['config', 'package']),
  revision: z.number(),
  definedBy: z.string().optional(),
  definedAt: z.string().optional(),
});

/** The engine's persistent state (everything but faults and switches, which come from the options). */
export const EngineStateSchema = z.object({
  executions: z.array(executionSchema),
  messages: z.array(messageSchema),
  /** Stored rows: per environment, entity label and legal entity, `[storeKey, row]` pairs. */
  rows: z.array(
    z.object({
      environment: z.string(),
      entity: z.string(),
      legalEntity: z.string(),
      rows: z.array(z.tuple([z.string(), z.record(z.string(), z.string())])),
    }),
  ),
  /** GetAzureWriteUrl registrations: `[blobName, expiresAt]` (emulator clock). */
  writeUrls: z.array(z.tuple([z.string(), z.number()])),
  overlaps: z.array(overlapSchema),
  calls: z.array(callSchema),
  callSeq: z.number().int().min(0),
  /** Data project definitions (ImportFromPackage creates and replaces them); absent in older files. */
  projects: z.array(projectSchema).optional(),
});

/** The engine's persistent state. */
export type EngineState = z.output<typeof EngineStateSchema>;

/** The state file: versioned JSON. */
export const StateFileSchema = z.object({
  version: z.literal(STATE_FILE_VERSION),
  /** Wall-clock time of the save (ISO), for people reading the file. */
  savedAt: z.string(),
  /** Emulator time at the save and the wall-clock time of the save (epoch ms). */
  clock: z.object({ now: z.number(), savedAt: z.number() }),
  /** Blob container holding the state's packages, exports and error files. */
  storage: z.object({ container: z.string().min(3) }),
  engine: EngineStateSchema,
});

/** Contents of a state file. */
export type StateFile = z.output<typeof StateFileSchema>;

/** Outcome of {@link loadStateFile}. */
export interface LoadedState {
  /** The state read, or undefined (no file, or a file that could not be used). */
  state: StateFile | undefined;
  /** Why an existing file could not be used. */
  problem?: string;
  /** Where an unusable file was moved to. */
  movedTo?: string;
  /** True when an unusable file could not be moved aside: it must not be overwritten. */
  readOnly?: boolean;
}

/**
 * Reads a state file. A missing file is an empty state. A file that is not JSON, has another
 * `version` or does not match the format is moved aside to `{file}.unreadable-{timestamp}` (so it
 * is never overwritten and never silently lost) and reported; the emulator starts empty.
 */
export async function loadStateFile(path: string, log: (line: string) => void): Promise<LoadedState> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { state: undefined };
    return moveAside(path, `it cannot be read (${(error as Error).message})`, log);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    return moveAside(path, `it is not valid JSON (${(error as Error).message})`, log);
  }
  const version = (json as { version?: unknown } | null)?.version;
  if (version !== STATE_FILE_VERSION) {
    return moveAside(
      path,
      `its format version is ${JSON.stringify(version)}, this emulator reads version ${STATE_FILE_VERSION}`,
      log,
    );
  }
  const parsed = StateFileSchema.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues
      .slice(0, 3)
      .map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`)
      .join('; ');
    return moveAside(path, `it does not match the state format (${issues})`, log);
  }
  return { state: parsed.data };
}

async function moveAside(path: string, problem: string, log: (line: string) => void): Promise<LoadedState> {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  let movedTo = `${path}.unreadable-${stamp}`;
  for (let i = 1; existsSync(movedTo); i++) movedTo = `${path}.unreadable-${stamp}-${i}`;
  try {
    await rename(path, movedTo);
  } catch (error) {
    log(
      `state file ${path} is unusable: ${problem}; moving it aside failed (${(error as Error).message}), so it is left untouched and state is NOT saved in this run`,
    );
    return { state: undefined, problem, readOnly: true };
  }
  log(`state file ${path} is unusable: ${problem}; moved it to ${movedTo} and started with an empty state`);
  return { state: undefined, problem, movedTo };
}

/**
 * Saves state to a file atomically (temp file + rename), at most {@link STATE_SAVE_DEBOUNCE_MS}
 * after a change is signalled with `schedule()`, one write at a time.
 */
export class StateSaver {
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> | undefined;
  private dirty = false;
  private closed = false;

  constructor(
    private readonly path: string,
    private readonly snapshot: () => StateFile,
    private readonly log: (line: string) => void,
  ) {}

  /** Signals a state change: a save follows within the debounce time. */
  schedule(): void {
    this.dirty = true;
    if (this.timer || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, STATE_SAVE_DEBOUNCE_MS);
  }

  /** Writes the current state now if anything changed (waits for a write in progress first). */
  async flush(): Promise<void> {
    while (this.writing) await this.writing;
    if (!this.dirty) return;
    this.dirty = false;
    this.writing = this.write().finally(() => (this.writing = undefined));
    await this.writing;
  }

  /** Final save; later `schedule()` calls do nothing. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.dirty = true;
    await this.flush();
  }

  private async write(): Promise<void> {
    const tmp = `${this.path}.${process.pid}.tmp`;
    try {
      await mkdir(dirname(this.path), { recursive: true });
      await writeFile(tmp, JSON.stringify(this.snapshot()));
      await rename(tmp, this.path);
    } catch (error) {
      // The next change tries again; the previous file stays intact (rename is atomic).
      this.dirty = true;
      this.log(`saving state to ${this.path} failed: ${(error as Error).message}`);
    }
  }
}
