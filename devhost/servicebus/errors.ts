/**
 * The broker's errors: a code a program can branch on, the cause, and whether a retry may succeed.
 * Local to the host (it never imports the app's src/), shaped like the app's error hierarchy.
 */

/** Base class of the broker's errors. */
export class ServiceBusError extends Error {
  /** Stable, machine-readable code. */
  readonly code: string;
  /** True when retrying the same operation later may succeed. */
  readonly transient: boolean;

  constructor(message: string, options: { code: string; transient?: boolean; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = options.code;
    this.transient = options.transient ?? false;
  }
}

/** A caller asked for something the broker's config does not have. */
export class InputError extends ServiceBusError {
  constructor(message: string, options: { code?: string; cause?: unknown } = {}) {
    super(message, { code: options.code ?? 'INPUT_INVALID', cause: options.cause });
  }
}

/** One invalid key of the broker's config. */
export interface ConfigIssue {
  path: string;
  message: string;
}

/** The broker's config is invalid; `issues` lists every invalid key at once. */
export class ConfigError extends ServiceBusError {
  readonly issues: readonly ConfigIssue[];

  constructor(issues: readonly ConfigIssue[], options: { cause?: unknown } = {}) {
    super(
      `Invalid configuration (${issues.length} problem${issues.length === 1 ? '' : 's'}):\n` +
        issues.map((i) => `  - ${i.path || '(root)'}: ${i.message}`).join('\n'),
      { code: 'CONFIG_INVALID', cause: options.cause },
    );
    this.issues = issues;
  }
}
