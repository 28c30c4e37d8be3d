/**
 * The configuration schema (zod v4): environments, data projects and recurring activities, as
 * written in the `DMF_CONFIG` JSON. Secrets are never in this JSON: it holds the NAME of the app
 * setting that holds a secret (`clientSecretSetting`, `certificateSetting`, …).
 */
import { Cron } from 'croner';
import { z } from 'zod';
import { recurringExportInstanceId } from '../jobs/ids.js';
import { JOB_OUTCOMES } from '../jobs/statuses.js';

/** Names of environments, data projects: safe in blob paths, queue messages and logs. */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
/** An app setting name (letters, digits, `_`, `.`, `-`; `__` nests, as Azure Functions does). */
export const SETTING_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_.-]{0,127}$/;
/**
 * An F&O legal entity (company id, `DataAreaId`): 1-4 letters or digits. F&O's extended data type
 * `LegalEntityDataAreaId` (a `DataArea` id) has string size 4, and a new company's id is "limited
 * to four alphanumeric characters" (Microsoft Learn: the AX 2012 EDT reference and the F&O
 * legal-entity training module; see docs/security.md).
 */
export const LEGAL_ENTITY_PATTERN = /^[A-Za-z0-9]{1,4}$/;
/** A legal entity as configured or sent by a caller (see {@link LEGAL_ENTITY_PATTERN}). */
export const legalEntitySchema = z
  .string()
  .regex(LEGAL_ENTITY_PATTERN, 'must be an F&O legal entity (company id): 1-4 letters or digits, e.g. USMF');
const GUID_PATTERN = /^(\{)?([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(\})?$/i;

/** Longest orchestration instance id the Durable Task Scheduler accepts (docs/scale.md). */
export const MAX_INSTANCE_ID_LENGTH = 100;

const name = z
  .string()
  .regex(
    NAME_PATTERN,
    'must be 1-63 characters: letters, digits, ".", "_" or "-", starting with a letter or digit',
  );
const nonEmpty = z.string().trim().min(1, 'must not be empty');
const settingName = z
  .string()
  .regex(
    SETTING_NAME_PATTERN,
    'must be the NAME of an app setting (letters, digits, "_", ".", "-"), not the secret itself',
  );

/** Validates and normalizes a GUID: braces optional, result lower-case without braces. */
export const guidSchema = z
  .string()
  .trim()
  .refine((v) => {
    const m = GUID_PATTERN.exec(v);
    return m !== null && (m[1] === undefined) === (m[3] === undefined);
  }, 'must be a GUID, e.g. 6f1f1b52-4a1c-4f0e-9c43-2f0a8c7d9e10 (braces optional)')
  .transform((v) => v.replace(/[{}]/g, '').toLowerCase());

const clientId = z
  .string()
  .trim()
  .regex(
    /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i,
    'must be a GUID (the application id)',
  );
const tenantId = z
  .string()
  .trim()
  .regex(
    /^(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[a-z0-9-]+(?:\.[a-z0-9-]+)+)$/i,
    'must be a tenant GUID or a verified domain (contoso.onmicrosoft.com)',
  );

function isHttpsUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === 'https:' && url.search === '' && url.hash === '' && url.username === '';
  } catch {
    return false;
  }
}

/** An https URL without query, fragment or credentials; the trailing `/` is removed. */
export const httpsUrlSchema = z
  .string()
  .trim()
  .refine(isHttpsUrl, 'must be an https:// URL without query string or fragment')
  .transform((v) => v.replace(/\/+$/, ''));

/**
 * How the app authenticates to an environment. The contract with `src/shared/auth/`:
 * - `clientSecret`: Entra app + secret (the secret is in the app setting `clientSecretSetting`).
 * - `clientCertificate`: Entra app + certificate; exactly one of `certificateSetting` (an app
 *   setting holding the PEM, certificate and private key; on Azure a Key Vault reference) or
 *   `certificatePathSetting` (an app setting holding a file path to a PEM).
 * - `managedIdentity`: the Function App's identity (`clientId` for a user-assigned one).
 * - `workloadIdentity`: a managed identity federated to an Entra app (`clientId` = the app,
 *   `managedIdentityClientId` = the user-assigned identity, `audience` default
 *   `api://AzureADTokenExchange`).
 * - `adfs`: on-premises AD FS client credentials (`resource` default: the environment url).
 * No defaults are applied here, so the input and output types are the same.
 */
export const EnvironmentAuthConfigSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('clientSecret'),
    tenantId,
    clientId,
    clientSecretSetting: settingName,
    authorityHost: httpsUrlSchema.optional(),
  }),
  z
    .strictObject({
      kind: z.literal('clientCertificate'),
      tenantId,
      clientId,
      certificateSetting: settingName.optional(),
      certificatePathSetting: settingName.optional(),
      sendCertificateChain: z.boolean().optional(),
      authorityHost: httpsUrlSchema.optional(),
    })
    .superRefine((v, ctx) => {
      if ((v.certificateSetting === undefined) === (v.certificatePathSetting === undefined)) {
        ctx.addIssue({
          code: 'custom',
          path: ['certificateSetting'],
          message: 'give exactly one of certificateSetting (PEM in an app setting) or certificatePathSetting',
        });
      }
    }),
  z.strictObject({
    kind: z.literal('managedIdentity'),
    clientId: clientId.optional(),
  }),
  z.strictObject({
    kind: z.literal('workloadIdentity'),
    tenantId,
    clientId,
    managedIdentityClientId: clientId.optional(),
    audience: nonEmpty.optional(),
    authorityHost: httpsUrlSchema.optional(),
  }),
  z.strictObject({
    kind: z.literal('adfs'),
    adfsUrl: httpsUrlSchema,
    clientId: nonEmpty,
    clientSecretSetting: settingName,
    resource: httpsUrlSchema.optional(),
  }),
]);

/** Authentication settings of an environment (see {@link EnvironmentAuthConfigSchema}). */
export type EnvironmentAuthConfig = z.infer<typeof EnvironmentAuthConfigSchema>;

/**
 * Why imports into one environment run one at a time, whatever the configuration: F&O fails an
 * ImportFromPackage started while another runs (DMF2025 mapping error, unless the environment's
 * "Enhanced parallel package import" parameter is on, which the app cannot see).
 */
export const IMPORT_CONCURRENCY_RULE =
  'imports into one environment run one at a time. Microsoft\'s package API docs: "ImportFromPackage() must not be called in parallel threads. Otherwise, it will fail."';

/** One F&O environment. */
export const EnvironmentConfigSchema = z.strictObject({
  /** Unique name other entries refer to. */
  name,
  /** Base url, e.g. `https://usmf.sandbox.operations.dynamics.com` (https, no trailing `/`). */
  url: httpsUrlSchema,
  /** On-premises (AD FS, `/namespaces/AXSF`, no recurring integration API). Default false. */
  onPremises: z.boolean().default(false),
  auth: EnvironmentAuthConfigSchema,
  /** Legal entity used when a data project does not name one. */
  defaultLegalEntity: legalEntitySchema.optional(),
  /**
   * Imports in flight at once against this environment: 1, the only value accepted (see
   * {@link IMPORT_CONCURRENCY_RULE}); kept as a key so configurations that say 1 stay valid. Exports
   * are not limited by it.
   */
  concurrency: z
    .number()
    .refine((v) => v === 1, `must be 1: ${IMPORT_CONCURRENCY_RULE}`)
    .default(1),
});
/** One F&O environment, defaults applied. */
export type EnvironmentConfig = z.infer<typeof EnvironmentConfigSchema>;

/** True when `pattern` is a 6-field NCRONTAB expression (`sec min hour day month day-of-week`). */
export function isValidNcrontab(pattern: string): boolean {
  if (pattern.trim().split(/\s+/).length !== 6) return false;
  try {
    new Cron(pattern, { paused: true, mode: '6-part' }).stop();
    return true;
  } catch {
    return false;
  }
}

/** A 6-field NCRONTAB schedule as Azure Functions timer triggers use, validated with croner. */
export const scheduleSchema = z
  .string()
  .trim()
  .refine(
    isValidNcrontab,
    'must be a 6-field NCRONTAB expression "{second} {minute} {hour} {day} {month} {day-of-week}", e.g. "0 */15 * * * *"',
  );

/** How an execution is polled (GetExecutionSummaryStatus). */
export const PollingConfigSchema = z
  .strictObject({
    /** First wait after the start. Default 15 s. */
    firstIntervalSeconds: z.number().positive().max(3600).default(15),
    /** Each wait is the previous × this. Default 1.6. */
    backoffFactor: z.number().min(1).max(10).default(1.6),
    /** Longest wait. Default 300 s. */
    maxIntervalSeconds: z.number().positive().max(86_400).default(300),
    /** Give up (as timed out) after this long. Default 24 h. */
    deadlineHours: z
      .number()
      .positive()
      .max(24 * 14)
      .default(24),
    /** How long "Execution details were not found" counts as "not started yet". Default 300 s. */
    notStartedGraceSeconds: z.number().min(0).max(86_400).default(300),
  })
  .superRefine((v, ctx) => {
    if (v.maxIntervalSeconds < v.firstIntervalSeconds) {
      ctx.addIssue({
        code: 'custom',
        path: ['maxIntervalSeconds'],
        message: 'must be at least firstIntervalSeconds',
      });
    }
  });
