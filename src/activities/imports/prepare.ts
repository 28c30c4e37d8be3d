/**
 * Prepare stage: stage a url source, decide whether the file is a package, wrap a raw file with the
 * data project's template, validate the package. Invalid input becomes a `{ ok: false }` result
 * with readable reasons (no retry); storage trouble is thrown (the orchestrator retries).
 */
import type { Readable } from 'node:stream';
import { z } from 'zod';
import { defineActivity } from '../../shared/app/activity.js';
import type { Runtime } from '../../shared/app/runtime.js';
import { getDataProject, getEnvironment, type PollingConfig } from '../../shared/config/index.js';
import { downloadSasStream } from '../../shared/dmf/index.js';
import { DmfFunctionsError, PackageError } from '../../shared/errors.js';
import {
  executionIdFor,
  ImportInputSchema,
  type BlobRef,
  type ImportInput,
  type JobError,
} from '../../shared/jobs/index.js';
import type { Logger } from '../../shared/log/index.js';
import {
  blobSource,
  buildBatchPackageFromTemplate,
  buildPackageFromTemplate,
  detectFileKind,
  matchEntityFiles,
  validatePackage,
  type BlobRangeClient,
  type PackageValidationReport,
  type RandomAccessSource,
} from '../../shared/packages/index.js';
import {
  blobExists,
  isNotFound,
  printable,
  readSourceUrl,
  recordJob,
  stagingBlobPath,
  storageError,
  uploadStreamTo,
} from '../../shared/storage/index.js';

/** Result of the prepare activity. */
export type PrepareResult =
  | {
      ok: true;
      /** The package to upload (the source itself, or a package built from the template). */
      packageBlob: BlobRef;
      /** The source as it now is in our storage (a url source is staged first); absent for a batch. */
      sourceBlob?: BlobRef;
      /** A batch's files (and its trigger file): archived together when the job ends. */
      sourceBlobs?: BlobRef[];
      /** Blobs created for this job that are deleted when it finishes. */
      stagingBlobs: BlobRef[];
      /** Entity labels of the package (error files are fetched per entity). */
      entities: string[];
      /** `overwrite` to send (false when the package holds a composite entity). */
      overwrite: boolean;
      warnings: string[];
      polling: PollingConfig;
      concurrency: number;
      /**
       * Uncompressed bytes of the package's data files (the manifest and header left out): what F&O
       * will process, so the polls are planned from earlier runs scaled to it. Absent in results
       * recorded before it existed.
       */
      dataBytes?: number;
    }
  | {
      ok: false;
      errors: JobError[];
      sourceBlob?: BlobRef;
      sourceBlobs?: BlobRef[];
      stagingBlobs: BlobRef[];
    };

function invalid(code: string, message: string, staging: BlobRef[], sourceBlob?: BlobRef): PrepareResult {
  return {
    ok: false,
    errors: [{ code, message }],
    stagingBlobs: staging,
    ...(sourceBlob ? { sourceBlob } : {}),
  };
}

/**
 * What the upload takes from a staged package: its entities (error files are fetched per entity)
 * and the `overwrite` to send — false when the package holds a composite entity.
 */
function uploadFacts(
  report: PackageValidationReport,
  overwrite: boolean,
  hasComposite: boolean,
): { entities: string[]; overwrite: boolean } {
  return { entities: report.entities.map((e) => e.entityName), overwrite: hasComposite ? false : overwrite };
}

/** The blob as a package source; undefined when it does not exist. */
async function existingSource(blob: BlobRangeClient, what: string): Promise<RandomAccessSource | undefined> {
  try {
    return await blobSource(blob);
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw storageError(`reading ${what}`, error);
  }
}

function reportErrors(report: PackageValidationReport): JobError[] {
  return report.errors.map((e) => ({
    code: e.code,
    // names from the zip are shown escaped: an invisible or bidi character must not spoof a page
    message: e.file ? `${printable(e.file)}: ${e.message}` : e.message,
  }));
}

