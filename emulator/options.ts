import { z } from 'zod';

/** Runtime switches: timing, variants where sources disagree, limits. All settable at runtime. */
export const SwitchesSchema = z.strictObject({
  /** Emulator-clock ms from an execution's start to its final state. */
  executionDurationMs: z.number().int().min(0).default(2_000),
  /** Emulator-clock ms an execution stays NotRun before Executing. */
  notRunMs: z.number().int().min(0).default(200),
  /** Emulator-clock ms after a start during which GetExecutionSummaryStatus answers 400 "Execution details were not found". */
  notFoundWindowMs: z.number().int().min(0).default(500),
  /** Emulator-clock ms before the recurring batch picks up an enqueued message. */
  recurringPickupDelayMs: z.number().int().min(0).default(1_000),
  /** Emulator-clock ms a dequeued, un-acked export message stays invisible. */
  visibilityTimeoutMs: z
    .number()
    .int()
    .min(0)
    .default(30 * 60_000),
  /** Lifetime of GetAzureWriteUrl's SAS (ms). */
  writeUrlTtlMs: z
    .number()
    .int()
    .default(35 * 60_000),
  /** Lifetime of read SAS urls (exports, error files) in ms. */
  readUrlTtlMs: z
    .number()
    .int()
    .default(60 * 60_000),
  /** Exported packages and error files are deleted this long (emulator clock) after their execution ended. */
  blobRetentionMs: z
    .number()
    .int()
    .min(0)
    .default(7 * 24 * 3600 * 1000),
  /** Lifetime of issued access tokens (seconds, emulator clock). */
  tokenLifetimeSeconds: z.number().int().min(1).default(3_599),
  /** Emulator-clock ms between GenerateImportTargetErrorKeysFile and its url becoming available. */
  errorKeysFileDelayMs: z.number().int().min(0).default(500),
  /** Bodies larger than this get 413 from enqueue. */
  maxEnqueueBytes: z
    .number()
    .int()
    .min(1)
    .default(50 * 1000 * 1000),
  /** A CSV cell containing this text makes its row a staging error. */
  badValueMarker: z.string().min(1).default('#BAD#'),
  /** ExportToPackage(Async) answer: `plain` value string (default) or the docs' `nested` `{"value":{"value":…}}`. */
  exportResponseShape: z.enum(['plain', 'nested']).default('plain'),
  /** GetMessageStatus spellings: `documented` (Preprocessing, PostProcessingFailed) or `alternate` (PreProcessing, PostProcessingError). */
  messageStatusSpelling: z.enum(['documented', 'alternate']).default('documented'),
  /** Dequeue's DownloadLocation: the real `https` address, or `http80` (`http://{host}:80/…`, as behind F&O's load balancer). */
  downloadLocation: z.enum(['https', 'http80']).default('https'),
  /** A package that is not a zip or holds a folder: refused by ImportFromPackage with 400 (default), or accepted and its execution fails. */
  invalidPackage: z.enum(['request400', 'execution']).default('request400'),
  /** GetExecutionSummaryStatus for an execution id never started: 400 "not found" (default) or the value `Unknown`. */
  unknownExecutionStatus: z.enum(['notFound400', 'Unknown']).default('notFound400'),
  /** Entities a package names that no data project declares: `accept` (key = first column) or `reject` (execution fails). */
  unknownEntities: z.enum(['accept', 'reject']).default('accept'),
  /**
   * F&O's framework parameter "Enhanced parallel package import". `false` (F&O's default): an
   * ImportFromPackage(Async) started while another is NotRun/Executing on the same environment fails
   * with a mapping error (the docs: "must not be called in parallel threads. Otherwise, it will
   * fail"). `true`: the overlap is only recorded (lenient mode for tests that need it).
   */
  enhancedParallelPackageImport: z.boolean().default(false),
  /** Recurring jobstatus `DataJobStatus.DataJobState`: the enum `name` (default, e.g. `Processed`) or its `number` (e.g. 5). */
  jobStatusStateFormat: z.enum(['name', 'number']).default('name'),
  /** GetExportedPackageUrl answer: `plain` value string (default) or the docs' `nested` `{"value":{"value":…}}`. */
  exportedPackageUrlShape: z.enum(['plain', 'nested']).default('plain'),
  /** Exports whose package is larger than this (bytes) fail; 0 = no limit. Default 256 MB (F&O's documented export limit). */
  maxExportPackageBytes: z
    .number()
    .int()
    .min(0)
    .default(256 * 1024 * 1024),
});

