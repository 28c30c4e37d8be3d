/** Stable codes of package errors and warnings (`PackageError.code`, report issue codes). */
export const PACKAGE_ERROR_CODES = {
  /** The bytes are not a readable zip archive. */
  notZip: 'PACKAGE_NOT_ZIP',
  /** An entry is not at the root of the zip (a folder, or a name with `/`). */
  folder: 'PACKAGE_FOLDER',
  /** An entry name could escape the extraction folder or is not a valid Windows file name. */
  unsafeName: 'PACKAGE_UNSAFE_FILE_NAME',
  /** Two entries have the same name (ignoring case, as Windows does). */
  duplicateName: 'PACKAGE_DUPLICATE_FILE_NAME',
  /** `Manifest.xml` is missing at the root. */
  missingManifest: 'PACKAGE_MISSING_MANIFEST',
  /** `PackageHeader.xml` is missing at the root. */
  missingHeader: 'PACKAGE_MISSING_HEADER',
  /** A manifest entity's `InputFilePath` is empty or names no file of the zip. */
  missingDataFile: 'PACKAGE_MISSING_DATA_FILE',
  /** The manifest lists no entity. */
  noEntities: 'PACKAGE_NO_ENTITIES',
  /** More than one composite entity (F&O supports one per package). */
  multipleComposite: 'PACKAGE_MULTIPLE_COMPOSITE_ENTITIES',
  /** Manifest.xml has an unexpected structure. */
  manifestInvalid: 'PACKAGE_MANIFEST_INVALID',
  /** PackageHeader.xml has an unexpected structure. */
  headerInvalid: 'PACKAGE_HEADER_INVALID',
  /** An XML file is not well-formed. */
  xmlInvalid: 'PACKAGE_XML_INVALID',
  /** An XML file's bytes are not valid in the detected encoding. */
  xmlEncoding: 'PACKAGE_XML_ENCODING',
  /** An entry or the whole package is larger than the configured limit. */
  tooLarge: 'PACKAGE_TOO_LARGE',
  /** More entries than the configured limit. */
  tooManyEntries: 'PACKAGE_TOO_MANY_ENTRIES',
  /** An entry's declared compression ratio is above the limit (zip bomb). */
  compressionRatio: 'PACKAGE_COMPRESSION_RATIO',
  /** An entry inflated to more (or fewer) bytes than its header declares (zip bomb / corrupt). */
  sizeMismatch: 'PACKAGE_ENTRY_SIZE_MISMATCH',
  /** An entry is encrypted. */
  encrypted: 'PACKAGE_ENCRYPTED_ENTRY',
  /** An entry uses a compression method other than stored/deflate. */
  unsupportedCompression: 'PACKAGE_UNSUPPORTED_COMPRESSION',
  /** A requested entry does not exist. */
  entryNotFound: 'PACKAGE_ENTRY_NOT_FOUND',
  /** The template has several entities and none was chosen (or the chosen one is absent). */
  templateEntity: 'PACKAGE_TEMPLATE_ENTITY',
  /** A batch gives no file for an entity of the template that is not optional. */
  templateEntityMissing: 'PACKAGE_TEMPLATE_ENTITY_MISSING',
  /** Builder input is invalid (e.g. an unsafe data file name). */
  builderInput: 'PACKAGE_BUILDER_INPUT',
  /** An entity of the data project's template is not in the package (overwrite would drop it). */
  dropsEntity: 'PACKAGE_DROPS_ENTITY',
  /** The manifest does not map fields the template maps (overwrite would drop them from the mapping). */
  dropsMapping: 'PACKAGE_DROPS_MAPPING',
  /** A data file has no column for fields the template maps. */
  fileLacksFields: 'PACKAGE_FILE_LACKS_FIELDS',
  /** Every data file is header-only: nothing to import, and overwrite would replace the mapping. */
  noRecords: 'PACKAGE_HAS_NO_RECORDS',
} as const;

/** Stable codes of package warnings (the package may import, but probably not as intended). */
export const PACKAGE_WARNING_CODES = {
  /** An entity has no (or an empty/nil) `EntityMapList`: F&O imports 0 rows "successfully". */
  noEntityMap: 'PACKAGE_NO_ENTITY_MAP',
  /** A file of the zip is neither Manifest.xml, PackageHeader.xml nor an InputFilePath. */
  unreferencedFile: 'PACKAGE_UNREFERENCED_FILE',
  /** Manifest.xml/PackageHeader.xml root element or namespace is not F&O's. */
  unexpectedXml: 'PACKAGE_UNEXPECTED_XML',
  /** `InputFilePath` matches a file only when case is ignored. */
  caseMismatch: 'PACKAGE_FILE_NAME_CASE',
} as const;

/** Names of the two XML files of a data package. */
export const MANIFEST_FILE_NAME = 'Manifest.xml';
/** Name of the package header file. */
export const PACKAGE_HEADER_FILE_NAME = 'PackageHeader.xml';
