import yazl from 'yazl';
import { afterEach, describe, expect, it } from 'vitest';
import { sendServiceBusMessages } from '@dmf-functions/devhost/servicebus';
import type { Job } from '../../src/shared/jobs/index.js';
import { customersPackage, eventually, list, readText, useImportStack, outcomeFault } from './helpers.js';

const s = useImportStack();
afterEach(async () => {
  await s.stack.emulator.control.clearFaults();
  await s.stack.emulator.control.setOptions({ executionDurationMs: 300 });
});

async function drop(path: string, content: Buffer | string): Promise<void> {
  await s.containers.inbound.getBlockBlobClient(path).upload(content, Buffer.byteLength(content));
  await s.stack.host!.blobTriggers.scanNow();
}

async function jobFor(fileName: string): Promise<Job> {
  const found = await eventually(async () => {
    const body = (await (await s.api('/api/jobs')).json()) as { jobs: Job[] };
    return body.jobs.find((j) => j.file === fileName);
  });
  return s.waitForJob(found.id);
}

function zipWithFolder(): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  zip.addBuffer(Buffer.from('<x/>'), 'Manifest.xml');
  zip.addBuffer(Buffer.from('<x/>'), 'PackageHeader.xml');
  zip.addBuffer(Buffer.from('a,b\r\n'), 'data/Customers V3.csv');
  zip.end();
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    zip.outputStream.on('data', (c: Buffer) => chunks.push(c));
    zip.outputStream.on('end', () => resolve(Buffer.concat(chunks)));
    zip.outputStream.on('error', reject);
  });
}

describe('import pipeline, F&O outcomes', () => {
  it('PartiallySucceeded: copies the staging error file next to the result, readable', async () => {
    await drop('local/Customers/partial.zip', await customersPackage({ prefix: 'PART', bad: true }));
    const job = await jobFor('partial.zip');
    expect(job.status).toBe('PartiallySucceeded');
    const staging = job.result!.errorFiles.find((f) => f.kind === 'staging');
    expect(staging).toMatchObject({ entity: 'Customers V3', container: s.names.results });
    expect(staging!.path.startsWith(`local/Customers/partial.zip/${job.id}/errors/`)).toBe(true);
    const text = await readText(s.containers.results, staging!.path);
    expect(text).toContain('PART-bad');
    expect(job.result!.archivedTo).toBe(`${s.names.archive}/failed/local/Customers/${job.id}/partial.zip`);
    const event = await eventually(() => s.events().find((e) => e.messageId === job.id));
    expect((event.body as { type: string }).type).toBe('com.dmf-functions.import.completed');
  });

  it.each(['Failed', 'Canceled'] as const)(
    '%s in F&O: job status follows, errors fetched, source archived under failed/',
    async (outcome) => {
      await s.stack.emulator.control.setFault(outcomeFault('ImportFromPackage', outcome, 1));
      const name = `outcome-${outcome}.zip`;
      await drop(`local/Customers/${name}`, await customersPackage({ prefix: outcome }));
      const job = await jobFor(name);
      expect(job.status).toBe(outcome);
      expect(job.result!.foStatus).toBe(outcome);
      expect(await list(s.containers.archive, `failed/local/Customers/${job.id}/`)).toEqual([
        `failed/local/Customers/${job.id}/${name}`,
      ]);
      const event = await eventually(() => s.events().find((e) => e.messageId === job.id));
      expect((event.body as { type: string }).type).toBe('com.dmf-functions.import.failed');
      const calls = await s.stack.emulator.control.calls();
      expect(calls.some((c) => c.route === 'GetExecutionErrors' && c.executionId === job.executionId)).toBe(
        true,
      );
    },
  );
});

