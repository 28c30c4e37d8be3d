import { z } from 'zod';
import { DmfApiError, DmfErrorCode } from './errors.js';

/** The DMF package API actions, by their wire names. */
export const DmfAction = {
  GetAzureWriteUrl: 'GetAzureWriteUrl',
  ImportFromPackage: 'ImportFromPackage',
  ImportFromPackageAsync: 'ImportFromPackageAsync',
  ExportToPackage: 'ExportToPackage',
  ExportToPackageAsync: 'ExportToPackageAsync',
  GetExportedPackageUrl: 'GetExportedPackageUrl',
  GetExecutionSummaryStatus: 'GetExecutionSummaryStatus',
  GetExecutionErrors: 'GetExecutionErrors',
  GetImportStagingErrorFileUrl: 'GetImportStagingErrorFileUrl',
  GenerateImportTargetErrorKeysFile: 'GenerateImportTargetErrorKeysFile',
  GetImportTargetErrorKeysFileUrl: 'GetImportTargetErrorKeysFileUrl',
  GetExecutionIdByMessageId: 'GetExecutionIdByMessageId',
  GetMessageStatus: 'GetMessageStatus',
} as const;

/** One of {@link DmfAction}. */
export type DmfActionName = (typeof DmfAction)[keyof typeof DmfAction];

/** Canonical execution statuses of GetExecutionSummaryStatus. */
export const EXECUTION_STATUSES = [
  'Unknown',
  'NotRun',
  'Executing',
  'Succeeded',
  'PartiallySucceeded',
  'Failed',
  'Canceled',
] as const;

/** A canonical execution status (see {@link EXECUTION_STATUSES}). */
export type ExecutionStatus = (typeof EXECUTION_STATUSES)[number];

/**
 * Canonical recurring-message statuses of GetMessageStatus. The spellings `PreProcessing` and
 * `PostProcessingError` are also seen on the wire; they normalize to `Preprocessing` and `PostProcessingFailed`.
 */
export const MESSAGE_STATUSES = [
  'Enqueued',
  'Dequeued',
  'Acked',
  'Preprocessing',
  'Processing',
  'Processed',
  'PreProcessingError',
  'ProcessedWithErrors',
  'PostProcessingFailed',
] as const;

/** A canonical message status (see {@link MESSAGE_STATUSES}). */
export type MessageStatus = (typeof MESSAGE_STATUSES)[number];

/** Message statuses after which nothing more happens to the message (canonical spellings). */
export const FINAL_MESSAGE_STATUSES: ReadonlySet<string> = new Set<MessageStatus>([
  'Processed',
  'ProcessedWithErrors',
  'PreProcessingError',
  'PostProcessingFailed',
]);

/** The GUID GetExecutionIdByMessageId answers while a recurring message is still queued. */
export const EMPTY_GUID = '00000000-0000-0000-0000-000000000000';

function lookupTable<T extends string>(values: readonly T[], aliases: Record<string, T>): Map<string, T> {
  const map = new Map<string, T>();
  for (const v of values) map.set(v.toLowerCase(), v);
  for (const [alias, v] of Object.entries(aliases)) map.set(alias.toLowerCase(), v);
  return map;
}

const EXECUTION_STATUS_LOOKUP = lookupTable(EXECUTION_STATUSES, {
  Cancelled: 'Canceled',
  PartialSucceeded: 'PartiallySucceeded',
  PartiallySucceded: 'PartiallySucceeded',
});
const MESSAGE_STATUS_LOOKUP = lookupTable(MESSAGE_STATUSES, {
  // Case-insensitive lookup already maps PreProcessing -> Preprocessing.
  PostProcessingError: 'PostProcessingFailed',
  PreprocessingError: 'PreProcessingError',
});

/** Normalizes any known spelling (case-insensitive) to the canonical execution status, or undefined. */
export function normalizeExecutionStatus(raw: string): ExecutionStatus | undefined {
  return EXECUTION_STATUS_LOOKUP.get(raw.trim().toLowerCase());
}

/** Normalizes any known spelling (case-insensitive) to the canonical message status, or undefined. */
export function normalizeMessageStatus(raw: string): MessageStatus | undefined {
  return MESSAGE_STATUS_LOOKUP.get(raw.trim().toLowerCase());
}

/** The success envelope: `{"@odata.context": …, "value": …}`. */
const EnvelopeSchema = z.object({ value: z.unknown() });

/** A string, possibly nested as `{"value": "…"}` (the docs' ExportToPackage shape). */
const NestedStringSchema = z.union([z.string(), z.object({ value: z.string() }).transform((v) => v.value)]);

/** A JSON value that may arrive either as itself or stringified. */
function stringifiedJson<T extends z.ZodType>(inner: T): z.ZodType<z.output<T>> {
  return z.union([
    inner,
    z
      .string()
      .transform((text, ctx) => {
        try {
          return JSON.parse(text) as unknown;
        } catch {
          ctx.addIssue({ code: 'custom', message: 'not JSON' });
          return z.NEVER;
        }
      })
      .pipe(inner),
  ]);
}

const WriteUrlSchema = stringifiedJson(
  z
    .object({ BlobId: z.string(), BlobUrl: z.string().min(1) })
    .transform((v) => ({ blobId: v.BlobId, blobUrl: v.BlobUrl })),
);

