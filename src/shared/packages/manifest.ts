/**
 * The meaning of Manifest.xml and PackageHeader.xml, on top of the order-preserving XML tree
 * (so a template's unknown elements survive a rewrite).
 */
import { PackageError } from '../errors.js';
import { PACKAGE_ERROR_CODES } from './codes.js';
import {
  DMF_XML_NAMESPACE,
  XSI_NAMESPACE,
  childElement,
  childElements,
  decodeXml,
  element,
  encodeUtf16LeWithBom,
  isNil,
  localName,
  parseXml,
  serializeXml,
  sortDataContractMembers,
  textOf,
  type XmlElement,
} from './xml.js';

/** Root element of Manifest.xml. */
export const MANIFEST_ROOT = 'DataManagementPackageManifest';
/** Root element of PackageHeader.xml. */
export const HEADER_ROOT = 'DataManagementPackageHeader';
/** `ManifestType` F&O writes in PackageHeader.xml. */
export const MANIFEST_TYPE =
  'Microsoft.Dynamics.AX.Framework.Tools.DataManagement.Serialization.DataManagementPackageManifest';

/** One entity of a manifest, as the import pipeline needs it. */
export interface ManifestEntity {
  /** The DMF entity label, e.g. "Customers V3". */
  entityName: string;
  /** Independent group (groups may run in parallel). Missing → 1. */
  executionUnit: number;
  /** Sequential level inside the unit. Missing → 1. */
  levelInExecutionUnit: number;
  /** Sequence inside the level. Missing → 1. */
  sequenceInLevel: number;
  /** Name of the data file in the zip (`''` when missing). */
  inputFilePath: string;
  /** `CSV`, `EXCEL`, `XML-Element`, … (`''` when missing). */
  sourceFormat: string;
  /** True when `EntityMapList` has at least one `EntityMap` (else 0 rows would import). */
  hasEntityMapList: boolean;
  /** Number of `EntityMap` items. */
  entityMapCount: number;
  /**
   * The source fields the mapping maps: each `EntityMap`'s `XMLField` (its `EntityField` when the
   * map has no source field), as written.
   */
  mappedFields: string[];
  /** See {@link isCompositeEntityName}. */
  isComposite: boolean;
}

/** A parsed Manifest.xml. */
export interface PackageManifest {
  /** `DefinitionGroupName` (the data project name it was exported from). */
  definitionGroupName: string;
  /** `Description`. */
  description: string;
  /** Entities in manifest order. */
  entities: ManifestEntity[];
  /** Root namespace (`xmlns`), for diagnostics. */
  namespace: string | undefined;
  /** The full tree, unknown elements included. */
  xml: XmlElement;
}

/** A parsed PackageHeader.xml. */
export interface PackageHeader {
  /** `Description`. */
  description: string;
  /** `ManifestType`. */
  manifestType: string;
  /** `PackageType` (normally `DefinitionGroup`). */
  packageType: string;
  /** `PackageVersion` (1 or 2 seen). */
  packageVersion: string;
  /** Root namespace (`xmlns`). */
  namespace: string | undefined;
  /** The full tree. */
  xml: XmlElement;
}

/** Options for recognizing composite entities. */
export interface CompositeOptions {
  /** Extra entity labels to treat as composite (case-insensitive), for custom composites. */
  compositeEntityNames?: readonly string[];
}

/**
 * Composite detection. The manifest does not flag composite entities, so we recognize them by
 * label: every standard composite entity's label contains the word "composite" (e.g. "Sales
 * orders composite V4", "Purchase orders composite V2"); custom composite entities whose label
 * lacks the word can be listed in `compositeEntityNames`.
 */
export function isCompositeEntityName(entityName: string, options: CompositeOptions = {}): boolean {
  if (/\bcomposite\b/i.test(entityName)) return true;
  const lower = entityName.trim().toLowerCase();
  return (options.compositeEntityNames ?? []).some((n) => n.trim().toLowerCase() === lower);
}

