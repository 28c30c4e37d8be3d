import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import yazl from 'yazl';
import { PackageError } from '../errors.js';
import { MANIFEST_FILE_NAME, PACKAGE_ERROR_CODES, PACKAGE_HEADER_FILE_NAME } from './codes.js';
import {
  createHeaderXml,
  createManifestXml,
  encodePackageXml,
  isCompositeEntityName,
  MANIFEST_ROOT,
  manifestEntities,
  parseHeader,
  parseManifest,
  sortByExecutionOrder,
  type CompositeOptions,
  type NewManifestSpec,
} from './manifest.js';
import { checkPackageFileName } from './names.js';
import { openPackage, type OpenPackageOptions, type PackageInput, type PackageReader } from './reader.js';
import { childElement, childElements, element, setChildText, textOf, type XmlElement } from './xml.js';

/** The data file to put into a package. */
export interface PackageDataFile {
  /**
   * The bytes: a stream (read once, never buffered whole), a Buffer, or a function opening the
   * stream when the zip reaches the file (several files of a batch are then read one at a time).
   */
  content: NodeJS.ReadableStream | Uint8Array | (() => Promise<NodeJS.ReadableStream>);
  /** Incoming file name (needed when the InputFilePath is rewritten). */
  fileName?: string;
  /** Size in bytes when known (lets the zip header carry it up front). */
  size?: number;
}

/** Options of {@link buildPackageFromTemplate} and {@link buildBatchPackageFromTemplate}. */
export interface BuildFromTemplateOptions extends OpenPackageOptions, CompositeOptions {
  /**
   * Which manifest entity receives the file (its label, case-insensitive). Required when the
   * template lists several entities. (One file only: a batch names the entity of each file.)
   */
  entityName?: string;
  /**
   * `'template'` (default, what Microsoft's scheduler does): write the incoming file under the
   * template's `InputFilePath`. `'incoming'`: keep the incoming file name and rewrite
   * `InputFilePath` to it.
   */
  dataFileName?: 'template' | 'incoming';
  /** Modification time of the zip entries. Default now. */
  mtime?: Date;
}

/** What {@link buildPackageFromTemplate} produced, besides the bytes. */
export interface BuiltPackage {
  /** The zip bytes; pipe it to a blob upload or a file. Errors of the data stream surface here. */
  stream: Readable;
  /** Name of the data file inside the package. */
  dataFileName: string;
  /** The label of the entity that received the file. */
  entityName: string;
  /** True when that entity is composite (ImportFromPackage then needs `overwrite: false`). */
  isComposite: boolean;
}

/** One file of a batch and the template entity (label, case-insensitive) it fills. */
export interface EntityDataFile {
  entityName: string;
  data: PackageDataFile;
}

/** Options of {@link buildBatchPackageFromTemplate}. */
export interface BuildBatchOptions extends Omit<BuildFromTemplateOptions, 'entityName'> {
  /**
   * Template entities (labels) a batch may leave without a file: they keep the template's own data
   * file, so the package still carries every entity of the project's definition.
   */
  optionalEntities?: readonly string[];
}

/** What {@link buildBatchPackageFromTemplate} produced, besides the bytes. */
export interface BuiltBatchPackage {
  stream: Readable;
  /**
   * Every entity of the template in execution order (unit → level → sequence), with the data file
   * the package holds for it and whether a batch file filled it (`false`: the template's own file).
   */
  entities: {
    entityName: string;
    dataFileName: string;
    filled: boolean;
    executionUnit: number;
    levelInExecutionUnit: number;
    sequenceInLevel: number;
  }[];
  /** True when an entity of the package is composite. */
  hasComposite: boolean;
}

function builderError(message: string): PackageError {
  return new PackageError(message, { code: PACKAGE_ERROR_CODES.builderInput });
}

function addData(zip: yazl.ZipFile, data: PackageDataFile, name: string, mtime: Date): void {
  if (typeof data.content === 'function') {
    const open = data.content;
    zip.addReadStreamLazy(
      name,
      data.size === undefined ? { mtime } : { mtime, size: data.size },
      (callback) => {
        open().then(
          (stream) => {
            watchInput(zip, stream);
            callback(null, stream);
          },
          (error: unknown) => callback(error, undefined as unknown as NodeJS.ReadableStream),
        );
      },
    );
  } else if (data.content instanceof Uint8Array) {
    zip.addBuffer(Buffer.from(data.content.buffer, data.content.byteOffset, data.content.byteLength), name, {
      mtime,
    });
  } else {
    addStream(zip, data.content, name, data.size === undefined ? { mtime } : { mtime, size: data.size });
  }
}