/** Polling settings, defaults applied. */
export type PollingConfig = z.infer<typeof PollingConfigSchema>;

/** The polling defaults. */
export const DEFAULT_POLLING: Readonly<PollingConfig> = Object.freeze(PollingConfigSchema.parse({}));

/**
 * A file-name pattern: `*` stands for any characters, `?` for one; matched case-insensitively
 * against a file's name (never its folder). Letters, digits, space and `. _ - ( ) [ ] + , = @ ~ !`
 * besides the two wildcards, so a pattern cannot stand for a path.
 */
export const FILE_PATTERN = /^[A-Za-z0-9 ._()[\]+,=@~!*?-]{1,200}$/;
const filePattern = z
  .string()
  .regex(FILE_PATTERN, 'must be a file-name pattern ("*" any characters, "?" one), e.g. "*header*.csv"');

/**
 * One entity of a data project's template that raw files fill: which files it takes. A batch is
 * complete only when every entity that is not `optional` has its file; an optional entity without
 * one keeps the template's own data file (the template's definition is never cut, see
 * docs/batches.md).
 */
export const EntityFilesConfigSchema = z.strictObject({
  /** The DMF entity label as the template's manifest names it, e.g. "Sales order headers V2". */
  entity: nonEmpty,
  /** Which file names the entity takes, e.g. `*header*.csv`. */
  files: filePattern,
  /** The batch may come without a file for this entity. Default false. */
  optional: z.boolean().default(false),
});
/** See {@link EntityFilesConfigSchema}. */
export type EntityFilesConfig = z.infer<typeof EntityFilesConfigSchema>;

/** Tokens a batch path pattern is made of (besides literal folder names). */
export const BATCH_PATH_TOKENS = ['{batchId}', '{legalEntity}', '{file}'] as const;
/** The default batch path below `{environment}/{project}/`. */
export const DEFAULT_BATCH_PATH = '{batchId}/{file}';
/** The default trigger file name. */
export const DEFAULT_BATCH_TRIGGER = '_ready';

const batchPath = z.string().refine((v) => {
  const segments = v.split('/');
  const tokens = segments.filter((s) => s.startsWith('{'));
  return (
    segments.at(-1) === '{file}' &&
    segments.includes('{batchId}') &&
    new Set(tokens).size === tokens.length &&
    tokens.every((t) => (BATCH_PATH_TOKENS as readonly string[]).includes(t)) &&
    segments.every((s) => s.startsWith('{') || NAME_PATTERN.test(s))
  );
}, 'must be folders below the project ending in "{file}", naming "{batchId}" once and optionally "{legalEntity}", e.g. "{batchId}/{file}" or "{legalEntity}/{batchId}/{file}"');

/** When a batch of files is complete, and how long it may take. */
export const BatchConfigSchema = z.strictObject({
  /** Where a batch's files are, below `{environment}/{project}/`. Default `{batchId}/{file}`. */
  path: batchPath.default(DEFAULT_BATCH_PATH),
  /** The file that says "the batch is all there". Default `_ready`. */
  trigger: z
    .string()
    .regex(FILE_PATTERN, 'must be a file name')
    .refine((v) => !/[*?]/.test(v), 'must be a file name, not a pattern')
    .default(DEFAULT_BATCH_TRIGGER),
  /**
   * `trigger` (default): complete once the trigger file and a file for every required entity are
   * there. `allEntities`: complete as soon as every required entity has its file (no trigger file).
   */
  complete: z.enum(['trigger', 'allEntities']).default('trigger'),
  /** A batch still incomplete this long after its first file ends Failed, its files left in place. Default 60. */
  timeoutMinutes: z
    .number()
    .positive()
    .max(7 * 24 * 60)
    .default(60),
});
/** Batch settings, defaults applied. */
export type BatchConfig = z.infer<typeof BatchConfigSchema>;