describe('import pipeline, bad inputs end with a readable reason and the source kept', () => {
  it('a corrupt zip fails before any F&O call, archived under failed/', async () => {
    await drop(
      'local/Customers/corrupt.zip',
      Buffer.concat([Buffer.from('PK\u0003\u0004'), Buffer.alloc(200, 7)]),
    );
    const job = await jobFor('corrupt.zip');
    expect(job.status).toBe('Failed');
    expect(job.executionId).toBeUndefined();
    expect(job.errors[0]!.message).toContain('corrupt.zip is not a valid data package');
    expect(await list(s.containers.archive, `failed/local/Customers/${job.id}/`)).toHaveLength(1);
    const calls = await s.stack.emulator.control.calls();
    expect(calls.some((c) => c.route === 'ImportFromPackage' && c.executionId === `dmffn-${job.id}`)).toBe(
      false,
    );
  });

  it('a zip with a folder fails with the folder named', async () => {
    await drop('local/Customers/folder.zip', await zipWithFolder());
    const job = await jobFor('folder.zip');
    expect(job.status).toBe('Failed');
    expect(JSON.stringify(job.errors)).toMatch(/data\//);
  });

  it.each([
    ['unknown environment', 'nowhere/Customers/a.zip', 'environment "nowhere"'],
    ['unknown project', 'local/NoSuchProject/a.zip', 'data project "NoSuchProject"'],
    ['path outside the convention', 'just-a-file.zip', 'expected 3 or 4'],
  ])('%s: rejected, reason recorded, the file left in place', async (_label, path, reason) => {
    await drop(path, await customersPackage());
    const record = await eventually(async () => {
      const names = await list(s.containers.results, `rejected/${path}/`);
      return names[0];
    });
    const rejection = JSON.parse(await readText(s.containers.results, record)) as {
      reason: string;
      code: string;
    };
    expect(rejection.reason).toContain(reason);
    expect(rejection.code).toBe('INBOUND_PATH_INVALID');
    expect(await s.containers.inbound.getBlobClient(path).exists()).toBe(true);
    await eventually(() =>
      s
        .events()
        .find((e) => ((e.body as { type: string; subject?: string }).subject === path ? e : undefined)),
    );
  });

  it.each([
    ['not JSON', '{"type": "import",', 'COMMAND_NOT_JSON', 'not JSON'],
    [
      'missing fields',
      JSON.stringify({ type: 'import', environment: 'local' }),
      'COMMAND_INVALID',
      'definitionGroupId',
    ],
    [
      'both blobPath and url',
      JSON.stringify({
        type: 'import',
        environment: 'local',
        definitionGroupId: 'Customers',
        blobPath: 'x-container/a.zip',
        url: 'https://example.com/a.zip',
      }),
      'COMMAND_INVALID',
      'exactly one of',
    ],
    [
      'unknown project',
      JSON.stringify({
        type: 'import',
        environment: 'local',
        definitionGroupId: 'Nope',
        url: 'https://example.com/a.zip',
      }),
      'UNKNOWN_PROJECT',
      '"Nope"',
    ],
  ])(
    'an invalid command (%s) is recorded as rejected once, not retried',
    async (_label, body, code, reason) => {
      const messageId = `bad-${code}-${Math.random().toString(36).slice(2)}`;
      await sendServiceBusMessages(s.stack.serviceBusConnectionString, 'dmf-commands', { body, messageId });
      const record = await eventually(
        async () => (await list(s.containers.results, `rejected/commands/${messageId}/`))[0],
      );
      const rejection = JSON.parse(await readText(s.containers.results, record)) as {
        reason: string;
        code: string;
      };
      expect(rejection.code).toBe(code);
      expect(rejection.reason).toContain(reason);
      const queue = s.stack.broker.entities().find((e) => e.path === 'dmf-commands');
      expect(queue).toMatchObject({ deadLetterMessageCount: 0, activeMessageCount: 0 });
    },
  );
});

describe('job API', () => {
  it('cancels a job waiting for the slot; the running import is not disturbed', async () => {
    await s.stack.emulator.control.setOptions({ executionDurationMs: 3_000 });
    await drop('local/Customers/long.zip', await customersPackage({ prefix: 'LONG' }));
    await drop('local/Customers/waiting.zip', await customersPackage({ prefix: 'WAIT' }));
    const waiting = await eventually(async () => {
      const body = (await (await s.api('/api/jobs?status=Pending')).json()) as { jobs: Job[] };
      return body.jobs.find((j) => j.file === 'waiting.zip' && j.stage === 'WaitingForSlot');
    });
    // the list comes from the job index, which records stages; the queue position is live, on the
    // job's own route (the job page and dmf import --wait read it there)
    const position = await eventually(async () => {
      const job = (await (await s.api(`/api/jobs/${waiting.id}`)).json()) as Job;
      return job.slotPosition;
    });
    expect(position).toBe(1);
    const cancel = await s.api(`/api/jobs/${waiting.id}/cancel`, { method: 'POST' });
    expect(cancel.status).toBe(202);
    const canceled = await s.waitForJob(waiting.id);
    expect(canceled.status).toBe('Canceled');
    expect(canceled.executionId).toBeUndefined();
    const long = await jobFor('long.zip');
    expect(long.status).toBe('Succeeded');
    const again = await s.api(`/api/jobs/${long.id}/cancel`, { method: 'POST' });
    expect(again.status).toBe(409);
    expect((await s.api('/api/jobs/imp-doesnotexist')).status).toBe(404);
    const failedList = (await (await s.api('/api/jobs?status=Canceled')).json()) as { jobs: Job[] };
    expect(failedList.jobs.map((j) => j.id)).toContain(waiting.id);
  });
});
