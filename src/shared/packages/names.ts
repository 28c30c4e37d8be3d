import { PACKAGE_ERROR_CODES } from './codes.js';

/** A problem with a file name inside a package. */
export interface FileNameProblem {
  code: string;
  message: string;
}

/** Longest file name inside a package, in UTF-8 bytes (Windows and most file systems: 255). */
export const MAX_ENTRY_NAME_BYTES = 255;

/** A name as a message may show it: quoted, invisible characters as `\u{…}`, at most 120 characters. */
function shown(name: string): string {
  const text = JSON.stringify(name).replace(
    /[\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}]/gu,
    (ch) => `\\u{${ch.codePointAt(0)!.toString(16)}}`,
  );
  return text.length > 120 ? `${text.slice(0, 120)}…"` : text;
}

const WINDOWS_RESERVED = /^(?:con|prn|aux|nul|com\d|lpt\d)(?:\..*)?$/i;

/**
 * Judges a file name inside a package: F&O wants every file at the zip's root, and the name
 * must be safe to extract on Windows (no `..`, no absolute path, no drive letter, no backslash,
 * no control, invisible, bidi or reserved characters, at most 255 UTF-8 bytes, no trailing dot/space,
 * no reserved device name).
 * Returns `undefined` when the name is fine.
 */
export function checkPackageFileName(name: string): FileNameProblem | undefined {
  const unsafe = (why: string): FileNameProblem => ({
    code: PACKAGE_ERROR_CODES.unsafeName,
    message: `Unsafe file name ${shown(name)}: ${why}`,
  });
  if (name === '') return unsafe('empty name');
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name)) return unsafe('control characters');
  // bidi overrides and other invisible characters make a name show as another one (spoofing)
  if (/[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}]/u.test(name)) {
    return unsafe('invisible or bidirectional-text control characters (a name must show as what it is)');
  }
  if (Buffer.byteLength(name, 'utf8') > MAX_ENTRY_NAME_BYTES) {
    return unsafe(`longer than ${MAX_ENTRY_NAME_BYTES} bytes (UTF-8)`);
  }
  if (name.includes('\\')) return unsafe('backslash (Windows path separator)');
  if (/^[A-Za-z]:/.test(name)) return unsafe('drive letter (absolute path)');
  if (name.startsWith('/')) return unsafe('absolute path');
  const segments = name.split('/');
  if (segments.includes('..')) return unsafe('parent directory reference ("..")');
  if (name.includes('/')) {
    return {
      code: PACKAGE_ERROR_CODES.folder,
      message: `${JSON.stringify(name)} is inside a folder; F&O wants every file at the root of the zip`,
    };
  }
  if (name === '.') return unsafe('"." is not a file name');
  if (/[<>:"|?*]/.test(name)) return unsafe('characters not allowed in Windows file names (<>:"|?*)');
  if (/[. ]$/.test(name)) return unsafe('trailing dot or space');
  if (WINDOWS_RESERVED.test(name)) return unsafe('reserved Windows device name');
  return undefined;
}
