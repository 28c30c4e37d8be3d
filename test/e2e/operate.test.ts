/**
 * What an operator can do, through the HTTP API, end to end on the local stack: rejected drops and
 * commands are jobs (listed `Rejected`, with their reason and where the source is kept), a finished
 * or rejected job is re-run once from its source (`POST /api/jobs/{id}/rerun`), and alerts reach a
 * webhook (a Teams Adaptive Card, a plain JSON message) without ever holding up a job or carrying a
 * secret. Pause and resume: test/e2e/pause.test.ts (a real clock and a restart).
 */
import { ServiceBusClient } from '@azure/service-bus';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Job, ListedJob } from '../../src/shared/jobs/index.js';
import { createJobIndexTables } from '../../src/shared/storage/index.js';
import type { ProcessRun } from '../support/process.js';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook.js';
import {
  customersPackage,
  eventually,
  exportProject,
  startImportStack,
  testConfig,
  type ImportStack,
  runCli,
} from './helpers.js';

/** Secrets the webhook urls carry: never in a payload, a log line or a job. */
const TEAMS_SECRET = 'sigTEAMS0secret0value';
const JSON_SECRET = 'codeJSON0secret0value';
const DASHBOARD = 'https://dmf.example/api/dashboard';

let s: ImportStack;
let hooks: WebhookReceiver;

beforeAll(async () => {
  hooks = await startWebhookReceiver();
  s = await startImportStack(inject('azuriteConnectionString'), {
    dmfConfig: testConfig((c) => {
      (c.dataProjects as unknown[]).push(exportProject());
      c.alerts = [
        {
          name: 'teams',
          urlSetting: 'DMF_TEST_TEAMS_WEBHOOK',
          format: 'teams',
          dashboardUrl: DASHBOARD,
        },
        {
          name: 'everything',
          urlSetting: 'DMF_TEST_JSON_WEBHOOK',
          format: 'json',
          on: ['failure', 'success'],
        },
      ];
    }),
    appSettings: {
      DMF_TEST_TEAMS_WEBHOOK: `${hooks.url}/teams?sig=${TEAMS_SECRET}`,
      DMF_TEST_JSON_WEBHOOK: `${hooks.url}/json?code=${JSON_SECRET}`,
    },
  });
}, 120_000);
afterAll(async () => {
  await s?.stop();
  await hooks?.stop();
});

/** A list entry, any kind (rejected ones carry `reason` and `source`). */
type Listed = ListedJob & { file?: string; source?: string; reason?: string; rerunBy?: string };

async function listed(query: string): Promise<Listed[]> {
  const response = await s.api(`/api/jobs${query}`);
  expect(response.status).toBe(200);
  return ((await response.json()) as { jobs: Listed[] }).jobs;
}

async function getJob(id: string): Promise<Job & Record<string, unknown>> {
  const response = await s.api(`/api/jobs/${encodeURIComponent(id)}`);
  expect(response.status).toBe(200);
  return (await response.json()) as Job & Record<string, unknown>;
}

async function importBody(fileName: string, body: Buffer | string, project = 'Customers'): Promise<string> {
  const response = await s.api(
    `/api/imports?environment=local&project=${project}&fileName=${encodeURIComponent(fileName)}`,
    { method: 'POST', body, headers: { 'content-type': 'application/zip' } },
  );
  expect(response.status).toBe(202);
  return ((await response.json()) as { id: string }).id;
}

function rerun(id: string): Promise<Response> {
  return s.api(`/api/jobs/${encodeURIComponent(id)}/rerun`, { method: 'POST' });
}

async function sendCommand(messageId: string, body: unknown): Promise<void> {
  const client = new ServiceBusClient(s.stack.serviceBusConnectionString);
  try {
    await client
      .createSender('dmf-commands')
      .sendMessages({ body, messageId, contentType: 'application/json' });
  } finally {
    await client.close();
  }
}

