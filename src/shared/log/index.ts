/** Redaction and the redacting logger: the one path every log line takes. */
export * from './redact.js';
export * from './logger.js';