/** yazl pipes input streams without listening to their errors: forward them to the ZipFile. */
function addStream(
  zip: yazl.ZipFile,
  stream: NodeJS.ReadableStream,
  name: string,
  options: { mtime: Date; size?: number },
): void {
  watchInput(zip, stream);
  zip.addReadStream(stream, name, options);
}

function watchInput(zip: yazl.ZipFile, stream: NodeJS.ReadableStream): void {
  stream.once('error', (error: unknown) => zip.emit('error', error));
  // if the consumer gives up (e.g. the upload failed), stop reading the input too
  (zip.outputStream as Readable).once('close', () => {
    const destroyable = stream as Partial<Readable>;
    if (typeof destroyable.destroy === 'function' && !destroyable.destroyed) destroyable.destroy();
  });
}

function finish(zip: yazl.ZipFile, onClose?: () => Promise<void>): Readable {
  const output = zip.outputStream as Readable;
  let closed = false;
  const close = (): void => {
    if (closed) return;
    closed = true;
    void onClose?.().catch(() => undefined);
  };
  // yazl reports failures of input streams on the ZipFile, not on its output
  zip.on('error', (error: unknown) => {
    output.destroy(error instanceof Error ? error : new Error(String(error)));
  });
  output.once('end', close);
  output.once('close', close);
  output.once('error', close);
  zip.end();
  return output;
}

const labelOf = (el: XmlElement): string => textOf(childElement(el, 'EntityName')).trim();
const sameLabel = (a: string, b: string): boolean => a.trim().toLowerCase() === b.trim().toLowerCase();

/** Where one incoming file goes: the manifest entity and the file's name in the package. */
interface Placement {
  target: XmlElement;
  entityName: string;
  templatePath: string;
  dataFileName: string;
  data: PackageDataFile;
}

/**
 * The one template writer behind both builders: checks the template, places each incoming file
 * (under the template's `InputFilePath`, or its own name rewriting it), keeps the manifest (unknown
 * elements, execution units, levels and sequences included) and header in F&O's form, and copies
 * every other template file, one entry inflated at a time.
 */
async function writeFromTemplate(
  template: PackageInput | PackageReader,
  place: (entities: XmlElement[]) => { target: XmlElement; data: PackageDataFile }[],
  options: BuildFromTemplateOptions,
): Promise<{ stream: Readable; placements: Placement[]; entityElements: XmlElement[] }> {
  const external = typeof template === 'object' && 'openEntryStream' in template;
  const reader = external
    ? template
    : await openPackage(template, options.limits ? { limits: options.limits } : {});
  try {
    for (const required of [MANIFEST_FILE_NAME, PACKAGE_HEADER_FILE_NAME]) {
      if (!reader.getEntry(required)) {
        throw new PackageError(`The template has no ${required}`, {
          code:
            required === MANIFEST_FILE_NAME
              ? PACKAGE_ERROR_CODES.missingManifest
              : PACKAGE_ERROR_CODES.missingHeader,
        });
      }
    }
    const manifest = parseManifest(await reader.readEntry(MANIFEST_FILE_NAME));
    const header = parseHeader(await reader.readEntry(PACKAGE_HEADER_FILE_NAME));

    const entityElements = childElements(
      childElement(manifest.xml, 'PackageEntityList') ?? manifest.xml,
    ).filter((el) => childElement(el, 'EntityName') !== undefined);
    if (entityElements.length === 0) {
      throw new PackageError('The template manifest lists no entity', {
        code: PACKAGE_ERROR_CODES.noEntities,
      });
    }
    const placements: Placement[] = [];
    const names = new Set<string>();
    for (const { target, data } of place(entityElements)) {
      const entityName = labelOf(target);
      const templatePath = textOf(childElement(target, 'InputFilePath')).trim();
      let dataFileName = templatePath;
      if (options.dataFileName === 'incoming') {
        if (!data.fileName) throw builderError('dataFileName "incoming" needs data.fileName');
        dataFileName = data.fileName;
        setChildText(target, 'InputFilePath', dataFileName);
      }
      if (!dataFileName) throw builderError(`Entity "${entityName}" of the template has no InputFilePath`);
      const nameProblem = checkPackageFileName(dataFileName);
      if (nameProblem) throw new PackageError(nameProblem.message, { code: nameProblem.code });
      if (dataFileName === MANIFEST_FILE_NAME || dataFileName === PACKAGE_HEADER_FILE_NAME) {
        throw builderError(`The data file cannot be named ${dataFileName}`);
      }
      // zip names are compared ignoring case, as Windows (and F&O) do
      if (names.has(dataFileName.toLowerCase())) {
        throw builderError(`Two entities' data files would both be named ${dataFileName} in the package`);
      }
      names.add(dataFileName.toLowerCase());
      placements.push({ target, entityName, templatePath, dataFileName, data });
    }

    const mtime = options.mtime ?? new Date();
    const zip = new yazl.ZipFile();
    zip.addBuffer(encodePackageXml(manifest.xml), MANIFEST_FILE_NAME, { mtime });
    zip.addBuffer(encodePackageXml(header.xml), PACKAGE_HEADER_FILE_NAME, { mtime });
    const skip = new Set([
      MANIFEST_FILE_NAME,
      PACKAGE_HEADER_FILE_NAME,
      ...placements.flatMap((p) => [p.templatePath, p.dataFileName]),
    ]);
    for (const entry of reader.entries) {
      if (skip.has(entry.name) || entry.isDirectory) continue;
      const problem = checkPackageFileName(entry.name);
      if (problem) throw new PackageError(`Template file: ${problem.message}`, { code: problem.code });
      // opened only when yazl reaches it, so one template entry is inflated at a time
      zip.addReadStreamLazy(entry.name, { mtime, size: entry.uncompressedSize }, (callback) => {
        reader.openEntryStream(entry.name).then(
          (stream) => {
            watchInput(zip, stream);
            callback(null, stream);
          },
          (error: unknown) => callback(error, undefined as unknown as NodeJS.ReadableStream),
        );
      });
    }
    for (const p of placements) addData(zip, p.data, p.dataFileName, mtime);
    const stream = finish(zip, external ? undefined : () => reader.close());
    return { stream, placements, entityElements };
  } catch (error) {
    if (!external) await reader.close();
    throw error;
  }
}

