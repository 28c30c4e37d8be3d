import { readFileSync } from 'node:fs';
import { z } from 'zod';

/** Raised when the emulator's config file or options are invalid; lists every invalid key. */
export class EmulatorConfigError extends Error {
  /** Every problem found, with the dotted path of the offending key. */
  readonly issues: readonly { path: string; message: string }[];

  constructor(issues: readonly { path: string; message: string }[], source: string) {
    super(
      `Invalid emulator configuration in ${source} (${issues.length} problem${issues.length === 1 ? '' : 's'}):\n` +
        issues.map((i) => `  - ${i.path || '(root)'}: ${i.message}`).join('\n'),
    );
    this.name = 'EmulatorConfigError';
    this.issues = issues;
  }
}

const guid = z.string().regex(/^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$/, 'must be a GUID');

/** An entity a data project knows: its DMF label (what manifests and `entity=` use) and key fields. */
export const EntitySchema = z.strictObject({
  label: z
    .string()
    .min(1)
    .describe(
      'DMF entity label, as in Manifest.xml EntityName and the recurring entity= parameter, e.g. "Customers V3".',
    ),
  keyFields: z
    .array(z.string().min(1))
    .min(1)
    .describe('Key field names, matched case-insensitively against data file column headers.'),
  name: z
    .string()
    .min(1)
    .optional()
    .describe('Public (OData) entity name; a package naming the entity by it instead of the label fails.'),
  references: z
    .array(
      z.strictObject({
        entity: z
          .string()
          .min(1)
          .describe('Label of the entity referred to (a configured entity), e.g. "Sales order headers V2".'),
        fields: z
          .array(z.string().min(1))
          .min(1)
          .describe(
            'This entity\'s fields holding the referred entity\'s key, in the order of its keyFields, e.g. ["SALESORDERNUMBER"].',
          ),
      }),
    )
    .default([])
    .describe(
      'Foreign keys checked on import: a row whose values are neither in the referred entity rows processed before it in the same execution nor already stored fails with a staging error.',
    ),
});

/** A data project (definition group). */
export const DataProjectSchema = z.strictObject({
  name: z
    .string()
    .min(1)
    .describe('Data project (definition group) name, the definitionGroupId of the package API.'),
  direction: z.enum(['import', 'export']),
  entities: z.array(EntitySchema).min(1).describe('Entities of the project; an export packs these.'),
  legalEntity: z
    .string()
    .min(1)
    .default('USMF')
    .describe('Legal entity (company) when a request names none.'),
  executionDurationMs: z
    .union([
      z.number().int().min(0),
      z.strictObject({ min: z.number().int().min(0), max: z.number().int().min(0) }),
    ])
    .optional()
    .describe(
      'How long an execution of this project runs (emulator time), in ms; {min, max} draws one per execution. Default: the executionDurationMs switch.',
    ),
});

/** An app registration the emulated Entra ID knows. */
export const ClientSchema = z.strictObject({
  clientId: z.string().min(1).describe('Application (client) id.'),
  secrets: z.array(z.string().min(1)).default([]).describe('Accepted client secrets.'),
  certificates: z
    .array(z.string().min(1))
    .default([])
    .describe(
      'Certificates whose key may sign client assertions: PEM text, a PEM file path, or "generated" (the client certificate in the data folder).',
    ),
  federatedSubjects: z
    .array(z.string().min(1))
    .default([])
    .describe(
      'Subjects of emulator-issued managed identity assertions this client trusts (workload identity federation).',
    ),
});

/** A managed identity served by the emulator's App Service-style managed identity endpoint. */
export const ManagedIdentitySchema = z.strictObject({
  clientId: z
    .string()
    .min(1)
    .describe(
      'Client (application) id of the identity: the appid of its access tokens; list it in environments[].clients to register it in F&O. The first identity is the system-assigned one (requests without client_id).',
    ),
  principalId: z
    .string()
    .min(1)
    .optional()
    .describe('Object (principal) id, selectable with principal_id / object_id; default the client id.'),
  subject: z
    .string()
    .min(1)
    .optional()
    .describe(
      "Subject of its api://AzureADTokenExchange assertions (list it in a client's federatedSubjects); default the principal id.",
    ),
});