/** The data project's template as a package source, or why there is none (not in storage). */
async function templateOf(
  containers: Runtime['containers'],
  project: { name: string; template: string },
): Promise<RandomAccessSource | JobError> {
  const source = await existingSource(
    containers.templates.getBlobClient(project.template),
    `template ${project.template}`,
  );
  return (
    source ?? {
      code: 'TEMPLATE_NOT_FOUND',
      message: `Template "${project.template}" of data project "${project.name}" is not in container ${containers.templates.containerName}.`,
    }
  );
}

/**
 * Stores a package built from a template as the job's staging `package.zip` and validates it (every
 * entry inflated); `what` names it in the error of an invalid one.
 */
async function stageBuiltPackage(
  containers: Runtime['containers'],
  instanceId: string,
  stream: Readable,
  what: string,
): Promise<{ packageBlob: BlobRef; report: PackageValidationReport; errors: JobError[] }> {
  const path = stagingBlobPath(instanceId, 'package.zip');
  await uploadStreamTo(containers.archive, path, stream, { contentType: 'application/zip' });
  const report = await validatePackage(await blobSource(containers.archive.getBlobClient(path)), {
    verifyData: true,
  });
  return {
    packageBlob: { container: containers.archive.containerName, path },
    report,
    errors: report.ok
      ? []
      : [
          { code: 'TEMPLATE_PACKAGE_INVALID', message: `The package built from ${what} is invalid.` },
          ...reportErrors(report),
        ],
  };
}

/**
 * The prepare stage of a batch: one package from the batch's files and the data project's
 * (multi-entity) template, each file filling the entity it was matched to, the template's
 * execution units, levels and sequences kept; then validated like any package.
 */
async function prepareBatch(
  runtime: Runtime,
  input: ImportInput,
  source: Extract<ImportInput['source'], { kind: 'batch' }>,
  instanceId: string,
  logger: Logger,
): Promise<PrepareResult> {
  const { blobService, containers } = runtime;
  const project = getDataProject(runtime.config, input.project);
  const environment = getEnvironment(runtime.config, input.environment);
  const files = source.files ?? [];
  const sourceBlobs = files.map((f) => ({ container: source.container, path: f.path }));
  const fail = (code: string, message: string, staging: BlobRef[] = []): PrepareResult => ({
    ok: false,
    errors: [{ code, message }],
    sourceBlobs,
    stagingBlobs: staging,
  });
  const data = files.filter((f) => f.entity !== undefined);
  if (data.length === 0) return fail('BATCH_EMPTY', `Batch ${source.batchId} holds no file to import.`);
  if (!project.template) {
    return fail(
      'TEMPLATE_NOT_FOUND',
      `Data project "${project.name}" has no template to build the batch with.`,
    );
  }
  const templateSource = await templateOf(containers, { name: project.name, template: project.template });
  if ('code' in templateSource) return fail(templateSource.code, templateSource.message);
  const container = blobService.getContainerClient(source.container);
  for (const file of data) {
    const found = await existingSource(
      container.getBlobClient(file.path),
      `${source.container}/${file.path}`,
    );
    if (!found) {
      return fail(
        'SOURCE_NOT_FOUND',
        `The file ${source.container}/${file.path} of batch ${source.batchId} does not exist (deleted or moved before the import started).`,
      );
    }
    if (found.size === 0)
      return fail('SOURCE_EMPTY', `The file ${file.name} of batch ${source.batchId} is empty.`);
  }
  let built;
  try {
    built = await buildBatchPackageFromTemplate(
      templateSource,
      data.map((f) => ({
        entityName: f.entity!,
        data: {
          fileName: f.name,
          content: async () =>
            (await container.getBlobClient(f.path).download()).readableStreamBody as Readable,
        },
      })),
      { optionalEntities: (project.entities ?? []).filter((e) => e.optional).map((e) => e.entity) },
    );
  } catch (error) {
    if (error instanceof PackageError) {
      return fail(
        error.code,
        `Template "${project.template}" cannot take batch ${source.batchId}: ${error.message}`,
      );
    }
    throw error;
  }
  const { packageBlob, report, errors } = await stageBuiltPackage(
    containers,
    instanceId,
    built.stream,
    `template "${project.template}" for batch ${source.batchId}`,
  );
  const staging = [packageBlob];
  if (errors.length > 0) return { ok: false, errors, sourceBlobs, stagingBlobs: staging };
  logger.info(
    `Built batch ${source.batchId} with template ${project.template}: ${built.entities
      .map((e) => `${e.entityName}${e.filled ? '' : ' (template file)'}`)
      .join(' → ')}`,
  );
  return {
    ok: true,
    packageBlob,
    sourceBlobs,
    stagingBlobs: staging,
    ...uploadFacts(report, input.overwrite, built.hasComposite),
    warnings: report.warnings.map((w) => `${w.code}: ${w.message}`),
    polling: project.polling,
    concurrency: environment.concurrency,
  };
}