describe('rejected inputs are jobs', () => {
  it('a drop outside the convention is listed Rejected, with its reason and where the file is kept', async () => {
    const path = 'local/NoSuchProject/rejected-drop.zip';
    const zip = await customersPackage();
    await s.containers.inbound.getBlockBlobClient(path).upload(zip, zip.length);
    const job = await eventually(async () =>
      (await listed('?status=Rejected')).find((j) => j.file === 'rejected-drop.zip'),
    );
    expect(job).toMatchObject({
      kind: 'import',
      status: 'Rejected',
      environment: 'local',
      project: 'NoSuchProject',
      source: `${s.names.inbound}/${path}`,
      errorCount: 1,
    });
    expect(job.reason).toMatch(/NoSuchProject/);
    // the job page has it too (no durable instance stands behind it), with the record as its file
    const detail = await getJob(job.id);
    expect(detail).toMatchObject({ id: job.id, status: 'Rejected', source: job.source });
    const files = (await (await s.api(`/api/jobs/${job.id}/files`)).json()) as { files: { kind: string }[] };
    expect(files.files.map((f) => f.kind)).toContain('rejection');
    // the file is left where it was dropped
    expect(await s.containers.inbound.getBlobClient(path).exists()).toBe(true);
    // a rejection is alerted like a failure
    const card = await hooks.until((r) => r.some((h) => h.path === '/teams' && h.text.includes(job.id)));
    expect(card.find((h) => h.text.includes(job.id))!.text).toMatch(/Import Rejected/);
  });

  it('a command naming a missing blob is listed Rejected with the blob it named; it runs once the blob is there', async () => {
    const blobPath = `${s.names.staged}/local/late-command.zip`;
    await sendCommand('late-blob-1', {
      type: 'import',
      environment: 'local',
      definitionGroupId: 'Customers',
      blobPath,
    });
    const job = await eventually(async () =>
      (await listed('?status=Rejected')).find((j) => j.id === 'cmd-late-blob-1'),
    );
    expect(job).toMatchObject({
      kind: 'import',
      environment: 'local',
      project: 'Customers',
      source: blobPath,
    });
    expect(job.errors[0]?.code).toBe('SOURCE_NOT_FOUND');
    // still missing: the re-run is refused with the same reason
    const refused = await rerun(job.id);
    expect(refused.status).toBe(409);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('STILL_REJECTED');
    // the blob arrives: the re-run imports it
    const zip = await customersPackage({ prefix: 'LATE' });
    await s.containers.staged.getBlockBlobClient('local/late-command.zip').upload(zip, zip.length);
    const started = await rerun(job.id);
    expect(started.status).toBe(202);
    const again = (await started.json()) as { id: string; rerunOf: string };
    expect(again.rerunOf).toBe(job.id);
    expect((await s.waitForJob(again.id)).status).toBe('Succeeded');
    expect((await getJob(job.id)).rerunBy).toBe(again.id);
  });
});

describe('re-run', () => {
  it('re-runs a finished import from its archived file: once, however many ask at the same time', async () => {
    const first = await importBody('rerun-partial.zip', await customersPackage({ prefix: 'RRP', bad: true }));
    const done = await s.waitForJob(first);
    expect(done.status).toBe('PartiallySucceeded');
    const archived = done.result!.archivedTo!;
    const answers = await Promise.all([rerun(first), rerun(first), rerun(first)]);
    const bodies = (await Promise.all(answers.map((a) => a.json()))) as {
      id: string;
      rerunOf: string;
      started: boolean;
    }[];
    expect(answers.map((a) => a.status).sort()).toEqual([200, 200, 202]);
    expect(new Set(bodies.map((b) => b.id)).size).toBe(1);
    expect(bodies.filter((b) => b.started)).toHaveLength(1);
    const id = bodies[0]!.id;
    expect(id).not.toBe(first);
    expect(bodies[0]).toMatchObject({ rerunOf: first, kind: 'import', file: done.file });
    const again = await s.waitForJob(id);
    expect(again).toMatchObject({ status: 'PartiallySucceeded', rerunOf: first, file: done.file });
    // one F&O execution for the re-run, and the old job's archived copy is still there
    const starts = (await s.stack.emulator.control.calls()).filter(
      (c) => c.route === 'ImportFromPackage' && c.executionId === `dmffn-${id}`,
    );
    expect(starts).toHaveLength(1);
    const slash = archived.indexOf('/');
    expect(await s.containers.archive.getBlobClient(archived.slice(slash + 1)).exists()).toBe(true);
    expect((await getJob(first)).rerunBy).toBe(id);
    const row = (await listed('?kind=import&top=50')).find((j) => j.id === first);
    expect(row?.rerunBy).toBe(id);
    // asked again later: the same job, nothing started
    const later = await rerun(first);
    expect(later.status).toBe(200);
    expect(((await later.json()) as { id: string }).id).toBe(id);
  });

  it('refuses a job that still runs, and one whose archived file is gone', async () => {
    const running = await importBody('rerun-running.zip', await customersPackage({ prefix: 'RRR' }));
    const refused = await rerun(running);
    expect(refused.status).toBe(409);
    expect(((await refused.json()) as { error: { code: string; message: string } }).error).toMatchObject({
      code: 'JOB_RUNNING',
    });
    const done = await s.waitForJob(running);
    const archived = done.result!.archivedTo!;
    await s.containers.archive.deleteBlob(archived.slice(archived.indexOf('/') + 1));
    const gone = await rerun(running);
    expect(gone.status).toBe(409);
    const problem = ((await gone.json()) as { error: { code: string; message: string } }).error;
    expect(problem.code).toBe('SOURCE_GONE');
    expect(problem.message).toMatch(/gone/);
    expect((await rerun('imp-0000000000000000000000000000dead')).status).toBe(404);
  });

  it('re-runs an export from its data project', async () => {
    const started = await s.api('/api/exports?environment=local&project=CustomersOut', { method: 'POST' });
    const first = ((await started.json()) as { id: string }).id;
    expect((await s.waitForJob(first)).status).toBe('Succeeded');
    const answer = await rerun(first);
    expect(answer.status).toBe(202);
    const again = (await answer.json()) as { id: string; rerunOf: string; kind: string };
    expect(again).toMatchObject({ rerunOf: first, kind: 'export' });
    expect(await s.waitForJob(again.id)).toMatchObject({ status: 'Succeeded', rerunOf: first });
  });
});