/** One emulated F&O environment (one HTTPS listener). */
export const EnvironmentSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, - and _ only'),
  type: z
    .enum(['cloud', 'onprem'])
    .default('cloud')
    .describe(
      'cloud: Entra ID tokens; onprem: AD FS token shape, package API under /namespaces/AXSF, recurring API answers 302.',
    ),
  port: z.number().int().min(0).max(65535).default(0).describe('Fixed port; 0 picks a free one.'),
  clients: z
    .array(z.string().min(1))
    .min(1)
    .describe(
      'Client ids (of clients or managed identities) registered in F&O (System administration > Microsoft Entra applications); other apps get 401.',
    ),
});

/** A recurring integration activity (recurring data job). */
export const RecurringActivitySchema = z.strictObject({
  id: guid.describe('Activity id (GUID) used in /api/connector/*/{activityId}.'),
  name: z.string().min(1),
  direction: z.enum(['import', 'export']),
  dataProject: z.string().min(1).describe('Name of a data project with the same direction.'),
  environment: z.string().min(1).optional().describe('Environment name; default the first environment.'),
  legalEntity: z
    .string()
    .min(1)
    .default('USMF')
    .describe('Legal entity when enqueue has no company parameter.'),
});

/** The whole config file. */
export const EmulatorConfigSchema = z.strictObject({
  $schema: z.string().optional().describe('Path or url of this JSON schema (ignored).'),
  tenantId: guid.describe('Tenant id (GUID) of the emulated Entra ID.'),
  clients: z.array(ClientSchema).min(1),
  managedIdentities: z
    .array(ManagedIdentitySchema)
    .default([])
    .describe('Managed identities the managed identity endpoint (IDENTITY_ENDPOINT) issues tokens for.'),
  managedIdentityHeader: z
    .string()
    .min(1)
    .default('emulator-identity-header')
    .describe(
      'Value the managed identity endpoint expects in X-IDENTITY-HEADER (the IDENTITY_HEADER variable).',
    ),
  environments: z.array(EnvironmentSchema).min(1),
  dataProjects: z.array(DataProjectSchema).default([]),
  recurringActivities: z.array(RecurringActivitySchema).default([]),
});

/** Parsed, defaulted emulator configuration. */
export type EmulatorConfig = z.output<typeof EmulatorConfigSchema>;
/** Emulator configuration as written in a file (defaults may be omitted). */
export type EmulatorConfigInput = z.input<typeof EmulatorConfigSchema>;
/** A data project. */
export type DataProjectConfig = z.output<typeof DataProjectSchema>;
/** An entity of a data project. */
export type EntityConfig = z.output<typeof EntitySchema>;
/** A managed identity. */
export type ManagedIdentityConfig = z.output<typeof ManagedIdentitySchema>;
/** A recurring activity. */
export type RecurringActivityConfig = z.output<typeof RecurringActivitySchema>;
/** An environment. */
export type EnvironmentConfig = z.output<typeof EnvironmentSchema>;

/** Tenant id of the built-in configuration. */
export const DEFAULT_TENANT_ID = '5f3b1c2e-0e6d-4b7a-9d1e-000000000d3f';
/** Client id of the built-in configuration's app registration. */
export const DEFAULT_CLIENT_ID = '9b0b8e52-1c3a-4a8e-9f55-0000000c1e47';
/** Client secret of the built-in configuration's app registration (not a real secret). */
export const DEFAULT_CLIENT_SECRET = 'emulator-client-secret';
/** Id of the built-in recurring import activity. */
export const DEFAULT_IMPORT_ACTIVITY_ID = '0f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a01';
/** Id of the built-in recurring export activity. */
export const DEFAULT_EXPORT_ACTIVITY_ID = '0f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a02';
/** Subject of the emulator-issued managed identity assertion the built-in client trusts. */
export const DEFAULT_FEDERATED_SUBJECT = 'system:serviceaccount:dmf:emulator-managed-identity';
/** Client id of the built-in managed identity (registered in the default environment). */
export const DEFAULT_MANAGED_IDENTITY_CLIENT_ID = '7c2d4e6f-8a9b-4c1d-9e2f-00000000a1d7';
/** Value of IDENTITY_HEADER the built-in configuration's managed identity endpoint expects (not a secret). */
export const DEFAULT_MANAGED_IDENTITY_HEADER = 'emulator-identity-header';

