/**
 * The blob layout of the app (pure functions):
 *
 * - inbound:  `{environment}/{project}/[{legalEntity}/]{file}` — `project` is a data project's
 *   `name` or its `definitionGroupId`; batches `{environment}/{project}/{batch path}` (default
 *   `{batchId}/{file}`) and `{environment}/_chains/{chain}/{batchId}/{file}`.
 * - results:  `{logical path}/{jobId}/result.json`, error files next to it under `errors/`; the
 *   logical path is the inbound path of an import, `exports/{environment}/{project}` of an export,
 *   `recurring/{recurring-inbound path}` of a recurring import.
 * - rejected: `rejected/{inbound path or messageId}/{id}.json` (results container) for inputs
 *   refused before any job was started.
 * - archive:  `succeeded/{logical path's folder}/{jobId}/{file}` or `failed/…` (a batch's files:
 *   `succeeded/{batch folder}/{jobId}/{file}`); staging copies
 *   (downloaded urls, packages built from templates) under `staging/{jobId}/`.
 * - outbound: exported packages `{environment}/{project}/[{legalEntity}/]{yyyy}/{MM}/{dd}/{package}-{jobId}.zip`
 *   (the legal-entity folder for the exports of a multi-company run)
 *   (unpacked beside it), recurring export files `{environment}/recurring/{activityId}/{correlationId}`.
 * - results, recurring: `recurring/{environment}/{activityId}/file-missing/{correlationId}.json`
 *   and the enqueue markers `recurring/{environment}/{activityId}/enqueued/{jobId}.json`.
 */
import { InputError } from '../errors.js';
import type {
  AppConfig,
  BatchConfig,
  ChainConfig,
  DataProjectConfig,
  EntityFilesConfig,
  EnvironmentConfig,
} from '../config/index.js';
import {
  fileNameProblem,
  legalEntityProblem,
  MAX_BLOB_NAME_CHARS,
  MAX_PATH_SEGMENTS,
  printable,
  safeFileName,
  segmentProblem,
} from './segments.js';

/** A file in the inbound container, resolved against the configuration. */
export interface ResolvedInboundPath {
  environment: EnvironmentConfig;
  project: DataProjectConfig;
  /** The legal entity: the path's, else the project's. */
  legalEntity: string;
  /** The file name (last segment). */
  fileName: string;
  /** The inbound path as given. */
  path: string;
}

/** Code of the errors {@link resolveInboundPath} throws. */
export const INBOUND_PATH_ERROR = 'INBOUND_PATH_INVALID';
/** Code of the errors {@link blobPath} throws. */
export const BLOB_PATH_ERROR = 'BLOB_PATH_INVALID';
/** Code of a refused legal entity (HTTP `legalEntity`, command `legalEntityId`, path segment). */
export const LEGAL_ENTITY_ERROR = 'LEGAL_ENTITY_INVALID';
/** Code of a refused file name (HTTP `fileName`, url, dropped blob). */
export const FILE_NAME_ERROR = 'FILE_NAME_INVALID';

/**
 * THE function that forms every blob path of the app (inbound, results, archive, rejected,
 * staging, outbound, markers): joins `pieces` with `/` and checks every segment
 * ({@link segmentProblem}: no empty, `.` or `..` segment — URL parsers resolve those, so
 * `a/../../dmf-results/x` would address another container —, no backslash, control or bidi
 * character, at most 255 UTF-8 bytes) and the whole (at most 1,024 characters and 254 segments).
 * Throws `InputError` ({@link BLOB_PATH_ERROR}) naming the segment and the reason.
 */
