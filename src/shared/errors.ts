/**
 * The project's one error hierarchy. Every error carries a stable `code` a program can branch on,
 * the underlying `cause`, and whether retrying the same operation may succeed (`transient`).
 * Activities throw these; they never return error strings.
 */

/** Options shared by every error of the hierarchy. */
export interface DmfFunctionsErrorOptions {
  /** Stable, machine-readable code, e.g. `DMF_HTTP_429` or `PACKAGE_MISSING_MANIFEST`. */
  code: string;
  /** True when retrying the same operation later may succeed. Default false. */
  transient?: boolean;
  /** The error this one wraps. */
  cause?: unknown;
}

/** Base class: a failure with a code, a cause and a transient/permanent flag. */
export class DmfFunctionsError extends Error {
  /** Stable, machine-readable code. */
  readonly code: string;
  /** True when retrying the same operation later may succeed. */
  readonly transient: boolean;

  constructor(message: string, options: DmfFunctionsErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = options.code;
    this.transient = options.transient ?? false;
  }

  /** A plain JSON form for results, logs and activity failures (no stack, no cause chain). */
  toJSON(): { name: string; code: string; message: string; transient: boolean } {
    return { name: this.name, code: this.code, message: this.message, transient: this.transient };
  }
}

/** One problem found in configuration, with the dotted path of the offending key. */
export interface ConfigIssue {
  path: string;
  message: string;
}

/** Configuration is invalid; `issues` lists every invalid key at once. */
export class ConfigError extends DmfFunctionsError {
  readonly issues: readonly ConfigIssue[];

  constructor(issues: readonly ConfigIssue[], options: { cause?: unknown } = {}) {
    super(
      `Invalid configuration (${issues.length} problem${issues.length === 1 ? '' : 's'}):\n` +
        issues.map((i) => `  - ${i.path || '(root)'}: ${i.message}`).join('\n'),
      { code: 'CONFIG_INVALID', transient: false, cause: options.cause },
    );
    this.issues = issues;
  }
}

/** Input supplied by a user (a command, a request, a file) is invalid; never worth retrying. */
export class InputError extends DmfFunctionsError {
  constructor(message: string, options: { code?: string; cause?: unknown } = {}) {
    super(message, { code: options.code ?? 'INPUT_INVALID', transient: false, cause: options.cause });
  }
}

/** A data package is broken or unsafe; never worth retrying. */
export class PackageError extends DmfFunctionsError {
  constructor(message: string, options: { code: string; cause?: unknown }) {
    super(message, { code: options.code, transient: false, cause: options.cause });
  }
}