/** DMF label of the sales order header entity (Learn: "Data management entity name: Sales order headers V2"). */
export const SALES_ORDER_HEADERS_ENTITY = 'Sales order headers V2';
/** DMF label of the sales order line entity (Learn: "Data management entity name: Sales order lines V2"). */
export const SALES_ORDER_LINES_ENTITY = 'Sales order lines V2';
/** The built-in import data project for an order batch (headers, then lines). */
export const ORDERS_BATCH_PROJECT = 'OrdersBatch';

/** Built-in configuration mirroring Microsoft's documented examples. */
export const DEFAULT_CONFIG: EmulatorConfigInput = {
  tenantId: DEFAULT_TENANT_ID,
  clients: [
    {
      clientId: DEFAULT_CLIENT_ID,
      secrets: [DEFAULT_CLIENT_SECRET],
      certificates: ['generated'],
      federatedSubjects: [DEFAULT_FEDERATED_SUBJECT],
    },
  ],
  managedIdentities: [{ clientId: DEFAULT_MANAGED_IDENTITY_CLIENT_ID, subject: DEFAULT_FEDERATED_SUBJECT }],
  managedIdentityHeader: DEFAULT_MANAGED_IDENTITY_HEADER,
  environments: [
    {
      name: 'default',
      type: 'cloud',
      port: 0,
      clients: [DEFAULT_CLIENT_ID, DEFAULT_MANAGED_IDENTITY_CLIENT_ID],
    },
  ],
  dataProjects: [
    {
      name: 'CustomerImport',
      direction: 'import',
      legalEntity: 'USMF',
      entities: [{ label: 'Customers V3', name: 'CustomersV3', keyFields: ['CustomerAccount'] }],
    },
    {
      name: 'CustomerExport',
      direction: 'export',
      legalEntity: 'USMF',
      entities: [{ label: 'Customers V3', name: 'CustomersV3', keyFields: ['CustomerAccount'] }],
    },
    {
      name: 'Asset-Major-Types',
      direction: 'import',
      legalEntity: 'USMF',
      entities: [{ label: 'Fixed asset major type', keyFields: ['MAJORTYPEID'] }],
    },
    {
      // An order batch: headers, then lines (entity-sales-order-headers-v2 / -lines-v2 on Learn).
      name: ORDERS_BATCH_PROJECT,
      direction: 'import',
      legalEntity: 'USMF',
      entities: [
        {
          label: SALES_ORDER_HEADERS_ENTITY,
          name: 'SalesOrderHeadersV2',
          keyFields: ['SALESORDERNUMBER'],
        },
        {
          label: SALES_ORDER_LINES_ENTITY,
          name: 'SalesOrderLines',
          keyFields: ['INVENTORYLOTID'],
          references: [{ entity: SALES_ORDER_HEADERS_ENTITY, fields: ['SALESORDERNUMBER'] }],
        },
      ],
    },
  ],
  recurringActivities: [
    {
      id: DEFAULT_IMPORT_ACTIVITY_ID,
      name: 'CustomerRecurringImport',
      direction: 'import',
      dataProject: 'CustomerImport',
      legalEntity: 'USMF',
    },
    {
      id: DEFAULT_EXPORT_ACTIVITY_ID,
      name: 'CustomerRecurringExport',
      direction: 'export',
      dataProject: 'CustomerExport',
      legalEntity: 'USMF',
    },
  ],
};