export function blobPath(...pieces: string[]): string {
  const path = pieces.join('/');
  const segments = path.split('/');
  const fail = (why: string): never => {
    throw new InputError(`The blob path "${printable(path)}" cannot be used: ${why}.`, {
      code: BLOB_PATH_ERROR,
    });
  };
  segments.forEach((segment, i) => {
    const problem = segmentProblem(segment);
    if (problem) fail(`its segment ${i + 1} ${problem}`);
  });
  if (segments.length > MAX_PATH_SEGMENTS) {
    fail(`it has ${segments.length} segments, at most ${MAX_PATH_SEGMENTS}`);
  }
  if (path.length > MAX_BLOB_NAME_CHARS) {
    fail(`it is ${path.length} characters long, at most ${MAX_BLOB_NAME_CHARS}`);
  }
  return path;
}

/** Throws `InputError` ({@link LEGAL_ENTITY_ERROR}) unless `value` is an F&O company id. */
export function checkLegalEntity(value: string): string {
  const problem = legalEntityProblem(value);
  if (problem) throw new InputError(`${problem}.`, { code: LEGAL_ENTITY_ERROR });
  return value;
}

/** Throws `InputError` ({@link FILE_NAME_ERROR}) unless `value` is an acceptable file name. */
export function checkFileName(value: string): string {
  const problem = fileNameProblem(value);
  if (problem) {
    throw new InputError(`${problem.charAt(0).toUpperCase()}${problem.slice(1)}.`, { code: FILE_NAME_ERROR });
  }
  return value;
}

/**
 * Finds the data project a path segment or request names: its `name`, else its
 * `definitionGroupId` (case-insensitive; the first project declared with that group).
 */
export function findDataProject(
  config: Pick<AppConfig, 'dataProjects'>,
  environment: string,
  direction: DataProjectConfig['direction'],
  segment: string,
): DataProjectConfig | undefined {
  const candidates = config.dataProjects.filter(
    (p) => p.environment === environment && p.direction === direction,
  );
  const byName = candidates.find((p) => p.name === segment);
  if (byName) return byName;
  // several projects may share a definition group (e.g. one with a template for raw files): the
  // first one declared answers to the group's name, the others to their own names
  return candidates.find((p) => p.definitionGroupId.toLowerCase() === segment.toLowerCase());
}

/**
 * Resolves `{environment}/{project}/[{legalEntity}/]{file}` against the configuration. Throws
 * `InputError` (code {@link INBOUND_PATH_ERROR}) with a sentence a person can act on when the path
 * is outside the convention, breaks a naming rule or names an unknown environment or project.
 */
export function resolveInboundPath(
  config: Pick<AppConfig, 'environments' | 'dataProjects'>,
  path: string,
): ResolvedInboundPath {
  const segments = path.split('/');
  const fail = (why: string): never => {
    throw new InputError(
      `"${printable(path)}" ${why}. Drop files as {environment}/{definitionGroupId or data project}/[{legalEntity}/]{file}.`,
      { code: INBOUND_PATH_ERROR },
    );
  };
  // one reason per rule (a name that is too long is not "a path of 3 segments")
  const fileName = segments[segments.length - 1] as string;
  const nameProblem = fileNameProblem(fileName);
  if (nameProblem) fail(`cannot be imported: ${nameProblem}`);
  if (segments.length < 3 || segments.length > 4) {
    fail(`has ${segments.length} path segment${segments.length === 1 ? '' : 's'}, expected 3 or 4`);
  }
  segments.slice(0, -1).forEach((segment, i) => {
    const problem = segmentProblem(segment);
    if (problem) fail(`cannot be imported: its segment ${i + 1} ${problem}`);
  });
  if (segments.length === 4) {
    const problem = legalEntityProblem(segments[2] as string);
    if (problem) fail(`cannot be imported: ${problem}`);
  }
  const [envName, projectSegment] = segments as [string, string];
  const environment = config.environments.find((e) => e.name === envName);
  if (!environment) {
    const known = config.environments.map((e) => e.name).join(', ');
    return fail(`names environment "${envName}", which is not configured (configured: ${known})`);
  }
  const project = findDataProject(config, envName, 'import', projectSegment);
  if (!project) {
    const known = config.dataProjects
      .filter((p) => p.environment === envName && p.direction === 'import')
      .map((p) => `${p.name} (${p.definitionGroupId})`)
      .join(', ');
    return fail(
      `names data project "${projectSegment}", which is not an import project of environment "${envName}" (configured: ${known || 'none'})`,
    );
  }
  const legalEntity = segments.length === 4 ? (segments[2] as string) : project.legalEntity;
  return { environment, project, legalEntity, fileName, path };
}

