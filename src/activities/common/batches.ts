/**
 * Where a batch stands: its folder listed, each file matched to the template entity its name
 * says (`entities[].files` of the data project, or of every project of a chain), the trigger file
 * looked for. The orchestration decides from the answer: wait, go on, or fail. Storage trouble is
 * thrown (the orchestration retries).
 */
import { z } from 'zod';
import { defineActivity } from '../../shared/app/activity.js';
import type { Runtime } from '../../shared/app/runtime.js';
import { getDataProject, type EntityFilesConfig } from '../../shared/config/index.js';
import type { BatchFile } from '../../shared/jobs/index.js';
import { entityMatchProblems, matchEntityFiles } from '../../shared/packages/index.js';
import { fileNameProblem, isNotFound, printable, storageError } from '../../shared/storage/index.js';

/** Most files one batch may hold (besides its trigger file). */
export const MAX_BATCH_FILES = 100;

/** Input of the batch check. */
export const BatchCheckInputSchema = z.object({
  instanceId: z.string(),
  container: z.string(),
  folder: z.string(),
  trigger: z.string(),
  complete: z.enum(['trigger', 'allEntities']),
  /** Whose entities the files fill: one data project, or every project of a chain. */
  owner: z.discriminatedUnion('kind', [
    z.object({ kind: z.literal('project'), project: z.string() }),
    z.object({ kind: z.literal('chain'), projects: z.array(z.string()).min(1) }),
  ]),
});
/** See {@link BatchCheckInputSchema}. */
export type BatchCheckInput = z.infer<typeof BatchCheckInputSchema>;

/** A file of the batch with the project (a chain's step) whose entity it fills. */
export type CheckedFile = BatchFile & { project?: string };

/** What the batch check found. */
export interface BatchCheck {
  /** The files with a usable name, each with its entity (and project) when it found exactly one. */
  files: CheckedFile[];
  /** The trigger file, when it is there. */
  triggerFile?: BatchFile;
  /** Required entities without a file (for a chain: "{entity} ({project})"). */
  missing: string[];
  /** Files that cannot be imported as they are: no entity, several, an unusable name, too many. */
  problems: string[];
  /** The batch is complete: its trigger file (unless not needed) and every required entity are there. */
  ready: boolean;
}

interface Candidate {
  /** Key shown in messages: the entity label, for a chain "{label} ({project})". */
  entity: string;
  files: string;
  optional: boolean;
  label: string;
  project: string;
}

/** Lists the batch's folder and matches its files (see the module comment). */
export async function checkBatch(runtime: Runtime, input: BatchCheckInput): Promise<BatchCheck> {
  const container = runtime.blobService.getContainerClient(input.container);
  const prefix = `${input.folder}/`;
  const found: BatchFile[] = [];
  const problems: string[] = [];
  let triggerFile: BatchFile | undefined;
  try {
    for await (const item of container.listBlobsFlat({ prefix })) {
      const name = item.name.slice(prefix.length);
      // deeper files belong to no batch: the trigger refused them already
      if (name.includes('/')) continue;
      const problem = fileNameProblem(name);
      if (problem) {
        problems.push(`${problem} (it cannot be part of the batch)`);
        continue;
      }
      const file = { name, path: item.name, ...(item.properties.etag ? { etag: item.properties.etag } : {}) };
      if (name === input.trigger) triggerFile = file;
      else found.push(file);
    }
  } catch (error) {
    if (!isNotFound(error)) throw storageError(`listing ${input.container}/${prefix}`, error);
  }
  if (found.length > MAX_BATCH_FILES) {
    problems.push(`the batch holds ${found.length} files; at most ${MAX_BATCH_FILES} are accepted`);
  }

  const candidates: Candidate[] = [];
  const projects = input.owner.kind === 'project' ? [input.owner.project] : input.owner.projects;
  for (const name of projects) {
    const entities: readonly EntityFilesConfig[] = getDataProject(runtime.config, name).entities ?? [];
    for (const e of entities) {
      candidates.push({
        entity: input.owner.kind === 'chain' ? `${e.entity} (${name})` : e.entity,
        files: e.files,
        optional: e.optional,
        label: e.entity,
        project: name,
      });
    }
  }
  const match = matchEntityFiles(candidates, found, (f) => f.name);
  problems.push(...entityMatchProblems(match, (f) => printable(f.name)));
  const byKey = new Map(candidates.map((c) => [c.entity, c] as const));
  const files: CheckedFile[] = found.map((file) => {
    const hit = match.matched.find((m) => m.file === file);
    const candidate = hit ? byKey.get(hit.entity) : undefined;
    return candidate
      ? {
          ...file,
          entity: candidate.label,
          ...(input.owner.kind === 'chain' ? { project: candidate.project } : {}),
        }
      : file;
  });
  const triggered = input.complete === 'allEntities' || triggerFile !== undefined;
  return {
    files,
    ...(triggerFile ? { triggerFile } : {}),
    missing: match.missing,
    problems,
    ready: triggered && match.missing.length === 0,
  };
}

/** {@link checkBatch} as an activity. */
export const batchCheckActivity = defineActivity({
  name: 'batchCheck',
  input: BatchCheckInputSchema,
  log: ({ instanceId }) => ({ instanceId }),
  handler: (input, { runtime }) => checkBatch(runtime, input),
});

/** The batch activities shared by batch imports and chains. */
export const BATCH_ACTIVITIES = { check: batchCheckActivity };
