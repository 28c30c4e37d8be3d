import type { EnvironmentConfig } from '../config/index.js';

export type { EnvironmentAuthConfig } from '../config/index.js';

/**
 * The parts of an environment's configuration that authentication and the clients need. A loaded
 * `EnvironmentConfig` (src/shared/config) is one.
 */
export type AuthEnvironment = Pick<EnvironmentConfig, 'name' | 'url' | 'auth'> &
  Partial<Pick<EnvironmentConfig, 'onPremises'>>;

/** App settings to read secrets from (never `process.env` directly). */
export type AppSettings = Readonly<Record<string, string | undefined>>;
