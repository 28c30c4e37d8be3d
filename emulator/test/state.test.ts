import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { STATE_FILE_VERSION, type RunningEmulator } from '../index.js';
import { EmulatorClock } from '../clock.js';
import { StateFileSchema } from '../state.js';
import {
  action,
  customersPackage,
  getToken,
  importFrom,
  importPackage,
  startTestEmulator,
  summary,
  uploadPackage,
  valueOf,
} from './helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'emulator-state-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const started: RunningEmulator[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((em) => em.stop()));
});

async function start(stateFile: string, log?: (line: string) => void): Promise<RunningEmulator> {
  const em = await startTestEmulator({ stateFile, log });
  started.push(em);
  return em;
}

async function stop(em: RunningEmulator): Promise<void> {
  await em.stop();
  started.splice(started.indexOf(em), 1);
}

const CSV = 'CUSTOMERACCOUNT,NAME\r\nST-1,Contoso\r\nST-2,Fabrikam\r\n';

async function waitFor(condition: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('state file', () => {
  it('an execution Executing at stop continues after a restart on the same file and storage', async () => {
    const file = join(tmp, 'resume', 'state.json');
    const em1 = await start(file);
    expect(em1.state).toEqual({ file, restored: false });
    const token1 = await getToken(em1);
    const id = await importPackage(em1, token1, await customersPackage(CSV), 'resume-exec-1');
    // A write url issued before the stop stays registered (its expiry is checked after the restart).
    const laterUrl = await uploadPackage(em1, token1, await customersPackage(CSV), 'later.zip');
    // A recurring import message not yet picked up, and an export file waiting to be dequeued.
    const enqueued = await fetch(
      `${em1.baseUrl}/api/connector/enqueue/${em1.recurring.importActivityId ?? ''}?entity=Customers%20V3&company=USMF`,
      { method: 'POST', headers: { authorization: `Bearer ${token1}` }, body: 'CUSTOMERACCOUNT\r\nRQ-1\r\n' },
    );
    const messageId = (await enqueued.json()) as string;
    await em1.control.seedExportMessage({
      activityId: em1.recurring.exportActivityId ?? '',
      fileName: 'out.csv',
      content: 'A,B\r\n1,2\r\n',
    });
    await em1.control.advanceClock(500);
    expect(await summary(em1, token1, id)).toBe('Executing');
    const callsBefore = await em1.control.calls();
    const clockBefore = (await em1.control.clock()).now;
    await stop(em1);

    const saved = JSON.parse(readFileSync(file, 'utf8')) as { version: number };
    expect(saved.version).toBe(STATE_FILE_VERSION);
    // The format's schema keeps every field the engine writes (nothing is silently dropped on load).
    expect(StateFileSchema.parse(saved)).toEqual(saved);

    const em2 = await start(file);
    expect(em2.state).toEqual({ file, restored: true });
    // The data project as ImportFromPackage (overwrite) redefined it is kept too.
    expect((await em2.control.projects()).find((p) => p.name === 'CustomerImport')).toMatchObject({
      origin: 'package',
      revision: 2,
      definedBy: 'resume-exec-1',
    });
    // A manual clock continues where it stood.
    expect((await em2.control.clock()).now).toBe(clockBefore);
    const token2 = await getToken(em2);
    expect(await summary(em2, token2, id)).toBe('Executing');
    // The order the execution processed its entities in is kept.
    expect((await em2.control.execution(id)).entityOrder).toEqual([
      { entityName: 'Customers V3', executionUnit: 1, levelInExecutionUnit: 1, sequenceInLevel: 1 },
    ]);
    expect(await em2.control.rows('Customers V3', 'USMF')).toEqual([]);
    await em2.control.advanceClock(2_000);
    expect(await summary(em2, token2, id)).toBe('Succeeded');
    expect((await em2.control.rows('Customers V3', 'USMF')).map((r) => r.CUSTOMERACCOUNT).sort()).toEqual([
      'ST-1',
      'ST-2',
    ]);
    const dequeued = await fetch(
      `${em2.baseUrl}/api/connector/dequeue/${em2.recurring.exportActivityId ?? ''}`,
      {
        headers: { authorization: `Bearer ${token2}` },
      },
    );
    expect(dequeued.status).toBe(200);
    const download = ((await dequeued.json()) as { DownloadLocation: string }).DownloadLocation;
    const exported = await fetch(download, { headers: { authorization: `Bearer ${token2}` } });
    expect(await exported.text()).toBe('A,B\r\n1,2\r\n');

    // The id stays used, the call log continues, the write url registration survived.
    const reused = await action(
      em2,
      'ImportFromPackage',
      {
        packageUrl: laterUrl,
        definitionGroupId: 'CustomerImport',
        executionId: id,
        execute: true,
        overwrite: true,
        legalEntityId: 'USMF',
      },
      token2,
    );
    expect(reused.status).toBe(400);
    expect(reused.text).toContain('already in use');
    const calls = await em2.control.calls();
    expect(calls.slice(0, callsBefore.length)).toEqual(callsBefore);
    expect(Math.min(...calls.slice(callsBefore.length).map((c) => c.id))).toBeGreaterThan(
      Math.max(...callsBefore.map((c) => c.id)),
    );
    await em2.control.advanceClock(36 * 60_000);
    const token3 = await getToken(em2);
    const expired = await importFrom(em2, token3, laterUrl);
    expect(expired.status).toBe(400);
    expect(expired.text).toContain('package url has expired');
    // The recurring message enqueued before the stop was picked up and imported after it.
    expect(valueOf(await action(em2, 'GetMessageStatus', { messageId }, token3))).toBe('Processed');
    expect((await em2.control.rows('Customers V3', 'USMF')).map((r) => r.CUSTOMERACCOUNT)).toContain('RQ-1');

    // Export after the restart returns the rows imported before it (the blob container was kept).
    const exportId = valueOf(
      await action(
        em2,
        'ExportToPackage',
        {
          definitionGroupId: 'CustomerExport',
          packageName: 'p',
          executionId: '',
          reExecute: false,
          legalEntityId: 'USMF',
        },
        token3,
      ),
    ) as string;
    await em2.control.advanceClock(2_000);
    const url = valueOf(await action(em2, 'GetExportedPackageUrl', { executionId: exportId }, token3));
    expect(typeof url === 'string' && url.startsWith('http')).toBe(true);
  });

  it('a real clock continues across the stop: an execution due meanwhile is final at once', async () => {
    const file = join(tmp, 'real', 'state.json');
    const em1 = await startTestEmulator({
      stateFile: file,
      clock: { mode: 'real' },
      executionDurationMs: 60_000,
    });
    started.push(em1);
    const token1 = await getToken(em1);
    const id = await importPackage(em1, token1, await customersPackage(CSV));
    await stop(em1);
    // Pretend the process stopped two minutes ago: the execution's end passed while it was down.
    const saved = JSON.parse(readFileSync(file, 'utf8')) as { clock: { now: number; savedAt: number } };
    saved.clock.savedAt -= 120_000;
    writeFileSync(file, JSON.stringify(saved));

    const em2 = await startTestEmulator({ stateFile: file, clock: { mode: 'real' } });
    started.push(em2);
    const token2 = await getToken(em2);
    expect(await summary(em2, token2, id)).toBe('Succeeded');
    expect(await em2.control.rows('Customers V3', 'USMF')).toHaveLength(2);
  });

  it("without a storage connection string, the emulator's own Azurite keeps its data next to the state file", async () => {
    const file = join(tmp, 'own-azurite', 'state.json');
    const em1 = await startTestEmulator({ stateFile: file, storageConnectionString: undefined });
    started.push(em1);
    await em1.control.seedExportMessage({
      activityId: em1.recurring.exportActivityId ?? '',
      fileName: 'kept.csv',
      content: 'K\r\n1\r\n',
    });
    await stop(em1);
    expect(existsSync(`${file}.azurite`)).toBe(true);
    const em2 = await startTestEmulator({ stateFile: file, storageConnectionString: undefined });
    started.push(em2);
    const token = await getToken(em2);
    const dequeued = await fetch(
      `${em2.baseUrl}/api/connector/dequeue/${em2.recurring.exportActivityId ?? ''}`,
      {
        headers: { authorization: `Bearer ${token}` },
      },
    );
    const download = ((await dequeued.json()) as { DownloadLocation: string }).DownloadLocation;
    const content = await fetch(download, { headers: { authorization: `Bearer ${token}` } });
    expect(await content.text()).toBe('K\r\n1\r\n');
  });

  it('saves shortly after a change, without a stop', async () => {
    const file = join(tmp, 'debounce', 'state.json');
    const em = await start(file);
    const token = await getToken(em);
    const id = await importPackage(em, token, await customersPackage(CSV), 'debounce-exec-1');
    await waitFor(() => existsSync(file) && readFileSync(file, 'utf8').includes(id), 'the state file');
  });

  it.each([
    ['not JSON', '{"version":1, "engine": '],
    ['another version', JSON.stringify({ version: 99, engine: {} })],
    ['not the format', JSON.stringify({ version: STATE_FILE_VERSION, engine: { executions: 'x' } })],
  ])('a state file that is %s is moved aside and reported; the emulator starts empty', async (_, content) => {
    const file = join(tmp, `corrupt-${Math.random().toString(36).slice(2)}.json`);
    writeFileSync(file, content);
    const lines: string[] = [];
    const em = await start(file, (line) => lines.push(line));
    const movedTo = em.state?.movedTo ?? '';
    expect(em.state).toMatchObject({ file, restored: false });
    expect(em.state?.problem).toBeTruthy();
    expect(movedTo).toMatch(/\.unreadable-/);
    expect(readFileSync(movedTo, 'utf8')).toBe(content);
    expect(lines.some((l) => l.includes(file) && l.includes(movedTo))).toBe(true);
    expect(await em.control.executions()).toEqual([]);
    const token = await getToken(em);
    expect((await action(em, 'GetAzureWriteUrl', { uniqueFileName: 'x.zip' }, token)).status).toBe(200);
    await stop(em);
    expect((JSON.parse(readFileSync(file, 'utf8')) as { version: number }).version).toBe(STATE_FILE_VERSION);
  });
});

describe('EmulatorClock resume', () => {
  it('a manual clock continues at the saved time', () => {
    const clock = new EmulatorClock({ mode: 'manual' }, { now: 1_000_000, savedAt: Date.now() - 60_000 });
    expect(clock.now()).toBe(1_000_000);
  });

  it('a real clock counts the time the process was stopped, times its speed', () => {
    const clock = new EmulatorClock(
      { mode: 'real', speed: 2 },
      { now: 1_000_000, savedAt: Date.now() - 10_000 },
    );
    const now = clock.now();
    expect(now).toBeGreaterThanOrEqual(1_020_000);
    expect(now).toBeLessThan(1_021_000);
  });
});