/** Runs the prepare stage for one import. */
export async function prepareImport(
  runtime: Runtime,
  input: ImportInput,
  instanceId: string,
  logger: Logger,
): Promise<PrepareResult> {
  if (input.source.kind === 'batch') return prepareBatch(runtime, input, input.source, instanceId, logger);
  const { config, blobService, containers } = runtime;
  const staging: BlobRef[] = [];
  const project = getDataProject(config, input.project);
  const environment = getEnvironment(config, input.environment);

  let sourceBlob: BlobRef;
  if (input.source.kind === 'url') {
    // the url (a SAS: a secret) is read from its staging blob (durable state holds only its name),
    // and that blob is deleted as soon as the content is staged
    const ref = input.source.ref;
    const archive = containers.archive;
    const path = stagingBlobPath(instanceId, input.fileName);
    sourceBlob = { container: archive.containerName, path };
    if (ref !== undefined) staging.push({ container: archive.containerName, path: ref });
    const url = ref === undefined ? input.source.url : await readSourceUrl(archive, ref);
    if (url === undefined && !(await blobExists(archive, path))) {
      return invalid(
        'SOURCE_URL_GONE',
        'The package url is no longer known (its record was removed).',
        staging,
      );
    }
    if (url !== undefined) {
      let download;
      try {
        download = await downloadSasStream(url, { timeoutMs: 60_000 });
      } catch (error) {
        if (error instanceof DmfFunctionsError && !error.transient) {
          return invalid(
            'SOURCE_URL_UNREADABLE',
            `The package url could not be read: ${error.message}`,
            staging,
          );
        }
        throw error;
      }
      await uploadStreamTo(archive, path, download.stream, { contentType: download.contentType });
      if (ref !== undefined) {
        await archive.deleteBlob(ref).catch((error: unknown) => {
          if (!isNotFound(error)) throw storageError(`deleting ${archive.containerName}/${ref}`, error);
        });
      }
      logger.info(`Staged the package url as ${sourceBlob.container}/${path}`);
    }
    staging.push(sourceBlob);
  } else {
    sourceBlob = { container: input.source.container, path: input.source.path };
  }

  const sourceClient = blobService.getContainerClient(sourceBlob.container).getBlobClient(sourceBlob.path);
  const source = await existingSource(sourceClient, `${sourceBlob.container}/${sourceBlob.path}`);
  if (!source) {
    return invalid(
      'SOURCE_NOT_FOUND',
      `The file ${sourceBlob.container}/${sourceBlob.path} does not exist (deleted or moved before the import started).`,
      staging,
    );
  }
  if (source.size === 0)
    return invalid('SOURCE_EMPTY', `The file ${input.fileName} is empty.`, staging, sourceBlob);

  const kind = await detectFileKind(source);
  const looksLikeZip = /\.zip$/i.test(input.fileName);
  let packageBlob = sourceBlob;
  let report: PackageValidationReport;
  const warnings: string[] = [];
  if (kind === 'package' || (looksLikeZip && !project.template)) {
    // every entry inflated and counted: headers that lie about sizes are caught here, not by F&O
    report = await validatePackage(source, { verifyData: true });
    if (!report.ok) {
      return {
        ok: false,
        errors: [
          {
            code: report.errors[0]?.code ?? 'PACKAGE_INVALID',
            message: `${input.fileName} is not a valid data package.`,
          },
          ...reportErrors(report),
        ],
        sourceBlob,
        stagingBlobs: staging,
      };
    }
  } else {
    if (!project.template) {
      return invalid(
        'NOT_A_PACKAGE',
        `${input.fileName} is not a data package (a .zip with Manifest.xml at its root), and data project "${project.name}" has no template to wrap a raw file in.`,
        staging,
        sourceBlob,
      );
    }
    const templateSource = await templateOf(containers, { name: project.name, template: project.template });
    if ('code' in templateSource) {
      return invalid(templateSource.code, templateSource.message, staging, sourceBlob);
    }
    // a project naming its entities' files: the file's name says which entity it fills (the
    // template's other entities must be optional: several files belong together as a batch)
    let entityName: string | undefined;
    if (project.entities) {
      const match = matchEntityFiles(project.entities, [input.fileName], (n) => n);
      entityName = match.matched[0]?.entity;
      if (entityName === undefined) {
        return invalid(
          'ENTITY_NOT_MATCHED',
          `${input.fileName} ${match.ambiguous.length > 0 ? 'matches the file patterns of several entities' : "matches no entity's file pattern"} of data project "${project.name}" (${project.entities.map((e) => `${e.entity}: ${e.files}`).join('; ')}).`,
          staging,
          sourceBlob,
        );
      }
    }
    const content = (await sourceClient.download()).readableStreamBody as Readable;
    let built: { stream: Readable; entityName: string };
    try {
      const data = { content, fileName: input.fileName, size: source.size };
      if (project.entities && entityName !== undefined) {
        const batch = await buildBatchPackageFromTemplate(templateSource, [{ entityName, data }], {
          optionalEntities: project.entities.filter((e) => e.optional).map((e) => e.entity),
        });
        built = { stream: batch.stream, entityName };
      } else {
        built = await buildPackageFromTemplate(templateSource, data);
      }
    } catch (error) {
      content.destroy();
      if (error instanceof PackageError) {
        return invalid(
          error.code,
          `Template "${project.template}" cannot wrap ${input.fileName}: ${error.message}`,
          staging,
          sourceBlob,
        );
      }
      throw error;
    }
    const staged = await stageBuiltPackage(
      containers,
      instanceId,
      built.stream,
      `template "${project.template}"`,
    );
    packageBlob = staged.packageBlob;
    report = staged.report;
    staging.push(packageBlob);
    if (staged.errors.length > 0)
      return { ok: false, errors: staged.errors, sourceBlob, stagingBlobs: staging };
    logger.info(`Wrapped ${input.fileName} with template ${project.template} (entity ${built.entityName})`);
  }
  for (const w of report.warnings) warnings.push(`${w.code}: ${w.message}`);
  const hasComposite = report.entities.some((e) => e.isComposite);
  return {
    ok: true,
    packageBlob,
    sourceBlob,
    stagingBlobs: staging,
    ...uploadFacts(report, input.overwrite, hasComposite),
    warnings,
    polling: project.polling,
    concurrency: environment.concurrency,
    dataBytes: dataBytesOf(report),
  };
}

/** Uncompressed bytes of a validated package's data files (its manifest and header left out). */
export function dataBytesOf(report: PackageValidationReport): number {
  return report.files
    .filter((f) => !f.isDirectory && !/^(Manifest|PackageHeader)\.xml$/i.test(f.name))
    .reduce((sum, f) => sum + f.uncompressedSize, 0);
}

/**
 * The prepare stage as an activity: input and instance id in, {@link PrepareResult} out. A prepared
 * import is listed as waiting for its environment's slot (a refused one is listed by its finish).
 */
export const prepareActivity = defineActivity({
  name: 'importPrepare',
  input: z.object({ input: ImportInputSchema, instanceId: z.string() }),
  log: ({ instanceId }) => ({ instanceId }),
  handler: async ({ input, instanceId }, { runtime, logger }) => {
    const prepared = await prepareImport(runtime, input, instanceId, logger);
    if (prepared.ok) {
      await recordJob(runtime.jobIndex, logger, 'import', {
        instanceId,
        runtimeStatus: 'Running',
        input,
        customStatus: { stage: 'WaitingForSlot', executionId: executionIdFor(instanceId), polls: 0 },
        createdTime: input.requestedAt,
        lastUpdatedTime: new Date(),
      });
    }
    return prepared;
  },
});
