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
  GetExecutionSummaryPageUrl: 'GetExecutionSummaryPageUrl',
  GetEntityExecutionSummaryStatusList: 'GetEntityExecutionSummaryStatusList',
} as const;

/** One of {@link DmfAction}. */
export type DmfActionName = (typeof DmfAction)[keyof typeof DmfAction];

/** Execution statuses after which nothing changes any more (as a list; see {@link FINAL_EXECUTION_STATUSES}). */
const FINAL_EXECUTION_STATUS_LIST = ['Succeeded', 'PartiallySucceeded', 'Failed', 'Canceled'] as const;

/** Canonical execution statuses of GetExecutionSummaryStatus: three still moving, then the final ones. */
export const EXECUTION_STATUSES = ['Unknown', 'NotRun', 'Executing', ...FINAL_EXECUTION_STATUS_LIST] as const;

/** A canonical execution status (see {@link EXECUTION_STATUSES}). */
export type ExecutionStatus = (typeof EXECUTION_STATUSES)[number];

/** Execution statuses after which nothing changes any more. */
export const FINAL_EXECUTION_STATUSES: ReadonlySet<string> = new Set<ExecutionStatus>(
  FINAL_EXECUTION_STATUS_LIST,
);

/**
 * The statuses of an execution F&O knows. `Unknown` is not one: it is F&O's answer for an execution
 * id it does not know (yet), which the client reports as `DMF_EXECUTION_NOT_FOUND`, exactly like
 * "Execution details were not found" — `Unknown` means that one thing everywhere.
 */
export type KnownExecutionStatus = Exclude<ExecutionStatus, 'Unknown'>;

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

/**
 * A GetMessageStatus answer: a canonical {@link MessageStatus}, or a word F&O sent that the list does
 * not have, kept as sent (shown to people, treated as not final) rather than refused.
 */
export type MessageStatusAnswer = MessageStatus | (string & {});

/**
 * F&O's DataJobState enum (recurring `jobstatus` → `DataJobStatus.DataJobState`), in numeric order:
 * the index is the number F&O sends in the numeric form (RIS Common/Contracts/ContractEnums.cs).
 */
export const DATA_JOB_STATES = [
  'Enqueued',
  'Dequeued',
  'Downloaded',
  'Acked',
  'InProcess',
  'Processed',
  'ProcessedWithErrors',
  'PostProcessError',
  'PreProcessError',
] as const;

/** A DataJobState word (see {@link DATA_JOB_STATES}). */
export type DataJobState = (typeof DATA_JOB_STATES)[number];

/** DataJobStates after which nothing more happens to an import job (RIS's ProcessingMonitor). */
export const FINAL_DATA_JOB_STATES: ReadonlySet<string> = new Set<DataJobState>([
  'Processed',
  'ProcessedWithErrors',
  'PostProcessError',
  'PreProcessError',
]);

/**
 * A DataJobState as F&O sent it — a word (any case) or its number — as the enum's word. A word or
 * number the enum does not have is kept as sent (a number as its digits): shown, never refused.
 * Undefined when there is none.
 */
export function normalizeDataJobState(value: unknown): DataJobState | (string & {}) | undefined {
  if (typeof value === 'number' && Number.isInteger(value)) return DATA_JOB_STATES[value] ?? String(value);
  if (typeof value !== 'string' || value.trim() === '') return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return DATA_JOB_STATES[Number(text)] ?? text;
  return DATA_JOB_STATES.find((s) => s.toLowerCase() === text.toLowerCase()) ?? text;
}

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

/**
 * Parses GetMessageStatus's `value` to the canonical enum; a word the enum does not have is returned
 * as sent (the wire format lists the words seen, not all F&O may send). Empty → invalid answer.
 */
export function parseMessageStatus(value: unknown): MessageStatusAnswer {
  const raw = parseStringValue(DmfAction.GetMessageStatus, value).trim();
  if (raw === '') throw invalidAnswer(DmfAction.GetMessageStatus, 'empty status');
  return normalizeMessageStatus(raw) ?? raw;
}

/**
 * One entity of GetEntityExecutionSummaryStatusList. The answer is not documented: the fields of
 * RIS's `EntityExecutionStatus` contract are read when present (numbers or numeric strings), the
 * rest is kept in `raw`.
 */
export interface EntityExecutionStatus {
  /** `EntityName` (the entity label). */
  entityName: string;
  /** `Company`, when given. */
  company?: string;
  /** `Status` (GetExecutionSummaryStatus words), when given. */
  status?: string;
  stagingRecords?: number;
  stagingErrors?: number;
  targetRecords?: number;
  targetErrors?: number;
  /** The item as F&O sent it. */
  raw: Record<string, unknown>;
}

const countOf = (v: unknown): number | undefined => {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v.trim()) ? Number(v) : NaN;
  return Number.isFinite(n) && n >= 0 ? n : undefined;
};

const EntityStatusItemSchema = z
  .record(z.string(), z.unknown())
  .transform((raw): EntityExecutionStatus | undefined => {
    const text = (...names: string[]): string | undefined => {
      for (const n of names) {
        const v = raw[n];
        if (typeof v === 'string' && v.trim() !== '') return v.trim();
        if (typeof v === 'number') return String(v);
      }
      return undefined;
    };
    const entityName = text('EntityName', 'entityName', 'Entity');
    if (!entityName) return undefined;
    const counts = {
      stagingRecords: countOf(raw.StagingRecords),
      stagingErrors: countOf(raw.StagingErrorCount),
      targetRecords: countOf(raw.TargetRecords),
      targetErrors: countOf(raw.TargetErrorCount),
    };
    const company = text('Company', 'DataAreaId');
    const status = text('Status', 'ExecutionStatus');
    return {
      entityName,
      ...(company ? { company } : {}),
      ...(status ? { status } : {}),
      ...Object.fromEntries(Object.entries(counts).filter(([, v]) => v !== undefined)),
      raw,
    };
  });

const EntityStatusListSchema = z.union([
  z.literal('').transform((): (EntityExecutionStatus | undefined)[] => []),
  z.null().transform((): (EntityExecutionStatus | undefined)[] => []),
  stringifiedJson(z.array(EntityStatusItemSchema)),
]);

/** Parses GetEntityExecutionSummaryStatusList's `value` (an array, or a JSON string holding one). */
export function parseEntityStatusList(value: unknown): EntityExecutionStatus[] {
  return parseWith(DmfAction.GetEntityExecutionSummaryStatusList, EntityStatusListSchema, value).filter(
    (e): e is EntityExecutionStatus => e !== undefined,
  );
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
