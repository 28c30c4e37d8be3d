/**
 * The jobs dashboard in headless Chromium (Debian's `chromium`, driven by playwright-core) against
 * the local runtime. Screenshots go to test-results/ (an artifact, not committed). Skipped, with
 * the reason, where Chromium is not installed (`apt-get install -y chromium`).
 */
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { DEFAULT_EXPORT_ACTIVITY_ID, DEFAULT_IMPORT_ACTIVITY_ID } from '@dmf-functions/emulator';
import type { Job } from '../../src/shared/jobs/index.js';
import { ARTIFACTS, HAS_CHROMIUM, launchChromium, NO_CHROMIUM, type Browser } from '../support/chromium.js';
import { jobIndexOn, seedJobs } from '../support/job-index.js';
import {
  customersPackage,
  eventually,
  exportProject,
  FAST_POLLING,
  startImportStack,
  testConfig,
  type ImportStack,
} from './helpers.js';

let s: ImportStack;
let browser: Browser | undefined;
let page: Page;

async function importPackage(project: string, fileName: string, body: Buffer): Promise<string> {
  const response = await s.api(
    `/api/imports?environment=local&project=${project}&fileName=${encodeURIComponent(fileName)}`,
    { method: 'POST', body, headers: { 'content-type': 'application/zip' } },
  );
  expect(response.status).toBe(202);
  return ((await response.json()) as { id: string }).id;
}

/** Ids of the rows the jobs table shows now. */
function rowIds(): Promise<string[]> {
  return attributes('#jobs-table tbody tr[data-job-id]', 'data-job-id');
}

/**
 * `attribute` of every element `selector` matches, read in one go in the page (the list is
 * re-rendered by the auto-refresh, so element handles may go stale between two calls).
 */
function attributes(selector: string, attribute: string): Promise<string[]> {
  return page.evaluate<string[]>(
    `Array.from(document.querySelectorAll(${JSON.stringify(selector)}), (e) => e.getAttribute(${JSON.stringify(attribute)}) || '')`,
  );
}

async function rowsBecome(predicate: (ids: string[]) => boolean, timeoutMs = 15_000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ids = await rowIds();
    if (predicate(ids)) return ids;
    if (Date.now() > deadline) throw new Error(`jobs table never matched; rows: ${ids.join(', ')}`);
    await page.waitForTimeout(100);
  }
}

const ids: Record<string, string> = {};

beforeAll(async () => {
  if (!HAS_CHROMIUM) return;
  const configuredAt = new Date();
  s = await startImportStack(inject('azuriteConnectionString'), {
    // a second import project, so the project filter has something to tell apart
    dmfConfig: testConfig((config) => {
      const projects = config.dataProjects as Record<string, unknown>[];
      const customers = projects.find((p) => p.name === 'Customers')!;
      projects.push({ ...customers, name: 'CustomersDash' });
      projects.push(exportProject());
      config.recurringActivities = [
        { id: DEFAULT_IMPORT_ACTIVITY_ID, environment: 'local', direction: 'import', polling: FAST_POLLING },
        {
          id: DEFAULT_EXPORT_ACTIVITY_ID,
          environment: 'local',
          direction: 'export',
          // due once, at the current minute: later timer runs find it already ran
          schedule: `0 ${configuredAt.getUTCMinutes()} ${configuredAt.getUTCHours()} * * *`,
        },
      ];
    }),
    emulator: { recurringPickupDelayMs: 50 },
  });
  // a recurring import (enqueue) and a recurring export drain of two messages
  const enqueued = await s.api(
    `/api/recurring/imports?path=${encodeURIComponent(`local/${DEFAULT_IMPORT_ACTIVITY_ID}/dash-enq.zip`)}`,
    { method: 'POST', body: await customersPackage({ prefix: 'DENQ' }) },
  );
  expect(enqueued.status).toBe(202);
  ids.enqueue = ((await enqueued.json()) as { id: string }).id;
  for (const name of ['dash-a.csv', 'dash-b.csv']) {
    await s.stack.emulator.control.seedExportMessage({
      activityId: DEFAULT_EXPORT_ACTIVITY_ID,
      fileName: name,
      content: 'ACCOUNT\r\nX-1\r\n',
    });
  }
  ids.drain = `recurring-export-local-${DEFAULT_EXPORT_ACTIVITY_ID}`;
  // the timer starts a drain when one is due (runs in the same second as the last one are not)
  for (let attempt = 0; attempt < 6; attempt++) {
    await s.api('/admin/functions/recurringExportTimer', { method: 'POST', body: '{}' });
    const started = await eventually(
      async () => ((await s.api(`/api/jobs/${ids.drain}`)).ok ? true : undefined),
      5_000,
    ).catch(() => false);
    if (started) break;
  }
  const exported = await s.api('/api/exports?environment=local&project=CustomersOut', { method: 'POST' });
  expect(exported.status).toBe(202);
  ids.export = ((await exported.json()) as { id: string }).id;
  ids.good = await importPackage('Customers', 'dash-good.zip', await customersPackage({ prefix: 'DOK' }));
  ids.partial = await importPackage(
    'CustomersDash',
    'dash-partial.zip',
    await customersPackage({ prefix: 'DPART', bad: true }),
  );
  const good = await s.waitForJob(ids.good);
  const partial: Job = await s.waitForJob(ids.partial);
  const exportJob = await s.waitForJob(ids.export);
  const enqueueJob = await s.waitForJob(ids.enqueue);
  const drainJob = await s.waitForJob(ids.drain);
  expect([good.status, partial.status, exportJob.status, enqueueJob.status, drainJob.status]).toEqual([
    'Succeeded',
    'PartiallySucceeded',
    'Succeeded',
    'Succeeded',
    'Succeeded',
  ]);
  browser = await launchChromium();
  page = browser.page;
});
afterAll(async () => {
  await browser?.close();
  await s?.stop();
});

