/**
 * Conformance, raw HTTP (no app code): multi-entity packages as F&O runs them. Rule 7a (execution
 * unit → level → sequence): data-import-export-job.md and configuration-data-templates.md ("In each
 * level, entities are processed according to their sequence number", "After one level has been
 * processed, the next level is processed"). Rule 7b (references): configuration-data-templates.md
 * ("If an entity requires data that hasn't been imported by another entity, you might receive errors
 * because of missing dependent data") and the Sales order lines V2 entity page ("requires that sales
 * order headers are created beforehand"). Rule 7c: an entity's errors do not stop the entities after
 * it (FailLevelOnError / FailExecutionUnitOnError false, as F&O writes them).
 */
import { describe, expect, it } from 'vitest';
import {
  buildOrdersBatchPackage,
  ORDERS_BATCH_PROJECT,
  SALES_ORDER_HEADERS_ENTITY,
  SALES_ORDER_LINES_ENTITY,
  SAMPLE_ORDER_HEADERS,
  SAMPLE_ORDER_LINES,
  sampleOrdersCsv,
  type RunningEmulator,
} from '../index.js';
import {
  entityStatuses,
  executionErrors,
  HEADER_XML,
  packageManifestXml,
  startImport,
  summary,
  useTestEmulator,
  utf16,
  valueOf,
  zip,
  type ManifestEntityXml,
} from './helpers.js';

let em: RunningEmulator, token: string;
useTestEmulator((e, t) => ([em, token] = [e, t]));

const HEADERS = 'SALESORDERNUMBER,ORDERINGCUSTOMERACCOUNTNUMBER\r\nSO-1,US-001\r\nSO-2,US-002\r\n';
const LINES =
  'INVENTORYLOTID,SALESORDERNUMBER,ITEMNUMBER\r\nL-1,SO-1,A0001\r\nL-2,SO-1,A0002\r\nL-3,SO-2,A0001\r\n';

type Order = Pick<ManifestEntityXml, 'unit' | 'level' | 'sequence'>;

/** An order package (manifest built here, not by the emulator's writer), entities listed as given. */
function ordersPackage(
  listed: readonly ('headers' | 'lines')[],
  order: { headers?: Order; lines?: Order } = {},
  csv: { headers?: string; lines?: string } = {},
): Promise<Buffer> {
  const entity = {
    headers: {
      entityName: SALES_ORDER_HEADERS_ENTITY,
      fileName: 'orders-header.csv',
      fields: ['SALESORDERNUMBER', 'ORDERINGCUSTOMERACCOUNTNUMBER'],
      ...order.headers,
    },
    lines: {
      entityName: SALES_ORDER_LINES_ENTITY,
      fileName: 'orders-lines.csv',
      fields: ['INVENTORYLOTID', 'SALESORDERNUMBER', 'ITEMNUMBER'],
      ...order.lines,
    },
  };
  const files = {
    headers: csv.headers ?? HEADERS,
    lines: csv.lines ?? LINES,
  };
  return zip({
    'Manifest.xml': utf16(
      packageManifestXml(
        listed.map((k) => entity[k]),
        ORDERS_BATCH_PROJECT,
      ),
    ),
    'PackageHeader.xml': utf16(HEADER_XML),
    ...Object.fromEntries(listed.map((k) => [entity[k].fileName, files[k]])),
  });
}

/** Imports into OrdersBatch and lets the execution finish; returns its id. */
async function runImport(bytes: Buffer): Promise<string> {
  const id = valueOf(
    await startImport(em, token, bytes, { definitionGroupId: ORDERS_BATCH_PROJECT }),
  ) as string;
  await em.control.advanceClock(2_000);
  return id;
}

/** `GET {control}/executions/{id}`'s entityOrder, as entity labels. */
async function entityOrder(executionId: string): Promise<string[]> {
  const res = await fetch(`${em.controlUrl}/executions/${encodeURIComponent(executionId)}`);
  expect(res.status).toBe(200);
  const view = (await res.json()) as { entityOrder: { entityName: string }[] };
  return view.entityOrder.map((e) => e.entityName);
}

const keysOf = async (entity: string, field: string): Promise<string[]> =>
  (await em.control.rows(entity, 'USMF')).map((r) => r[field] ?? '');