const ExecutionErrorItemSchema = z.record(z.string(), z.unknown()).transform((raw): DmfExecutionError => {
  const pick = (...names: string[]): string | undefined => {
    for (const n of names) {
      const v = raw[n];
      if (typeof v === 'string') return v;
      if (typeof v === 'number') return String(v);
    }
    return undefined;
  };
  return {
    recordId: pick('RecordId', 'recordId'),
    field: pick('Field', 'field', 'FieldName'),
    errorMessage: pick('ErrorMessage', 'errorMessage', 'Message', 'message'),
    raw,
  };
});

const ExecutionErrorsSchema = z.union([
  z.literal('').transform((): DmfExecutionError[] => []),
  z.null().transform((): DmfExecutionError[] => []),
  stringifiedJson(z.array(ExecutionErrorItemSchema)),
]);

const BooleanSchema = z.union([
  z.boolean(),
  z.enum(['true', 'false', 'True', 'False']).transform((v) => v.toLowerCase() === 'true'),
]);

/** One row of GetExecutionErrors (the shape is unconfirmed: known fields are picked, the rest kept in `raw`). */
export interface DmfExecutionError {
  /** `RecordId` of the failing row, when given. */
  recordId: string | undefined;
  /** `Field` that failed, when given. */
  field: string | undefined;
  /** `ErrorMessage`, when given. */
  errorMessage: string | undefined;
  /** The item as F&O sent it. */
  raw: Record<string, unknown>;
}

/** The answer of GetAzureWriteUrl. */
export interface AzureWriteUrl {
  /** `BlobId` (a GUID). */
  blobId: string;
  /** Write-enabled SAS url (about 35 minutes of validity). Never log it. */
  blobUrl: string;
}

/** The error of an F&O answer that is not what the API documents (never transient). */
export function invalidAnswer(action: string, detail: string, cause?: unknown): DmfApiError {
  return new DmfApiError(`${action}: unexpected answer from F&O (${detail})`, {
    code: DmfErrorCode.InvalidResponse,
    action,
    transient: false,
    cause,
  });
}

/** The answer's body as JSON; anything else is an invalid answer. */
export function parseJsonBody(action: string, text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw invalidAnswer(action, 'body is not JSON', error);
  }
}

/** Reads `value` from the success envelope. */
export function parseEnvelope(action: string, text: string): unknown {
  const json = parseJsonBody(action, text);
  const parsed = EnvelopeSchema.safeParse(json);
  if (!parsed.success || !(typeof json === 'object' && json !== null && 'value' in json)) {
    throw invalidAnswer(action, 'no "value" property');
  }
  return parsed.data.value;
}

function parseWith<T>(action: string, schema: z.ZodType<T>, value: unknown): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw invalidAnswer(action, z.prettifyError(parsed.error).replace(/\s+/g, ' '));
  return parsed.data;
}

/** Parses GetAzureWriteUrl's `value` (stringified or plain object). */
export function parseWriteUrl(value: unknown): AzureWriteUrl {
  return parseWith(DmfAction.GetAzureWriteUrl, WriteUrlSchema, value);
}

/** Parses a string `value`, plain or nested as `{"value": "…"}`. */
export function parseStringValue(action: string, value: unknown): string {
  return parseWith(action, NestedStringSchema, value);
}

/** Parses an execution id answer (plain or nested); rejects an empty one. */
export function parseExecutionId(action: string, value: unknown): string {
  const id = parseStringValue(action, value).trim();
  if (!id) throw invalidAnswer(action, 'empty execution id');
  return id;
}

/** Parses a url answer; `""` means "not available (yet)" and becomes undefined. */
export function parseOptionalUrl(action: string, value: unknown): string | undefined {
  if (value === null) return undefined;
  const url = parseStringValue(action, value).trim();
  return url === '' ? undefined : url;
}

/** Parses GetExecutionSummaryStatus's `value` to the canonical enum. */
export function parseExecutionStatus(value: unknown): ExecutionStatus {
  const raw = parseStringValue(DmfAction.GetExecutionSummaryStatus, value);
  const status = normalizeExecutionStatus(raw);
  if (!status) throw invalidAnswer(DmfAction.GetExecutionSummaryStatus, `unknown status "${raw}"`);
  return status;
}

/** Parses GetMessageStatus's `value` to the canonical enum. */
export function parseMessageStatus(value: unknown): MessageStatus {
  const raw = parseStringValue(DmfAction.GetMessageStatus, value);
  const status = normalizeMessageStatus(raw);
  if (!status) throw invalidAnswer(DmfAction.GetMessageStatus, `unknown status "${raw}"`);
  return status;
}

/** Parses GetExecutionErrors's `value` (a JSON string holding an array, or the array). */
export function parseExecutionErrors(value: unknown): DmfExecutionError[] {
  return parseWith(DmfAction.GetExecutionErrors, ExecutionErrorsSchema, value);
}

/** Parses a boolean `value` (GenerateImportTargetErrorKeysFile). */
export function parseBoolean(action: string, value: unknown): boolean {
  return parseWith(action, BooleanSchema, value);
}

/** Parses GetExecutionIdByMessageId's `value`: the all-zero GUID (or `""`) means "not yet" → undefined. */
export function parseExecutionIdByMessageId(value: unknown): string | undefined {
  const id = parseStringValue(DmfAction.GetExecutionIdByMessageId, value).trim();
  if (id === '' || id.replace(/[{}]/g, '') === EMPTY_GUID) return undefined;
  return id;
}