describe('jobs dashboard in Chromium', () => {
  it('asks for the function key, refuses a wrong one, then lists the imports', async (ctx) => {
    ctx.skip(!HAS_CHROMIUM, NO_CHROMIUM);
    await page.goto(`${s.stack.functionsBaseUrl}/api/dashboard`);
    await page.getByLabel('Function key', { exact: true }).fill('not-the-key');
    await page.getByRole('button', { name: 'Open dashboard' }).click();
    await page.getByRole('alert').filter({ hasText: 'refused' }).waitFor();
    await page.getByLabel('Function key', { exact: true }).fill(s.stack.functionsKey);
    await page.getByRole('button', { name: 'Open dashboard' }).click();
    await rowsBecome((rows) => rows.includes(ids.good!) && rows.includes(ids.partial!));
    const partialRow = page.locator(`tr[data-job-id="${ids.partial}"]`);
    await expect(partialRow.locator('td').nth(2).textContent()).resolves.toBe('PartiallySucceeded');
    await expect(partialRow.locator('td').nth(4).textContent()).resolves.toBe('CustomersDash');
    await expect(partialRow.locator('td').nth(5).textContent()).resolves.toBe('USMF');
    await expect(partialRow.locator('td').nth(10).textContent()).resolves.toBe(`dmffn-${ids.partial}`);
    expect(Number(await partialRow.locator('td').nth(11).textContent())).toBeGreaterThan(0);
    expect(await page.locator('#jobs-table th[scope=col]').count()).toBe(12);
    const exportRow = page.locator(`tr[data-job-id="${ids.export}"]`);
    await expect(exportRow.locator('td').nth(0).textContent()).resolves.toBe('Export');
    await expect(exportRow.locator('td').nth(4).textContent()).resolves.toBe('CustomersOut');
  });

  it('a new import appears by itself (auto-refresh)', async (ctx) => {
    ctx.skip(!HAS_CHROMIUM, NO_CHROMIUM);
    ids.late = await importPackage('Customers', 'dash-late.zip', await customersPackage({ prefix: 'DLATE' }));
    await rowsBecome((rows) => rows.includes(ids.late!));
    await s.waitForJob(ids.late);
  });

  it('filters by status, project, environment and time', async (ctx) => {
    ctx.skip(!HAS_CHROMIUM, NO_CHROMIUM);
    await page.getByLabel('Status', { exact: true }).selectOption('PartiallySucceeded');
    await rowsBecome((rows) => rows.length === 1 && rows[0] === ids.partial);
    await page.getByLabel('Status', { exact: true }).selectOption('');
    await page.getByLabel('Project', { exact: true }).selectOption('Customers');
    await rowsBecome((rows) => rows.length === 2 && !rows.includes(ids.partial!));
    await page.getByLabel('Project', { exact: true }).selectOption('');
    await page.getByLabel('Environment', { exact: true }).selectOption('local');
    // 3 imports, 1 export, 1 recurring import, 1 recurring export drain
    await rowsBecome((rows) => rows.length === 6);
    await page.getByLabel('Time', { exact: true }).selectOption('1h');
    await rowsBecome((rows) => rows.length === 6);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-jobs.png'), fullPage: true });
  });

  it('the job page of a PartiallySucceeded import: stages, F&O error rows, file links', async (ctx) => {
    ctx.skip(!HAS_CHROMIUM, NO_CHROMIUM);
    await page.locator(`tr[data-job-id="${ids.partial}"] a`).click();
    await page.locator('#timeline li').first().waitFor();
    const names = await attributes('#timeline > li', 'data-step');
    const states = await attributes('#timeline > li', 'class');
    const steps = names.map((name, i) => `${name}:${states[i]}`);
    expect(steps).toEqual([
      'Received:done',
      'Validated:done',
      'Waiting for a slot:done',
      'Uploaded and started in F&O:done',
      'Executing in F&O:done',
      'Error details copied:done',
      'Finished:partial',
    ]);
    expect(await page.locator('#timeline').textContent()).toMatch(
      /\d+ status polls?, last F&O status PartiallySucceeded/,
    );
    // each poll is listed under "Executing in F&O" with its time and F&O's answer
    const pollRows = page.locator('[data-step="Executing in F&O"] #poll-log li.poll');
    expect(await pollRows.count()).toBeGreaterThan(0);
    expect(await pollRows.last().textContent()).toContain('PartiallySucceeded');
    expect(await pollRows.last().locator('time').getAttribute('datetime')).toMatch(/^\d{4}-\d\d-\d\dT/);
    const errorRows = page.locator('#errors-table tbody tr');
    expect(await errorRows.count()).toBeGreaterThan(0);
    const errorsText = await page.locator('#errors-table').textContent();
    expect(errorsText).toContain('DMF_EXECUTION_ERROR');
    expect(errorsText).toContain("'Broken #BAD#'");
    // the execution's F&O page (GetExecutionSummaryPageUrl) and F&O's counts per entity
    const foPage = page.locator('#fo-page');
    expect(await foPage.getAttribute('href')).toMatch(/mi=DMFExecutionSummary&executionId=dmffn-/);
    expect(await foPage.getAttribute('rel')).toBe('noopener noreferrer');
    const entityRow = page.locator('#entities-table tbody tr').first();
    expect(await entityRow.locator('td').allTextContents()).toEqual([
      'Customers V3',
      'PartiallySucceeded',
      expect.stringMatching(/^\d+$/),
      expect.stringMatching(/^[1-9]\d*$/),
      expect.stringMatching(/^\d+$/),
      expect.stringMatching(/^\d+$/),
    ]);
    const links = await attributes('#files a[data-file]', 'data-file');
    expect(links).toContain('result.json');
    const download = page.waitForEvent('download');
    await page.locator('#files a[data-file="result.json"]').click();
    const file = await download;
    expect(file.suggestedFilename()).toBe('result.json');
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-job.png'), fullPage: true });
  });
});

