/**
 * Redaction used by every log path: SAS signatures, bearer tokens, client secrets, client
 * assertions, storage account keys and Service Bus keys never reach a log sink.
 */

/** What replaces a secret. */
export const REDACTED = '[REDACTED]';

/** Keys (case-insensitive, ignoring `_`/`-`) whose values are masked whole by {@link redactValue}. */
export const SENSITIVE_KEY_PATTERN =
  /^(?:.*(?:secret|password|passwd|pwd|token|authorization|accountkey|sharedaccesskey|signature|assertion|privatekey|connectionstring|apikey|credential)s?|sig|cookie|setcookie)$/i;

// Each pattern keeps a harmless prefix (group 1) and masks what follows, so logs still show
// which kind of secret was there.
const PATTERNS: readonly RegExp[] = [
  // Authorization: Bearer xxx / Basic xxx (header lines, JSON-ish dumps)
  /(\bauthorization["']?\s*[:=]\s*["']?(?:[A-Za-z-]+\s+)?)[^\s"',;]+/gi,
  // a bare bearer token (long enough not to be a word of a sentence)
  /(\bbearer\s+)[A-Za-z0-9\-._~+/]{16,}=*/gi,
  // query string / form parameters
  /([?&;]sig=)[^&\s"'#<>]+/gi,
  /(\b(?:client_secret|client_assertion|access_token|refresh_token|id_token|password)=)[^&\s"'#<>]+/gi,
  // connection strings
  /(\b(?:AccountKey|SharedAccessKey|SharedAccessSignature|SharedSecretValue)=)[^;\s"'<>]+/gi,
  // a SAS url percent-encoded inside another url or form body (…%26sig%3D…)
  /((?:%26|%3F)sig%3D)(?:[A-Za-z0-9._~+-]|%(?!26)[0-9A-Fa-f]{2})+/gi,
  // JSON bodies of token answers / requests, and secret-named JSON fields in logged text
  /("(?:access_token|refresh_token|id_token|client_secret|clientSecret|client_assertion|clientAssertion|password|accountKey|sharedAccessKey|connectionString)"\s*:\s*")(?:[^"\\]|\\.)*/gi,
];

// Three base64url segments, the first being a JSON header ("{" → "eyJ").
const JWT_PATTERN = /\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*/g;

/**
 * Masks secrets inside free text: `sig=` query values, `Authorization: Bearer …` and bare
 * `Bearer …`, JWT-looking strings (`eyJ…`), `client_secret=`, `client_assertion=`, token
 * parameters, `AccountKey=`, `SharedAccessKey=`, and token fields of JSON bodies.
 */
export function redact(text: string): string {
  let out = text;
  for (const pattern of PATTERNS) out = out.replace(pattern, `$1${REDACTED}`);
  return out.replace(JWT_PATTERN, REDACTED);
}

/**
 * Redacts a URL for logging: masks the `sig` query parameter (and any other secret-looking
 * parameter) but keeps the rest readable. Accepts a `URL` or a string; a string that is not a
 * valid URL is redacted as free text.
 */
export function redactUrl(url: string | URL): string {
  let parsed: URL;
  try {
    parsed = typeof url === 'string' ? new URL(url) : new URL(url.href);
  } catch {
    return redact(String(url));
  }
  if (parsed.username) parsed.username = REDACTED;
  if (parsed.password) parsed.password = REDACTED;
  for (const name of [...parsed.searchParams.keys()]) {
    if (isSensitiveKey(name)) {
      parsed.searchParams.set(name, REDACTED);
    }
  }
  // URLSearchParams percent-encodes the brackets; keep the marker readable.
  return redact(parsed.href.replaceAll(encodeURIComponent(REDACTED), REDACTED));
}

/** Options of {@link redactValue}. */
export interface RedactValueOptions {
  /** Deepest level inspected; deeper values become `'[Truncated]'`. Default 8. */
  maxDepth?: number;
}

/**
 * Deep copy of `value` safe to log: values of keys that name a secret (secret, password, token,
 * authorization, accountKey, connectionString, …) are masked whole, every string is passed
 * through {@link redact}, `Error`s become plain objects (name, message, code, stack, cause) with
 * the same treatment, and cycles are cut. Non-plain objects keep their enumerable own fields.
 */
export function redactValue(value: unknown, options: RedactValueOptions = {}): unknown {
  const maxDepth = options.maxDepth ?? 8;
  const seen = new WeakSet<object>();

  const walk = (v: unknown, depth: number): unknown => {
    if (typeof v === 'string') return redact(v);
    if (v === null || typeof v !== 'object') {
      return typeof v === 'function' ? `[Function ${v.name || 'anonymous'}]` : v;
    }
    if (v instanceof URL) return redactUrl(v);
    if (v instanceof Date) return v;
    if (Buffer.isBuffer(v) || ArrayBuffer.isView(v)) return `[${v.constructor.name} ${v.byteLength} bytes]`;
    if (seen.has(v)) return '[Circular]';
    if (depth >= maxDepth) return '[Truncated]';
    seen.add(v);
    try {
      if (Array.isArray(v)) return v.map((item) => walk(item, depth + 1));
      const out: Record<string, unknown> = {};
      if (v instanceof Error) {
        out.name = v.name;
        out.message = redact(v.message);
        if (v.stack !== undefined) out.stack = redact(v.stack);
        if (v.cause !== undefined) out.cause = walk(v.cause, depth + 1);
      }
      if (v instanceof Map || v instanceof Headers) {
        for (const [k, item] of v) out[String(k)] = maskOrWalk(String(k), item, depth);
        return out;
      }
      for (const [k, item] of Object.entries(v)) {
        if (v instanceof Error && (k === 'message' || k === 'stack')) continue;
        out[k] = maskOrWalk(k, item, depth);
      }
      return out;
    } finally {
      seen.delete(v);
    }
  };

  const maskOrWalk = (key: string, item: unknown, depth: number): unknown =>
    isSensitiveKey(key) && item !== undefined && item !== null && item !== ''
      ? REDACTED
      : walk(item, depth + 1);

  return walk(value, 0);
}

/**
 * True when a property named `key` holds a secret. Names ending in `Setting`/`SettingName`
 * (e.g. `clientSecretSetting`) only NAME an app setting and are not secrets.
 */
export function isSensitiveKey(key: string): boolean {
  if (/setting(?:name)?s?$/i.test(key)) return false;
  return SENSITIVE_KEY_PATTERN.test(key.replace(/[_-]/g, ''));
}
