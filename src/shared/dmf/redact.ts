import { redact } from '../log/index.js';

/** Masks SAS signatures, bearer tokens, JWTs and secrets in free text (delegates to src/shared/log). */
export function scrubSecrets(text: string): string {
  return redact(text);
}

/** A url fit for a log line: origin and path only, so no SAS query string ever reaches a log. */
export function urlForLog(url: string | URL): string {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}${u.search ? '?…' : ''}`;
  } catch {
    return '(invalid url)';
  }
}