describe('alerts', () => {
  it('a failed import is posted to Teams as an Adaptive Card, retried until it goes through; the job never waits', async () => {
    // the Teams hook answers 503 twice (retried on durable timers), the JSON hook takes 6 s to answer
    hooks.plan('/teams', 'alertfailed.zip', [{ status: 503 }, { status: 503 }, { status: 202 }]);
    hooks.plan('/json', 'alertfailed.zip', [{ status: 200, delayMs: 6_000 }]);
    const id = await importBody('alertfailed.zip', 'not a zip at all');
    const job = await s.waitForJob(id);
    expect(job.status).toBe('Failed');
    // the job ended without waiting for its alerts: the slow webhook has not answered yet
    const slow = await hooks.until((r) =>
      r.some((h) => h.path === '/json' && h.text.includes('alertfailed.zip')),
    );
    expect(
      slow.find((h) => h.path === '/json' && h.text.includes('alertfailed.zip'))!.answeredAt,
    ).toBeUndefined();
    const got = await hooks.until(
      (r) =>
        r.filter((h) => h.path === '/teams' && h.text.includes('alertfailed.zip')).length === 3 &&
        r.some((h) => h.path === '/json' && h.text.includes('alertfailed.zip')),
    );
    const teams = got.filter((h) => h.path === '/teams' && h.text.includes('alertfailed.zip'));
    expect(teams.map((h) => h.status)).toEqual([503, 503, 202]);
    const message = teams[2]!.body as {
      type: string;
      attachments: { contentType: string; contentUrl: null; content: Record<string, unknown> }[];
    };
    expect(message.type).toBe('message');
    expect(message.attachments).toHaveLength(1);
    expect(message.attachments[0]).toMatchObject({
      contentType: 'application/vnd.microsoft.card.adaptive',
      contentUrl: null,
      content: { type: 'AdaptiveCard', $schema: 'http://adaptivecards.io/schemas/adaptive-card.json' },
    });
    const card = message.attachments[0]!.content as {
      body: { type: string; text?: string; facts?: { title: string; value: string }[] }[];
      actions: { type: string; url: string }[];
    };
    expect(card.body[0]!.text).toMatch(/^Import Failed: \S*alertfailed\.zip \(local\/Customers\)$/);
    const facts = Object.fromEntries(
      card.body.find((b) => b.type === 'FactSet')!.facts!.map((f) => [f.title, f.value]),
    );
    expect(facts).toMatchObject({ Status: 'Failed', Environment: 'local', Project: 'Customers' });
    expect(card.actions).toEqual([
      { type: 'Action.OpenUrl', title: 'Open the job', url: `${DASHBOARD}#/jobs/${id}` },
    ]);
    const json = got.find((h) => h.path === '/json' && h.text.includes('alertfailed.zip'))!;
    expect(json.contentType).toMatch(/application\/json/);
    expect(json.body).toMatchObject({
      text: expect.stringMatching(/^Import Failed/) as unknown,
      job: { jobId: id, status: 'Failed' },
    });
    // the job page says where its alerts went
    const detail = await eventually(async () => {
      const j = await getJob(id);
      const alerts = j.alerts as { alert: string; state: string }[] | undefined;
      return alerts?.every((a) => a.state !== 'sending') ? j : undefined;
    });
    expect(detail.alerts).toEqual([
      { alert: 'teams', state: 'sent', status: 202 },
      { alert: 'everything', state: 'sent', status: 200 },
    ]);
  });

  it('a success goes only to the alert that asks for successes; a webhook that refuses is not asked again', async () => {
    hooks.plan('/json', 'alertok.zip', [{ status: 404 }]);
    const id = await importBody('alertok.zip', await customersPackage({ prefix: 'ALOK' }));
    expect((await s.waitForJob(id)).status).toBe('Succeeded');
    await hooks.until((r) => r.some((h) => h.path === '/json' && h.text.includes('alertok.zip')));
    const detail = await eventually(async () => {
      const j = await getJob(id);
      return (j.alerts as { state: string }[] | undefined)?.every((a) => a.state !== 'sending')
        ? j
        : undefined;
    });
    expect(detail.alerts).toEqual([{ alert: 'everything', state: 'failed', status: 404 }]);
    expect(hooks.received.filter((h) => h.text.includes('alertok.zip')).map((h) => h.path)).toEqual([
      '/json',
    ]);
  });

  it('no payload, job or log line carries a webhook secret, a key or a SAS', () => {
    expect(hooks.received.length).toBeGreaterThan(3);
    for (const hook of hooks.received) {
      expect(hook.text).not.toContain(TEAMS_SECRET);
      expect(hook.text).not.toContain(JSON_SECRET);
      expect(hook.text).not.toMatch(/[?&](?:sig|code|sv|se)=/i);
      expect(hook.text).not.toMatch(/AccountKey|SharedAccessKey|x-functions-key/i);
      expect(hook.text).not.toContain(s.stack.functionsKey);
    }
    const logs = s.logs.join('\n');
    expect(logs).not.toContain(TEAMS_SECRET);
    expect(logs).not.toContain(JSON_SECRET);
  });
});

