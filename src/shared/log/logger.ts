import { redact, redactValue } from './redact.js';

/** Log levels of {@link Logger}, lowest first. */
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;

/** One of {@link LOG_LEVELS}. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * Where log lines go: any object with some of `debug/info/warn/error` (and optionally `log`),
 * e.g. an Azure Functions `InvocationContext`, `console`, or a test spy. A missing level falls
 * back to `log`, then to `info`; when neither exists the line is dropped.
 */
export type LogSink = Partial<Record<LogLevel | 'log', (...args: unknown[]) => void>>;

/** Structured data attached to a log line. */
export type LogFields = Record<string, unknown>;

/** A logger whose every argument is redacted before it reaches the sink. */
export interface Logger {
  /** Details for troubleshooting. */
  debug(message: string, fields?: LogFields): void;
  /** Normal progress. */
  info(message: string, fields?: LogFields): void;
  /** Something odd that did not stop the work. */
  warn(message: string, fields?: LogFields): void;
  /** A failure; pass the error as `fields.error`. */
  error(message: string, fields?: LogFields): void;
  /** A logger with more bindings (merged over this one's). */
  child(bindings: LogFields): Logger;
}

/** Options of {@link createLogger}. */
export interface CreateLoggerOptions {
  /** Fields added to every line (e.g. `{ instanceId, environment }`). */
  bindings?: LogFields;
  /** Lines below this level are dropped. Default `'debug'` (the sink, e.g. the host, filters). */
  minLevel?: LogLevel;
}

/**
 * Creates a {@link Logger} writing to `sink`. Every message and every field (including bindings
 * and errors) goes through {@link redact}/{@link redactValue}, so SAS signatures, bearer tokens
 * and secrets never reach the sink. Each line is `sink[level](message)` or, when there are
 * fields, `sink[level](message, redactedFields)`.
 */
export function createLogger(sink: LogSink, options: CreateLoggerOptions = {}): Logger {
  const bindings = options.bindings ?? {};
  const minIndex = LOG_LEVELS.indexOf(options.minLevel ?? 'debug');

  const write = (level: LogLevel, message: string, fields?: LogFields): void => {
    if (LOG_LEVELS.indexOf(level) < minIndex) return;
    const target = sink[level] ?? sink.log ?? sink.info;
    if (!target) return;
    const merged = { ...bindings, ...fields };
    const safeMessage = redact(String(message));
    if (Object.keys(merged).length === 0) target.call(sink, safeMessage);
    else target.call(sink, safeMessage, redactValue(merged));
  };

  return {
    debug: (message, fields) => write('debug', message, fields),
    info: (message, fields) => write('info', message, fields),
    warn: (message, fields) => write('warn', message, fields),
    error: (message, fields) => write('error', message, fields),
    child: (more) => createLogger(sink, { ...options, bindings: { ...bindings, ...more } }),
  };
}
