/** Names and defaults of the plain app settings the app reads (besides DMF_CONFIG). */

/** App setting names. */
export const SETTING_NAMES = {
  /** Inline configuration JSON. */
  config: 'DMF_CONFIG',
  /** Path of a configuration JSON file (relative to the app root). */
  configFile: 'DMF_CONFIG_FILE',
  /** Storage connection string (also used by the Functions host). */
  storage: 'AzureWebJobsStorage',
  /** Identity-based storage: account name (blob endpoint derived). */
  storageAccountName: 'AzureWebJobsStorage__accountName',
  /** Identity-based storage: blob service URI. */
  storageBlobServiceUri: 'AzureWebJobsStorage__blobServiceUri',
  /** Identity-based storage: table service URI (the job index; derived from the account name or blob URI). */
  storageTableServiceUri: 'AzureWebJobsStorage__tableServiceUri',
  /** Identity-based storage: `managedidentity` to use a managed identity. */
  storageCredential: 'AzureWebJobsStorage__credential',
  /** Identity-based storage: client id of a user-assigned identity. */
  storageClientId: 'AzureWebJobsStorage__clientId',
  /** Service Bus connection string. */
  serviceBus: 'ServiceBusConnection',
  /** Identity-based Service Bus: namespace host name. */
  serviceBusNamespace: 'ServiceBusConnection__fullyQualifiedNamespace',
  /** Identity-based Service Bus: `managedidentity`. */
  serviceBusCredential: 'ServiceBusConnection__credential',
  /** Identity-based Service Bus: client id of a user-assigned identity. */
  serviceBusClientId: 'ServiceBusConnection__clientId',
  /** Container of files to import. */
  inboundContainer: 'DMF_INBOUND_CONTAINER',
  /** Container of processed inbound files. */
  archiveContainer: 'DMF_ARCHIVE_CONTAINER',
  /** Container of execution results (error files, summaries). */
  resultsContainer: 'DMF_RESULTS_CONTAINER',
  /** Container of exported packages. */
  outboundContainer: 'DMF_OUTBOUND_CONTAINER',
  /** Container of files to enqueue through recurring integrations. */
  recurringInboundContainer: 'DMF_RECURRING_INBOUND_CONTAINER',
  /** Container of template packages. */
  templatesContainer: 'DMF_TEMPLATES_CONTAINER',
  /** Table of the job index: one row per job, newest first (the jobs list). */
  jobsTable: 'DMF_JOBS_TABLE',
  /** Table of the job index: one row per job id (where its list row is). */
  jobIdsTable: 'DMF_JOB_IDS_TABLE',
  /** Service Bus queue of commands. */
  commandsQueue: 'DMF_COMMANDS_QUEUE',
  /** Service Bus topic of events. */
  eventsTopic: 'DMF_EVENTS_TOPIC',
  /** Containers a caller may name in `{"blobPath": "{container}/{path}"}` (comma-separated). */
  sourceContainers: 'DMF_SOURCE_CONTAINERS',
  /** Days the durable history of finished jobs is kept (0: forever). */
  purgeAfterDays: 'DMF_PURGE_AFTER_DAYS',
  /** Days a job stays in the job index (the jobs list) after it was requested (0: forever). */
  jobIndexDays: 'DMF_JOB_INDEX_DAYS',
} as const;

/** Default of {@link SETTING_NAMES.purgeAfterDays}. */
export const DEFAULT_PURGE_AFTER_DAYS = 30;
/** Default of {@link SETTING_NAMES.jobIndexDays}: as long as the results stay (the infra's default). */
export const DEFAULT_JOB_INDEX_DAYS = 90;
/** Largest {@link SETTING_NAMES.purgeAfterDays} accepted (ten years). */
export const MAX_PURGE_AFTER_DAYS = 3650;

/** Default container, queue and topic names. */
export const DEFAULT_NAMES = {
  inboundContainer: 'dmf-inbound',
  archiveContainer: 'dmf-archive',
  resultsContainer: 'dmf-results',
  outboundContainer: 'dmf-outbound',
  recurringInboundContainer: 'dmf-recurring-inbound',
  templatesContainer: 'dmf-templates',
  jobsTable: 'dmfjobs',
  jobIdsTable: 'dmfjobids',
  commandsQueue: 'dmf-commands',
  eventsTopic: 'dmf-events',
} as const;

/** One app setting the app reads. */
export interface AppSettingInfo {
  /** Setting name. */
  readonly name: string;
  /**
   * True when the app refuses to start without it. When `oneOf` is set, the requirement is met
   * by this setting or any of the listed alternatives.
   */
  readonly required: boolean;
  /** Alternatives that satisfy the same requirement. */
  readonly oneOf?: readonly string[];
  /** Default value when unset. */
  readonly default?: string;
  /** True when the value is a secret (use a Key Vault reference on Azure). */
  readonly secret?: boolean;
  /** What it is for. */
  readonly description: string;
}

/**
 * Every app setting the configuration loader reads. Settings named inside DMF_CONFIG (e.g.
 * `clientSecretSetting` values) are dynamic: list them with `referencedSettings(config)`.
 */