describe('the dmf command and the index rebuild', () => {
  const cli = (args: string[]): Promise<ProcessRun> => runCli(s, args);

  it('dmf rerun, dmf env list|pause|resume, and Rejected jobs in dmf jobs', async () => {
    const id = await importBody('cli-rerun.zip', await customersPackage({ prefix: 'CLIR' }));
    expect((await s.waitForJob(id)).status).toBe('Succeeded');
    const again = await cli(['rerun', id, '--wait', '--interval', '0.2']);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/Status:\s+Succeeded/);
    expect(again.stdout).toContain(`Re-run of:     ${id}`);
    const twice = await cli(['rerun', id]);
    expect(twice.stdout).toMatch(/^Already re-run as job imp-/);
    // the rejected drop still names no configured project: refused with the reason
    const drop = (await listed('?status=Rejected')).find((j) => j.file === 'rejected-drop.zip')!;
    const refused = await cli(['rerun', drop.id]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^dmf: Still rejected: .*NoSuchProject/);

    const paused = await cli(['env', 'pause', 'local', '--reason', 'maintenance', '--by', 'cli-user']);
    expect(paused.code).toBe(0);
    expect(paused.stdout).toMatch(
      /^Environment local paused since \d{4}-\d\d-\d\d \S+Z by cli-user \(maintenance\)/,
    );
    const listedEnvs = await cli(['env', 'list']);
    expect(listedEnvs.stdout).toMatch(/^ENVIRONMENT\s+STATE/);
    expect(listedEnvs.stdout).toMatch(/\nlocal\s+paused\s+\S+ \S+Z\s+cli-user\s+0\s+0\s+maintenance/);
    const resumed = await cli(['env', 'resume', 'local', '--json']);
    expect(JSON.parse(resumed.stdout)).toMatchObject({ name: 'local', paused: false });
    expect((await cli(['env', 'pause', 'nowhere'])).code).toBe(1);

    const rejected = await cli(['jobs', '--status', 'Rejected', '--json']);
    const jobs = JSON.parse(rejected.stdout) as Listed[];
    expect(jobs.map((j) => j.id)).toContain('cmd-late-blob-1');
    const shown = await cli(['job', 'cmd-late-blob-1']);
    expect(shown.code).toBe(1);
    expect(shown.stdout).toMatch(/Status:\s+Rejected/);
    expect(shown.stdout).toContain(`Source:        ${s.names.staged}/local/late-command.zip`);
  }, 60_000);

  it('a rebuilt index lists the rejected inputs again', async () => {
    const before = (await listed('?status=Rejected')).map((j) => j.id).sort();
    expect(before.length).toBeGreaterThanOrEqual(2);
    const tables = createJobIndexTables(
      { kind: 'connectionString', connectionString: s.stack.storageConnectionString },
      s.tables,
    );
    await tables.jobs.deleteTable();
    await tables.jobIds.deleteTable();
    expect(await listed('?status=Rejected')).toEqual([]);
    expect((await cli(['admin', 'reindex'])).code).toBe(0);
    const after = await listed('?status=Rejected');
    expect(after.map((j) => j.id).sort()).toEqual(before);
    const drop = after.find((j) => j.file === 'rejected-drop.zip');
    expect(drop).toMatchObject({ source: `${s.names.inbound}/local/NoSuchProject/rejected-drop.zip` });
  }, 60_000);
});