/** One data project (DMF definition group) the app imports into or exports from. */
export const DataProjectConfigSchema = z.strictObject({
  /** Unique name (used in blob paths and commands). */
  name,
  /** The F&O data project name (`definitionGroupId`). */
  definitionGroupId: nonEmpty,
  /** Name of the environment. */
  environment: name,
  direction: z.enum(['import', 'export']),
  /** Legal entity; default the environment's `defaultLegalEntity` (one of them is required). */
  legalEntity: legalEntitySchema.optional(),
  /** Import only: name of the template package blob (in the templates container) used to wrap raw files. */
  template: nonEmpty.optional(),
  /**
   * Import, with a template: which raw files fill which entity of the template (a multi-entity
   * template needs it). See {@link EntityFilesConfigSchema}.
   */
  entities: z.array(EntityFilesConfigSchema).min(1).max(50).optional(),
  /** Import, with `entities`: files arrive as batches, one package and one F&O execution per batch. */
  batch: BatchConfigSchema.optional(),
  /** Import: run the target step (`execute`). Default true, as Microsoft's docs and samples. */
  execute: z.boolean().default(true),
  /** Import: `overwrite`. Default true (docs: true, except false with a composite entity, which the import forces). */
  overwrite: z.boolean().default(true),
  /** Export: `reExecute`. Default false. */
  reExecute: z.boolean().default(false),
  /** Export: `packageName`. Default the project name. */
  packageName: nonEmpty.optional(),
  /** When to run (exports) or sweep (imports); 6-field NCRONTAB. Optional. */
  schedule: scheduleSchema.optional(),
  /** Export: also store the package's data files, unpacked, beside the zip. Default false. */
  unpack: z.boolean().optional(),
  /**
   * Export: run one export per legal entity (company), each stored under its own legal-entity
   * folder, grouped under one job. Used when a request names no legal entity.
   */
  legalEntities: z.array(legalEntitySchema).min(1).max(50).optional(),
  polling: PollingConfigSchema.default(DEFAULT_POLLING),
});
/** A data project as parsed (before cross-references are resolved). */
export type DataProjectConfigInput = z.infer<typeof DataProjectConfigSchema>;

/**
 * Dequeues in flight of a recurring export drain when its activity does not say
 * (`dequeueConcurrency`): chosen by bench/recurring/drain.ts with 100 ms on every F&O call.
 */
export const DEFAULT_DEQUEUE_CONCURRENCY = 4;

/** One recurring integration activity (cloud only). */
export const RecurringActivityConfigSchema = z
  .strictObject({
    /** Activity id from F&O (with or without braces), normalized to lower case without braces. */
    id: guidSchema,
    /** Name of the (cloud) environment. */
    environment: name,
    direction: z.enum(['import', 'export']),
    /** Import: entity label for a raw file (`?entity=`); absent for package jobs. */
    entity: nonEmpty.optional(),
    /** Import: legal entity (`?company=`). */
    company: legalEntitySchema.optional(),
    /** When to dequeue (export) or check statuses (import); required for exports. */
    schedule: scheduleSchema.optional(),
    /** Most messages dequeued per run. Default 10. */
    maxMessagesPerRun: z.number().int().min(1).max(1000).default(10),
    /**
     * Export: dequeues in flight at once (each pops another message). Default
     * {@link DEFAULT_DEQUEUE_CONCURRENCY}; 1 stores and announces files exactly in F&O's queue order.
     */
    dequeueConcurrency: z.number().int().min(1).max(16).optional(),
    /**
     * Ack a dequeued message whose file is missing (`IsDownLoadFileExist: false`). Default false:
     * the message then reappears after 30 minutes instead of being lost.
     */
    ackWhenFileMissing: z.boolean().default(false),
    /**
     * Import: largest file enqueued (bytes). Default 45 MiB: F&O refuses bodies of about 50 MB with
     * 413; larger files belong to the package API (a data project).
     */
    maxEnqueueBytes: z
      .number()
      .int()
      .min(1)
      .max(2 * 1024 * 1024 * 1024)
      .optional(),
    /**
     * Import: the path segment after the activity id names the company (legal entity):
     * `{environment}/{activityId}/{company}/[{entity}/]{file}`. Default false (company from `company`).
     */
    companyInPath: z.boolean().optional(),
    /** Import: how GetMessageStatus is polled. Default the data project polling defaults. */
    polling: PollingConfigSchema.optional(),
  })
  .superRefine((v, ctx) => {
    // The drain's instance id names the environment and the activity. The Durable Task Scheduler takes
    // instance ids of at most 100 characters (docs/scale.md); checked on every backend, so switching
    // the backend by configuration never strands a drain.
    const instanceId = recurringExportInstanceId(v.environment, v.id);
    if (v.direction === 'export' && instanceId.length > MAX_INSTANCE_ID_LENGTH) {
      ctx.addIssue({
        code: 'custom',
        path: ['environment'],
        message: `the drain's instance id "${instanceId}" would be ${instanceId.length} characters; the Durable Task Scheduler takes at most ${MAX_INSTANCE_ID_LENGTH}: use an environment name of at most ${MAX_INSTANCE_ID_LENGTH - (instanceId.length - v.environment.length)} characters`,
      });
    }
  });
