/**
 * Reading and writing the two XML files of a data package. Parsing uses fast-xml-parser (its
 * order-preserving mode, so unknown elements and attributes survive a round trip); writing is a
 * small serializer because F&O's own form (.NET `DataContractSerializer`: `<X />` for empty
 * elements, no XML declaration, UTF-16LE with BOM) is not one of the library builder's styles.
 */
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { PackageError } from '../errors.js';
import { PACKAGE_ERROR_CODES } from './codes.js';

/** Namespace of Manifest.xml and PackageHeader.xml. */
export const DMF_XML_NAMESPACE = 'http://schemas.microsoft.com/dynamics/2015/01/DataManagement';
/** The XML Schema instance namespace (`i:nil="true"`). */
export const XSI_NAMESPACE = 'http://www.w3.org/2001/XMLSchema-instance';

/** Encodings the reader recognizes. */
export type XmlEncoding = 'utf-8' | 'utf-16le' | 'utf-16be';

/** An element of the order-preserving tree. */
export interface XmlElement {
  /** Qualified name as written (usually unprefixed, in the default namespace). */
  name: string;
  /** Attributes as written, including `xmlns` declarations. */
  attributes: Record<string, string>;
  /** Child elements and text, in document order. */
  children: XmlNode[];
}

/** Text content (CDATA is folded into text). */
export interface XmlText {
  text: string;
}

/** A node of the tree. */
export type XmlNode = XmlElement | XmlText;

/** True when `node` is an element. */
export function isElement(node: XmlNode): node is XmlElement {
  return 'name' in node;
}

/**
 * Detects the encoding of XML bytes: a BOM wins (UTF-8, UTF-16LE, UTF-16BE); without a BOM the
 * position of the zero byte around the first `<` tells UTF-16LE from UTF-16BE; else UTF-8.
 */
export function detectXmlEncoding(bytes: Uint8Array): { encoding: XmlEncoding; bomLength: number } {
  const [b0, b1, b2] = [bytes[0], bytes[1], bytes[2]];
  if (b0 === 0xef && b1 === 0xbb && b2 === 0xbf) return { encoding: 'utf-8', bomLength: 3 };
  if (b0 === 0xff && b1 === 0xfe) return { encoding: 'utf-16le', bomLength: 2 };
  if (b0 === 0xfe && b1 === 0xff) return { encoding: 'utf-16be', bomLength: 2 };
  if (b0 !== undefined && b0 !== 0 && b1 === 0) return { encoding: 'utf-16le', bomLength: 0 };
  if (b0 === 0 && b1 !== undefined && b1 !== 0) return { encoding: 'utf-16be', bomLength: 0 };
  return { encoding: 'utf-8', bomLength: 0 };
}

/**
 * Decodes XML bytes in UTF-8 or UTF-16 (LE/BE), with or without BOM, to a string without BOM.
 * Invalid byte sequences throw `PackageError` `PACKAGE_XML_ENCODING` naming `fileName`.
 */
export function decodeXml(bytes: Uint8Array, fileName = 'XML file'): string {
  const { encoding, bomLength } = detectXmlEncoding(bytes);
  let body = Buffer.from(bytes.buffer, bytes.byteOffset + bomLength, bytes.byteLength - bomLength);
  try {
    if (encoding === 'utf-16be') {
      if (body.length % 2 !== 0) throw new Error('odd number of bytes');
      body = Buffer.from(body).swap16();
    }
    if (encoding !== 'utf-8' && body.length % 2 !== 0) throw new Error('odd number of bytes');
    return new TextDecoder(encoding === 'utf-8' ? 'utf-8' : 'utf-16le', {
      fatal: true,
      ignoreBOM: true,
    }).decode(body);
  } catch (cause) {
    throw new PackageError(`${fileName} is not valid ${encoding.toUpperCase()}`, {
      code: PACKAGE_ERROR_CODES.xmlEncoding,
      cause,
    });
  }
}

/** Encodes XML text the way F&O writes it: UTF-16LE with a byte order mark. */
export function encodeUtf16LeWithBom(text: string): Buffer {
  return Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]);
}

const parser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '',
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  processEntities: true,
  // also decodes numeric character references (&#xD;) which .NET writes for CR
  htmlEntities: true,
  ignoreDeclaration: true,
  ignorePiTags: true,
  cdataPropName: '#cdata',
});

/**
 * Parses XML text into an order-preserving tree and returns its root element. Whitespace-only
 * text between elements is dropped (it carries no meaning in these files); text of leaf
 * elements is kept verbatim. Malformed XML throws `PackageError` `PACKAGE_XML_INVALID`.
 */
export function parseXml(text: string, fileName = 'XML file'): XmlElement {
  const invalid = (message: string, cause?: unknown): PackageError =>
    new PackageError(`${fileName} is not well-formed XML: ${message}`, {
      code: PACKAGE_ERROR_CODES.xmlInvalid,
      cause,
    });
  const validation = XMLValidator.validate(text);
  if (validation !== true) {
    throw invalid(`${validation.err.msg} (line ${validation.err.line}, column ${validation.err.col})`);
  }
  let raw: unknown;
  try {
    raw = parser.parse(text);
  } catch (cause) {
    throw invalid(cause instanceof Error ? cause.message : String(cause), cause);
  }
  const roots = convertNodes(raw).filter(isElement);
  const [root] = roots;
  if (!root || roots.length !== 1) throw invalid('expected exactly one root element');
  return root;
}

