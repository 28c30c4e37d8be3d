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
  parseHeader,
  parseManifest,
  type CompositeOptions,
  type NewManifestSpec,
} from './manifest.js';
import { checkPackageFileName } from './names.js';
import { openPackage, type OpenPackageOptions, type PackageInput, type PackageReader } from './reader.js';
import { childElement, childElements, setChildText, textOf, type XmlElement } from './xml.js';

/** The data file to put into a package. */
export interface PackageDataFile {
  /** The bytes: a stream (read once, never buffered whole) or a Buffer. */
  content: NodeJS.ReadableStream | Uint8Array;
  /** Incoming file name (needed when the InputFilePath is rewritten). */
  fileName?: string;
  /** Size in bytes when known (lets the zip header carry it up front). */
  size?: number;
}

/** Options of {@link buildPackageFromTemplate}. */
export interface BuildFromTemplateOptions extends OpenPackageOptions, CompositeOptions {
  /**
   * Which manifest entity receives the file (its label, case-insensitive). Required when the
   * template lists several entities.
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

function builderError(message: string): PackageError {
  return new PackageError(message, { code: PACKAGE_ERROR_CODES.builderInput });
}

function addData(zip: yazl.ZipFile, data: PackageDataFile, name: string, mtime: Date): void {
  if (data.content instanceof Uint8Array) {
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
    let target: XmlElement | undefined = entityElements[0];
    if (options.entityName !== undefined) {
      const wanted = options.entityName.trim().toLowerCase();
      target = entityElements.find(
        (el) => textOf(childElement(el, 'EntityName')).trim().toLowerCase() === wanted,
      );
      if (!target) {
        throw new PackageError(`The template has no entity "${options.entityName}"`, {
          code: PACKAGE_ERROR_CODES.templateEntity,
        });
      }
    } else if (entityElements.length > 1) {
      throw new PackageError(
        'The template lists several entities: say which one receives the file (entityName)',
        {
          code: PACKAGE_ERROR_CODES.templateEntity,
        },
      );
    }
    if (!target) throw new PackageError('unreachable', { code: PACKAGE_ERROR_CODES.templateEntity });

    const entityName = textOf(childElement(target, 'EntityName')).trim();
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

    const mtime = options.mtime ?? new Date();
    const zip = new yazl.ZipFile();
    zip.addBuffer(encodePackageXml(manifest.xml), MANIFEST_FILE_NAME, { mtime });
    zip.addBuffer(encodePackageXml(header.xml), PACKAGE_HEADER_FILE_NAME, { mtime });
    const skip = new Set([MANIFEST_FILE_NAME, PACKAGE_HEADER_FILE_NAME, templatePath, dataFileName]);
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
    addData(zip, data, dataFileName, mtime);
    const stream = finish(zip, external ? undefined : () => reader.close());
    return { stream, dataFileName, entityName, isComposite: isCompositeEntityName(entityName, options) };
  } catch (error) {
    if (!external) await reader.close();
    throw error;
  }
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
