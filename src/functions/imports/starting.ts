/**
 * The use cases behind the import triggers: turn a blob, a command or an HTTP request into one
 * `importPackage` instance (never two for one file version).
 */
import type { DurableClient } from 'durable-functions';
import { z } from 'zod';
import { enqueueSignal } from '../../orchestrators/imports/slot.js';
import { findStatus, startOnce } from '../../shared/app/durableClient.js';
import { ORCHESTRATORS } from '../../shared/app/names.js';
import { getRuntime, type Runtime } from '../../shared/app/runtime.js';
import { legalEntitySchema, NAME_PATTERN, type AppConfig } from '../../shared/config/index.js';
import { InputError } from '../../shared/errors.js';
import {
  blobImportInstanceId,
  executionIdFor,
  type ImportInput,
  type ImportSource,
  urlImportInstanceId,
} from '../../shared/jobs/index.js';
import {
  blobPath,
  checkFileName,
  checkLegalEntity,
  displayUrl,
  FILE_NAME_ERROR,
  findDataProject,
  inboundPath,
  isNotFound,
  printable,
  recordJob,
  resolveInboundPath,
  sourceUrlBlobPath,
  storageError,
  storeSourceUrl,
} from '../../shared/storage/index.js';
import { unquoteEtag } from '../../shared/util.js';

/** Result of starting an import. */
export interface StartOutcome {
  instanceId: string;
  /** False when the instance already existed (a duplicate delivery): nothing was started. */
  started: boolean;
}

/**
 * Starts `importPackage` under `instanceId` unless an instance with that id exists (in any state):
 * duplicate deliveries of one file version are no-ops. The import's place in its environment's
 * queue is taken here, so imports run in the order the triggers received them; a started import
 * is listed in the job index at once (Pending, Preparing).
 */
export async function startImport(
  client: DurableClient,
  instanceId: string,
  input: ImportInput,
  options: {
    /** Runs once it is known that the instance does not exist yet, before it is started. */
    beforeStart?: () => Promise<void>;
  } = {},
): Promise<StartOutcome> {
  if (await findStatus(client, instanceId)) return { instanceId, started: false };
  await options.beforeStart?.();
  // a url import takes its place in the queue once its content is staged (the orchestration
  // does it after the prepare stage), so a slow or failing url never holds the files behind it
  if (input.source.kind === 'url') {
    const started = await startOnce(client, ORCHESTRATORS.importPackage, instanceId, input, {
      checkFirst: false,
    });
    return { instanceId, started: started === 'started' };
  }
  // take the place in the environment's queue now, in delivery order (the orchestration does it
  // again, idempotently, in case this signal is lost)
  const place = enqueueSignal(input.environment, instanceId, input.requestedAt);
  await client.signalEntity(place.entity, 'enqueue', place.input);
  // a concurrent delivery may start it between our check and our start: then it exists
  const started = await startOnce(client, ORCHESTRATORS.importPackage, instanceId, input, {
    checkFirst: false,
  });
  if (started === 'started') {
    const { jobIndex, logger } = getRuntime();
    await recordJob(
      jobIndex,
      logger,
      'import',
      {
        instanceId,
        runtimeStatus: 'Pending',
        input,
        customStatus: { stage: 'Preparing', executionId: executionIdFor(instanceId), polls: 0 },
        createdTime: input.requestedAt,
        lastUpdatedTime: new Date(),
      },
      { insertOnly: true },
    );
  }
  return { instanceId, started: started === 'started' };
}

/** Builds the orchestration input and instance id of a blob in the inbound container. */
export function inboundBlobImport(
  config: AppConfig,
  blob: { container: string; path: string; etag: string },
  options: { trigger: ImportInput['trigger']; now: Date; correlationId?: string },
): { instanceId: string; input: ImportInput } {
  const resolved = resolveInboundPath(config, blob.path);
  return {
    instanceId: blobImportInstanceId(`${blob.container}/${blob.path}`, blob.etag),
    input: {
      source: { kind: 'blob', container: blob.container, path: blob.path, etag: blob.etag },
      logicalPath: blob.path,
      fileName: resolved.fileName,
      environment: resolved.environment.name,
      project: resolved.project.name,
      definitionGroupId: resolved.project.definitionGroupId,
      legalEntity: resolved.legalEntity,
      execute: resolved.project.execute,
      overwrite: resolved.project.overwrite,
      trigger: options.trigger,
      ...(options.correlationId ? { correlationId: options.correlationId } : {}),
      requestedAt: options.now.toISOString(),
    },
  };
}

const httpsUrl = z
  .string()
  .url()
  .refine((v) => v.startsWith('https://'), 'must be an https:// url');

