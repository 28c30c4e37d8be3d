/**
 * What triggers and activities share in one worker process: the configuration (loaded once from
 * the app settings), the blob service client, the app's containers and one set of F&O clients per
 * environment.
 */
import type { InvocationContext } from '@azure/functions';
import type { BlobServiceClient, ContainerClient } from '@azure/storage-blob';
import {
  DEFAULT_NAMES,
  SETTING_NAMES,
  getEnvironment,
  loadConfig,
  type AppConfig,
  type AppSettingsEnv,
} from '../config/index.js';
import { createEnvironmentClients, type EnvironmentClients } from '../dmf/index.js';
import { createLogger, type Logger } from '../log/index.js';
import { createBlobService, createJobIndexTables, JobIndex } from '../storage/index.js';

/** The shared services. */
export interface Runtime {
  config: AppConfig;
  blobService: BlobServiceClient;
  containers: {
    inbound: ContainerClient;
    archive: ContainerClient;
    results: ContainerClient;
    templates: ContainerClient;
    /** Exported packages and dequeued recurring files. */
    outbound: ContainerClient;
    /** Files dropped for recurring imports. */
    recurringInbound: ContainerClient;
  };
  /** The process's logger (for work outside an invocation's own log). */
  logger: Logger;
  /** The job index (Table storage): the jobs list, written at each stage of every job. */
  jobIndex: JobIndex;
  /** F&O clients of an environment (created once, so tokens are cached across invocations). */
  clients(environment: string): EnvironmentClients;
}

/**
 * Longest `Retry-After` an activity waits for inside its F&O call. F&O's priority-based throttling can
 * ask for minutes: a longer wait goes back to the orchestration, which waits on a durable timer (no
 * compute while waiting) up to the job's deadline.
 */
export const INLINE_RETRY_AFTER_MS = 10_000;

let cached: Runtime | undefined;

/** The runtime of this process, created on first use from `process.env`. */
export function getRuntime(): Runtime {
  cached ??= createRuntime(process.env);
  return cached;
}

/** Creates a runtime from app settings (tests pass their own). */
export function createRuntime(env: AppSettingsEnv): Runtime {
  const config = loadConfig(env);
  const blobService = createBlobService(config.storage.connection);
  const c = config.storage.containers;
  const clients = new Map<string, EnvironmentClients>();
  const logger = createLogger(console, { minLevel: 'info', bindings: { component: 'dmf' } });
  return {
    config,
    logger,
    blobService,
    containers: {
      inbound: blobService.getContainerClient(c.inbound),
      archive: blobService.getContainerClient(c.archive),
      results: blobService.getContainerClient(c.results),
      templates: blobService.getContainerClient(c.templates),
      outbound: blobService.getContainerClient(c.outbound),
      recurringInbound: blobService.getContainerClient(c.recurringInbound),
    },
    jobIndex: new JobIndex(createJobIndexTables(config.storage.connection, config.storage.tables)),
    clients(environment) {
      let found = clients.get(environment);
      if (!found) {
        found = createEnvironmentClients(getEnvironment(config, environment), {
          env,
          logger,
          retry: { maxRetryAfterMs: INLINE_RETRY_AFTER_MS },
        });
        clients.set(environment, found);
      }
      return found;
    },
  };
}

/** A redacting logger writing to the invocation's log. */
export function invocationLogger(context: InvocationContext, bindings: Record<string, unknown> = {}): Logger {
  return createLogger(context, { bindings });
}

/**
 * Names the bindings need when the functions are registered (before any invocation). Read from the
 * app settings with the configuration's defaults; the Functions host resolves nothing else here.
 */
export function bindingNames(env: AppSettingsEnv = process.env): {
  inboundContainer: string;
  recurringInboundContainer: string;
  commandsQueue: string;
} {
  const pick = (name: string, fallback: string): string => {
    const value = env[name]?.trim();
    return value ? value : fallback;
  };
  return {
    inboundContainer: pick(SETTING_NAMES.inboundContainer, DEFAULT_NAMES.inboundContainer),
    recurringInboundContainer: pick(
      SETTING_NAMES.recurringInboundContainer,
      DEFAULT_NAMES.recurringInboundContainer,
    ),
    commandsQueue: pick(SETTING_NAMES.commandsQueue, DEFAULT_NAMES.commandsQueue),
  };
}
