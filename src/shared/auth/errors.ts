import { DmfFunctionsError } from '../errors.js';

/** Codes of {@link AuthError}. */
export const AuthErrorCode = {
  /** The token endpoint answered an error status (`AUTH_HTTP_{status}` is used for the status itself). */
  TokenEndpointFailed: 'AUTH_TOKEN_FAILED',
  /** The token endpoint could not be reached. Transient. */
  Network: 'AUTH_NETWORK',
  /** The token answer did not hold a usable token. */
  InvalidResponse: 'AUTH_INVALID_RESPONSE',
  /** The caller's AbortSignal fired. */
  Aborted: 'AUTH_ABORTED',
} as const;

/** A token could not be obtained (AD FS credential). Entra credentials throw @azure/identity's errors. */
export class AuthError extends DmfFunctionsError {
  /** HTTP status of the token endpoint's answer, when there was one. */
  readonly status: number | undefined;

  constructor(
    message: string,
    options: { code: string; transient?: boolean; status?: number; cause?: unknown },
  ) {
    super(message, options);
    this.status = options.status;
  }
}
