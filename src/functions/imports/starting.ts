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
import { NAME_PATTERN, type AppConfig } from '../../shared/config/index.js';
import { InputError } from '../../shared/errors.js';
import {
  executionIdFor,
  importInstanceId,
  type ImportInput,
  type ImportSource,
} from '../../shared/jobs/index.js';
import {
  findDataProject,
  inboundPath,
  isNotFound,
  recordJob,
  resolveInboundPath,
  storageError,
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
): Promise<StartOutcome> {
  if (await findStatus(client, instanceId)) return { instanceId, started: false };
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
    instanceId: importInstanceId({ source: `${blob.container}/${blob.path}`, version: blob.etag }),
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
    legalEntityId: z.string().min(1).max(20).optional(),
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

/** Resolves a command's or request's source reference into an orchestration input. */
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
): Promise<{ instanceId: string; input: ImportInput }> {
  const { config, blobService } = runtime;
  const environment = config.environments.find((e) => e.name === request.environment);
  if (!environment)
    throw new InputError(`Environment "${request.environment}" is not configured.`, {
      code: 'UNKNOWN_ENVIRONMENT',
    });
  const project = findDataProject(config, environment.name, 'import', request.project);
  if (!project) {
    throw new InputError(
      `"${request.project}" is neither the name nor the definitionGroupId of an import data project of environment "${environment.name}".`,
      { code: 'UNKNOWN_PROJECT' },
    );
  }
  let source: ImportSource;
  let instanceId: string;
  let fileName: string;
  if (request.blobPath !== undefined) {
    const slash = request.blobPath.indexOf('/');
    const container = request.blobPath.slice(0, slash);
    const path = request.blobPath.slice(slash + 1);
    let etag: string | undefined;
    try {
      etag = unquoteEtag(
        (await blobService.getContainerClient(container).getBlobClient(path).getProperties()).etag,
      );
    } catch (error) {
      if (isNotFound(error)) {
        throw new InputError(`Blob ${request.blobPath} does not exist.`, { code: 'SOURCE_NOT_FOUND' });
      }
      throw storageError(`reading ${request.blobPath}`, error);
    }
    source = { kind: 'blob', container, path, ...(etag ? { etag } : {}) };
    instanceId = importInstanceId({ source: request.blobPath, version: etag ?? request.requestId });
    fileName = path.slice(path.lastIndexOf('/') + 1);
  } else if (request.url !== undefined) {
    const url = new URL(request.url);
    source = { kind: 'url', url: request.url };
    instanceId = importInstanceId({ source: `${url.origin}${url.pathname}`, version: request.requestId });
    fileName = decodeURIComponent(url.pathname.slice(url.pathname.lastIndexOf('/') + 1)) || 'package.zip';
  } else {
    throw new InputError('Give exactly one of "blobPath" or "url".');
  }
  const legalEntity = request.legalEntity ?? project.legalEntity;
  return {
    instanceId,
    input: {
      source,
      logicalPath: inboundPath({
        environment: environment.name,
        project: project.name,
        ...(request.legalEntity ? { legalEntity } : {}),
        fileName,
      }),
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
  };
}