/** The folder of chain batches below an environment: `{environment}/_chains/{chain}/{batchId}/{file}`. */
export const CHAINS_FOLDER = '_chains';
/** Code of a refused batch id. */
export const BATCH_ID_ERROR = 'BATCH_ID_INVALID';

/** A file of a batch, resolved against the configuration. */
export type ResolvedBatchPath = {
  environment: EnvironmentConfig;
  /** The batch id (its path segment). */
  batchId: string;
  /** The batch's folder (the path without the file): it identifies the batch. */
  folder: string;
  fileName: string;
  path: string;
} & (
  | {
      kind: 'batch';
      project: DataProjectConfig & { batch: BatchConfig; entities: EntityFilesConfig[] };
      /** The path's legal entity (pattern `{legalEntity}`), else the project's. */
      legalEntity: string;
    }
  | { kind: 'chain'; chain: ChainConfig }
);

/**
 * Resolves the path of a file of a batch: `{environment}/{project}/{batch path}` for an import
 * project with `batch` (its `batch.path`, default `{batchId}/{file}`), or
 * `{environment}/_chains/{chain}/{batchId}/{file}`. Undefined when the path is no batch path (an
 * unknown environment or project, a project without `batch`): the single-file convention then
 * applies. Throws `InputError` ({@link INBOUND_PATH_ERROR}) when it is one but breaks a rule: the
 * batch id and the file name are a caller's, checked by the file-name rules.
 */
export function resolveBatchPath(
  config: Pick<AppConfig, 'environments' | 'dataProjects' | 'chains'>,
  path: string,
): ResolvedBatchPath | undefined {
  const segments = path.split('/');
  const environment = config.environments.find((e) => e.name === segments[0]);
  if (!environment || segments.length < 3) return undefined;
  const fail = (why: string, layout: string): never => {
    throw new InputError(`"${printable(path)}" ${why}. Drop the files of a batch as ${layout}.`, {
      code: INBOUND_PATH_ERROR,
    });
  };
  const checked = (segment: string, what: string, layout: string): string => {
    const problem = fileNameProblem(segment);
    if (problem) fail(`cannot be a ${what}: ${problem.replace(/^the file name/, `the ${what}`)}`, layout);
    return segment;
  };
  const fileName = segments[segments.length - 1] as string;
  if (segments[1] === CHAINS_FOLDER) {
    const layout = `{environment}/${CHAINS_FOLDER}/{chain}/{batchId}/{file}`;
    const chain = config.chains.find((c) => c.name === segments[2] && c.environment === environment.name);
    if (!chain) {
      const known = config.chains.filter((c) => c.environment === environment.name).map((c) => c.name);
      fail(
        `names chain "${printable(segments[2] ?? '')}", which is not a chain of environment "${environment.name}" (configured: ${known.join(', ') || 'none'})`,
        layout,
      );
    }
    if (segments.length !== 5) fail(`has ${segments.length} path segments, expected 5`, layout);
    const batchId = checked(segments[3]!, 'batch id', layout);
    checked(fileName, 'file name', layout);
    return {
      kind: 'chain',
      chain: chain!,
      environment,
      batchId,
      folder: blobPath(...segments.slice(0, -1)),
      fileName,
      path,
    };
  }
  const project = findDataProject(config, environment.name, 'import', segments[1]!);
  if (!project?.batch || !project.entities) return undefined;
  const pattern = project.batch.path.split('/');
  const layout = `{environment}/${project.name}/${project.batch.path}`;
  const rest = segments.slice(2);
  if (rest.length !== pattern.length) {
    fail(`has ${segments.length} path segments, expected ${pattern.length + 2}`, layout);
  }
  let batchId = '';
  let legalEntity = project.legalEntity;
  pattern.forEach((token, i) => {
    const segment = rest[i]!;
    if (token === '{batchId}') batchId = checked(segment, 'batch id', layout);
    else if (token === '{file}') checked(segment, 'file name', layout);
    else if (token === '{legalEntity}') {
      const problem = legalEntityProblem(segment);
      if (problem) fail(`cannot be imported: ${problem}`, layout);
      legalEntity = segment;
    } else if (segment !== token) fail(`has "${printable(segment)}" where "${token}" belongs`, layout);
  });
  return {
    kind: 'batch',
    project: { ...project, batch: project.batch, entities: project.entities },
    legalEntity,
    environment,
    batchId,
    folder: blobPath(...segments.slice(0, -1)),
    fileName,
    path,
  };
}