/** A reference to the file to import (commands and the JSON form of `POST /api/imports`). */
export const SourceReferenceSchema = z
  .strictObject({
    /** `{container}/{blob path}` in the app's storage account. */
    blobPath: z
      .string()
      .regex(
        /^[a-z0-9](?:[a-z0-9-]{1,61})[a-z0-9]\/.+$/,
        'must be "{container}/{path}" in the app\'s storage account',
      )
      .optional(),
    /** An https url of a package (e.g. a SAS url); fetched with a plain GET. */
    url: httpsUrl.optional(),
    execute: z.boolean().optional(),
    overwrite: z.boolean().optional(),
    correlationId: z.string().min(1).max(200).optional(),
  })
  .refine((v) => (v.blobPath === undefined) !== (v.url === undefined), {
    message: 'give exactly one of "blobPath" or "url"',
    path: ['blobPath'],
  });

/** The Service Bus `import` command. */
export const ImportCommandSchema = z
  .strictObject({
    type: z.literal('import'),
    environment: z.string().regex(NAME_PATTERN, 'must be an environment name'),
    /** The data project: its `name` or its `definitionGroupId`. */
    definitionGroupId: z.string().min(1).max(200),
    legalEntityId: legalEntitySchema.optional(),
    blobPath: z.string().optional(),
    url: z.string().optional(),
    execute: z.boolean().optional(),
    overwrite: z.boolean().optional(),
    correlationId: z.string().min(1).max(200).optional(),
  })
  .superRefine((v, ctx) => {
    const { type: _type, environment: _e, definitionGroupId: _d, legalEntityId: _l, ...reference } = v;
    const parsed = SourceReferenceSchema.safeParse(reference);
    if (!parsed.success) for (const issue of parsed.error.issues) ctx.addIssue({ ...issue, code: 'custom' });
  });
/** See {@link ImportCommandSchema}. */
export type ImportCommand = z.infer<typeof ImportCommandSchema>;

/**
 * The configured environment and import data project a request names (the project by `name` or
 * `definitionGroupId`); throws `InputError` (`UNKNOWN_ENVIRONMENT`, `UNKNOWN_PROJECT`) otherwise.
 */
export function importProjectOf(
  config: Pick<AppConfig, 'environments' | 'dataProjects'>,
  environment: string,
  project: string,
): { environment: AppConfig['environments'][number]; project: AppConfig['dataProjects'][number] } {
  const env = config.environments.find((e) => e.name === environment);
  if (!env) {
    throw new InputError(`Environment "${printable(environment)}" is not configured.`, {
      code: 'UNKNOWN_ENVIRONMENT',
    });
  }
  const found = findDataProject(config, env.name, 'import', project);
  if (!found) {
    throw new InputError(
      `"${printable(project)}" is not an import data project of environment "${env.name}" (neither the name nor the definitionGroupId of one).`,
      { code: 'UNKNOWN_PROJECT' },
    );
  }
  return { environment: env, project: found };
}

/** A resolved source reference: an import to start, or the job that already imported the file. */
export type ReferencedImport =
  | {
      kind: 'planned';
      instanceId: string;
      input: ImportInput;
      /** To run once the instance is known not to exist, before it starts (see {@link startImport}). */
      beforeStart?: () => Promise<void>;
    }
  /** The blob is gone because a job imported (and archived) it: a late duplicate of its request. */
  | { kind: 'finished'; instanceId: string; status: string };

/** Code of a `blobPath` that names a container imports may not take files from. */
export const SOURCE_CONTAINER_ERROR = 'SOURCE_CONTAINER_NOT_ALLOWED';

/**
 * The newest finished import whose source was `source` (`container/path`), from the result JSONs
 * under the candidate logical paths (results outlive the durable history). Undefined when none.
 */
export async function finishedImportOf(
  runtime: Pick<Runtime, 'containers'>,
  source: string,
  logicalPaths: readonly string[],
): Promise<{ instanceId: string; status: string } | undefined> {
  const results = runtime.containers.results;
  const candidates: { name: string; at: number }[] = [];
  try {
    for (const logical of new Set(logicalPaths)) {
      const prefix = `${logical}/`;
      for await (const item of results.listBlobsFlat({ prefix })) {
        const rest = item.name.slice(prefix.length).split('/');
        if (rest.length === 2 && rest[1] === 'result.json') {
          candidates.push({ name: item.name, at: item.properties.lastModified.getTime() });
        }
      }
    }
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw storageError(`listing ${results.containerName}`, error);
  }
  candidates.sort((a, b) => b.at - a.at);
  for (const candidate of candidates.slice(0, 20)) {
    let result: { id?: unknown; status?: unknown; source?: unknown };
    try {
      result = JSON.parse(
        (await results.getBlobClient(candidate.name).downloadToBuffer()).toString('utf8'),
      ) as {
        id?: unknown;
      };
    } catch (error) {
      if (isNotFound(error) || error instanceof SyntaxError) continue;
      throw storageError(`reading ${results.containerName}/${candidate.name}`, error);
    }
    if (result.source === source && typeof result.id === 'string') {
      return { instanceId: result.id, status: typeof result.status === 'string' ? result.status : 'unknown' };
    }
  }
  return undefined;
}

