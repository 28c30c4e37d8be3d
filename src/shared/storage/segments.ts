/**
 * What may stand in one blob path segment, and the stricter rules for the segments callers send
 * (legal entity, file name). Pure. Every blob path the app forms goes through `blobPath`
 * (./paths.ts), which applies {@link segmentProblem} to each segment; the triggers apply the
 * caller rules first, so a refusal names the field and says why.
 *
 * Sources: Azure Storage "Naming and Referencing Containers, Blobs, and Metadata" (a blob name is
 * at most 1,024 characters and 254 path segments; avoid names ending with a dot or a slash;
 * control characters such as 0x00-0x1F are not allowed), the hierarchical-namespace limit of 255
 * characters per path segment (we count UTF-8 bytes, the stricter reading), and F&O's company id
 * (the `DataAreaId` / `LegalEntityDataAreaId` extended data type: string size 4, letters and
 * digits) — see docs/security.md.
 */
import { LEGAL_ENTITY_PATTERN } from '../config/index.js';

/** Longest blob name Azure accepts, in characters. */
export const MAX_BLOB_NAME_CHARS = 1024;
/** Most path segments in one blob name. */
export const MAX_PATH_SEGMENTS = 254;
/** Longest path segment, in UTF-8 bytes. */
export const MAX_SEGMENT_BYTES = 255;

/**
 * Characters no segment may hold: controls (Cc), format characters (Cf: the bidirectional
 * overrides and isolates U+202A-U+202E, U+2066-U+2069, zero-width joiners and spaces, the BOM …),
 * lone surrogates, private use, unassigned code points, line and paragraph separators, and every
 * space but U+0020 (no-break and other spaces look like one and are not).
 */
const FORBIDDEN = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}]|(?! )\p{Zs}/u;
/** Bidirectional-text controls: they make a name show differently from what it is. */
const BIDI = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/u;

/**
 * The characters a caller's file name may use: letters, combining marks, digits, space and
 * `. _ - ( ) [ ] + , = @ ~ ! ' & $`. Not: `/ \ : * ? " < > | # %` (path separators, characters
 * Windows or URLs treat specially), nor anything {@link FORBIDDEN}.
 */
const FILE_NAME_CHARS = /^[\p{L}\p{M}\p{N} ._()[\]+,=@~!'&$-]+$/u;

/** UTF-8 length of a string. */
export function utf8Bytes(value: string): number {
  return Buffer.byteLength(value, 'utf8');
}

/** A string as it may be shown in a message: invisible and control characters as `\u{…}`. */
export function printable(value: string, maxChars = 120): string {
  const shown = Array.from(value)
    .map((ch) =>
      FORBIDDEN.test(ch) || ch === '"' || ch === '\\' ? `\\u{${ch.codePointAt(0)!.toString(16)}}` : ch,
    )
    .join('');
  return shown.length > maxChars ? `${shown.slice(0, maxChars)}…` : shown;
}

/** The first forbidden character of `value`, described; undefined when there is none. */
function forbiddenCharacter(value: string): string | undefined {
  for (const ch of value) {
    if (!FORBIDDEN.test(ch)) continue;
    const code = `U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
    if (BIDI.test(ch))
      return `the bidirectional-text control ${code}, which makes a name display differently from what it is`;
    return `the control or invisible character ${code}`;
  }
  return undefined;
}

/**
 * Why `segment` cannot be one segment of a blob name (undefined when it can): empty, `.` or
 * `..` (URL parsers resolve them: the blob would land elsewhere, even in another container), a
 * slash or backslash, a forbidden character, a trailing dot, more than {@link MAX_SEGMENT_BYTES}
 * UTF-8 bytes.
 */
export function segmentProblem(segment: string): string | undefined {
  if (segment === '') return 'is empty';
  if (segment === '.' || segment === '..') return `is "${segment}"`;
  if (segment.includes('/') || segment.includes('\\')) return 'contains a slash or a backslash';
  const bad = forbiddenCharacter(segment);
  if (bad) return `contains ${bad}`;
  if (segment.endsWith('.')) return 'ends with a dot';
  const bytes = utf8Bytes(segment);
  if (bytes > MAX_SEGMENT_BYTES)
    return `is ${bytes} bytes long (UTF-8); at most ${MAX_SEGMENT_BYTES} are allowed`;
  return undefined;
}

/** Why `value` is not a legal entity (F&O company id); undefined when it is one. */
export function legalEntityProblem(value: string): string | undefined {
  return LEGAL_ENTITY_PATTERN.test(value)
    ? undefined
    : `"${printable(value, 40)}" is not a legal entity: F&O company ids are 1-4 letters or digits (e.g. USMF)`;
}

/**
 * Why `value` is not acceptable as the name of a file a caller sends (undefined when it is): the
 * segment rules, then the characters of {@link FILE_NAME_CHARS}, no leading or trailing space.
 * Names are refused, never rewritten: the job, its result and the archive use the name as given.
 */
export function fileNameProblem(value: string): string | undefined {
  const shown = `"${printable(value, 80)}"`;
  const segment = segmentProblem(value);
  if (segment) return `the file name ${shown} ${segment}`;
  if (value !== value.trim()) return `the file name ${shown} starts or ends with a space`;
  if (!FILE_NAME_CHARS.test(value)) {
    const odd = Array.from(value).find((ch) => !FILE_NAME_CHARS.test(ch)) ?? '';
    return `the file name ${shown} contains "${printable(odd)}"; use letters, digits, spaces and . _ - ( ) [ ] + , = @ ~ ! ' & $`;
  }
  return undefined;
}

/**
 * A name made safe as one segment, for names the app does not take from a caller as they are (F&O's
 * error file names, zip entry names when unpacked, rejected paths recorded): forbidden characters,
 * slashes, `?`, `#` and `%` become `_`, trailing dots go, the result is at most 200 characters and
 * `maxBytes` UTF-8 bytes.
 */
export function safeFileName(name: string, maxBytes = MAX_SEGMENT_BYTES): string {
  const cleaned = Array.from(name)
    .map((ch) => (FORBIDDEN.test(ch) || /[\\/?#%]/.test(ch) ? '_' : ch))
    .join('')
    .trim()
    .replace(/\.+$/, '');
  const chars = Array.from(cleaned === '' ? '_' : cleaned).slice(0, 200);
  while (utf8Bytes(chars.join('')) > maxBytes) chars.pop();
  return chars.join('').replace(/[. ]+$/, '') || '_';
}
