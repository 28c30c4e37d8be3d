/** The logger the DMF clients and credentials accept: any object with these four methods. */
export interface DmfLogger {
  /** Per-request detail (method, path, status, duration). */
  debug(message: string, properties?: Record<string, unknown>): void;
  /** Noteworthy events (token refresh after 401, rewritten download urls). */
  info(message: string, properties?: Record<string, unknown>): void;
  /** Retries and recoverable trouble. */
  warn(message: string, properties?: Record<string, unknown>): void;
  /** Failures the caller will see as a thrown error. */
  error(message: string, properties?: Record<string, unknown>): void;
}

/** A logger that drops everything; the default when none is given. */
export const silentLogger: DmfLogger = Object.freeze({
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
});
