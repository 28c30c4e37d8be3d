import { DmfFunctionsError, PackageError } from '../errors.js';
import {
  MANIFEST_FILE_NAME,
  PACKAGE_ERROR_CODES,
  PACKAGE_HEADER_FILE_NAME,
  PACKAGE_WARNING_CODES,
} from './codes.js';
import {
  HEADER_ROOT,
  MANIFEST_TYPE,
  parseHeader,
  parseManifest,
  type CompositeOptions,
  type ManifestEntity,
  type PackageHeader,
  type PackageManifest,
} from './manifest.js';
import { checkPackageFileName } from './names.js';
import {
  checkDeclaredEntry,
  openPackage,
  type PackageEntry,
  type PackageInput,
  type PackageLimits,
  type PackageReader,
} from './reader.js';
import { DMF_XML_NAMESPACE } from './xml.js';

/** One problem found by {@link validatePackage}. */
export interface PackageIssue {
  /** Stable code, see `PACKAGE_ERROR_CODES` / `PACKAGE_WARNING_CODES`. */
  code: string;
  /** Human-readable explanation. */
  message: string;
  /** The file of the package concerned, when there is one. */
  file?: string;
}

/** Result of {@link validatePackage}. */
export interface PackageValidationReport {
  /** True when there is no error (warnings allowed). */
  ok: boolean;
  /** Problems that make F&O refuse the package or make it unsafe. */
  errors: PackageIssue[];
  /** Problems that let the import run but probably not as intended. */
  warnings: PackageIssue[];
  /** Entities of the manifest (empty when it could not be read). */
  entities: ManifestEntity[];
  /** The parsed manifest, when readable. */
  manifest?: PackageManifest;
  /** The parsed header, when readable. */
  header?: PackageHeader;
  /** Central-directory entries (empty when the zip could not be opened). */
  files: PackageEntry[];
}

/** Options of {@link validatePackage}. */
export interface ValidatePackageOptions extends CompositeOptions {
  /** Overrides of the default limits. */
  limits?: Partial<PackageLimits>;
  /**
   * Also inflate every data file, counting the real bytes against declared sizes and limits (a
   * zip whose headers lie is caught here). Default false: declared sizes and ratios are always
   * checked, and every later read of an entry counts its bytes anyway.
   */
  verifyData?: boolean;
  /** Require every `InputFilePath` to exist in the zip. Default true (false for templates). */
  requireDataFiles?: boolean;
}

/**
 * Validates a data package and returns a structured report (it throws only when the source
 * itself cannot be read, e.g. an I/O or network failure). Checks: a readable zip; files at the
 * root only, with safe and unique names; declared sizes and compression ratios within limits
 * (and, with `verifyData`, the real inflated sizes); Manifest.xml and PackageHeader.xml present
 * and well-formed in UTF-8/UTF-16; at least one entity; every `InputFilePath` present; at most
 * one composite entity; a warning for entities without `EntityMapList` (0 rows would import).
 * `input` may be an already open {@link PackageReader}, which is left open.
 */
