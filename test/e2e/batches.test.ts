/**
 * Batches, chains and multi-company exports on the local stack (issue 19): a batch of a header CSV
 * and a lines CSV plus `_ready` becomes one package and one F&O execution (headers, then lines);
 * a batch without its lines file times out Failed naming the entity, its files kept; a chain of
 * three projects runs in order and stops at the failing one; an export for two companies stores
 * two packages under their legal-entity folders.
 */
import {
  buildOrdersBatchPackage,
  buildPackage,
  sampleOrdersCsv,
  SALES_ORDER_HEADERS_ENTITY,
  SALES_ORDER_LINES_ENTITY,
  SAMPLE_ORDER_HEADERS,
  SAMPLE_ORDER_LINES,
} from '@dmf-functions/emulator';
import { describe, expect, it } from 'vitest';
import { runProcess } from '../support/process.js';
import {
  batchImportInstanceId,
  chainInstanceId,
  type ChildJob,
  type Job,
  type ParentJob,
} from '../../src/shared/jobs/index.js';
import { openPackage } from '../../src/shared/packages/index.js';
import { BUILT_CLI, eventually, FAST_POLLING, list, testConfig, useImportStack } from './helpers.js';

/** A one-entity template of a chain's project (unknown entities are imported with their first column as key). */
function template(definitionGroupName: string, entityName: string, fileName: string, column: string) {
  return buildPackage({
    definitionGroupName,
    entities: [{ entityName, fileName, columns: [column, 'NAME'], rows: [] }],
  });
}

const chainProject = (name: string, entity: string, files: string): Record<string, unknown> => ({
  name,
  definitionGroupId: name,
  environment: 'local',
  direction: 'import',
  legalEntity: 'USMF',
  template: `${name}.zip`,
  entities: [{ entity, files }],
  polling: FAST_POLLING,
});

const s = useImportStack({
  dmfConfig: testConfig((c) => {
    (c.dataProjects as unknown[]).push(
      chainProject('ChainGroups', 'Customer groups', '*groups*.csv'),
      // "CustomersV3" is the entity's public name, not its DMF label: F&O fails the execution (the
      // injected failure of the chain's second step)
      chainProject('ChainCustomers', 'CustomersV3', '*customers*.csv'),
      chainProject('ChainAddresses', 'Customer postal addresses', '*addresses*.csv'),
    );
    c.chains = [
      ...(c.chains as unknown[]),
      {
        name: 'Customers3',
        environment: 'local',
        projects: ['ChainGroups', 'ChainCustomers', 'ChainAddresses'],
      },
    ];
  }),
});

async function upload(path: string, text: string): Promise<void> {
  await s.containers.inbound.getBlockBlobClient(path).upload(text, Buffer.byteLength(text));
}

async function job<T = Job>(id: string): Promise<T> {
  return eventually(async () => {
    const r = await s.api(`/api/jobs/${id}`);
    return r.status === 200 ? ((await r.json()) as T) : undefined;
  });
}

/** A chain or a multi-company export, once final. */
function finishedGroup(id: string): Promise<ParentJob> {
  return eventually(async () => {
    const group = await job<ParentJob>(id);
    return group.status === 'Pending' || group.status === 'Running' ? undefined : group;
  }, 60_000);
}

async function seedTemplates(): Promise<void> {
  const templates: [string, Buffer][] = [
    ['orders-batch.zip', await buildOrdersBatchPackage({ headers: [], lines: [] })],
    ['ChainGroups.zip', await template('ChainGroups', 'Customer groups', 'groups.csv', 'CUSTOMERGROUPID')],
    [
      'ChainCustomers.zip',
      await template('ChainCustomers', 'CustomersV3', 'customers.csv', 'CUSTOMERACCOUNT'),
    ],
    [
      'ChainAddresses.zip',
      await template('ChainAddresses', 'Customer postal addresses', 'addresses.csv', 'CUSTOMERACCOUNT'),
    ],
  ];
  for (const [name, zip] of templates) {
    await s.containers.templates.getBlockBlobClient(name).upload(zip, zip.length);
  }
}