/**
 * Builds a package from a template, as Microsoft's Recurring Integrations Scheduler does: the
 * template's manifest and header are kept (unknown elements included) and rewritten in F&O's
 * form (UTF-16LE with BOM, no declaration, DataContract member order); the template's data file
 * for the target entity is dropped and the incoming file is written under the template's
 * `InputFilePath` (or under its own name, rewriting `InputFilePath`); every other template file
 * is copied. Memory use does not depend on the data size: the data is streamed through deflate.
 * Throws `PackageError` before producing bytes when the template is unusable.
 */
export async function buildPackageFromTemplate(
  template: PackageInput | PackageReader,
  data: PackageDataFile,
  options: BuildFromTemplateOptions = {},
): Promise<BuiltPackage> {
  const built = await writeFromTemplate(
    template,
    (entityElements) => {
      let target: XmlElement | undefined = entityElements[0];
      if (options.entityName !== undefined) {
        const wanted = options.entityName;
        target = entityElements.find((el) => sameLabel(labelOf(el), wanted));
        if (!target) {
          throw new PackageError(`The template has no entity "${options.entityName}"`, {
            code: PACKAGE_ERROR_CODES.templateEntity,
          });
        }
      } else if (entityElements.length > 1) {
        throw new PackageError(
          'The template lists several entities: say which one receives the file (entityName)',
          { code: PACKAGE_ERROR_CODES.templateEntity },
        );
      }
      if (!target) throw new PackageError('unreachable', { code: PACKAGE_ERROR_CODES.templateEntity });
      return [{ target, data }];
    },
    options,
  );
  const placed = built.placements[0]!;
  return {
    stream: built.stream,
    dataFileName: placed.dataFileName,
    entityName: placed.entityName,
    isComposite: isCompositeEntityName(placed.entityName, options),
  };
}

/**
 * Builds ONE package from several raw files and a multi-entity template (a batch: sales order
 * headers and lines, customer groups and customers): each file fills the template entity it names
 * (its data written under that entity's `InputFilePath`, or its own name with `dataFileName:
 * 'incoming'`); the manifest keeps the template's execution units, levels and sequence numbers,
 * so F&O runs the entities in that order in one execution. Every template entity must receive a
 * file unless it is in `optionalEntities` (it then keeps the template's own data file); a file for
 * an entity the template does not have, or two files for one entity, are refused. Throws
 * `PackageError` before producing bytes.
 */
