import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { ConfigError } from '../errors.js';
// Imported (not only read from disk) so a TypeScript build copies it next to the compiled module.
import defaultConfigJson from './config.json' with { type: 'json' };

/** Path of the project's default entity declarations (queue `dmf-commands`, topic `dmf-events`). */
export const DEFAULT_SERVICE_BUS_CONFIG_PATH = fileURLToPath(new URL('./config.json', import.meta.url));

/** The project's default entity declarations, as written in `config.json`. */
export const DEFAULT_SERVICE_BUS_CONFIG: unknown = defaultConfigJson;

/** Namespace name used by the official Service Bus emulator's sample config. */
export const DEFAULT_NAMESPACE_NAME = 'sbemulatorns';

const ISO_DURATION =
  /^P(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$/;

/**
 * Parses the ISO 8601 durations the emulator config uses (`PT1M`, `PT0.5S`, `P14D`, `PT1H30M`) to
 * milliseconds. Years, months and weeks are not accepted because their length is ambiguous.
 */
export function parseIsoDuration(value: string): number {
  const match = ISO_DURATION.exec(value);
  if (match === null || value === 'P' || value.endsWith('T')) {
    throw new TypeError(`"${value}" is not an ISO 8601 duration like PT1M or P1DT2H`);
  }
  const [, d, h, m, s] = match;
  const part = (v: string | undefined): number => (v === undefined ? 0 : Number(v));
  return Math.round(((part(d) * 24 + part(h)) * 60 + part(m)) * 60_000 + part(s) * 1000);
}

const duration = z.string().transform((value, ctx) => {
  try {
    return parseIsoDuration(value);
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: (error as Error).message });
    return z.NEVER;
  }
});

const forwardingUnsupported = z
  .string()
  .refine((v) => v === '', { message: 'auto-forwarding is not supported by the local broker' })
  .optional();

/** Duplicate detection as Service Bus does it: same MessageId within the window is dropped. */
const duplicateDetection = {
  RequiresDuplicateDetection: z.boolean().default(false),
  DuplicateDetectionHistoryTimeWindow: duration.default(600_000),
};

const entityProperties = z.looseObject({
  MaxDeliveryCount: z.number().int().min(1).default(10),
  LockDuration: duration.default(60_000),
  DeadLetteringOnMessageExpiration: z.boolean().default(false),
  DefaultMessageTimeToLive: duration.optional(),
  RequiresSession: z.literal(false, { message: 'sessions are not supported by the local broker' }).optional(),
  ForwardTo: forwardingUnsupported,
  ForwardDeadLetteredMessagesTo: forwardingUnsupported,
});

const correlationFilter = z.looseObject({
  ContentType: z.string().optional(),
  CorrelationId: z.string().optional(),
  Label: z.string().optional(),
  MessageId: z.string().optional(),
  ReplyTo: z.string().optional(),
  ReplyToSessionId: z.string().optional(),
  SessionId: z.string().optional(),
  To: z.string().optional(),
  Properties: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
});

const rule = z.object({
  Name: z.string().min(1),
  Properties: z.looseObject({
    FilterType: z.enum(['Correlation', 'Sql']),
    CorrelationFilter: correlationFilter.optional(),
    SqlFilter: z
      .looseObject({
        SqlExpression: z.string().refine((s) => /^\s*(1\s*=\s*1|true)\s*$/i.test(s), {
          message: 'only the always-true SQL filter (1=1) is supported by the local broker',
        }),
      })
      .optional(),
  }),
});

const queueProperties = entityProperties.extend(duplicateDetection);

const queueSchema = z.object({
  Name: z.string().min(1),
  Properties: queueProperties.default(queueProperties.parse({})),
});

const subscriptionSchema = z.object({
  Name: z.string().min(1),
  Properties: entityProperties.default(entityProperties.parse({})),
  Rules: z.array(rule).default([]),
});

const topicProperties = z.looseObject({
  DefaultMessageTimeToLive: duration.optional(),
  ...duplicateDetection,
});

const topicSchema = z.object({
  Name: z.string().min(1),
  Properties: topicProperties.default(topicProperties.parse({})),
  Subscriptions: z.array(subscriptionSchema).default([]),
});

/** zod schema of the official Service Bus emulator's `Config.json` (the subset the broker uses). */
export const brokerConfigSchema = z.object({
  UserConfig: z.looseObject({
    Namespaces: z
      .array(
        z.object({
          Name: z.string().min(1).default(DEFAULT_NAMESPACE_NAME),
          Queues: z.array(queueSchema).default([]),
          Topics: z.array(topicSchema).default([]),
        }),
      )
      .length(1, { message: 'exactly one namespace is supported' }),
    Logging: z.looseObject({ Type: z.string() }).optional(),
  }),
});

/** Entity declarations as written in the config file (durations as ISO 8601 strings). */
export type BrokerConfig = z.input<typeof brokerConfigSchema>;
/** Entity declarations after validation (durations in milliseconds, defaults applied). */
export type ParsedBrokerConfig = z.output<typeof brokerConfigSchema>;
/** Validated properties of a queue or subscription. */
export type EntityProperties = z.output<typeof entityProperties>;
/** Validated properties of a queue or topic that concern duplicate detection. */
export type DuplicateDetectionProperties = {
  RequiresDuplicateDetection: boolean;
  DuplicateDetectionHistoryTimeWindow: number;
};
/** Validated filter rule of a subscription. */
export type SubscriptionRule = z.output<typeof rule>;

/** Validates entity declarations; throws {@link ConfigError} listing every invalid key. */
export function parseBrokerConfig(input: unknown): ParsedBrokerConfig {
  const result = brokerConfigSchema.safeParse(input);
  if (!result.success) {
    throw new ConfigError(
      result.error.issues.map((issue) => ({
        path: issue.path.map(String).join('.'),
        message: issue.message,
      })),
      { cause: result.error },
    );
  }
  const names = new Set<string>();
  const issues: { path: string; message: string }[] = [];
  const ns = result.data.UserConfig.Namespaces[0];
  for (const [kind, list] of [
    ['Queues', ns?.Queues ?? []],
    ['Topics', ns?.Topics ?? []],
  ] as const) {
    list.forEach((entity, i) => {
      const key = entity.Name.toLowerCase();
      if (names.has(key)) {
        issues.push({
          path: `UserConfig.Namespaces.0.${kind}.${i}.Name`,
          message: `duplicate entity name "${entity.Name}"`,
        });
      }
      names.add(key);
    });
  }
  if (issues.length > 0) throw new ConfigError(issues);
  return result.data;
}

/** Reads and validates a config file shaped like the emulator's `Config.json`. */
export async function loadBrokerConfig(path: string): Promise<ParsedBrokerConfig> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path, 'utf8'));
  } catch (error) {
    throw new ConfigError(
      [{ path: '', message: `cannot read Service Bus config ${path}: ${(error as Error).message}` }],
      {
        cause: error,
      },
    );
  }
  return parseBrokerConfig(raw);
}
