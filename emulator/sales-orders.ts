/**
 * An order batch as F&O imports it in one execution: "Sales order headers V2" first, then "Sales
 * order lines V2" (each line refers to its header by SALESORDERNUMBER), in the built-in data project
 * `OrdersBatch`. Sample rows, their CSV text (what a partner system drops as raw files) and
 * {@link buildOrdersBatchPackage}, which packs them as a two-entity data package for tests.
 */
import { buildPackage, toCsv, type DataTable, type PackageEntityInput } from './package.js';
import { ORDERS_BATCH_PROJECT, SALES_ORDER_HEADERS_ENTITY, SALES_ORDER_LINES_ENTITY } from './config.js';

/** Sample sales order headers: key SALESORDERNUMBER. */
export const SAMPLE_ORDER_HEADERS: DataTable = {
  columns: [
    'SALESORDERNUMBER',
    'ORDERINGCUSTOMERACCOUNTNUMBER',
    'INVOICECUSTOMERACCOUNTNUMBER',
    'CURRENCYCODE',
  ],
  rows: [
    ['SO-1001', 'US-001', 'US-001', 'USD'],
    ['SO-1002', 'US-003', 'US-003', 'USD'],
  ],
};

/** Sample sales order lines: key INVENTORYLOTID, SALESORDERNUMBER refers to a header. */
export const SAMPLE_ORDER_LINES: DataTable = {
  columns: ['INVENTORYLOTID', 'SALESORDERNUMBER', 'ITEMNUMBER', 'ORDEREDSALESQUANTITY', 'SALESPRICE'],
  rows: [
    ['LOT-1001-1', 'SO-1001', 'A0001', '2', '10.00'],
    ['LOT-1001-2', 'SO-1001', 'A0002', '1', '25.50'],
    ['LOT-1002-1', 'SO-1002', 'A0001', '5', '10.00'],
  ],
};

/** The sample batch as the raw CSV files a partner system writes (UTF-8, CRLF, no BOM). */
export function sampleOrdersCsv(): { header: string; lines: string } {
  return {
    header: toCsv(SAMPLE_ORDER_HEADERS.columns, SAMPLE_ORDER_HEADERS.rows),
    lines: toCsv(SAMPLE_ORDER_LINES.columns, SAMPLE_ORDER_LINES.rows),
  };
}

/** Options of {@link buildOrdersBatchPackage}; every one has a default. */
export interface OrdersBatchPackageOptions {
  /** The manifest's DefinitionGroupName; default `OrdersBatch`. */
  definitionGroupName?: string;
  /** Header rows (columns of {@link SAMPLE_ORDER_HEADERS} unless `headerColumns`); default its rows. */
  headers?: string[][];
  headerColumns?: string[];
  /** Line rows (columns of {@link SAMPLE_ORDER_LINES} unless `lineColumns`); default its rows. */
  lines?: string[][];
  lineColumns?: string[];
  /**
   * Execution unit, level and sequence of each entity; default unit 1, level 1, headers sequence 1
   * and lines sequence 2 (headers first).
   */
  headerOrder?: { executionUnit?: number; level?: number; sequence?: number };
  lineOrder?: { executionUnit?: number; level?: number; sequence?: number };
  /** List the lines before the headers in the manifest (their order numbers decide, not the list). */
  linesListedFirst?: boolean;
}

/**
 * A data package with both entities of an order batch: "Sales order headers V2"
 * (`orders-header.csv`) and "Sales order lines V2" (`orders-lines.csv`), headers sequence 1 and lines
 * sequence 2 in level 1 of execution unit 1 unless the options say otherwise. Import it into
 * `OrdersBatch` with ImportFromPackage: one execution imports both, headers first.
 */
export function buildOrdersBatchPackage(options: OrdersBatchPackageOptions = {}): Promise<Buffer> {
  const o = options;
  const header: PackageEntityInput = {
    entityName: SALES_ORDER_HEADERS_ENTITY,
    fileName: 'orders-header.csv',
    columns: o.headerColumns ?? SAMPLE_ORDER_HEADERS.columns,
    rows: o.headers ?? SAMPLE_ORDER_HEADERS.rows,
    ...placed(o.headerOrder, 1),
  };
  const lines: PackageEntityInput = {
    entityName: SALES_ORDER_LINES_ENTITY,
    fileName: 'orders-lines.csv',
    columns: o.lineColumns ?? SAMPLE_ORDER_LINES.columns,
    rows: o.lines ?? SAMPLE_ORDER_LINES.rows,
    ...placed(o.lineOrder, 2),
  };
  return buildPackage({
    definitionGroupName: o.definitionGroupName ?? ORDERS_BATCH_PROJECT,
    entities: o.linesListedFirst ? [lines, header] : [header, lines],
  });
}

/** An entity's execution unit, level and sequence: the given ones, else unit 1, level 1, `sequence`. */
function placed(
  order: OrdersBatchPackageOptions['headerOrder'],
  sequence: number,
): Pick<PackageEntityInput, 'executionUnit' | 'level' | 'sequence'> {
  return {
    executionUnit: order?.executionUnit ?? 1,
    level: order?.level ?? 1,
    sequence: order?.sequence ?? sequence,
  };
}
