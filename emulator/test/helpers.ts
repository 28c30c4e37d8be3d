import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createSign } from 'node:crypto';
import yazl from 'yazl';
import yauzl from 'yauzl';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import type { RunningEmulator, StartEmulatorOptions } from '../index.js';
import { startTestEmulator as startSharedEmulator } from '../fixture.js';
import { DEFAULT_DATA_DIR, CERT_FILES } from '../certs.js';

/** Path of the real F&O fixture package (outside the repo). */
export const FIXTURE_ZIP = join(
  import.meta.dirname,
  '..',
  '..',
  '..',
  'shared',
  'fixtures',
  'usmf_asset-major-types-01.zip',
);
/** True when the fixture folder is present. */
export const HAVE_FIXTURE = existsSync(FIXTURE_ZIP);

/** The tests' emulator ({@link startSharedEmulator}) without a not-found window. */
export function startTestEmulator(options: StartEmulatorOptions = {}): Promise<RunningEmulator> {
  return startSharedEmulator({ notFoundWindowMs: 0, ...options });
}

/**
 * One emulator per test file: started before its tests, reset before each (state, faults,
 * {@link TEST_SWITCHES}, a fresh token: tokens expire on the emulator clock tests move), stopped
 * after them. `ready` receives the emulator and each fresh token.
 */
export function useTestEmulator(
  ready: (em: RunningEmulator, token: string) => void,
  options: StartEmulatorOptions = {},
): void {
  let em: RunningEmulator | undefined;
  beforeAll(async () => {
    em = await startTestEmulator(options);
  });
  afterAll(async () => {
    await em?.stop();
  });
  beforeEach(async () => {
    if (!em) throw new Error('the emulator did not start');
    await em.control.reset();
    await em.control.setOptions(TEST_SWITCHES);
    ready(em, await getToken(em));
  });
}

/** The emulator's recurring data job activity ids (import, export). */
export function recurringActivities(em: RunningEmulator): { importId: string; exportId: string } {
  return { importId: em.recurring.importActivityId ?? '', exportId: em.recurring.exportActivityId ?? '' };
}

/** The authorization header of a bearer token. */
export const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });

/** Test-only switches every test file restores in beforeEach. */
export const TEST_SWITCHES = {
  notFoundWindowMs: 0,
  executionDurationMs: 2_000,
  notRunMs: 200,
  recurringPickupDelayMs: 1_000,
  visibilityTimeoutMs: 30 * 60_000,
  writeUrlTtlMs: 35 * 60_000,
  exportResponseShape: 'plain',
  messageStatusSpelling: 'documented',
  downloadLocation: 'https',
  unknownEntities: 'accept',
  invalidPackage: 'request400',
  unknownExecutionStatus: 'notFound400',
  errorKeysFileDelayMs: 500,
  maxEnqueueBytes: 50_000_000,
  enhancedParallelPackageImport: false,
  jobStatusStateFormat: 'name',
  exportedPackageUrlShape: 'plain',
  maxExportPackageBytes: 256 * 1024 * 1024,
} as const;

/** The token endpoint's answer to a client-secret request for `scope` (raw fetch). */
export function tokenResponse(em: RunningEmulator, scope: string): Promise<Response> {
  return fetch(em.tokenUrl, {
    method: 'POST',
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: em.credentials.clientId,
      client_secret: em.credentials.clientSecret ?? '',
      scope,
    }),
  });
}

/** Obtains an access token with the client secret through raw fetch. */
export async function getToken(em: RunningEmulator, baseUrl = em.baseUrl): Promise<string> {
  const res = await tokenResponse(em, `${baseUrl}/.default`);
  if (res.status !== 200) throw new Error(`token: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { access_token: string }).access_token;
}

/** Signs an arbitrary token with the emulator's signing key (to craft wrong-audience tokens). */
export function signWithEmulatorKey(payload: Record<string, unknown>, kid = 'test'): string {
  const key = readFileSync(join(DEFAULT_DATA_DIR, CERT_FILES.signingKey), 'utf8');
  const input = `${Buffer.from(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid })).toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
  return `${input}.${createSign('sha256').update(input).sign(key, 'base64url')}`;
}

/** Raw response of a package API action. */
export interface ActionResponse {
  status: number;
  headers: Headers;
  body: unknown;
  text: string;
}

/** Posts a package API action with raw fetch. */
export async function action(
  em: RunningEmulator,
  name: string,
  body: unknown,
  token: string | undefined,
  baseUrl = em.baseUrl,
  prefix = '',
): Promise<ActionResponse> {
  const res = await fetch(
    `${baseUrl}${prefix}/data/DataManagementDefinitionGroups/Microsoft.Dynamics.DataEntities.${name}`,
    {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    },
  );
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  return { status: res.status, headers: res.headers, body: parsed, text };
}