function crossCheck(config: EmulatorConfig): { path: string; message: string }[] {
  const issues: { path: string; message: string }[] = [];
  const clientIds = new Set([
    ...config.clients.map((c) => c.clientId),
    ...config.managedIdentities.map((m) => m.clientId),
  ]);
  const envNames = new Set<string>();
  config.environments.forEach((env, i) => {
    if (envNames.has(env.name))
      issues.push({ path: `environments.${i}.name`, message: 'duplicate environment name' });
    envNames.add(env.name);
    env.clients.forEach((c, j) => {
      if (!clientIds.has(c))
        issues.push({ path: `environments.${i}.clients.${j}`, message: `unknown client "${c}"` });
    });
  });
  const projects = new Map(config.dataProjects.map((p) => [p.name.toLowerCase(), p]));
  if (projects.size !== config.dataProjects.length) {
    issues.push({ path: 'dataProjects', message: 'duplicate data project name' });
  }
  config.dataProjects.forEach((p, i) => {
    const d = p.executionDurationMs;
    if (typeof d === 'object' && d.min > d.max) {
      issues.push({ path: `dataProjects.${i}.executionDurationMs`, message: 'min is larger than max' });
    }
  });
  const keyFieldsByLabel = new Map<string, string[]>();
  for (const p of config.dataProjects)
    for (const e of p.entities) keyFieldsByLabel.set(e.label.toLowerCase(), e.keyFields);
  config.dataProjects.forEach((p, i) =>
    p.entities.forEach((e, j) =>
      e.references.forEach((r, k) => {
        const keyFields = keyFieldsByLabel.get(r.entity.toLowerCase());
        const path = `dataProjects.${i}.entities.${j}.references.${k}`;
        if (!keyFields) issues.push({ path: `${path}.entity`, message: `unknown entity "${r.entity}"` });
        else if (keyFields.length !== r.fields.length)
          issues.push({
            path: `${path}.fields`,
            message: `"${r.entity}" has ${keyFields.length} key field(s) (${keyFields.join(', ')}); give one field for each`,
          });
      }),
    ),
  );
  config.recurringActivities.forEach((a, i) => {
    const project = projects.get(a.dataProject.toLowerCase());
    if (!project)
      issues.push({
        path: `recurringActivities.${i}.dataProject`,
        message: `unknown data project "${a.dataProject}"`,
      });
    else if (project.direction !== a.direction) {
      issues.push({
        path: `recurringActivities.${i}.direction`,
        message: `data project "${a.dataProject}" is an ${project.direction} project`,
      });
    }
    if (a.environment !== undefined && !envNames.has(a.environment)) {
      issues.push({
        path: `recurringActivities.${i}.environment`,
        message: `unknown environment "${a.environment}"`,
      });
    }
  });
  return issues;
}

/**
 * Validates a configuration object (or reads and validates a JSON file when given a path) and
 * returns it with defaults applied. Throws {@link EmulatorConfigError} listing every invalid key.
 */
export function loadEmulatorConfig(input: EmulatorConfigInput | string | undefined): EmulatorConfig {
  let raw: unknown = input ?? DEFAULT_CONFIG;
  const source = typeof input === 'string' ? input : input ? 'options.config' : 'the built-in configuration';
  if (typeof input === 'string') {
    let text: string;
    try {
      text = readFileSync(input, 'utf8');
    } catch (error) {
      throw new EmulatorConfigError(
        [{ path: '', message: `cannot read file: ${(error as Error).message}` }],
        source,
      );
    }
    try {
      raw = JSON.parse(text);
    } catch (error) {
      throw new EmulatorConfigError(
        [{ path: '', message: `not valid JSON: ${(error as Error).message}` }],
        source,
      );
    }
  }
  const parsed = EmulatorConfigSchema.safeParse(raw);
  if (!parsed.success) {
    throw new EmulatorConfigError(
      parsed.error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message })),
      source,
    );
  }
  const issues = crossCheck(parsed.data);
  if (issues.length > 0) throw new EmulatorConfigError(issues, source);
  return parsed.data;
}

/** JSON Schema (draft 2020-12) of the config file, for editors; `emulator/config.schema.json` holds it. */
export function emulatorConfigJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(EmulatorConfigSchema, { io: 'input' }),
    title: 'dmf-functions F&O DMF emulator configuration',
  };
}