describe('batches (issue 19)', () => {
  it('a header and a lines CSV plus _ready: one job, one package, one F&O execution, headers first', async () => {
    await seedTemplates();
    const csv = sampleOrdersCsv();
    // the lines land first: the order the files arrive in does not matter, the template's does
    await upload('local/OrdersBatch/b-001/orders-lines.csv', csv.lines);
    await upload('local/OrdersBatch/b-001/orders-header.csv', csv.header);
    await upload('local/OrdersBatch/b-001/_ready', '');
    await s.stack.host!.blobTriggers.scanNow();

    const id = batchImportInstanceId({ container: s.names.inbound, folder: 'local/OrdersBatch/b-001' });
    const done = await s.waitForJob(id, 60_000);
    expect(done).toMatchObject({
      id,
      kind: 'import',
      status: 'Succeeded',
      project: 'OrdersBatch',
      file: 'b-001',
    });
    expect(done.batch?.files.sort()).toEqual(['orders-header.csv', 'orders-lines.csv']);
    expect(done.result?.batch?.files).toEqual(
      expect.arrayContaining([
        { name: 'orders-header.csv', entity: SALES_ORDER_HEADERS_ENTITY },
        { name: 'orders-lines.csv', entity: SALES_ORDER_LINES_ENTITY },
      ]),
    );

    // one F&O execution for the three files, which ran the headers, then the lines
    const executions = (await s.stack.emulator.control.executions()).filter(
      (e) => e.definitionGroupId === 'OrdersBatch',
    );
    expect(executions.map((e) => e.executionId)).toEqual([done.executionId]);
    const execution = await s.stack.emulator.control.execution(done.executionId!);
    expect(execution.entityOrder?.map((e) => [e.entityName, e.sequenceInLevel])).toEqual([
      [SALES_ORDER_HEADERS_ENTITY, 1],
      [SALES_ORDER_LINES_ENTITY, 2],
    ]);
    expect(execution.status).toBe('Succeeded');
    const lines = await s.stack.emulator.control.rows(SALES_ORDER_LINES_ENTITY, 'USMF');
    expect(lines).toHaveLength(3);

    // the batch is archived together, the trigger file with it; nothing is left in the inbound folder
    expect((await list(s.containers.archive, `succeeded/local/OrdersBatch/b-001/${id}/`)).sort()).toEqual(
      ['_ready', 'orders-header.csv', 'orders-lines.csv'].map(
        (n) => `succeeded/local/OrdersBatch/b-001/${id}/${n}`,
      ),
    );
    expect(await list(s.containers.inbound, 'local/OrdersBatch/b-001/')).toEqual([]);

    // a file arriving once the batch ran is not part of it: refused, left in place
    await upload('local/OrdersBatch/b-001/orders-lines-2.csv', csv.lines);
    await s.stack.host!.blobTriggers.scanNow();
    await eventually(async () => {
      const refused = await list(
        s.containers.results,
        'rejected/local/OrdersBatch/b-001/orders-lines-2.csv/',
      );
      return refused.length > 0 ? refused : undefined;
    });
    expect(await list(s.containers.inbound, 'local/OrdersBatch/b-001/')).toEqual([
      'local/OrdersBatch/b-001/orders-lines-2.csv',
    ]);
    expect(
      (await s.stack.emulator.control.executions()).filter((e) => e.definitionGroupId === 'OrdersBatch'),
    ).toHaveLength(1);
  });

  it('a batch without its lines file times out Failed naming the missing entity; its files stay', async () => {
    const csv = sampleOrdersCsv();
    await upload('local/OrdersBatch/b-002/orders-header.csv', csv.header);
    await upload('local/OrdersBatch/b-002/_ready', '');
    await s.stack.host!.blobTriggers.scanNow();
    const id = batchImportInstanceId({ container: s.names.inbound, folder: 'local/OrdersBatch/b-002' });
    // the job waits for its files first (Pending, Collecting, showing what is missing) …
    // (the host's virtual clock runs ahead while the host is idle: the job may already be finishing)
    const waiting = await job(id);
    expect(['Pending', 'Running', 'Failed']).toContain(waiting.status);
    // … until its deadline (60 minutes on the host's virtual clock)
    const done = await s.waitForJob(id, 60_000);
    expect(done.status).toBe('Failed');
    expect(done.executionId).toBeUndefined();
    expect(done.errors).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ code: 'BATCH_INCOMPLETE' }),
        expect.objectContaining({ code: 'BATCH_ENTITY_MISSING', entity: SALES_ORDER_LINES_ENTITY }),
      ]),
    );
    expect(done.errors[0]?.message).toContain(`entity "${SALES_ORDER_LINES_ENTITY}" has no file`);
    expect((await list(s.containers.inbound, 'local/OrdersBatch/b-002/')).sort()).toEqual([
      'local/OrdersBatch/b-002/_ready',
      'local/OrdersBatch/b-002/orders-header.csv',
    ]);
    expect(await list(s.containers.archive, 'failed/local/OrdersBatch/b-002/')).toEqual([]);
  });

  it('a three-project chain runs in order and stops at the failing project', async () => {
    const folder = 'local/_chains/Customers3/c-001';
    await upload(`${folder}/addresses.csv`, 'CUSTOMERACCOUNT,NAME\r\nC-1,Main street\r\n');
    await upload(`${folder}/customers.csv`, 'CUSTOMERACCOUNT,NAME\r\nC-1,Contoso\r\n');
    await upload(`${folder}/groups.csv`, 'CUSTOMERGROUPID,NAME\r\nG-1,Retail\r\n');
    await upload(`${folder}/_ready`, '');
    await s.stack.host!.blobTriggers.scanNow();
    const id = chainInstanceId({ container: s.names.inbound, folder });
    const done = await finishedGroup(id);
    expect(done).toMatchObject({ kind: 'chain', status: 'Failed', project: 'Customers3', file: 'c-001' });
    expect(done.children.map((c: ChildJob) => [c.project, c.status])).toEqual([
      ['ChainGroups', 'Succeeded'],
      ['ChainCustomers', 'Failed'],
      ['ChainAddresses', 'Skipped'],
    ]);
    expect(done.errors.map((e) => e.code)).toContain('CHAIN_STOPPED');

    // each step is a job of its own, naming the chain; two F&O executions, the second after the first
    const groups = await job(done.children[0]!.id);
    const customers = await job(done.children[1]!.id);
    expect(groups).toMatchObject({
      kind: 'import',
      status: 'Succeeded',
      parentId: id,
      project: 'ChainGroups',
    });
    expect(customers).toMatchObject({
      kind: 'import',
      status: 'Failed',
      parentId: id,
      project: 'ChainCustomers',
    });
    const executions = (await s.stack.emulator.control.executions()).filter((e) =>
      ['ChainGroups', 'ChainCustomers', 'ChainAddresses'].includes(e.definitionGroupId),
    );
    expect(executions.map((e) => e.executionId)).toEqual([groups.executionId, customers.executionId]);
    expect(Date.parse(executions[1]!.createdAt)).toBeGreaterThanOrEqual(Date.parse(executions[0]!.endAt));

    // the job list shows the chain and its steps; the steps' files and the rest are archived
    const listed = (await (await s.api('/api/jobs?kind=chain')).json()) as { jobs: ParentJob[] };
    expect(listed.jobs.map((j) => j.id)).toContain(id);
    expect(await list(s.containers.archive, `succeeded/${folder}/${groups.id}/`)).toEqual([
      `succeeded/${folder}/${groups.id}/groups.csv`,
    ]);
    expect((await list(s.containers.archive, `failed/${folder}/${id}/`)).sort()).toEqual([
      `failed/${folder}/${id}/_ready`,
      `failed/${folder}/${id}/addresses.csv`,
    ]);
    expect(await list(s.containers.inbound, `${folder}/`)).toEqual([]);
  });

  it("the sample's chain Orders: the headers' project, then the lines' (checked against the stored headers)", async () => {
    for (const [name, entity, file, columns] of [
      ['order-headers.zip', SALES_ORDER_HEADERS_ENTITY, 'orders-header.csv', SAMPLE_ORDER_HEADERS.columns],
      ['order-lines.zip', SALES_ORDER_LINES_ENTITY, 'orders-lines.csv', SAMPLE_ORDER_LINES.columns],
    ] as const) {
      const zip = await buildPackage({
        definitionGroupName: name,
        entities: [{ entityName: entity, fileName: file, columns: [...columns], rows: [] }],
      });
      await s.containers.templates.getBlockBlobClient(name).upload(zip, zip.length);
    }
    const csv = sampleOrdersCsv();
    const folder = 'local/_chains/Orders/o-001';
    await upload(`${folder}/orders-header.csv`, csv.header.replace(/SO-10/g, 'SO-20'));
    await upload(
      `${folder}/orders-lines.csv`,
      csv.lines.replace(/SO-10/g, 'SO-20').replace(/LOT-10/g, 'LOT-20'),
    );
    await upload(`${folder}/_ready`, '');
    await s.stack.host!.blobTriggers.scanNow();
    const id = chainInstanceId({ container: s.names.inbound, folder });
    const done = await finishedGroup(id);
    expect(done.children.map((c) => [c.project, c.status, c.files])).toEqual([
      ['OrderHeaders', 'Succeeded', ['orders-header.csv']],
      ['OrderLines', 'Succeeded', ['orders-lines.csv']],
    ]);
    expect(done.status).toBe('Succeeded');
  });

  // the sample's CustomersByCompany: legalEntities USMF and DEMF
  it('an export for two companies stores two packages under their legal-entity folders', async () => {
    await s.stack.emulator.control.seedRows('Customers V3', 'USMF', [
      { CUSTOMERACCOUNT: 'US-1', NAME: 'Contoso' },
    ]);
    await s.stack.emulator.control.seedRows('Customers V3', 'DEMF', [
      { CUSTOMERACCOUNT: 'DE-1', NAME: 'Fabrikam' },
    ]);
    const response = await s.api('/api/exports?environment=local&project=CustomersByCompany', {
      method: 'POST',
    });
    expect(response.status).toBe(202);
    const accepted = (await response.json()) as { id: string; statusUrl: string };
    expect(accepted.id).toMatch(/^mce-/);
    const done = await finishedGroup(accepted.id);
    expect(done).toMatchObject({ kind: 'multiCompanyExport', status: 'Succeeded', legalEntity: 'USMF,DEMF' });
    expect(done.children.map((c) => [c.legalEntity, c.status])).toEqual([
      ['USMF', 'Succeeded'],
      ['DEMF', 'Succeeded'],
    ]);
    const stored = await list(s.containers.outbound, 'local/CustomersByCompany/');
    const zips = stored.filter((n) => n.endsWith('.zip'));
    expect(zips).toHaveLength(2);
    for (const child of done.children) {
      const path = child.package!.path;
      expect(path).toMatch(
        new RegExp(`^local/CustomersByCompany/${child.legalEntity}/\\d{4}/\\d{2}/\\d{2}/`),
      );
      expect(zips).toContain(path);
      const zip = await s.containers.outbound.getBlobClient(path).downloadToBuffer();
      const reader = await openPackage(zip);
      try {
        const csvName = reader.entries.map((e) => e.name).find((n) => n.endsWith('.csv'))!;
        const text = (await reader.readEntry(csvName)).toString('utf8');
        expect(text).toContain(child.legalEntity === 'USMF' ? 'US-1' : 'DE-1');
        expect(text).not.toContain(child.legalEntity === 'USMF' ? 'DE-1' : 'US-1');
      } finally {
        await reader.close();
      }
      // each company's export is a job of its own, naming the group
      expect(await job(child.id)).toMatchObject({
        kind: 'export',
        parentId: accepted.id,
        legalEntity: child.legalEntity,
      });
    }
  });

  it('dmf export runs one export per company with --legal-entities, and one company with --legal-entity', async () => {
    const cli = BUILT_CLI;
    const dmf = (...args: string[]) =>
      runProcess(process.execPath, [cli, ...args, '--interval', '0.2'], {
        env: {
          PATH: process.env.PATH ?? '',
          DMF_FUNCTIONS_URL: s.stack.functionsBaseUrl,
          DMF_FUNCTIONS_KEY: s.stack.functionsKey,
        },
      });
    const both = await dmf(
      'export',
      '--env',
      'local',
      '--project',
      'CustomersByCompany',
      '--legal-entities',
      'USMF,DEMF',
    );
    expect(both.code).toBe(0);
    expect(both.stdout).toMatch(/Kind:\s+multiCompanyExport/);
    expect(both.stdout).toMatch(
      /Jobs \(dmf job <id>\):\n\s+ID\s+STATUS\s+PROJECT\/LE[^\n]*\n\s+exp-\S+\s+Succeeded\s+USMF\n\s+exp-\S+\s+Succeeded\s+DEMF/,
    );
    // one company: the CLI sends it in the body the route reads (it used to send an ignored query parameter)
    const one = await dmf(
      'export',
      '--env',
      'local',
      '--project',
      'CustomersByCompany',
      '--legal-entity',
      'DEMF',
      '--json',
    );
    expect(one.code).toBe(0);
    expect(JSON.parse(one.stdout)).toMatchObject({
      kind: 'export',
      legalEntity: 'DEMF',
      status: 'Succeeded',
    });
  });
});
