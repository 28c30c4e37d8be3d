import type { AccessToken, GetTokenOptions, TokenCredential } from '@azure/identity';
import { z } from 'zod';
import { redact } from '../log/index.js';
import { AuthError, AuthErrorCode } from './errors.js';

/** Options of {@link AdfsCredential}. */
export interface AdfsCredentialOptions {
  /** AD FS url, e.g. `https://adfs.contoso.com`; `/adfs/oauth2/token` is appended (a trailing `/adfs` is tolerated). */
  adfsUrl: string;
  /** Client id registered in AD FS (and in F&O's Microsoft Entra applications). */
  clientId: string;
  /** The client secret itself (read from app settings by the caller). */
  clientSecret: string;
  /** `resource` of the request: the AOS url. */
  resource: string;
  /** A cached token is replaced once it has less than this left (ms). Default 300 000 (capped at half its lifetime). */
  refreshBeforeExpiryMs?: number;
  /** Timeout of one token request (ms). Default 30 000. */
  timeoutMs?: number;
  /** Clock in epoch ms. Default `Date.now`. */
  now?: () => number;
  /** fetch implementation. Default: the global `fetch`. */
  fetch?: typeof fetch;
}

const TokenAnswerSchema = z.object({
  access_token: z.string().min(1),
  token_type: z.string().optional(),
  expires_in: z.union([z.number(), z.string().regex(/^\d+$/).transform(Number)]),
});

const ErrorAnswerSchema = z.object({
  error: z.string().optional(),
  error_description: z.string().optional(),
});

/** The token endpoint of an AD FS url. */
export function adfsTokenEndpoint(adfsUrl: string): string {
  const base = adfsUrl.replace(/\/+$/, '').replace(/\/adfs$/i, '');
  return `${base}/adfs/oauth2/token`;
}

/**
 * AD FS client-credentials token source for on-premises F&O (`grant_type=client_credentials`, `client_id`,
 * `client_secret`, `resource`), which @azure/identity does not offer. Tokens are cached and replaced before
 * they expire; concurrent callers share one request; {@link invalidate} forces the next call to the endpoint.
 * Scopes passed to `getToken` are ignored: AD FS issues for `resource`.
 */
export class AdfsCredential implements TokenCredential {
  /** The token endpoint used. */
  readonly tokenEndpoint: string;
  readonly #options: AdfsCredentialOptions;
  readonly #now: () => number;
  readonly #fetch: typeof fetch;
  #cached: AccessToken | undefined;
  #inflight: Promise<AccessToken> | undefined;
  #generation = 0;

  constructor(options: AdfsCredentialOptions) {
    this.#options = options;
    this.tokenEndpoint = adfsTokenEndpoint(options.adfsUrl);
    this.#now = options.now ?? Date.now;
    this.#fetch = options.fetch ?? ((input, init) => fetch(input, init));
  }

  /** Returns the cached token while it is fresh, else asks AD FS. Throws {@link AuthError}. */
  async getToken(_scopes: string | string[], options: GetTokenOptions = {}): Promise<AccessToken> {
    const cached = this.#cached;
    if (cached && this.#now() < (cached.refreshAfterTimestamp ?? cached.expiresOnTimestamp)) return cached;
    if (this.#inflight) return this.#inflight;
    const request = this.#request(options.abortSignal as AbortSignal | undefined).finally(() => {
      if (this.#inflight === request) this.#inflight = undefined;
    });
    this.#inflight = request;
    return request;
  }

  /** Forgets the cached token (after F&O answered 401 with it); a request under way is not reused. */
  invalidate(): void {
    this.#cached = undefined;
    this.#inflight = undefined;
    this.#generation += 1;
  }

  async #request(abortSignal: AbortSignal | undefined): Promise<AccessToken> {
    const generation = this.#generation;
    const body = new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: this.#options.clientId,
      client_secret: this.#options.clientSecret,
      resource: this.#options.resource,
    });
    const timeout = AbortSignal.timeout(this.#options.timeoutMs ?? 30_000);
    const signal = abortSignal ? AbortSignal.any([abortSignal, timeout]) : timeout;
    const started = this.#now();
    let response: Response;
    let text: string;
    try {
      response = await this.#fetch(this.tokenEndpoint, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
        body: body.toString(),
        signal,
      });
      text = await response.text();
    } catch (error) {
      if (abortSignal?.aborted) {
        throw new AuthError('AD FS token request was aborted', { code: AuthErrorCode.Aborted, cause: error });
      }
      const detail =
        error instanceof Error
          ? `${error.message}${error.cause instanceof Error ? ` (${error.cause.message})` : ''}`
          : String(error);
      throw new AuthError(`AD FS token request to ${this.tokenEndpoint} failed: ${redact(detail)}`, {
        code: AuthErrorCode.Network,
        transient: true,
        cause: error,
      });
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (!response.ok) {
      const err = ErrorAnswerSchema.safeParse(json);
      const detail = err.success
        ? [err.data.error, err.data.error_description].filter(Boolean).join(': ')
        : '';
      throw new AuthError(
        `AD FS token request failed with HTTP ${response.status}${detail ? `: ${redact(detail)}` : ''}`,
        {
          code: AuthErrorCode.TokenEndpointFailed,
          status: response.status,
          transient: response.status === 408 || response.status === 429 || response.status >= 500,
        },
      );
    }
    const parsed = TokenAnswerSchema.safeParse(json);
    if (!parsed.success) {
      throw new AuthError('AD FS answered without a usable access_token/expires_in', {
        code: AuthErrorCode.InvalidResponse,
      });
    }
    const lifetimeMs = parsed.data.expires_in * 1000;
    const margin = Math.min(this.#options.refreshBeforeExpiryMs ?? 300_000, lifetimeMs / 2);
    const token: AccessToken = {
      token: parsed.data.access_token,
      expiresOnTimestamp: started + lifetimeMs,
      refreshAfterTimestamp: started + lifetimeMs - margin,
      tokenType: 'Bearer',
    };
    // An invalidate() during the request means this answer may be the token just rejected: do not cache it.
    if (generation === this.#generation) this.#cached = token;
    return token;
  }
}