function convertNodes(raw: unknown): XmlNode[] {
  if (!Array.isArray(raw)) return [];
  const nodes: XmlNode[] = [];
  for (const item of raw as unknown[]) {
    if (item === null || typeof item !== 'object') continue;
    const record = item as Record<string, unknown>;
    for (const [key, value] of Object.entries(record)) {
      if (key === ':@') continue;
      if (key === '#text') nodes.push({ text: String(value) });
      else if (key === '#cdata') nodes.push({ text: collectText(convertNodes(value)) });
      else {
        const attrs = (record[':@'] ?? {}) as Record<string, unknown>;
        const attributes: Record<string, string> = {};
        for (const [name, attr] of Object.entries(attrs)) attributes[name] = String(attr);
        nodes.push({ name: key, attributes, children: normalizeChildren(convertNodes(value)) });
      }
    }
  }
  return nodes;
}

function normalizeChildren(children: XmlNode[]): XmlNode[] {
  const hasElements = children.some(isElement);
  if (!hasElements) {
    // merge adjacent text (e.g. text + CDATA) into one node
    const text = collectText(children);
    return text === '' ? [] : [{ text }];
  }
  return children.filter((c) => isElement(c) || c.text.trim() !== '');
}

function collectText(nodes: readonly XmlNode[]): string {
  return nodes.map((n) => (isElement(n) ? '' : n.text)).join('');
}

/** Local name of an element (without namespace prefix). */
export function localName(element: XmlElement): string {
  const colon = element.name.indexOf(':');
  return colon < 0 ? element.name : element.name.slice(colon + 1);
}

/** Direct child elements of `element` whose local name is `name`. */
export function childElements(element: XmlElement, name?: string): XmlElement[] {
  return element.children.filter(
    (c): c is XmlElement => isElement(c) && (name === undefined || localName(c) === name),
  );
}

/** First direct child element named `name`, if any. */
export function childElement(element: XmlElement, name: string): XmlElement | undefined {
  return childElements(element, name)[0];
}

/** Text content of an element (concatenated text children; `''` when empty). */
export function textOf(element: XmlElement | undefined): string {
  return element ? collectText(element.children) : '';
}

/** True for `<X i:nil="true" />`. */
export function isNil(element: XmlElement): boolean {
  return Object.entries(element.attributes).some(
    ([name, value]) => (name === 'nil' || name.endsWith(':nil')) && value === 'true',
  );
}

/** Builds an element (test and builder helper). */
export function element(
  name: string,
  content: string | readonly XmlNode[] = [],
  attributes: Record<string, string> = {},
): XmlElement {
  const children = typeof content === 'string' ? (content === '' ? [] : [{ text: content }]) : [...content];
  return { name, attributes: { ...attributes }, children };
}

/** Replaces the text of `parent`'s child `name`, inserting the child in DataContract order if absent. */
export function setChildText(parent: XmlElement, name: string, text: string): void {
  const existing = childElement(parent, name);
  if (existing) {
    existing.children = text === '' ? [] : [{ text }];
    for (const attr of Object.keys(existing.attributes)) {
      if (attr === 'nil' || attr.endsWith(':nil')) delete existing.attributes[attr];
    }
    return;
  }
  insertInOrder(parent, element(name, text));
}

/** Inserts `child` before the first sibling element whose name sorts after it (ordinal order). */
export function insertInOrder(parent: XmlElement, child: XmlElement): void {
  const index = parent.children.findIndex(
    (c) => isElement(c) && ordinalCompare(localName(c), localName(child)) > 0,
  );
  if (index < 0) parent.children.push(child);
  else parent.children.splice(index, 0, child);
}

/** `String.CompareOrdinal`, the order DataContractSerializer uses for members. */
export function ordinalCompare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Puts the members of every data-contract object in ordinal (alphabetical) order, as
 * DataContractSerializer writes and expects them (it silently ignores out-of-order members when
 * reading). Elements whose name ends in `List` are collections: their items keep their order.
 */
export function sortDataContractMembers(root: XmlElement): void {
  const visit = (el: XmlElement): void => {
    const elements = childElements(el);
    for (const child of elements) visit(child);
    if (localName(el).endsWith('List') || elements.length < 2) return;
    const texts = el.children.filter((c) => !isElement(c));
    const sorted = [...elements].sort((a, b) => ordinalCompare(localName(a), localName(b)));
    el.children = [...sorted, ...texts];
  };
  visit(root);
}

function escapeText(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('\r', '&#xD;');
}

function escapeAttribute(text: string): string {
  return escapeText(text).replaceAll('"', '&quot;').replaceAll('\n', '&#xA;').replaceAll('\t', '&#x9;');
}

/**
 * Serializes a tree as .NET's DataContractSerializer does: no declaration, no indentation,
 * `<X />` for empty elements, attributes in their original order.
 */
export function serializeXml(root: XmlElement): string {
  const parts: string[] = [];
  const write = (node: XmlNode): void => {
    if (!isElement(node)) {
      parts.push(escapeText(node.text));
      return;
    }
    parts.push('<', node.name);
    for (const [name, value] of Object.entries(node.attributes)) {
      parts.push(' ', name, '="', escapeAttribute(value), '"');
    }
    if (node.children.length === 0) {
      parts.push(' />');
      return;
    }
    parts.push('>');
    for (const child of node.children) write(child);
    parts.push('</', node.name, '>');
  };
  write(root);
  return parts.join('');
}
