import {
  AzureAuthorityHosts,
  ClientAssertionCredential,
  ClientCertificateCredential,
  ClientSecretCredential,
  DefaultAzureCredential,
  ManagedIdentityCredential,
  type AccessToken,
  type GetTokenOptions,
  type TokenCredential,
} from '@azure/identity';
import { resolveSecret } from '../config/index.js';
import { ConfigError } from '../errors.js';
import { AdfsCredential } from './adfs.js';
import type { AppSettings, AuthEnvironment, EnvironmentAuthConfig } from './types.js';

/**
 * The credential of an identity-based connection of the app itself (storage, Service Bus):
 * `credential: managedidentity` → the (user-assigned when `clientId` is set) managed identity;
 * otherwise the default chain, preferring that user-assigned identity.
 */
export function connectionCredential(connection: {
  credential?: string;
  clientId?: string;
}): TokenCredential {
  if (connection.credential === 'managedidentity') {
    return connection.clientId
      ? new ManagedIdentityCredential({ clientId: connection.clientId })
      : new ManagedIdentityCredential();
  }
  return new DefaultAzureCredential(
    connection.clientId ? { managedIdentityClientId: connection.clientId } : {},
  );
}

/** Audience of the managed-identity token used as client assertion (public cloud). */
export const DEFAULT_TOKEN_EXCHANGE_AUDIENCE = 'api://AzureADTokenExchange';

/** Authority hosts of the Microsoft clouds; any other host gets `disableInstanceDiscovery: true`. */
export const MICROSOFT_AUTHORITY_HOSTS: ReadonlySet<string> = new Set([
  ...Object.values(AzureAuthorityHosts).map((u) => new URL(u).hostname),
  'login.microsoft.com',
  'login.windows.net',
  'login.partner.microsoftonline.cn',
  'login.microsoftonline.eaglex.ic.gov',
  'login.microsoftonline.microsoft.scloud',
]);

/** True when `authorityHost` is one of Microsoft's Entra clouds (instance discovery works there). */
export function isMicrosoftAuthorityHost(authorityHost: string): boolean {
  try {
    return MICROSOFT_AUTHORITY_HOSTS.has(new URL(authorityHost).hostname.toLowerCase());
  } catch {
    return false;
  }
}

/** The token scope of an environment: `{environment url}/.default` (trailing slashes removed). */
export function environmentScope(environmentUrl: string): string {
  return `${environmentUrl.replace(/\/+$/, '')}/.default`;
}

/**
 * A `TokenCredential` that can drop its cached tokens. After F&O answers 401 the DMF clients call
 * {@link invalidate} and then `getToken` again, so the retry carries a token fresh from the endpoint.
 */
export interface RefreshableTokenCredential extends TokenCredential {
  /** The configured auth kind. */
  readonly kind: EnvironmentAuthConfig['kind'];
  /**
   * Drops every cached token. Entra credentials (secret, certificate, workload identity) are rebuilt, which
   * empties MSAL's per-instance cache; AD FS drops its own cache. Managed identity cannot: MSAL keeps its
   * tokens in a process-wide cache that @azure/identity gives no way to bypass (no-op, documented).
   */
  invalidate(): void;
}

/** Options of {@link createCredential}. */
export interface CreateCredentialOptions {
  /** App settings holding the secrets named by `*Setting` fields (e.g. `process.env` passed by the caller). */
  env: AppSettings;
  /** fetch used by the AD FS credential. Default: the global `fetch`. */
  fetch?: typeof fetch;
}

/**
 * Builds the credential of one environment from its auth config: client secret, client certificate (PEM from
 * a setting or a file path from a setting), managed identity, workload-identity federation (a managed-identity
 * token for `api://AzureADTokenExchange` as client assertion: no secret anywhere) or AD FS (on-premises).
 * Secrets are read from `options.env` only. A missing or empty setting throws {@link ConfigError}.
 * Tokens are cached and refreshed by @azure/identity (AD FS: by {@link AdfsCredential}).
 */