export async function validatePackage(
  input: PackageInput | PackageReader,
  options: ValidatePackageOptions = {},
): Promise<PackageValidationReport> {
  const errors: PackageIssue[] = [];
  const warnings: PackageIssue[] = [];
  const report = (): PackageValidationReport => ({
    ok: errors.length === 0,
    errors,
    warnings,
    entities: manifest?.entities ?? [],
    ...(manifest ? { manifest } : {}),
    ...(header ? { header } : {}),
    files: reader ? [...reader.entries] : [],
  });
  let manifest: PackageManifest | undefined;
  let header: PackageHeader | undefined;
  let reader: PackageReader | undefined;
  const external = isReader(input);
  try {
    reader = external ? input : await openPackage(input, options.limits ? { limits: options.limits } : {});
  } catch (error) {
    if (error instanceof PackageError) {
      errors.push({ code: error.code, message: error.message });
      return report();
    }
    throw error;
  }

  try {
    checkEntries(reader, errors);

    const readXml = async <T>(name: string, parse: (bytes: Buffer) => T): Promise<T | undefined> => {
      if (!reader?.getEntry(name)) {
        const other = reader?.entries.find((e) => e.name.toLowerCase() === name.toLowerCase());
        errors.push({
          code:
            name === MANIFEST_FILE_NAME
              ? PACKAGE_ERROR_CODES.missingManifest
              : PACKAGE_ERROR_CODES.missingHeader,
          message: `${name} is missing at the root of the package${other ? ` (found "${other.name}": names are case-sensitive)` : ''}`,
          file: name,
        });
        return undefined;
      }
      try {
        return parse(await reader.readEntry(name));
      } catch (error) {
        if (!(error instanceof DmfFunctionsError)) throw error;
        errors.push({ code: error.code, message: error.message, file: name });
        return undefined;
      }
    };

    manifest = await readXml(MANIFEST_FILE_NAME, (bytes) => parseManifest(bytes, options));
    header = await readXml(PACKAGE_HEADER_FILE_NAME, parseHeader);
    if (manifest) checkManifest(manifest, reader, options, errors, warnings);
    if (header) checkHeader(header, warnings);

    if (options.verifyData) {
      for (const entry of reader.entries) {
        if (entry.isDirectory || entry.name === MANIFEST_FILE_NAME || entry.name === PACKAGE_HEADER_FILE_NAME)
          continue;
        if (checkDeclaredEntry(entry, reader.limits)) continue; // already reported
        try {
          const stream = await reader.openEntryStream(entry.name);
          for await (const _chunk of stream) {
            // discard: only counting matters
          }
        } catch (error) {
          if (!(error instanceof DmfFunctionsError)) throw error;
          errors.push({ code: error.code, message: error.message, file: entry.name });
        }
      }
    }
    return report();
  } finally {
    if (!external) await reader.close();
  }
}

function isReader(input: PackageInput | PackageReader): input is PackageReader {
  return typeof input === 'object' && 'entries' in input && 'openEntryStream' in input;
}

function checkEntries(reader: PackageReader, errors: PackageIssue[]): void {
  const seen = new Map<string, string>();
  let declaredTotal = 0;
  for (const entry of reader.entries) {
    const nameProblem = checkPackageFileName(entry.name);
    if (nameProblem) errors.push({ ...nameProblem, file: entry.name });
    const key = entry.name.toLowerCase();
    const previous = seen.get(key);
    if (previous !== undefined) {
      errors.push({
        code: PACKAGE_ERROR_CODES.duplicateName,
        message: `"${entry.name}" and "${previous}" are the same file name on Windows`,
        file: entry.name,
      });
    } else seen.set(key, entry.name);
    const sizeProblem = checkDeclaredEntry(entry, reader.limits);
    if (sizeProblem) errors.push({ ...sizeProblem, file: entry.name });
    declaredTotal += entry.uncompressedSize;
  }
  if (declaredTotal > reader.limits.maxTotalBytes) {
    errors.push({
      code: PACKAGE_ERROR_CODES.tooLarge,
      message: `The package declares ${declaredTotal} uncompressed bytes, more than the limit of ${reader.limits.maxTotalBytes}`,
    });
  }
}

