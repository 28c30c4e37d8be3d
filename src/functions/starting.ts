/**
 * The use cases behind the triggers: turn a blob, a command or an HTTP request into one
 * `importPackage` instance (never two for one file version), or into a rejection record.
 */
import * as df from 'durable-functions';
import type { DurableClient } from 'durable-functions';
import { z } from 'zod';
import type { AppConfig } from '../shared/config/index.js';
import { NAME_PATTERN } from '../shared/config/index.js';
import { InputError } from '../shared/errors.js';
import { createCloudEvent, IMPORT_EVENT_TYPES, publishCloudEvent } from '../shared/events/index.js';
import { importInstanceId } from '../shared/jobs/index.js';
import {
  findImportProject,
  inboundPath,
  isNotFound,
  rejectionBlobPath,
  resolveInboundPath,
  storageError,
  writeJsonBlob,
} from '../shared/storage/index.js';
import { findStatus } from '../activities/durableClient.js';
import { IMPORT_ENTITIES, IMPORT_ORCHESTRATOR } from '../activities/names.js';
import type { Runtime } from '../activities/runtime.js';
import type { ImportInput, ImportSource } from '../orchestrators/input.js';

/** Largest command accepted (the Service Bus standard tier limit). */
export const MAX_COMMAND_BYTES = 256 * 1024;

/** Result of starting an import. */
export interface StartOutcome {
  instanceId: string;
  /** False when the instance already existed (a duplicate delivery): nothing was started. */
  started: boolean;
}

/**
 * Starts `importPackage` under `instanceId` unless an instance with that id exists (in any state):
 * duplicate deliveries of one file version are no-ops. The import's place in its environment's
 * queue is taken here, so imports run in the order the triggers received them.
 */
export async function startImport(
  client: DurableClient,
  instanceId: string,
  input: ImportInput,
): Promise<StartOutcome> {
  if (await findStatus(client, instanceId)) return { instanceId, started: false };
  // take the place in the environment's queue now, in delivery order (the orchestration does it
  // again, idempotently, in case this signal is lost)
  await client.signalEntity(new df.EntityId(IMPORT_ENTITIES.slot, input.environment), 'enqueue', {
    instanceId,
    now: input.requestedAt,
    since: input.requestedAt,
  });
  try {
    await client.startNew(IMPORT_ORCHESTRATOR, { instanceId, input });
    return { instanceId, started: true };
  } catch (error) {
    // started by a concurrent delivery between our check and our start
    if (error instanceof Error && /\b409\b/.test(error.message)) return { instanceId, started: false };
    throw error;
  }
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

/** Readable list of zod issues: `path: message; …`. */
export function describeIssues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`).join('; ');
}

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
  const project = findImportProject(config, environment.name, request.project);
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
      etag = (
        await blobService.getContainerClient(container).getBlobClient(path).getProperties()
      ).etag?.replace(/"/g, '');
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

/** A refused input, as recorded in the results container and published as `…import.rejected`. */
export interface Rejection {
  /** Id of the rejection (the MessageId, or a hash of the blob path and version). */
  id: string;
  trigger: ImportInput['trigger'];
  /** What was refused: the blob path, or `commands/{messageId}`. */
  subject: string;
  /** Why, in a sentence a person can act on. */
  reason: string;
  code: string;
  rejectedAt: string;
  /** Extra facts (message size, delivery count, …). */
  details?: Record<string, unknown>;
}

/**
 * Records a refused input: a JSON file at `rejected/{subject}/{id}.json` in the results container
 * and an `…import.rejected` CloudEvent (MessageId = the rejection id). The source is left alone.
 * @returns where the JSON was written (`container/path`).
 */
export async function recordRejection(runtime: Runtime, rejection: Rejection): Promise<string> {
  const { containers, config } = runtime;
  const path = rejectionBlobPath(rejection.subject, rejection.id);
  await writeJsonBlob(containers.results, path, rejection);
  await publishCloudEvent(
    config.serviceBus.connection,
    config.serviceBus.eventsTopic,
    createCloudEvent({
      id: rejection.id,
      type: IMPORT_EVENT_TYPES.rejected,
      subject: rejection.subject,
      time: rejection.rejectedAt,
      data: { ...rejection, rejectionBlob: `${containers.results.containerName}/${path}` },
    }),
  );
  return `${containers.results.containerName}/${path}`;
}

/** The text of a message body as the host delivers it (bytes, string or parsed JSON). */
export function bodyText(message: unknown): string {
  if (Buffer.isBuffer(message)) return message.toString('utf8');
  if (message instanceof Uint8Array) return Buffer.from(message).toString('utf8');
  if (typeof message === 'string') return message;
  return JSON.stringify(message) ?? '';
}

/** Outcome of {@link parseCommand}. */
export type ParsedCommand =
  | { ok: true; kind: 'import'; command: ImportCommand }
  /** An `export` command: validated by the export handler the trigger dispatches to. */
  | { ok: true; kind: 'export'; json: unknown }
  | { ok: false; code: string; reason: string; details?: Record<string, unknown> };

/**
 * Checks a message body: at most {@link MAX_COMMAND_BYTES}, JSON, a valid `import` command (an
 * `export` command is passed through for the export handler).
 * Every refusal carries a sentence a person can act on.
 */
export function parseCommand(message: unknown): ParsedCommand {
  const text = bodyText(message);
  const bytes = Buffer.byteLength(text);
  if (bytes > MAX_COMMAND_BYTES) {
    return {
      ok: false,
      code: 'COMMAND_TOO_LARGE',
      reason: `The command is ${bytes} bytes; commands are limited to ${MAX_COMMAND_BYTES} bytes. Put the package in blob storage and send its "blobPath" or "url".`,
      details: { bytes },
    };
  }
  let json: unknown = message;
  if (typeof message === 'string' || Buffer.isBuffer(message) || message instanceof Uint8Array) {
    try {
      json = JSON.parse(text);
    } catch (error) {
      return {
        ok: false,
        code: 'COMMAND_NOT_JSON',
        reason: `The command is not JSON: ${(error as Error).message}`,
      };
    }
  }
  if (json !== null && typeof json === 'object' && (json as { type?: unknown }).type === 'export') {
    return { ok: true, kind: 'export', json };
  }
  const parsed = ImportCommandSchema.safeParse(json);
  if (!parsed.success) {
    return {
      ok: false,
      code: 'COMMAND_INVALID',
      reason: `The command is invalid: ${describeIssues(parsed.error)}`,
    };
  }
  return { ok: true, kind: 'import', command: parsed.data };
}