export function createCredential(
  environment: AuthEnvironment,
  options: CreateCredentialOptions,
): RefreshableTokenCredential {
  const auth = environment.auth;
  const path = `environments.${environment.name}.auth`;
  const setting = (field: string, name: string): string => {
    try {
      return resolveSecret(name, options.env);
    } catch (error) {
      // Same checks as the config loader (unset, empty, unresolved Key Vault reference), with our path.
      const message =
        error instanceof ConfigError ? (error.issues[0]?.message ?? error.message) : String(error);
      throw new ConfigError([{ path: `${path}.${field}`, message }], { cause: error });
    }
  };
  switch (auth.kind) {
    case 'clientSecret': {
      const secret = setting('clientSecretSetting', auth.clientSecretSetting);
      const identityOptions = entraOptions(auth.authorityHost);
      return rebuildable(
        auth.kind,
        () => new ClientSecretCredential(auth.tenantId, auth.clientId, secret, identityOptions),
      );
    }
    case 'clientCertificate': {
      const identityOptions = {
        ...entraOptions(auth.authorityHost),
        ...(auth.sendCertificateChain === undefined
          ? {}
          : { sendCertificateChain: auth.sendCertificateChain }),
      };
      if (auth.certificateSetting !== undefined) {
        const certificate = normalizePem(setting('certificateSetting', auth.certificateSetting));
        return rebuildable(
          auth.kind,
          () =>
            new ClientCertificateCredential(auth.tenantId, auth.clientId, { certificate }, identityOptions),
        );
      }
      if (auth.certificatePathSetting !== undefined) {
        const certificatePath = setting('certificatePathSetting', auth.certificatePathSetting);
        return rebuildable(
          auth.kind,
          () =>
            new ClientCertificateCredential(
              auth.tenantId,
              auth.clientId,
              { certificatePath },
              identityOptions,
            ),
        );
      }
      throw new ConfigError([
        {
          path: `${path}.certificateSetting`,
          message: 'certificateSetting or certificatePathSetting is required',
        },
      ]);
    }
    case 'managedIdentity': {
      const credential =
        auth.clientId === undefined
          ? new ManagedIdentityCredential()
          : new ManagedIdentityCredential({ clientId: auth.clientId });
      return rebuildable(auth.kind, () => credential);
    }
    case 'workloadIdentity': {
      const managedIdentity =
        auth.managedIdentityClientId === undefined
          ? new ManagedIdentityCredential()
          : new ManagedIdentityCredential({ clientId: auth.managedIdentityClientId });
      const assertionScope = `${(auth.audience ?? DEFAULT_TOKEN_EXCHANGE_AUDIENCE).replace(/\/+$/, '')}/.default`;
      const getAssertion = async (): Promise<string> => {
        const token = await managedIdentity.getToken(assertionScope);
        if (!token) throw new Error(`managed identity returned no token for ${assertionScope}`);
        return token.token;
      };
      const identityOptions = entraOptions(auth.authorityHost);
      return rebuildable(
        auth.kind,
        () => new ClientAssertionCredential(auth.tenantId, auth.clientId, getAssertion, identityOptions),
      );
    }
    case 'adfs': {
      const adfs = new AdfsCredential({
        adfsUrl: auth.adfsUrl,
        clientId: auth.clientId,
        clientSecret: setting('clientSecretSetting', auth.clientSecretSetting),
        resource: auth.resource ?? environment.url.replace(/\/+$/, ''),
        ...(options.fetch ? { fetch: options.fetch } : {}),
      });
      return Object.assign(adfs, { kind: auth.kind });
    }
  }
}

function entraOptions(authorityHost: string | undefined): {
  authorityHost?: string;
  disableInstanceDiscovery?: boolean;
} {
  if (authorityHost === undefined) return {};
  const host = authorityHost.replace(/\/+$/, '');
  return isMicrosoftAuthorityHost(host)
    ? { authorityHost: host }
    : { authorityHost: host, disableInstanceDiscovery: true };
}

/** App settings often hold a PEM on one line with literal `\n`; MSAL needs real line breaks. */
function normalizePem(pem: string): string {
  return pem.includes('\n') ? pem : pem.replace(/\\n/g, '\n');
}

function rebuildable(
  kind: EnvironmentAuthConfig['kind'],
  build: () => TokenCredential,
): RefreshableTokenCredential {
  let current = build();
  return {
    kind,
    getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken | null> {
      return current.getToken(scopes, options);
    },
    invalidate(): void {
      current = build();
    },
  };
}