describe('jobs dashboard in Chromium, exports', () => {
  it('the job page of an export: its stages and a link to the package', async (ctx) => {
    ctx.skip(!HAS_CHROMIUM, NO_CHROMIUM);
    await page.goto(`${s.stack.functionsBaseUrl}/api/dashboard#/jobs/${ids.export}`);
    await page.locator('#timeline li').first().waitFor();
    const names = await attributes('#timeline > li', 'data-step');
    const states = await attributes('#timeline > li', 'class');
    expect(names.map((name, i) => `${name}:${states[i]}`)).toEqual([
      'Received:done',
      'Started in F&O:done',
      'Executing in F&O:done',
      'Package ready:done',
      'Finished:done',
    ]);
    const links = await attributes('#files a[data-file]', 'data-file');
    expect(links).toEqual(expect.arrayContaining([`CustomersOut-${ids.export}.zip`, 'result.json']));
  });
});

describe('jobs dashboard in Chromium, jobs made of jobs', () => {
  it('a multi-company export lists its companies, each linked to its own job, which links back', async (ctx) => {
    ctx.skip(!HAS_CHROMIUM, NO_CHROMIUM);
    // the sample's CustomersByCompany: legalEntities USMF and DEMF
    const started = await s.api('/api/exports?environment=local&project=CustomersByCompany', {
      method: 'POST',
    });
    expect(started.status).toBe(202);
    const id = ((await started.json()) as { id: string }).id;
    await eventually(async () => {
      const job = (await (await s.api(`/api/jobs/${id}`)).json()) as { status: string };
      return job.status === 'Succeeded' ? job : undefined;
    }, 30_000);
    await page.goto(`${s.stack.functionsBaseUrl}/api/dashboard#/jobs/${id}`);
    await page.locator('#children-table tbody tr').first().waitFor();
    const rows = await page.locator('#children-table tbody tr').allTextContents();
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatch(/^USMFSucceeded/);
    expect(rows[1]).toMatch(/^DEMFSucceeded/);
    const names = await attributes('#timeline > li', 'data-step');
    expect(names).toEqual(['Received', 'Companies exported', 'Finished']);
    const child = (await attributes('#children-table tbody tr', 'data-job-id'))[1]!;
    await page.locator(`#children-table a[href="#/jobs/${child}"]`).click();
    await page.locator('#parent-job').waitFor();
    expect(await page.locator('#parent-job').getAttribute('href')).toBe(`#/jobs/${id}`);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-multi-company.png'), fullPage: true });
  });
});