/** One row of GetExecutionErrors (the answer is a JSON string of these). */
export interface ExecutionErrorRow {
  RecordId: string;
  Field: string;
  ErrorMessage: string;
}

/** GetExecutionErrors of an execution, parsed. */
export async function executionErrors(
  em: RunningEmulator,
  token: string,
  executionId: string,
): Promise<ExecutionErrorRow[]> {
  return JSON.parse(
    valueOf(await action(em, 'GetExecutionErrors', { executionId }, token)) as string,
  ) as ExecutionErrorRow[];
}

/** GetImportStagingErrorFileUrl of an entity of an execution ("" when it has none). */
export async function stagingErrorFileUrl(
  em: RunningEmulator,
  token: string,
  executionId: string,
  entityName = 'Customers V3',
): Promise<string> {
  return valueOf(
    await entityAction(em, token, 'GetImportStagingErrorFileUrl', executionId, entityName),
  ) as string;
}

/** An action about one entity of an execution (its error files). */
export function entityAction(
  em: RunningEmulator,
  token: string,
  name: string,
  executionId: string,
  entityName = 'Customers V3',
): Promise<ActionResponse> {
  return action(em, name, { executionId, entityName }, token);
}

/** The `value` of a successful OData answer. */
export function valueOf(r: ActionResponse): unknown {
  if (r.status !== 200) throw new Error(`expected 200, got ${r.status}: ${r.text}`);
  return (r.body as { value: unknown }).value;
}

/** UTF-16LE with BOM, as Microsoft writes package XML. */
export function utf16(text: string): Buffer {
  return Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]);
}

const NS =
  'xmlns:i="http://www.w3.org/2001/XMLSchema-instance" xmlns="http://schemas.microsoft.com/dynamics/2015/01/DataManagement"';

/** A manifest for one CSV entity (built independently of the emulator's writer). */
export function manifestXml(
  entityName: string,
  fileName: string,
  withMap = true,
  sourceFormat = 'CSV',
): string {
  return mappedManifestXml(entityName, fileName, withMap ? ['CUSTOMERACCOUNT'] : [], sourceFormat);
}

/** A manifest for one entity whose EntityMapList maps `fields` (none: no EntityMapList). */
export function mappedManifestXml(
  entityName: string,
  fileName: string,
  fields: readonly string[],
  sourceFormat = 'CSV',
): string {
  return packageManifestXml([{ entityName, fileName, fields, sourceFormat }]);
}

/** One entity of {@link packageManifestXml}. */
export interface ManifestEntityXml {
  entityName: string;
  fileName: string;
  /** Fields its EntityMapList maps (none: no EntityMapList). */
  fields: readonly string[];
  sourceFormat?: string;
  /** ExecutionUnit, LevelInExecutionUnit, SequenceInLevel; default 1 each. */
  unit?: number;
  level?: number;
  sequence?: number;
}

/** A manifest listing `entities` in the given order, with their execution unit, level and sequence. */
export function packageManifestXml(
  entities: readonly ManifestEntityXml[],
  definitionGroupName = 'CustomerImport',
): string {
  const entityXml = entities.map((e) => {
    const map =
      e.fields.length > 0
        ? `<EntityMapList>${e.fields.map((f) => `<EntityMap><EntityField>${f}</EntityField><XMLField>${f}</XMLField></EntityMap>`).join('')}</EntityMapList>`
        : '';
    return `<DataManagementPackageEntityData>${map}<EntityName>${e.entityName}</EntityName><ExecutionUnit>${e.unit ?? 1}</ExecutionUnit><InputFilePath>${e.fileName}</InputFilePath><LevelInExecutionUnit>${e.level ?? 1}</LevelInExecutionUnit><SequenceInLevel>${e.sequence ?? 1}</SequenceInLevel><SourceFormat>${e.sourceFormat ?? 'CSV'}</SourceFormat></DataManagementPackageEntityData>`;
  });
  return `<DataManagementPackageManifest ${NS}><DefinitionGroupName>${definitionGroupName}</DefinitionGroupName><Description>test</Description><PackageEntityList>${entityXml.join('')}</PackageEntityList></DataManagementPackageManifest>`;
}

/** A package header. */
export const HEADER_XML = `<DataManagementPackageHeader ${NS}><Description>test</Description><ManifestType>Microsoft.Dynamics.AX.Framework.Tools.DataManagement.Serialization.DataManagementPackageManifest</ManifestType><PackageType>DefinitionGroup</PackageType><PackageVersion>2</PackageVersion></DataManagementPackageHeader>`;