describe('rule 7a: a package runs its entities in execution unit → level → sequence order', () => {
  it('one execution imports headers (sequence 1) before lines (sequence 2), whatever the order they are listed in', async () => {
    const id = await runImport(
      await ordersPackage(['lines', 'headers'], { headers: { sequence: 1 }, lines: { sequence: 2 } }),
    );
    expect(await summary(em, token, id)).toBe('Succeeded');
    expect(await entityOrder(id)).toEqual([SALES_ORDER_HEADERS_ENTITY, SALES_ORDER_LINES_ENTITY]);
    const view = await em.control.execution(id);
    expect(view.entityOrder).toEqual([
      {
        entityName: SALES_ORDER_HEADERS_ENTITY,
        executionUnit: 1,
        levelInExecutionUnit: 1,
        sequenceInLevel: 1,
      },
      { entityName: SALES_ORDER_LINES_ENTITY, executionUnit: 1, levelInExecutionUnit: 1, sequenceInLevel: 2 },
    ]);
    expect((await em.control.executions()).map((e) => e.executionId)).toEqual([id]);
    expect(await keysOf(SALES_ORDER_HEADERS_ENTITY, 'SALESORDERNUMBER')).toEqual(['SO-1', 'SO-2']);
    expect(await keysOf(SALES_ORDER_LINES_ENTITY, 'INVENTORYLOTID')).toEqual(['L-1', 'L-2', 'L-3']);
  });

  it('a manifest with the sequence reversed runs lines first, as the manifest says (and they miss their headers)', async () => {
    const id = await runImport(
      await ordersPackage(['headers', 'lines'], { headers: { sequence: 2 }, lines: { sequence: 1 } }),
    );
    expect(await entityOrder(id)).toEqual([SALES_ORDER_LINES_ENTITY, SALES_ORDER_HEADERS_ENTITY]);
    expect(await summary(em, token, id)).toBe('PartiallySucceeded');
    expect(await keysOf(SALES_ORDER_LINES_ENTITY, 'INVENTORYLOTID')).toEqual([]);
    // Rule 7c: the lines' errors do not stop the headers after them.
    expect(await keysOf(SALES_ORDER_HEADERS_ENTITY, 'SALESORDERNUMBER')).toEqual(['SO-1', 'SO-2']);
  });

  it('the level comes before the sequence, and the execution unit before the level', async () => {
    const customers = {
      entityName: 'Customers V3',
      fileName: 'customers.csv',
      fields: ['CUSTOMERACCOUNT'],
      unit: 1,
      level: 1,
      sequence: 9,
    };
    const manifest = packageManifestXml(
      [
        {
          entityName: SALES_ORDER_HEADERS_ENTITY,
          fileName: 'h.csv',
          fields: ['SALESORDERNUMBER'],
          unit: 2,
          level: 1,
          sequence: 1,
        },
        {
          entityName: SALES_ORDER_LINES_ENTITY,
          fileName: 'l.csv',
          fields: ['INVENTORYLOTID'],
          unit: 1,
          level: 2,
          sequence: 1,
        },
        customers,
      ],
      ORDERS_BATCH_PROJECT,
    );
    const id = await runImport(
      await zip({
        'Manifest.xml': utf16(manifest),
        'PackageHeader.xml': utf16(HEADER_XML),
        'h.csv': 'SALESORDERNUMBER\r\nSO-9\r\n',
        'l.csv': 'INVENTORYLOTID\r\nL-9\r\n',
        'customers.csv': 'CUSTOMERACCOUNT\r\nUS-9\r\n',
      }),
    );
    expect(await summary(em, token, id)).toBe('Succeeded');
    expect((await em.control.execution(id)).entityOrder).toEqual([
      { entityName: 'Customers V3', executionUnit: 1, levelInExecutionUnit: 1, sequenceInLevel: 9 },
      { entityName: SALES_ORDER_LINES_ENTITY, executionUnit: 1, levelInExecutionUnit: 2, sequenceInLevel: 1 },
      {
        entityName: SALES_ORDER_HEADERS_ENTITY,
        executionUnit: 2,
        levelInExecutionUnit: 1,
        sequenceInLevel: 1,
      },
    ]);
    // GetEntityExecutionSummaryStatusList lists the entities in the order they ran.
    expect((await entityStatuses(em, token, id)).map((e) => e.EntityName)).toEqual([
      'Customers V3',
      SALES_ORDER_LINES_ENTITY,
      SALES_ORDER_HEADERS_ENTITY,
    ]);
  });

  it('GET {control}/executions/{id} answers 404 for an unknown id', async () => {
    const res = await fetch(`${em.controlUrl}/executions/nope`);
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: 'unknown execution nope' });
  });
});