/** Fully defaulted switches. */
export type EmulatorSwitches = z.output<typeof SwitchesSchema>;
/** Switches as given (any subset). */
export type EmulatorSwitchesInput = z.input<typeof SwitchesSchema>;

/** Partial update of switches, validated. */
export const SwitchesPatchSchema = SwitchesSchema.partial();

/** Default values of every switch. */
export const DEFAULT_SWITCHES: EmulatorSwitches = SwitchesSchema.parse({});

const statusFault = z.strictObject({
  kind: z.literal('status'),
  status: z.number().int().min(400).max(599),
  /** Seconds for the Retry-After header (429/503). */
  retryAfterSeconds: z.number().int().min(0).optional(),
});
const latencyFault = z.strictObject({ kind: z.literal('latency'), ms: z.number().int().min(0) });
const resetFault = z.strictObject({ kind: z.literal('reset') });
/** The request is processed fully (side effects included), then the socket is destroyed unanswered. */
const dropResponseFault = z.strictObject({ kind: z.literal('dropResponse') });
const tokenExpiryFault = z.strictObject({ kind: z.literal('tokenExpiry'), seconds: z.number().int() });
const sasExpiryFault = z.strictObject({ kind: z.literal('sasExpiry'), seconds: z.number().int() });
const outcomeFault = z.strictObject({
  kind: z.literal('outcome'),
  outcome: z.enum(['PartiallySucceeded', 'Failed', 'Canceled']),
});
/** ExportToPackage(Async/Preview) answers the all-zero GUID and starts nothing (Microsoft's Logic App sample retries then). */
const zeroExecutionIdFault = z.strictObject({ kind: z.literal('zeroExecutionId') });
/** Dequeue: the dequeued message's file was not uploaded (`IsDownLoadFileExist: false`; download answers 404). */
const fileMissingFault = z.strictObject({ kind: z.literal('fileMissing') });
/**
 * Priority-based (resource) throttling: every matching call answers 429 with `Retry-After` for
 * `forMs` of emulator time from when the fault is set. `actions` narrows `route: '*'` to some routes.
 */
const throttleFault = z.strictObject({
  kind: z.literal('throttle'),
  /** Emulator-clock ms the throttling lasts. */
  forMs: z.number().int().min(1),
  /** Seconds for Retry-After; default the time left in the window (rounded up). */
  retryAfterSeconds: z.number().int().min(0).optional(),
  /** Routes throttled (with `route: '*'`); default every F&O route. */
  actions: z.array(z.string().min(1)).min(1).optional(),
});

/**
 * A fault: for `route` (a package action like `ImportFromPackage`, a recurring route `enqueue`,
 * `dequeue`, `ack`, `download`, `jobstatus`, `token`, or `*`), optionally limited to one
 * environment, for the next `times` calls or until cleared (a `throttle` also ends with its window).
 */
export const FaultSpecSchema = z
  .discriminatedUnion('kind', [
    statusFault,
    latencyFault,
    resetFault,
    dropResponseFault,
    tokenExpiryFault,
    sasExpiryFault,
    outcomeFault,
    zeroExecutionIdFault,
    fileMissingFault,
    throttleFault,
  ])
  .and(
    z.object({
      route: z.string().min(1),
      environment: z.string().optional(),
      times: z.number().int().min(1).optional(),
    }),
  );

/** A fault to inject. */
export type FaultSpec = z.input<typeof FaultSpecSchema>;

/** An injected fault with its counters. */
export type ActiveFault = z.output<typeof FaultSpecSchema> & {
  id: string;
  hits: number;
  remaining: number | null;
  /** Throttle faults: end of the window (emulator time, ISO). */
  until?: string;
};