export async function buildBatchPackageFromTemplate(
  template: PackageInput | PackageReader,
  files: readonly EntityDataFile[],
  options: BuildBatchOptions = {},
): Promise<BuiltBatchPackage> {
  if (files.length === 0) throw builderError('A batch package needs at least one file');
  const optional = options.optionalEntities ?? [];
  const built = await writeFromTemplate(
    template,
    (entityElements) => {
      const given = new Set<XmlElement>();
      const placed = files.map((file) => {
        const target = entityElements.find((el) => sameLabel(labelOf(el), file.entityName));
        if (!target) {
          throw new PackageError(
            `The template has no entity "${file.entityName}" (it has ${entityElements.map((el) => `"${labelOf(el)}"`).join(', ')})`,
            { code: PACKAGE_ERROR_CODES.templateEntity },
          );
        }
        if (given.has(target)) {
          throw builderError(`Entity "${labelOf(target)}" is given two files`);
        }
        given.add(target);
        return { target, data: file.data };
      });
      const missing = entityElements
        .filter((el) => !given.has(el) && !optional.some((o) => sameLabel(o, labelOf(el))))
        .map(labelOf);
      if (missing.length > 0) {
        throw new PackageError(
          `The template's ${missing.length === 1 ? 'entity' : 'entities'} ${missing.map((m) => `"${m}"`).join(', ')} ${missing.length === 1 ? 'gets' : 'get'} no file and ${missing.length === 1 ? 'is' : 'are'} not optional`,
          { code: PACKAGE_ERROR_CODES.templateEntityMissing },
        );
      }
      return placed;
    },
    options,
  );
  const entities = sortByExecutionOrder(manifestEntities(manifestRootOf(built.entityElements))).map((e) => {
    const placement = built.placements.find((p) => sameLabel(p.entityName, e.entityName));
    return {
      entityName: e.entityName,
      dataFileName: placement?.dataFileName ?? e.inputFilePath,
      filled: placement !== undefined,
      executionUnit: e.executionUnit,
      levelInExecutionUnit: e.levelInExecutionUnit,
      sequenceInLevel: e.sequenceInLevel,
    };
  });
  return {
    stream: built.stream,
    entities,
    hasComposite: entities.some((e) => isCompositeEntityName(e.entityName, options)),
  };
}

/** A manifest root holding just these entity elements (to read them with {@link manifestEntities}). */
function manifestRootOf(entityElements: XmlElement[]): XmlElement {
  return element(MANIFEST_ROOT, [element('PackageEntityList', entityElements)]);
}

/** What {@link createPackage} needs: the manifest fields plus the data. */
export interface NewPackageSpec extends NewManifestSpec {
  /** `PackageVersion` of the header. Default `'1'`. */
  packageVersion?: string;
  /** Modification time of the zip entries. Default now. */
  mtime?: Date;
}

/**
 * Builds a one-entity package from scratch (e.g. "Customers V3" from a CSV): Manifest.xml and
 * PackageHeader.xml in F&O's form plus the data file, streamed. Give `columns` so the manifest
 * has an `EntityMapList` (without one F&O imports 0 rows).
 */
export function createPackage(spec: NewPackageSpec, data: PackageDataFile): Readable {
  const problem = checkPackageFileName(spec.dataFileName);
  if (problem) throw new PackageError(problem.message, { code: problem.code });
  if (spec.dataFileName === MANIFEST_FILE_NAME || spec.dataFileName === PACKAGE_HEADER_FILE_NAME) {
    throw builderError(`The data file cannot be named ${spec.dataFileName}`);
  }
  const mtime = spec.mtime ?? new Date();
  const zip = new yazl.ZipFile();
  zip.addBuffer(encodePackageXml(createManifestXml(spec)), MANIFEST_FILE_NAME, { mtime });
  zip.addBuffer(
    encodePackageXml(
      createHeaderXml({
        description: spec.description ?? spec.definitionGroupName,
        ...(spec.packageVersion ? { packageVersion: spec.packageVersion } : {}),
      }),
    ),
    PACKAGE_HEADER_FILE_NAME,
    { mtime },
  );
  addData(zip, data, spec.dataFileName, mtime);
  return finish(zip);
}

/**
 * Writes a built package to `destination` (a file stream, an HTTP request, …) and resolves when
 * it is flushed; rejects (and destroys both streams) on the first error or when `signal` aborts.
 */
export async function writePackageTo(
  stream: Readable,
  destination: NodeJS.WritableStream,
  options: { signal?: AbortSignal } = {},
): Promise<void> {
  await pipeline(stream, destination, options.signal ? { signal: options.signal } : {});
}