/** The file name of a url: its last path segment, decoded and checked; `package.zip` when empty. */
function urlFileName(url: URL): string {
  const last = url.pathname.slice(url.pathname.lastIndexOf('/') + 1);
  let name: string;
  try {
    name = decodeURIComponent(last);
  } catch {
    throw new InputError(`The url's file name "${printable(last)}" is not valid percent-encoding.`, {
      code: FILE_NAME_ERROR,
    });
  }
  return checkFileName(name || 'package.zip');
}

/**
 * Resolves a command's or request's source reference into an orchestration input. Checks what the
 * caller sent: environment and project (configured), legal entity (an F&O company id), the blob's
 * container (one of `DMF_SOURCE_CONTAINERS`), its path and file name; an https url's file name.
 * A url's query (a SAS) never enters the input: it is written to a staging blob by `beforeStart`.
 */
export async function referencedImport(
  runtime: Runtime,
  request: {
    environment: string;
    project: string;
    legalEntity?: string;
    blobPath?: string;
    url?: string;
    execute?: boolean;
    overwrite?: boolean;
    correlationId?: string;
    /** Distinguishes two requests for the same url (e.g. the Service Bus MessageId). */
    requestId: string;
  },
  options: { trigger: ImportInput['trigger']; now: Date },
): Promise<ReferencedImport> {
  const { config, blobService } = runtime;
  const { environment, project } = importProjectOf(config, request.environment, request.project);
  if (request.legalEntity !== undefined) checkLegalEntity(request.legalEntity);
  const legalEntity = request.legalEntity ?? project.legalEntity;
  const logicalPathOf = (fileName: string): string =>
    inboundPath({
      environment: environment.name,
      project: project.name,
      ...(request.legalEntity ? { legalEntity } : {}),
      fileName,
    });
  let source: ImportSource;
  let instanceId: string;
  let fileName: string;
  let beforeStart: (() => Promise<void>) | undefined;
  if (request.blobPath !== undefined) {
    const slash = request.blobPath.indexOf('/');
    const container = request.blobPath.slice(0, slash);
    const path = request.blobPath.slice(slash + 1);
    const allowed = config.storage.sourceContainers;
    if (!allowed.includes(container)) {
      throw new InputError(
        `Container "${printable(container)}" is not a source of imports: name a blob in ${allowed.map((c) => `"${c}"`).join(', ')} (app setting DMF_SOURCE_CONTAINERS). Nothing was moved.`,
        { code: SOURCE_CONTAINER_ERROR },
      );
    }
    blobPath(path);
    fileName = checkFileName(path.slice(path.lastIndexOf('/') + 1));
    let etag: string | undefined;
    try {
      etag = unquoteEtag(
        (await blobService.getContainerClient(container).getBlobClient(path).getProperties()).etag,
      );
    } catch (error) {
      if (!isNotFound(error)) throw storageError(`reading ${request.blobPath}`, error);
      // a late duplicate of a request whose job archived the file is no error: find that job
      const done = await finishedImportOf(runtime, request.blobPath, [
        ...(container === config.storage.containers.inbound ? [path] : []),
        logicalPathOf(fileName),
      ]);
      if (done) return { kind: 'finished', ...done };
      throw new InputError(`Blob ${printable(request.blobPath)} does not exist.`, {
        code: 'SOURCE_NOT_FOUND',
      });
    }
    source = { kind: 'blob', container, path, ...(etag ? { etag } : {}) };
    instanceId = blobImportInstanceId(request.blobPath, etag ?? request.requestId);
  } else if (request.url !== undefined) {
    const url = new URL(request.url);
    fileName = urlFileName(url);
    instanceId = urlImportInstanceId(url, request.requestId);
    const ref = sourceUrlBlobPath(instanceId);
    const full = request.url;
    source = { kind: 'url', url: displayUrl(url), ref };
    beforeStart = () => storeSourceUrl(runtime.containers.archive, ref, full);
  } else {
    throw new InputError('Give exactly one of "blobPath" or "url".');
  }
  return {
    kind: 'planned',
    instanceId,
    input: {
      source,
      logicalPath: logicalPathOf(fileName),
      fileName,
      environment: environment.name,
      project: project.name,
      definitionGroupId: project.definitionGroupId,
      legalEntity,
      execute: request.execute ?? project.execute,
      overwrite: request.overwrite ?? project.overwrite,
      trigger: options.trigger,
      ...(request.correlationId ? { correlationId: request.correlationId } : {}),
      requestedAt: options.now.toISOString(),
    },
    ...(beforeStart ? { beforeStart } : {}),
  };
}