export const APP_SETTINGS: readonly AppSettingInfo[] = Object.freeze([
  {
    name: SETTING_NAMES.config,
    required: true,
    oneOf: [SETTING_NAMES.configFile],
    description:
      'Configuration JSON (environments, data projects, recurring activities). Exactly one of DMF_CONFIG / DMF_CONFIG_FILE.',
  },
  {
    name: SETTING_NAMES.configFile,
    required: true,
    oneOf: [SETTING_NAMES.config],
    description: 'Path of the configuration JSON file, relative to the app root (AzureWebJobsScriptRoot).',
  },
  {
    name: SETTING_NAMES.storage,
    required: true,
    oneOf: [SETTING_NAMES.storageAccountName, SETTING_NAMES.storageBlobServiceUri],
    secret: true,
    description:
      'Storage connection string (blobs, Durable Functions state). Or identity-based: AzureWebJobsStorage__accountName / __blobServiceUri.',
  },
  {
    name: SETTING_NAMES.storageAccountName,
    required: true,
    oneOf: [SETTING_NAMES.storage, SETTING_NAMES.storageBlobServiceUri],
    description: 'Identity-based storage: account name (blob endpoint https://{name}.blob.core.windows.net).',
  },
  {
    name: SETTING_NAMES.storageBlobServiceUri,
    required: true,
    oneOf: [SETTING_NAMES.storage, SETTING_NAMES.storageAccountName],
    description: 'Identity-based storage: blob service URI.',
  },
  {
    name: SETTING_NAMES.storageTableServiceUri,
    required: false,
    description:
      'Identity-based storage: table service URI of the job index (default from the account name, or the blob service URI with .blob. → .table.).',
  },
  {
    name: SETTING_NAMES.storageCredential,
    required: false,
    description: 'Identity-based storage: "managedidentity".',
  },
  {
    name: SETTING_NAMES.storageClientId,
    required: false,
    description: 'Identity-based storage: client id of a user-assigned managed identity.',
  },
  {
    name: SETTING_NAMES.serviceBus,
    required: true,
    oneOf: [SETTING_NAMES.serviceBusNamespace],
    secret: true,
    description:
      'Service Bus connection string. Or identity-based: ServiceBusConnection__fullyQualifiedNamespace.',
  },
  {
    name: SETTING_NAMES.serviceBusNamespace,
    required: true,
    oneOf: [SETTING_NAMES.serviceBus],
    description: 'Identity-based Service Bus: namespace host, e.g. contoso.servicebus.windows.net.',
  },
  {
    name: SETTING_NAMES.serviceBusCredential,
    required: false,
    description: 'Identity-based Service Bus: "managedidentity".',
  },
  {
    name: SETTING_NAMES.serviceBusClientId,
    required: false,
    description: 'Identity-based Service Bus: client id of a user-assigned managed identity.',
  },
  {
    name: SETTING_NAMES.inboundContainer,
    required: false,
    default: DEFAULT_NAMES.inboundContainer,
    description: 'Container where files to import are dropped.',
  },
  {
    name: SETTING_NAMES.archiveContainer,
    required: false,
    default: DEFAULT_NAMES.archiveContainer,
    description: 'Container where processed inbound files are moved.',
  },
  {
    name: SETTING_NAMES.resultsContainer,
    required: false,
    default: DEFAULT_NAMES.resultsContainer,
    description: 'Container of execution results (summaries, error files).',
  },
  {
    name: SETTING_NAMES.outboundContainer,
    required: false,
    default: DEFAULT_NAMES.outboundContainer,
    description: 'Container of exported packages and dequeued recurring files.',
  },
  {
    name: SETTING_NAMES.recurringInboundContainer,
    required: false,
    default: DEFAULT_NAMES.recurringInboundContainer,
    description: 'Container of files to enqueue through recurring integrations.',
  },
  {
    name: SETTING_NAMES.templatesContainer,
    required: false,
    default: DEFAULT_NAMES.templatesContainer,
    description: 'Container of template packages (data projects name them in "template").',
  },
  {
    name: SETTING_NAMES.jobsTable,
    required: false,
    default: DEFAULT_NAMES.jobsTable,
    description:
      'Table (in the AzureWebJobsStorage account) of the job index: one row per job, listed newest first.',
  },
  {
    name: SETTING_NAMES.jobIdsTable,
    required: false,
    default: DEFAULT_NAMES.jobIdsTable,
    description: 'Table of the job index: one row per job id, pointing at its list row.',
  },
  {
    name: SETTING_NAMES.commandsQueue,
    required: false,
    default: DEFAULT_NAMES.commandsQueue,
    description: 'Service Bus queue of commands.',
  },
  {
    name: SETTING_NAMES.eventsTopic,
    required: false,
    default: DEFAULT_NAMES.eventsTopic,
    description: 'Service Bus topic of events.',
  },
  {
    name: SETTING_NAMES.sourceContainers,
    required: false,
    default: `(the inbound container, ${DEFAULT_NAMES.inboundContainer})`,
    description:
      'Containers an import request or command may name in "blobPath" (comma-separated); any other container is refused and nothing is moved. Never the archive, results or templates container.',
  },
  {
    name: SETTING_NAMES.purgeAfterDays,
    required: false,
    default: String(DEFAULT_PURGE_AFTER_DAYS),
    description: `Days the Durable Functions history of completed, failed and terminated jobs is kept (whole days, 0 to ${MAX_PURGE_AFTER_DAYS}; 0 keeps it forever). A daily timer purges older instances; their results stay in the results container.`,
  },
  {
    name: SETTING_NAMES.jobIndexDays,
    required: false,
    default: String(DEFAULT_JOB_INDEX_DAYS),
    description: `Days a job stays in the jobs list (the job index) after it was requested (whole days, 0 to ${MAX_PURGE_AFTER_DAYS}; 0 keeps it forever). The daily purge timer deletes older rows; keep it at most the results' retention, so a listed job's result still exists.`,
  },
]);