describe('jobs dashboard in Chromium, recurring jobs', () => {
  async function stepsOf(id: string): Promise<string[]> {
    await page.goto(`${s.stack.functionsBaseUrl}/api/dashboard#/jobs/${id}`);
    await page.locator('#timeline li').first().waitFor();
    const names = await attributes('#timeline > li', 'data-step');
    const states = await attributes('#timeline > li', 'class');
    return names.map((name, i) => `${name}:${states[i]}`);
  }

  it('the job page of a recurring import shows the enqueue and F&O message stages', async (ctx) => {
    ctx.skip(!HAS_CHROMIUM, NO_CHROMIUM);
    expect(await stepsOf(ids.enqueue!)).toEqual([
      'Received:done',
      'Enqueued to F&O:done',
      'Processed by F&O:done',
      'Finished:done',
    ]);
    expect(await page.locator('#timeline').textContent()).toMatch(
      /message status polls?, last status Processed/,
    );
  });

  it('the job page of a recurring export drain shows its message counters', async (ctx) => {
    ctx.skip(!HAS_CHROMIUM, NO_CHROMIUM);
    expect(await stepsOf(ids.drain!)).toEqual([
      'Started:done',
      'Draining the F&O queue:done',
      'Finished:done',
    ]);
    const text = await page.locator('#timeline').textContent();
    expect(text).toContain('2 messages dequeued: 2 stored');
    expect(text).toContain('(queue empty)');
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-drain.png'), fullPage: true });
  });
});

describe('jobs dashboard in Chromium, paging', () => {
  it('shows the newest 100 and pages on through the server-side filter', async (ctx) => {
    ctx.skip(!HAS_CHROMIUM, NO_CHROMIUM);
    // 230 rows of another environment, older than the jobs above (cheap: the point is paging)
    const seeded = await seedJobs(jobIndexOn(s.stack.storageConnectionString, s.tables), 230, {
      newest: new Date(Date.now() - 2 * 3_600_000),
      environments: ['paged'],
    });
    await page.goto(`${s.stack.functionsBaseUrl}/api/dashboard#/`);
    // (the filters of the test above still stand)
    await page.getByLabel('Environment', { exact: true }).selectOption('');
    await page.getByLabel('Time', { exact: true }).selectOption('24h');
    await rowsBecome((rows) => rows.length === 100);
    const more = page.getByRole('button', { name: 'Show 100 more' });
    expect(await more.isVisible()).toBe(true);
    await page.getByLabel('Environment', { exact: true }).selectOption('paged');
    await rowsBecome((rows) => rows.length === 100 && rows[0] === seeded[0]!.id);
    await more.click();
    await rowsBecome((rows) => rows.length === 200);
    await more.click();
    const all = await rowsBecome((rows) => rows.length === 230);
    expect(all).toEqual(seeded.map((j) => j.id));
    expect(await more.isVisible()).toBe(false);
    expect(await page.locator('#jobs-summary').textContent()).toMatch(/^230 jobs · updated/);
  });
});