describe('rule 7b: a line whose header is neither in the package before it nor stored fails with a staging error', () => {
  it('fails only the line that names a missing header; GetEntityExecutionSummaryStatusList counts per entity', async () => {
    const lines = `${LINES}L-4,SO-404,A0001\r\n`;
    const id = await runImport(
      await ordersPackage(['headers', 'lines'], { lines: { sequence: 2 } }, { lines }),
    );
    expect(await summary(em, token, id)).toBe('PartiallySucceeded');
    const errors = await executionErrors(em, token, id);
    expect(errors).toEqual([
      {
        RecordId: expect.any(String) as string,
        Field: 'SALESORDERNUMBER',
        ErrorMessage:
          "The value 'SO-404' in field 'SALESORDERNUMBER' is not found in the relation table 'Sales order headers V2'.",
      },
    ]);
    expect(await entityStatuses(em, token, id)).toEqual([
      {
        EntityName: SALES_ORDER_HEADERS_ENTITY,
        Company: 'USMF',
        Status: 'Succeeded',
        StagingRecords: 2,
        StagingErrorCount: 0,
        TargetRecords: 2,
        TargetErrorCount: 0,
      },
      {
        EntityName: SALES_ORDER_LINES_ENTITY,
        Company: 'USMF',
        Status: 'PartiallySucceeded',
        StagingRecords: 4,
        StagingErrorCount: 1,
        TargetRecords: 3,
        TargetErrorCount: 0,
      },
    ]);
    expect(await keysOf(SALES_ORDER_LINES_ENTITY, 'INVENTORYLOTID')).toEqual(['L-1', 'L-2', 'L-3']);
  });

  it('a header stored before (an earlier execution, or seeded) satisfies a lines-only package; another company does not', async () => {
    await em.control.seedRows(SALES_ORDER_HEADERS_ENTITY, 'USMF', [{ SALESORDERNUMBER: 'so-1' }]);
    await em.control.seedRows(SALES_ORDER_HEADERS_ENTITY, 'DEMF', [{ SALESORDERNUMBER: 'SO-2' }]);
    const id = await runImport(await ordersPackage(['lines']));
    expect(await summary(em, token, id)).toBe('PartiallySucceeded');
    expect((await executionErrors(em, token, id)).map((e) => e.ErrorMessage)).toEqual([
      "The value 'SO-2' in field 'SALESORDERNUMBER' is not found in the relation table 'Sales order headers V2'.",
    ]);
    // Keys match case-insensitively, as the row store keys them.
    expect(await keysOf(SALES_ORDER_LINES_ENTITY, 'INVENTORYLOTID')).toEqual(['L-1', 'L-2']);
  });

  it('a header with a staging error is not there for its lines', async () => {
    const headers = 'SALESORDERNUMBER,ORDERINGCUSTOMERACCOUNTNUMBER\r\nSO-1,US-001\r\nSO-2,#BAD#\r\n';
    const id = await runImport(
      await ordersPackage(['headers', 'lines'], { lines: { sequence: 2 } }, { headers }),
    );
    const statuses = await entityStatuses(em, token, id);
    expect(statuses.map((s) => [s.EntityName, s.StagingErrorCount, s.TargetRecords])).toEqual([
      [SALES_ORDER_HEADERS_ENTITY, 1, 1],
      [SALES_ORDER_LINES_ENTITY, 1, 2],
    ]);
  });
});

describe('the built-in order batch (OrdersBatch: Sales order headers V2, then Sales order lines V2)', () => {
  it('the default configuration knows both entities and the data project', async () => {
    const project = (await em.control.projects()).find((p) => p.name === ORDERS_BATCH_PROJECT);
    expect(project).toMatchObject({
      direction: 'import',
      origin: 'config',
      entities: [{ label: 'Sales order headers V2' }, { label: 'Sales order lines V2' }],
    });
  });

  it('buildOrdersBatchPackage() imports with one execution, headers first, every sample row stored', async () => {
    const id = await runImport(await buildOrdersBatchPackage());
    expect(await summary(em, token, id)).toBe('Succeeded');
    expect(await entityOrder(id)).toEqual(['Sales order headers V2', 'Sales order lines V2']);
    expect((await em.control.executions()).length).toBe(1);
    expect(await keysOf(SALES_ORDER_HEADERS_ENTITY, 'SALESORDERNUMBER')).toEqual(
      SAMPLE_ORDER_HEADERS.rows.map((r) => r[0]),
    );
    expect(await keysOf(SALES_ORDER_LINES_ENTITY, 'INVENTORYLOTID')).toEqual(
      SAMPLE_ORDER_LINES.rows.map((r) => r[0]),
    );
    const csv = sampleOrdersCsv();
    expect(csv.header.split('\r\n')[0]).toBe(SAMPLE_ORDER_HEADERS.columns.join(','));
    expect(csv.lines.split('\r\n')).toHaveLength(SAMPLE_ORDER_LINES.rows.length + 2);
  });

  it('buildOrdersBatchPackage({ headerOrder, lineOrder }) writes the given order into the manifest', async () => {
    const id = await runImport(
      await buildOrdersBatchPackage({
        headerOrder: { sequence: 2 },
        lineOrder: { sequence: 1 },
        linesListedFirst: true,
      }),
    );
    expect(await entityOrder(id)).toEqual(['Sales order lines V2', 'Sales order headers V2']);
    expect(await summary(em, token, id)).toBe('PartiallySucceeded');
  });
});
