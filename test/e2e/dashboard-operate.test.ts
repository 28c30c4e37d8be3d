/**
 * What an operator does in the dashboard, in headless Chromium against the local runtime (the host
 * on the real clock, in a child process): sees a rejected drop as a job with its reason and where
 * its file is kept, re-runs a job with its button, pauses an environment (arrivals show `Queued`
 * with the pause) and resumes it, and sees where the alerts about a job went. Screenshots:
 * test-results/dashboard-rejected.png, -rerun.png, -paused.png, -queued.png, -alerts.png.
 */
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { ListedJob } from '../../src/shared/jobs/index.js';
import { ARTIFACTS, HAS_CHROMIUM, launchChromium, NO_CHROMIUM, type Browser } from '../support/chromium.js';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook.js';
import {
  CHILD_PROCESS_HOST,
  customersPackage,
  eventually,
  startImportStack,
  testConfig,
  type ImportStack,
} from './helpers.js';

let s: ImportStack;
let hooks: WebhookReceiver;
let browser: Browser | undefined;
let page: Page;

beforeAll(async () => {
  if (!HAS_CHROMIUM) return;
  hooks = await startWebhookReceiver();
  s = await startImportStack(inject('azuriteConnectionString'), {
    ...CHILD_PROCESS_HOST,
    dmfConfig: testConfig((c) => {
      c.alerts = [{ name: 'teams', urlSetting: 'DMF_TEST_TEAMS_WEBHOOK', format: 'teams' }];
    }),
    appSettings: { DMF_TEST_TEAMS_WEBHOOK: `${hooks.url}/teams?sig=dashboard0secret` },
  });
  browser = await launchChromium();
  page = browser.page;
  await page.goto(`${s.stack.functionsBaseUrl}/api/dashboard`);
  await page.getByLabel('Function key', { exact: true }).fill(s.stack.functionsKey);
  await page.getByRole('button', { name: 'Open dashboard' }).click();
  await page.locator('#jobs-table').waitFor();
}, 180_000);
afterAll(async () => {
  await browser?.close();
  await s?.stop();
  await hooks?.stop();
});

async function importFile(name: string, body: Buffer | string): Promise<string> {
  const response = await s.api(`/api/imports?environment=local&project=Customers&fileName=${name}`, {
    method: 'POST',
    headers: { 'content-type': 'application/zip' },
    body,
  });
  expect(response.status).toBe(202);
  return ((await response.json()) as { id: string }).id;
}

/** The text of a job page's detail field (its `dd`). */
function field(label: string): Promise<string> {
  return page
    .locator('dl.details dt', { hasText: new RegExp(`^${label}$`) })
    .locator('xpath=following-sibling::dd[1]')
    .innerText();
}

/** Opens the job page of `id` and waits for its details. */
async function openJob(id: string): Promise<void> {
  await page.goto(`${s.stack.functionsBaseUrl}/api/dashboard#/jobs/${encodeURIComponent(id)}`);
  await page.locator('dl.details').waitFor();
}

/** Waits until the open job page shows `status`. */
async function jobPageStatus(status: string, timeoutMs = 60_000): Promise<void> {
  await page
    .locator('dl.details dd .badge', { hasText: new RegExp(`^${status}$`) })
    .waitFor({ timeout: timeoutMs });
}

/** The status the jobs list shows for `id` (the list refreshes every 5 s). */
async function rowStatus(id: string, status: string, timeoutMs = 60_000): Promise<void> {
  await page
    .locator(`#jobs-table tr[data-job-id="${id}"][data-status="${status}"]`)
    .waitFor({ timeout: timeoutMs });
}