/**
 * The inbound path of a file for a project: `{environment}/{project}/[{legalEntity}/]{fileName}`.
 * The legal entity and the file name are a caller's: checked by their own rules first
 * ({@link checkLegalEntity}, {@link checkFileName}); the environment and the project must each be
 * one segment (`dmf drop` takes them from a command line: `a/b` would shift the layout).
 */
export function inboundPath(parts: {
  environment: string;
  project: string;
  legalEntity?: string;
  fileName: string;
}): string {
  for (const [what, value] of [
    ['environment', parts.environment],
    ['project', parts.project],
  ] as const) {
    const problem = segmentProblem(value);
    if (problem) {
      throw new InputError(`The ${what} "${printable(value, 80)}" cannot be a path segment: it ${problem}.`, {
        code: BLOB_PATH_ERROR,
      });
    }
  }
  return blobPath(
    parts.environment,
    parts.project,
    ...(parts.legalEntity ? [checkLegalEntity(parts.legalEntity)] : []),
    checkFileName(parts.fileName),
  );
}

/** Folder (in the results container) of a job's result JSON and copied error files. */
export function resultFolder(logicalPath: string, jobId: string): string {
  return blobPath(logicalPath, jobId);
}

/** Blob path of a job's result JSON in the results container. */
export function resultBlobPath(logicalPath: string, jobId: string): string {
  return blobPath(logicalPath, jobId, 'result.json');
}

/** Blob path of a copied error file in the results container (F&O names it: made safe). */
export function errorFileBlobPath(logicalPath: string, jobId: string, name: string): string {
  return blobPath(logicalPath, jobId, 'errors', safeFileName(name));
}

/** Blob path (archive container) where a processed source goes. */
export function archiveBlobPath(outcome: 'succeeded' | 'failed', logicalPath: string, jobId: string): string {
  const slash = logicalPath.lastIndexOf('/');
  const file = slash < 0 ? logicalPath : logicalPath.slice(slash + 1);
  return blobPath(outcome, ...(slash < 0 ? [] : [logicalPath.slice(0, slash)]), jobId, file);
}

/**
 * Blob path (archive container) where a file of a batch goes: `{outcome}/{batch folder}/{jobId}/{file}`
 * (the whole batch side by side, as it was dropped).
 */
export function batchArchiveBlobPath(
  outcome: 'succeeded' | 'failed',
  folder: string,
  jobId: string,
  fileName: string,
): string {
  return blobPath(batchArchiveFolder(outcome, folder, jobId), fileName);
}

/** The archive folder of a batch's files (see {@link batchArchiveBlobPath}). */
export function batchArchiveFolder(outcome: 'succeeded' | 'failed', folder: string, jobId: string): string {
  return blobPath(outcome, folder, jobId);
}

/** Blob path (archive container) of a staging file of a job. */
export function stagingBlobPath(jobId: string, name: string): string {
  return blobPath('staging', jobId, safeFileName(name));
}

/**
 * Blob path (results container) of a rejection record: `rejected/{subject}/{id}.json`. The subject
 * is what was refused (often a hostile path): each segment is made safe, and at most 8 are kept.
 */
