/**
 * `dmf drop` and `dmf send`: a file into a container in the inbound layout, a command onto the
 * commands queue — exactly what the app's blob and Service Bus triggers see — and which job each
 * causes (the app derives job ids from the request: src/shared/jobs/ids.ts is the one home of
 * those rules, used here and by the triggers).
 */
import { readFile, stat } from 'node:fs/promises';
import { BlobServiceClient, RestError } from '@azure/storage-blob';
import { ServiceBusClient } from '@azure/service-bus';
import { CONTAINER_NAME_PATTERN } from '../shared/config/index.js';
import {
  blobImportInstanceId,
  commandRejectionId,
  exportCommandRequestId,
  exportInstanceId,
  urlImportInstanceId,
} from '../shared/jobs/ids.js';
import { blobPath, printable, rejectionBlobPath } from '../shared/storage/index.js';
import { isRecord, unquoteEtag } from '../shared/util.js';
import { contentTypeFor } from './api.js';
import { CliError } from './local.js';

/** Largest command `dmf send` sends: the app's limit (Service Bus standard tier, 256 KiB). */
export const MAX_COMMAND_BYTES = 256 * 1024;
/** Longest MessageId Service Bus accepts. */
export const MAX_MESSAGE_ID_CHARS = 128;

/** Throws {@link CliError} unless `name` is a blob container name. */
export function checkContainerName(name: string): string {
  if (!CONTAINER_NAME_PATTERN.test(name)) {
    throw new CliError(
      `"${printable(name, 80)}" is not a container name: 3-63 lower-case letters, digits and single hyphens.`,
      { code: 'CONTAINER_NAME_INVALID' },
    );
  }
  return name;
}

/**
 * Uploads `file` as `container/path`, refusing to replace a blob already there (a job may be working
 * on it: a new version would be a second job). Answers the new blob's ETag.
 */
export async function dropFile(options: {
  connectionString: string;
  container: string;
  path: string;
  file: string;
  signal?: AbortSignal;
}): Promise<string> {
  const blob = BlobServiceClient.fromConnectionString(options.connectionString)
    .getContainerClient(options.container)
    .getBlockBlobClient(options.path);
  const where = `${options.container}/${options.path}`;
  try {
    const response = await blob.uploadFile(options.file, {
      conditions: { ifNoneMatch: '*' },
      blobHTTPHeaders: { blobContentType: contentTypeFor(options.file) },
      abortSignal: options.signal,
    });
    const etag = unquoteEtag(response.etag);
    if (!etag) throw new CliError(`Storage answered no ETag for ${where}.`, { code: 'UPLOAD_FAILED' });
    return etag;
  } catch (error) {
    if (!(error instanceof RestError)) throw error;
    if (error.statusCode === 409 || error.statusCode === 412) {
      throw new CliError(
        `A blob is already at ${where} (a job may still be working on it): rename the file, or wait until the app has moved it.`,
        { code: 'BLOB_EXISTS' },
      );
    }
    if (error.code === 'ContainerNotFound') {
      throw new CliError(
        `The container ${options.container} does not exist in that storage account (npm start creates dmf-inbound and dmf-staging; the app's inbound container is DMF_INBOUND_CONTAINER).`,
        { code: 'CONTAINER_NOT_FOUND' },
      );
    }
    // connection strings and SAS never reach the message: the status and the service's code only
    throw new CliError(
      `Upload to ${where} failed${error.statusCode ? ` (HTTP ${error.statusCode})` : ''}: ${error.code ?? error.message}`,
      { code: 'UPLOAD_FAILED' },
    );
  }
}

/** Reads the command `dmf send` is given: JSON text (starting with `{`), or the path of a JSON file. */
export async function readCommand(given: string): Promise<{ text: string; body: unknown }> {
  let text = given;
  if (!given.trim().startsWith('{')) {
    const info = await stat(given).catch(() => undefined);
    if (!info?.isFile()) {
      throw new CliError(`"${printable(given, 80)}" is neither a JSON command ({…}) nor a file.`, {
        code: 'FILE_NOT_FOUND',
      });
    }
    if (info.size > MAX_COMMAND_BYTES) {
      throw new CliError(
        `${given} is ${info.size} bytes; commands are limited to ${MAX_COMMAND_BYTES} bytes.`,
        {
          code: 'COMMAND_TOO_LARGE',
        },
      );
    }
    text = await readFile(given, 'utf8');
  }
  if (Buffer.byteLength(text) > MAX_COMMAND_BYTES) {
    throw new CliError(`The command is over ${MAX_COMMAND_BYTES} bytes.`, { code: 'COMMAND_TOO_LARGE' });
  }
  try {
    return { text, body: JSON.parse(text.replace(/^\uFEFF/, '')) as unknown };
  } catch (error) {
    throw new CliError(`The command is not JSON: ${(error as Error).message}`, { code: 'COMMAND_NOT_JSON' });
  }
}

/** Throws {@link CliError} unless `id` can be a Service Bus MessageId. */
export function checkMessageId(id: string): string {
  // eslint-disable-next-line no-control-regex -- control characters are what is refused
  if (id.length === 0 || id.length > MAX_MESSAGE_ID_CHARS || /[\u0000-\u001f\u007f]/.test(id)) {
    throw new CliError(
      `--message-id must be 1-${MAX_MESSAGE_ID_CHARS} characters without control characters.`,
      { code: 'MESSAGE_ID_INVALID' },
    );
  }
  return id;
}