describe('operator actions in the dashboard (Chromium)', () => {
  it('a rejected drop is a job: listed Rejected, its page says why and where the file is kept', async (ctx) => {
    ctx.skip(!HAS_CHROMIUM, NO_CHROMIUM);
    const path = 'local/Nowhere/dash-rejected.zip';
    const zip = await customersPackage();
    await s.containers.inbound.getBlockBlobClient(path).upload(zip, zip.length);
    const job = await eventually(async () => {
      const response = await s.api('/api/jobs?status=Rejected');
      return ((await response.json()) as { jobs: (ListedJob & { file?: string })[] }).jobs.find(
        (j) => j.file === 'dash-rejected.zip',
      );
    }, 30_000);
    await page.goto(`${s.stack.functionsBaseUrl}/api/dashboard#/`);
    await page.getByLabel('Status', { exact: true }).selectOption('Rejected');
    await rowStatus(job.id, 'Rejected');
    await page.locator(`tr[data-job-id="${job.id}"] td.file a`).click();
    await page.locator('dl.details').waitFor();
    expect(await field('Status')).toBe('Rejected');
    expect(await field('Reason')).toMatch(/Nowhere/);
    expect(await field('Source kept at')).toBe(`${s.names.inbound}/${path}`);
    expect(await page.locator('#timeline li[data-step="Rejected before a job started"]').count()).toBe(1);
    expect(await page.locator('#files a[data-file]').count()).toBe(1);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-rejected.png'), fullPage: true });
  });

  it('the Re-run button starts the job again and links the two', async (ctx) => {
    ctx.skip(!HAS_CHROMIUM, NO_CHROMIUM);
    const first = await importFile('dash-rerun.zip', await customersPackage({ prefix: 'DRR', bad: true }));
    await openJob(first);
    await jobPageStatus('PartiallySucceeded');
    await page.getByRole('button', { name: 'Re-run' }).click();
    await page.waitForURL((url) => /#\/jobs\/imp-/.test(url.href) && !url.href.endsWith(first));
    const id = decodeURIComponent(/#\/jobs\/([^/?#]+)/.exec(page.url())![1]!);
    expect(id).not.toBe(first);
    await page.locator('dl.details').waitFor();
    expect(await field('Re-run of')).toBe(first);
    await jobPageStatus('PartiallySucceeded');
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-rerun.png'), fullPage: true });
    await openJob(first);
    expect(await field('Re-run by')).toBe(id);
    // once re-run, the old job offers no second re-run
    expect(await page.getByRole('button', { name: 'Re-run' }).count()).toBe(0);
  }, 120_000);

  it('pauses an environment: a new file shows Queued with the pause; the resume lets it run', async (ctx) => {
    ctx.skip(!HAS_CHROMIUM, NO_CHROMIUM);
    await page.getByRole('link', { name: 'Environments' }).click();
    const row = page.locator('#environments-table tr[data-environment="local"]');
    await row.waitFor();
    expect(await row.getAttribute('data-paused')).toBe('false');
    await page.getByLabel('Your name (shown as who paused)').fill('alice');
    await page.getByLabel('Reason for a pause').fill('F&O maintenance');
    await row.getByRole('button', { name: 'Pause' }).click();
    await page.locator('#environments-table tr[data-environment="local"][data-paused="true"]').waitFor();
    expect(await row.locator('td').nth(3).innerText()).toBe('alice');
    expect(await row.locator('td').nth(4).innerText()).toBe('F&O maintenance');
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-paused.png'), fullPage: true });

    const id = await importFile('dash-paused.zip', await customersPackage({ prefix: 'DPA' }));
    await page.getByRole('link', { name: 'Jobs' }).click();
    await page.getByLabel('Status', { exact: true }).selectOption('');
    await rowStatus(id, 'Queued');
    await page.locator(`tr[data-job-id="${id}"] td.file a`).click();
    await page.locator('dl.details').waitFor();
    expect(await field('Queued')).toMatch(/^Environment local paused since .+ by alice \(F&O maintenance\)/);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-queued.png'), fullPage: true });
    expect((await s.stack.emulator.control.calls()).some((c) => c.executionId === `dmffn-${id}`)).toBe(false);

    await page.getByRole('link', { name: 'Environments' }).click();
    await row.getByRole('button', { name: 'Resume' }).click();
    await page.locator('#environments-table tr[data-environment="local"][data-paused="false"]').waitFor();
    await page.getByRole('link', { name: 'Jobs' }).click();
    await rowStatus(id, 'Succeeded');
  }, 120_000);

  it('the job page shows where the alerts about it went', async (ctx) => {
    ctx.skip(!HAS_CHROMIUM, NO_CHROMIUM);
    hooks.plan('/teams', 'dashalert.zip', [{ status: 500 }, { status: 202 }]);
    const id = await importFile('dashalert.zip', 'not a zip');
    await openJob(id);
    await jobPageStatus('Failed');
    await page.locator('#job-alerts li[data-alert="teams"][data-state="sent"]').waitFor({ timeout: 90_000 });
    expect(await page.locator('#job-alerts li').innerText()).toBe('teams — sent (HTTP 202)');
    expect(hooks.received.filter((h) => h.text.includes('dashalert.zip')).map((h) => h.status)).toEqual([
      500, 202,
    ]);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-alerts.png'), fullPage: true });
  }, 120_000);
});