export function rejectionBlobPath(subject: string, id: string): string {
  const clean: string[] = [];
  let length = 0;
  for (const segment of subject.split('/').filter((s) => s !== '' && s !== '.' && s !== '..')) {
    const safe = safeFileName(segment, 120);
    // bounded, so the record of any refused path can be written (1,024 characters at most)
    if (clean.length === 8 || length + safe.length > 700) break;
    clean.push(safe);
    length += safe.length + 1;
  }
  return blobPath('rejected', ...(clean.length > 0 ? clean : ['unknown']), `${safeFileName(id, 120)}.json`);
}

/**
 * Folder (outbound container) of an export's package: `{environment}/{project}/{yyyy}/{MM}/{dd}`
 * (UTC date of the request); an export of a multi-company run adds its company's folder:
 * `{environment}/{project}/{legalEntity}/{yyyy}/{MM}/{dd}`.
 */
export function exportFolder(
  environment: string,
  project: string,
  requestedAt: string | Date,
  legalEntity?: string,
): string {
  const d = new Date(requestedAt);
  const pad = (n: number): string => String(n).padStart(2, '0');
  return blobPath(
    environment,
    project,
    ...(legalEntity === undefined ? [] : [checkLegalEntity(legalEntity)]),
    String(d.getUTCFullYear()),
    pad(d.getUTCMonth() + 1),
    pad(d.getUTCDate()),
  );
}

/** Blob name of an export's zip inside its folder: `{packageName}-{jobId}.zip`. */
export function exportFileName(packageName: string, jobId: string): string {
  return safeFileName(`${packageName.replace(/\.zip$/i, '')}-${jobId}.zip`);
}

/** Blob path (outbound container) of an exported package: `{folder}/{fileName}`. */
export function exportPackageBlobPath(folder: string, fileName: string): string {
  return blobPath(folder, fileName);
}

/** Blob path (outbound container) of a file of an unpacked export: `{folder}/{package}/{entry}`. */
export function unpackedEntryBlobPath(folder: string, fileName: string, entryName: string): string {
  return blobPath(folder, safeFileName(fileName.replace(/\.zip$/i, '')), safeFileName(entryName));
}

/** Logical path of an export's results (results container): `exports/{environment}/{project}`. */
export function exportLogicalPath(environment: string, project: string): string {
  return blobPath('exports', environment, project);
}

/** Logical path of a recurring import's results and archive: `recurring/{recurring-inbound path}`. */
export function recurringLogicalPath(path: string): string {
  return blobPath('recurring', path);
}

const correlationKey = (correlationId: string): string =>
  correlationId.toLowerCase().replace(/[^a-z0-9-]/g, '_');

/** Blob path (outbound container) of a recurring export message's file: keyed by CorrelationId. */
export function recurringExportBlobPath(
  environment: string,
  activityId: string,
  correlationId: string,
): string {
  return blobPath(environment, 'recurring', activityId, correlationKey(correlationId));
}

/** Blob path (results container) of the record of a message whose file F&O did not have. */
export function fileMissingBlobPath(environment: string, activityId: string, correlationId: string): string {
  return blobPath(
    'recurring',
    environment,
    activityId,
    'file-missing',
    `${correlationKey(correlationId)}.json`,
  );
}

/** Blob path (results container) of the marker naming the message a recurring import enqueued. */
export function enqueuedMarkerPath(environment: string, activityId: string, jobId: string): string {
  return blobPath('recurring', environment, activityId, 'enqueued', `${jobId}.json`);
}

/**
 * Blob path (archive container) holding the url of a url import until its content is staged: the
 * url (a SAS, a secret) never enters durable state; the orchestration names this blob instead.
 * (`url/` cannot clash with a staged file: file names hold no `/`.)
 */
export function sourceUrlBlobPath(jobId: string): string {
  return blobPath('staging', jobId, 'url', 'source.json');
}
