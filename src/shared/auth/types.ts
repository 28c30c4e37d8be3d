import type { EnvironmentAuthConfig, EnvironmentConfig } from '../config/index.js';

export type { EnvironmentAuthConfig } from '../config/index.js';

/** Entra ID app with a client secret. */
export type ClientSecretAuthConfig = Extract<EnvironmentAuthConfig, { kind: 'clientSecret' }>;
/** Entra ID app with a client certificate (PEM with the private key). */
export type ClientCertificateAuthConfig = Extract<EnvironmentAuthConfig, { kind: 'clientCertificate' }>;
/** The Function App's managed identity. */
export type ManagedIdentityAuthConfig = Extract<EnvironmentAuthConfig, { kind: 'managedIdentity' }>;
/** Entra ID app trusting the managed identity through a federated credential (no secret anywhere). */
export type WorkloadIdentityAuthConfig = Extract<EnvironmentAuthConfig, { kind: 'workloadIdentity' }>;
/** AD FS client credentials, for on-premises environments. */
export type AdfsAuthConfig = Extract<EnvironmentAuthConfig, { kind: 'adfs' }>;

/**
 * The parts of an environment's configuration that authentication and the clients need. A loaded
 * `EnvironmentConfig` (src/shared/config) is one.
 */
export type AuthEnvironment = Pick<EnvironmentConfig, 'name' | 'url' | 'auth'> &
  Partial<Pick<EnvironmentConfig, 'onPremises'>>;

/** App settings to read secrets from (never `process.env` directly). */
export type AppSettings = Readonly<Record<string, string | undefined>>;
