/*
 * Structural copy of the config helper's environment/auth contract (src/shared/config,
 * `EnvironmentAuthConfig`). TODO(lead): replace with `import type` from src/shared/config once it lands;
 * the shapes are meant to be identical.
 */

/** Entra ID app with a client secret. */
export interface ClientSecretAuthConfig {
  kind: 'clientSecret';
  tenantId: string;
  clientId: string;
  /** NAME of the app setting holding the secret. */
  clientSecretSetting: string;
  /** Entra authority host, e.g. `https://login.microsoftonline.us`. Default: public cloud. */
  authorityHost?: string;
}

/** Entra ID app with a client certificate (PEM with the private key). */
export interface ClientCertificateAuthConfig {
  kind: 'clientCertificate';
  tenantId: string;
  clientId: string;
  /** NAME of the app setting holding the PEM (certificate and private key). */
  certificateSetting?: string;
  /** NAME of the app setting holding the path of a PEM file. */
  certificatePathSetting?: string;
  /** Send the x5c chain (subject name/issuer authentication). */
  sendCertificateChain?: boolean;
  authorityHost?: string;
}

/** The Function App's managed identity. */
export interface ManagedIdentityAuthConfig {
  kind: 'managedIdentity';
  /** Client id of a user-assigned identity; omitted means system-assigned. */
  clientId?: string;
}

/** Entra ID app trusting the managed identity through a federated credential (no secret anywhere). */
export interface WorkloadIdentityAuthConfig {
  kind: 'workloadIdentity';
  tenantId: string;
  /** Client id of the app registered in F&O. */
  clientId: string;
  /** Client id of the user-assigned managed identity that signs the assertion; omitted means system-assigned. */
  managedIdentityClientId?: string;
  /** Audience of the assertion. Default `api://AzureADTokenExchange`. */
  audience?: string;
  authorityHost?: string;
}

/** AD FS client credentials, for on-premises environments. */
export interface AdfsAuthConfig {
  kind: 'adfs';
  /** AD FS url, e.g. `https://adfs.contoso.com` (a trailing `/adfs` is accepted). */
  adfsUrl: string;
  clientId: string;
  /** NAME of the app setting holding the secret. */
  clientSecretSetting: string;
  /** `resource` of the token request. Default: the environment url. */
  resource?: string;
}

/** How one environment authenticates. */
export type EnvironmentAuthConfig =
  | ClientSecretAuthConfig
  | ClientCertificateAuthConfig
  | ManagedIdentityAuthConfig
  | WorkloadIdentityAuthConfig
  | AdfsAuthConfig;

/** The parts of an environment's configuration that authentication needs. */
export interface AuthEnvironment {
  /** Environment name (used in messages and config paths). */
  name: string;
  /** Environment url, e.g. `https://contoso.operations.dynamics.com`. */
  url: string;
  /** On-premises environment (AD FS, `/namespaces/AXSF`). */
  onPremises?: boolean;
  auth: EnvironmentAuthConfig;
}

/** App settings to read secrets from (never `process.env` directly). */
export type AppSettings = Readonly<Record<string, string | undefined>>;