/** A recurring activity, defaults applied. */
export type RecurringActivityConfig = z.infer<typeof RecurringActivityConfigSchema>;

/** When an alert is sent: `failure`, `success`, or job outcomes by name. */
export const ALERT_ON = ['failure', 'success', ...JOB_OUTCOMES] as const;

/** The job outcomes `failure` stands for (Canceled is an operator's own doing; Succeeded is `success`). */
export const ALERT_FAILURE_STATUSES: readonly string[] = [
  'PartiallySucceeded',
  'Failed',
  'TimedOut',
  'Unknown',
  'Rejected',
];

/**
 * One alert: a webhook told when a job ends as `on` says. The webhook url is a secret (a Teams
 * workflow url carries its signature, `sig=`): it is held by the app setting named in `urlSetting`,
 * never written here, and never enters logs, events or durable state.
 */
export const AlertConfigSchema = z.strictObject({
  /** Unique name (logs say which alert was sent). */
  name,
  /** NAME of the app setting holding the webhook url (https; http only to a loopback host, for tests). */
  urlSetting: settingName,
  /**
   * `teams`: a message with an Adaptive Card attachment, as Teams incoming webhooks and Workflows
   * ("When a Teams webhook request is received") accept it. `json`: `{ "text", "job" }`.
   */
  format: z.enum(['teams', 'json']).default('teams'),
  /** When: `failure` (default), `success`, or job outcomes by name. */
  on: z.array(z.enum(ALERT_ON)).min(1).default(['failure']),
  /** Only jobs of these environments (default: every one). */
  environments: z.array(name).min(1).optional(),
  /** Only these kinds of job (default: every one). */
  kinds: z
    .array(z.enum(['import', 'export', 'recurringImport', 'recurringExport']))
    .min(1)
    .optional(),
  /** The dashboard's url (`https://<app>/api/dashboard`): the message links the job's page. */
  dashboardUrl: httpsUrlSchema.optional(),
});
/** One alert, defaults applied. */
export type AlertConfig = z.infer<typeof AlertConfigSchema>;

/**
 * An ordered chain of import data projects: a batch dropped for the chain runs one import per
 * project, in order, each after the previous one succeeded.
 */
export const ChainConfigSchema = z.strictObject({
  /** Unique name (the blob folder `{environment}/_chains/{name}/`). */
  name,
  /** Name of the environment (every project of the chain imports into it). */
  environment: name,
  /** Import data projects, in the order they run; each takes the batch files its `entities` name. */
  projects: z.array(name).min(1).max(20),
  /** A project ending PartiallySucceeded: `stop` the chain (default) or `continue` with the next. */
  onPartialSuccess: z.enum(['stop', 'continue']).default('stop'),
  /** When the chain's batch is complete (its `path` is always `{batchId}/{file}`). */
  batch: BatchConfigSchema.omit({ path: true }).default({
    trigger: DEFAULT_BATCH_TRIGGER,
    complete: 'trigger',
    timeoutMinutes: 60,
  }),
});
/** A chain, defaults applied. */
export type ChainConfig = z.infer<typeof ChainConfigSchema>;

/** The JSON in `DMF_CONFIG` / the file named by `DMF_CONFIG_FILE`. */
export const DmfConfigSchema = z.strictObject({
  /** Optional JSON-schema reference for editors. */
  $schema: z.string().optional(),
  environments: z.array(EnvironmentConfigSchema).min(1, 'at least one environment is required'),
  dataProjects: z.array(DataProjectConfigSchema).default([]),
  recurringActivities: z.array(RecurringActivityConfigSchema).default([]),
  /** Webhooks told about finished jobs (see {@link AlertConfigSchema}). */
  alerts: z.array(AlertConfigSchema).default([]),
  chains: z.array(ChainConfigSchema).default([]),
});
/** The parsed `DMF_CONFIG` JSON. */
export type DmfConfig = z.infer<typeof DmfConfigSchema>;

/** A data project with cross-references resolved (legal entity and package name filled in). */
export type DataProjectConfig = Omit<DataProjectConfigInput, 'legalEntity' | 'packageName'> & {
  legalEntity: string;
  packageName: string;
};

/** JSON Schema of the `DMF_CONFIG` JSON (input form), for editors and docs. */
export function dmfConfigJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(DmfConfigSchema, { io: 'input', unrepresentable: 'any' });
}
