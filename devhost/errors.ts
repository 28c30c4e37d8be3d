/**
 * The local host's own errors. The host is a workspace of its own and never imports the app's
 * `src/shared/errors.ts`; these carry the same two things a caller branches on there: a stable
 * `code` and the `cause`.
 */

/** Base class: a failure of the local host (or its Service Bus broker) with a stable code. */
export class DevhostError extends Error {
  /** Stable, machine-readable code, e.g. `SERVICEBUS_ENTITY_NOT_FOUND`. */
  readonly code: string;

  constructor(message: string, options: { code: string; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = options.code;
  }
}

/** One problem found in a configuration file, with the dotted path of the offending key. */
export interface ConfigIssue {
  path: string;
  message: string;
}

/** A configuration (e.g. the broker's Config.json) is invalid; `issues` lists every invalid key at once. */
export class ConfigError extends DevhostError {
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

/** What a caller passed (options, an entity name) is invalid. */
export class InputError extends DevhostError {
  constructor(message: string, options: { code?: string; cause?: unknown } = {}) {
    super(message, { code: options.code ?? 'INPUT_INVALID', cause: options.cause });
  }
}
