import {
  createCredential,
  environmentScope,
  type AppSettings,
  type AuthEnvironment,
  type RefreshableTokenCredential,
} from '../auth/index.js';
import type { DmfLogger } from './logger.js';
import { DmfPackageClient } from './packageClient.js';
import { RecurringClient } from './recurringClient.js';
import type { RetryOptions } from './retry.js';

/** Options of {@link createEnvironmentClients}. */
export interface EnvironmentClientsOptions {
  /** App settings holding the secrets the auth config names (pass `process.env` from the entry point). */
  env: AppSettings;
  /** Receives the clients' request lines (pass a redacting logger from src/shared/log). */
  logger?: DmfLogger;
  /** Retry policy of both clients. */
  retry?: Partial<RetryOptions>;
  /** Timeout of one HTTP attempt (ms). */
  timeoutMs?: number;
}

/** The clients of one F&O environment, sharing one credential. */
export interface EnvironmentClients {
  /** The environment's credential (tokens cached by @azure/identity or the AD FS credential). */
  credential: RefreshableTokenCredential;
  /** `{environment url}/.default`. */
  scope: string;
  /** Package API client (`/namespaces/AXSF` on-premises). */
  packages: DmfPackageClient;
  /** Recurring integration client (on-premises every call fails with `DMF_RECURRING_UNAVAILABLE`). */
  recurring: RecurringClient;
}

/** Builds the credential and both clients of an environment from its configuration. */
export function createEnvironmentClients(
  environment: AuthEnvironment,
  options: EnvironmentClientsOptions,
): EnvironmentClients {
  const credential = createCredential(environment, { env: options.env });
  const scope = environmentScope(environment.url);
  const common = {
    baseUrl: environment.url,
    credential,
    scope,
    ...(options.logger ? { logger: options.logger } : {}),
    ...(options.retry ? { retry: options.retry } : {}),
    ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
  };
  return {
    credential,
    scope,
    packages: new DmfPackageClient({ ...common, onPremises: environment.onPremises ?? false }),
    recurring: new RecurringClient(common),
  };
}