function positiveInt(el: XmlElement, name: string): number {
  const text = textOf(childElement(el, name)).trim();
  const value = Number.parseInt(text, 10);
  return /^\d+$/.test(text) && value > 0 ? value : 1;
}

/** Extracts the entities of a manifest tree. */
export function manifestEntities(root: XmlElement, options: CompositeOptions = {}): ManifestEntity[] {
  const list = childElement(root, 'PackageEntityList');
  if (!list) return [];
  return childElements(list).map((el) => {
    const mapList = childElement(el, 'EntityMapList');
    const maps = mapList && !isNil(mapList) ? childElements(mapList) : [];
    const entityMapCount = maps.length;
    const mappedFields = maps
      .map((m) => textOf(childElement(m, 'XMLField')).trim() || textOf(childElement(m, 'EntityField')).trim())
      .filter((f) => f !== '');
    const entityName = textOf(childElement(el, 'EntityName')).trim();
    return {
      entityName,
      executionUnit: positiveInt(el, 'ExecutionUnit'),
      levelInExecutionUnit: positiveInt(el, 'LevelInExecutionUnit'),
      sequenceInLevel: positiveInt(el, 'SequenceInLevel'),
      inputFilePath: textOf(childElement(el, 'InputFilePath')).trim(),
      sourceFormat: textOf(childElement(el, 'SourceFormat')).trim(),
      hasEntityMapList: entityMapCount > 0,
      entityMapCount,
      mappedFields,
      isComposite: isCompositeEntityName(entityName, options),
    };
  });
}

/**
 * Entities in execution order: by execution unit (independent groups that may run in
 * parallel), then level (sequential), then sequence inside the level; ties keep manifest order.
 */
export function sortByExecutionOrder(entities: readonly ManifestEntity[]): ManifestEntity[] {
  return [...entities].sort(
    (a, b) =>
      a.executionUnit - b.executionUnit ||
      a.levelInExecutionUnit - b.levelInExecutionUnit ||
      a.sequenceInLevel - b.sequenceInLevel,
  );
}

function expectRoot(root: XmlElement, expected: string, fileName: string, code: string): void {
  if (localName(root) !== expected) {
    throw new PackageError(`${fileName}: root element is <${root.name}>, expected <${expected}>`, { code });
  }
}

/**
 * Parses Manifest.xml bytes (UTF-8 or UTF-16 LE/BE, with or without BOM). Throws `PackageError`
 * (`PACKAGE_XML_ENCODING`, `PACKAGE_XML_INVALID`, `PACKAGE_MANIFEST_INVALID`).
 */
export function parseManifest(bytes: Uint8Array, options: CompositeOptions = {}): PackageManifest {
  const root = parseXml(decodeXml(bytes, 'Manifest.xml'), 'Manifest.xml');
  expectRoot(root, MANIFEST_ROOT, 'Manifest.xml', PACKAGE_ERROR_CODES.manifestInvalid);
  return {
    definitionGroupName: textOf(childElement(root, 'DefinitionGroupName')),
    description: textOf(childElement(root, 'Description')),
    entities: manifestEntities(root, options),
    namespace: root.attributes.xmlns,
    xml: root,
  };
}

/** Parses PackageHeader.xml bytes (any supported encoding). Throws `PackageError`. */
export function parseHeader(bytes: Uint8Array): PackageHeader {
  const root = parseXml(decodeXml(bytes, 'PackageHeader.xml'), 'PackageHeader.xml');
  expectRoot(root, HEADER_ROOT, 'PackageHeader.xml', PACKAGE_ERROR_CODES.headerInvalid);
  return {
    description: textOf(childElement(root, 'Description')),
    manifestType: textOf(childElement(root, 'ManifestType')),
    packageType: textOf(childElement(root, 'PackageType')),
    packageVersion: textOf(childElement(root, 'PackageVersion')),
    namespace: root.attributes.xmlns,
    xml: root,
  };
}

/**
 * Serializes a manifest or header tree in F&O's own form: members in DataContract (ordinal)
 * order, no XML declaration, UTF-16LE with BOM. The tree is sorted in place.
 */
