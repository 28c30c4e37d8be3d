/**
 * Before the slot and the upload: does the package keep its data project's definition? An import
 * with `overwrite: true` replaces the F&O data project's entities and field mapping with the
 * package's, so a package that would drop some of the project's template is refused here, with the
 * reasons (src/shared/packages/definition.ts). Storage trouble is thrown (the orchestrator retries).
 */
import { z } from 'zod';
import { defineActivity } from '../../shared/app/activity.js';
import type { Runtime } from '../../shared/app/runtime.js';
import { getDataProject } from '../../shared/config/index.js';
import { BlobRefSchema, type JobError } from '../../shared/jobs/index.js';
import type { Logger } from '../../shared/log/index.js';
import {
  blobSource,
  checkDefinition,
  MANIFEST_FILE_NAME,
  openPackage,
  parseManifest,
  type PackageManifest,
} from '../../shared/packages/index.js';
import { isNotFound, storageError } from '../../shared/storage/index.js';

/** Input of the definition check. */
export const CheckDefinitionInputSchema = z.object({
  instanceId: z.string(),
  /** The data project (configuration name). */
  project: z.string(),
  /** The package to upload (prepared). */
  packageBlob: BlobRefSchema,
  /** The `overwrite` the import sends: only an overwrite replaces the project's definition. */
  overwrite: z.boolean(),
});

/** Output of the definition check. */
export type CheckDefinitionResult = { ok: true } | { ok: false; errors: JobError[] };

/** The data project's template manifest; undefined when it has none or it is not in storage. */
async function templateManifest(
  runtime: Runtime,
  template: string | undefined,
  logger: Logger,
): Promise<PackageManifest | undefined> {
  if (!template) return undefined;
  let reader;
  try {
    reader = await openPackage(await blobSource(runtime.containers.templates.getBlobClient(template)));
  } catch (error) {
    if (!isNotFound(error)) throw storageError(`reading template ${template}`, error);
    logger.warn(`Template ${template} is not in storage: the package is checked without it`);
    return undefined;
  }
  try {
    return parseManifest(await reader.readEntry(MANIFEST_FILE_NAME));
  } finally {
    await reader.close();
  }
}

/** Checks the prepared package against its data project's definition (see the module comment). */
export async function checkPackageDefinition(
  runtime: Runtime,
  input: z.infer<typeof CheckDefinitionInputSchema>,
  logger: Logger,
): Promise<CheckDefinitionResult> {
  if (!input.overwrite) return { ok: true };
  const project = getDataProject(runtime.config, input.project);
  const template = await templateManifest(runtime, project.template, logger);
  const blob = runtime.blobService
    .getContainerClient(input.packageBlob.container)
    .getBlobClient(input.packageBlob.path);
  let reader;
  try {
    reader = await openPackage(await blobSource(blob));
  } catch (error) {
    throw storageError(`reading ${input.packageBlob.container}/${input.packageBlob.path}`, error);
  }
  try {
    const issues = await checkDefinition(reader, {
      definitionGroupId: project.definitionGroupId,
      ...(template ? { template, templateName: project.template } : {}),
    });
    if (issues.length === 0) return { ok: true };
    logger.info(`Package refused: it would change data project ${project.definitionGroupId}'s definition`);
    return {
      ok: false,
      errors: [
        {
          code: 'PACKAGE_CHANGES_DEFINITION',
          message: `The package would change data project '${project.definitionGroupId}' for every later import: F&O replaces a data project's entities and field mapping with the package's when it imports with overwrite. Fix the package (or the template "${project.template ?? '(none)'}" if the project's definition really changed); nothing was sent to F&O.`,
        },
        ...issues.map((i) => ({ code: i.code, message: i.file ? `${i.file}: ${i.message}` : i.message })),
      ],
    };
  } finally {
    await reader.close();
  }
}

/** {@link checkPackageDefinition} as an activity. */
export const checkDefinitionActivity = defineActivity({
  name: 'importCheckDefinition',
  input: CheckDefinitionInputSchema,
  log: ({ instanceId }) => ({ instanceId }),
  handler: (input, { runtime, logger }) => checkPackageDefinition(runtime, input, logger),
});