/** Sends one command (JSON body, `content-type: application/json`) to `queue`. */
export async function sendCommand(options: {
  connectionString: string;
  queue: string;
  body: unknown;
  messageId: string;
}): Promise<void> {
  const client = new ServiceBusClient(options.connectionString);
  try {
    const sender = client.createSender(options.queue);
    await sender.sendMessages({
      body: options.body,
      messageId: options.messageId,
      contentType: 'application/json',
    });
    await sender.close();
  } catch (error) {
    throw new CliError(
      `Sending to queue ${options.queue} failed: ${(error as { code?: string }).code ?? (error as Error).message}`,
      { code: 'SEND_FAILED', cause: error },
    );
  } finally {
    await client.close();
  }
}

/** The jobs a request may have caused: ids to ask for, and where the app records its refusal. */
export interface CausedJob {
  /** Job ids the app gives this request (several when the app's choice depends on its config). */
  ids: string[];
  /** For an export named by a definition group: recognizes the job in the jobs list. */
  matches?: (job: {
    id: string;
    kind?: string | null;
    environment?: string | null;
    project?: string | null;
  }) => boolean;
  /** Where the app records a refusal: results container path (`rejected/…`). */
  rejectionPath: string;
  /** Why no id is known yet (shown while waiting). */
  note?: string;
}

/** The job a dropped blob causes (the blob trigger's id, which is also the id of its rejection). */
export function droppedBlobJob(container: string, path: string, etag: string): CausedJob {
  const id = blobImportInstanceId(`${container}/${path}`, etag);
  return { ids: [id], rejectionPath: rejectionBlobPath(path, id) };
}

/**
 * The job a command causes, by the app's rules: an import of a blob — the blob's path and ETag
 * (read here, before sending: the import moves the blob); an import of a url — the url and the
 * MessageId; an export — the environment, the project and the MessageId (the project's name, which
 * the app resolves from `definitionGroupId`: the jobs list is searched for the others).
 */
export async function commandJob(
  body: unknown,
  messageId: string,
  etagOf: (container: string, path: string) => Promise<string | undefined>,
): Promise<CausedJob> {
  const rejectionPath = rejectionBlobPath(`commands/${messageId}`, commandRejectionId(messageId));
  const none = (note: string): CausedJob => ({ ids: [], rejectionPath, note });
  if (!isRecord(body)) return none('the command is not a JSON object');
  const str = (key: string): string | undefined => (typeof body[key] === 'string' ? body[key] : undefined);
  if (body.type === 'export') {
    const environment = str('environment');
    const project = str('definitionGroupId');
    if (!environment || !project) return none('the export command names no environment or definitionGroupId');
    const request = exportCommandRequestId(messageId);
    return {
      ids: [exportInstanceId({ environment, project, request })],
      matches: (job) =>
        job.kind === 'export' &&
        typeof job.environment === 'string' &&
        typeof job.project === 'string' &&
        exportInstanceId({ environment: job.environment, project: job.project, request }) === job.id,
      rejectionPath,
    };
  }
  const url = str('url');
  const path = str('blobPath');
  if (url !== undefined && path === undefined) {
    try {
      return { ids: [urlImportInstanceId(new URL(url), messageId)], rejectionPath };
    } catch {
      return none('its url is not a url');
    }
  }
  if (path !== undefined && url === undefined) {
    const slash = path.indexOf('/');
    const container = path.slice(0, slash);
    const inside = path.slice(slash + 1);
    try {
      if (slash < 0) throw new Error('no container');
      checkContainerName(container);
      blobPath(inside);
    } catch {
      return none(`its blobPath "${printable(path, 80)}" is not {container}/{path}`);
    }
    const etag = await etagOf(container, inside);
    if (!etag) return none(`the blob ${printable(path, 120)} does not exist`);
    return { ids: [blobImportInstanceId(path, etag)], rejectionPath };
  }
  return none('the command names neither one blobPath nor one url');
}

/** The ETag of a blob, or undefined when it does not exist. */
export async function blobEtag(
  connectionString: string,
  container: string,
  path: string,
): Promise<string | undefined> {
  try {
    const properties = await BlobServiceClient.fromConnectionString(connectionString)
      .getContainerClient(container)
      .getBlobClient(path)
      .getProperties();
    return unquoteEtag(properties.etag);
  } catch (error) {
    if (error instanceof RestError && error.statusCode === 404) return undefined;
    throw new CliError(
      `Reading ${container}/${path} failed: ${error instanceof RestError ? (error.code ?? error.statusCode) : String(error)}`,
      { code: 'STORAGE_ERROR' },
    );
  }
}

/** The rejection the app recorded at `path` in the results container (code and reason), if any. */
export async function recordedRejection(
  connectionString: string,
  resultsContainer: string,
  path: string,
): Promise<{ code: string; reason: string } | undefined> {
  try {
    const body = await BlobServiceClient.fromConnectionString(connectionString)
      .getContainerClient(resultsContainer)
      .getBlobClient(path)
      .downloadToBuffer();
    const parsed = JSON.parse(body.toString('utf8')) as unknown;
    if (!isRecord(parsed)) return { code: 'REJECTED', reason: 'rejected (unreadable record)' };
    return {
      code: typeof parsed.code === 'string' ? parsed.code : 'REJECTED',
      reason: typeof parsed.reason === 'string' ? parsed.reason : 'rejected',
    };
  } catch (error) {
    if (error instanceof RestError && error.statusCode === 404) return undefined;
    return undefined;
  }
}