/** Zips named entries. */
export async function zip(entries: Record<string, Buffer | string>): Promise<Buffer> {
  const z = new yazl.ZipFile();
  for (const [name, content] of Object.entries(entries)) {
    if (name.endsWith('/')) z.addEmptyDirectory(name);
    else z.addBuffer(Buffer.isBuffer(content) ? content : Buffer.from(content), name);
  }
  z.end();
  const chunks: Buffer[] = [];
  for await (const c of z.outputStream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** A Customers V3 package with the given CSV text. */
export function customersPackage(csv: string, options: { withMap?: boolean } = {}): Promise<Buffer> {
  return zip({
    'Manifest.xml': utf16(manifestXml('Customers V3', 'Customers V3.csv', options.withMap ?? true)),
    'PackageHeader.xml': utf16(HEADER_XML),
    'Customers V3.csv': csv,
  });
}

/** Unzips into name → bytes. */
export async function unzip(bytes: Buffer): Promise<Map<string, Buffer>> {
  // lazyEntries: entries are only emitted on readEntry(), so none is missed before listeners attach.
  const z = await yauzl.fromBufferPromise(bytes, { lazyEntries: true });
  const out = new Map<string, Buffer>();
  await new Promise<void>((resolve, reject) => {
    z.on('entry', (entry: yauzl.Entry) => {
      z.openReadStream(entry, (err, stream) => {
        if (err) return reject(err);
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          out.set(entry.fileName, Buffer.concat(chunks));
          z.readEntry();
        });
      });
    });
    z.on('end', () => resolve());
    z.on('error', reject);
    z.readEntry();
  });
  return out;
}

/** Uploads a package through GetAzureWriteUrl + PUT; returns the blob url with SAS. */
export async function uploadPackage(
  em: RunningEmulator,
  token: string,
  bytes: Buffer,
  name = `pkg-${Date.now()}-${Math.random()}.zip`,
): Promise<string> {
  const write = JSON.parse(
    valueOf(await action(em, 'GetAzureWriteUrl', { uniqueFileName: name }, token)) as string,
  ) as {
    BlobId: string;
    BlobUrl: string;
  };
  const put = await fetch(write.BlobUrl, {
    method: 'PUT',
    headers: { 'x-ms-blob-type': 'BlockBlob' },
    body: bytes,
  });
  if (put.status !== 201) throw new Error(`PUT ${put.status}`);
  return write.BlobUrl;
}

/** GetEntityExecutionSummaryStatusList of an execution (a JSON array, one object per entity). */
export async function entityStatuses(
  em: RunningEmulator,
  token: string,
  executionId: string,
): Promise<Record<string, unknown>[]> {
  return valueOf(await action(em, 'GetEntityExecutionSummaryStatusList', { executionId }, token)) as Record<
    string,
    unknown
  >[];
}

/** Starts an import of `bytes` into CustomerImport/USMF; returns the execution id. */
export async function importPackage(
  em: RunningEmulator,
  token: string,
  bytes: Buffer,
  executionId = '',
): Promise<string> {
  return valueOf(await startImport(em, token, bytes, { executionId })) as string;
}

/** Uploads `bytes` and posts ImportFromPackage (default: CustomerImport, USMF, overwrite); returns the raw answer. */
export async function startImport(
  em: RunningEmulator,
  token: string,
  bytes: Buffer,
  options: { definitionGroupId?: string; executionId?: string; overwrite?: boolean } = {},
): Promise<ActionResponse> {
  return importFrom(em, token, await uploadPackage(em, token, bytes), options);
}

/** Posts ImportFromPackage for an uploaded package url (defaults as {@link startImport}); the raw answer. */
export function importFrom(
  em: RunningEmulator,
  token: string,
  packageUrl: string,
  options: { definitionGroupId?: string; executionId?: string; overwrite?: boolean } = {},
): Promise<ActionResponse> {
  return action(
    em,
    'ImportFromPackage',
    {
      packageUrl,
      definitionGroupId: options.definitionGroupId ?? 'CustomerImport',
      executionId: options.executionId ?? '',
      execute: true,
      overwrite: options.overwrite ?? true,
      legalEntityId: 'USMF',
    },
    token,
  );
}

/** The innererror message of an OData error answer. */
export function innerMessage(body: unknown): string {
  return (body as { error: { innererror: { message: string } } }).error.innererror.message;
}

/** GetExecutionSummaryStatus value. */
export async function summary(em: RunningEmulator, token: string, executionId: string): Promise<string> {
  return valueOf(await action(em, 'GetExecutionSummaryStatus', { executionId }, token)) as string;
}