function checkManifest(
  manifest: PackageManifest,
  reader: PackageReader,
  options: ValidatePackageOptions,
  errors: PackageIssue[],
  warnings: PackageIssue[],
): void {
  if (manifest.namespace !== DMF_XML_NAMESPACE) {
    warnings.push({
      code: PACKAGE_WARNING_CODES.unexpectedXml,
      message: `Manifest.xml namespace is ${JSON.stringify(manifest.namespace ?? '')}, F&O writes "${DMF_XML_NAMESPACE}"`,
      file: MANIFEST_FILE_NAME,
    });
  }
  if (manifest.entities.length === 0) {
    errors.push({
      code: PACKAGE_ERROR_CODES.noEntities,
      message: 'Manifest.xml lists no entity (PackageEntityList is empty or missing)',
      file: MANIFEST_FILE_NAME,
    });
  }
  const referenced = new Set<string>([MANIFEST_FILE_NAME, PACKAGE_HEADER_FILE_NAME]);
  for (const entity of manifest.entities) {
    const label = entity.entityName || '(unnamed entity)';
    if (!entity.inputFilePath) {
      errors.push({
        code: PACKAGE_ERROR_CODES.missingDataFile,
        message: `Entity "${label}" has no InputFilePath`,
        file: MANIFEST_FILE_NAME,
      });
    } else {
      referenced.add(entity.inputFilePath);
      const nameProblem = checkPackageFileName(entity.inputFilePath);
      if (nameProblem) {
        errors.push({
          code: nameProblem.code,
          message: `InputFilePath of "${label}": ${nameProblem.message}`,
          file: entity.inputFilePath,
        });
      } else if (!reader.getEntry(entity.inputFilePath) && options.requireDataFiles !== false) {
        const other = reader.entries.find((e) => e.name.toLowerCase() === entity.inputFilePath.toLowerCase());
        errors.push({
          code: PACKAGE_ERROR_CODES.missingDataFile,
          message: `Data file "${entity.inputFilePath}" of entity "${label}" is not in the package${other ? ` (found "${other.name}": names are case-sensitive)` : ''}`,
          file: entity.inputFilePath,
        });
      }
    }
    if (!entity.hasEntityMapList) {
      warnings.push({
        code: PACKAGE_WARNING_CODES.noEntityMap,
        message: `Entity "${label}" has no EntityMapList: F&O would import 0 rows and report success`,
        file: MANIFEST_FILE_NAME,
      });
    }
  }
  const composites = manifest.entities.filter((e) => e.isComposite);
  if (composites.length > 1) {
    errors.push({
      code: PACKAGE_ERROR_CODES.multipleComposite,
      message: `F&O accepts one composite entity per package; found ${composites.length}: ${composites.map((e) => `"${e.entityName}"`).join(', ')}`,
      file: MANIFEST_FILE_NAME,
    });
  }
  for (const entry of reader.entries) {
    if (!entry.isDirectory && !referenced.has(entry.name)) {
      warnings.push({
        code: PACKAGE_WARNING_CODES.unreferencedFile,
        message: `"${entry.name}" is not referenced by the manifest`,
        file: entry.name,
      });
    }
  }
}

function checkHeader(header: PackageHeader, warnings: PackageIssue[]): void {
  const odd: string[] = [];
  if (header.namespace !== DMF_XML_NAMESPACE) odd.push(`namespace ${JSON.stringify(header.namespace ?? '')}`);
  if (header.manifestType && header.manifestType !== MANIFEST_TYPE)
    odd.push(`ManifestType "${header.manifestType}"`);
  if (header.packageType && header.packageType !== 'DefinitionGroup')
    odd.push(`PackageType "${header.packageType}"`);
  if (odd.length > 0) {
    warnings.push({
      code: PACKAGE_WARNING_CODES.unexpectedXml,
      message: `${HEADER_ROOT} has unexpected ${odd.join(', ')}`,
      file: PACKAGE_HEADER_FILE_NAME,
    });
  }
}

/** Thrown by {@link assertValidPackage}; `report` holds every issue. */
export class PackageValidationError extends PackageError {
  /** The full report. */
  readonly report: PackageValidationReport;

  constructor(report: PackageValidationReport) {
    const first = report.errors[0];
    super(
      `Invalid data package (${report.errors.length} error${report.errors.length === 1 ? '' : 's'}):\n` +
        report.errors.map((e) => `  - ${e.code}${e.file ? ` [${e.file}]` : ''}: ${e.message}`).join('\n'),
      { code: first?.code ?? PACKAGE_ERROR_CODES.manifestInvalid },
    );
    this.report = report;
  }
}

/**
 * Like {@link validatePackage} but throws {@link PackageValidationError} (a `PackageError` whose
 * `code` is the first error's code and whose `report` lists all) when the package has errors.
 * Returns the report (with its warnings) otherwise.
 */
export async function assertValidPackage(
  input: PackageInput | PackageReader,
  options: ValidatePackageOptions = {},
): Promise<PackageValidationReport> {
  const report = await validatePackage(input, options);
  if (!report.ok) throw new PackageValidationError(report);
  return report;
}