export function encodePackageXml(root: XmlElement): Buffer {
  sortDataContractMembers(root);
  return encodeUtf16LeWithBom(serializeXml(root));
}

/** One column mapping of a new manifest: source column → staging field. */
export interface EntityFieldMap {
  /** Column name in the data file (`XMLField`). */
  source: string;
  /** Staging field name (`EntityField`), usually the upper-case column name. */
  entityField: string;
}

/** What {@link createManifestXml} needs. */
export interface NewManifestSpec {
  /** DMF entity label, e.g. "Customers V3". */
  entityName: string;
  /** Data file name inside the zip, e.g. "Customers V3.csv". */
  dataFileName: string;
  /** `CSV`, `EXCEL`, `XML-Element`, … (the data project's source format name). */
  sourceFormat: string;
  /** Data project name. */
  definitionGroupName: string;
  /** Description; default the definition group name. */
  description?: string;
  /**
   * Column mapping. Strings map a column to the staging field of the same name in upper case.
   * Without it the manifest has no `EntityMapList` and F&O imports 0 rows (validation warns).
   */
  columns?: readonly (string | EntityFieldMap)[];
  /** `RunBusinessLogic`, default true. */
  runBusinessLogic?: boolean;
  /** `RunBusinessValidation`, default true. */
  runBusinessValidation?: boolean;
}

const NS_ATTRIBUTES = { 'xmlns:i': XSI_NAMESPACE, xmlns: DMF_XML_NAMESPACE };
const nil = (name: string): XmlElement => element(name, [], { 'i:nil': 'true' });
const bool = (value: boolean): string => (value ? 'true' : 'false');

/** Builds a one-entity Manifest.xml tree shaped like the ones F&O exports. */
export function createManifestXml(spec: NewManifestSpec): XmlElement {
  const maps = (spec.columns ?? []).map((column) => {
    const map = typeof column === 'string' ? { source: column, entityField: column.toUpperCase() } : column;
    return element('EntityMap', [
      element('ArrayIndex', '0'),
      element('EntityField', map.entityField),
      nil('EntityFieldConversionList'),
      element('IsAutoDefault', 'false'),
      element('IsAutoGenerated', 'false'),
      element('IsDefaultValueEqualNull', 'false'),
      element('UseTextQualifier', 'false'),
      element('XMLField', map.source),
    ]);
  });
  const entity = element('DataManagementPackageEntityData', [
    ...(maps.length > 0 ? [element('EntityMapList', maps)] : []),
    element('EntityName', spec.entityName),
    nil('EntityTransformList'),
    element('ExcelSheetName'),
    element('ExecutionUnit', '1'),
    element('FailExecutionUnitOnError', 'false'),
    element('FailLevelOnError', 'false'),
    element('InputFilePath', spec.dataFileName),
    element('LevelInExecutionUnit', '1'),
    element('RunBusinessLogic', bool(spec.runBusinessLogic ?? true)),
    element('RunBusinessValidation', bool(spec.runBusinessValidation ?? true)),
    element('SampleFilePath'),
    element('SequenceInLevel', '1'),
    element('SourceFormat', spec.sourceFormat),
    element('ValidationStatus', 'Yes'),
  ]);
  return element(
    MANIFEST_ROOT,
    [
      element('DefinitionGroupName', spec.definitionGroupName),
      element('Description', spec.description ?? spec.definitionGroupName),
      element('PackageEntityList', [entity]),
    ],
    NS_ATTRIBUTES,
  );
}

/** Builds a PackageHeader.xml tree shaped like F&O's. */
export function createHeaderXml(spec: { description: string; packageVersion?: string }): XmlElement {
  return element(
    HEADER_ROOT,
    [
      element('Description', spec.description),
      element('ManifestType', MANIFEST_TYPE),
      element('PackageType', 'DefinitionGroup'),
      element('PackageVersion', spec.packageVersion ?? '1'),
    ],
    NS_ATTRIBUTES,
  );
}
