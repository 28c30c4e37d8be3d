/**
 * `dmf drop` and `dmf send` end to end (issue 16): the built CLI as a child process writes to the
 * stack's storage and queue like any producer; with `--wait` it names the job the app's trigger
 * starts (the id it derives is the app's), follows it, and stops with the app's reason when the app
 * refused the input.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProcessRun } from '../support/process.js';
import { CLI_CUSTOMERS, CLI_WAIT, customersPackage, runCli, useCliStack } from './helpers.js';

const s = useCliStack();
let dir: string;

/** Runs the CLI with the stack's url, key, connection strings and container names, nothing recorded. */
function dmf(args: string[]): Promise<ProcessRun> {
  return runCli(s, args, {
    cwd: dir,
    env: {
      DMF_START_DATA_DIR: join(dir, 'no-npm-start'),
      STORAGE_CONNECTION_STRING: s.stack.storageConnectionString,
      SERVICEBUS_CONNECTION_STRING: s.stack.serviceBusConnectionString,
      DMF_INBOUND_CONTAINER: s.names.inbound,
      DMF_RESULTS_CONTAINER: s.names.results,
    },
  });
}

/** `dmf send` of `command` (under `messageId`, when given), waiting for the job it causes. */
function sendAndWait(command: object, messageId?: string): Promise<ProcessRun> {
  const id = messageId ? ['--message-id', messageId] : [];
  return dmf(['send', JSON.stringify(command), ...id, ...CLI_WAIT]);
}

const jobIdOf = (text: string): string | undefined => /\bJob ((?:imp|exp)-[0-9a-f]{32})\b/.exec(text)?.[1];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'dmf-drop-send-'));
  writeFileSync(join(dir, 'dropped.zip'), await customersPackage({ prefix: 'DROP', bad: true }));
  writeFileSync(join(dir, 'staged.zip'), await customersPackage({ prefix: 'SENT' }));
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('dmf drop and dmf send against the local runtime', () => {
  it('drop --wait: the blob in the inbound layout becomes the job it names, followed to its end', async () => {
    const run = await dmf(['drop', join(dir, 'dropped.zip'), ...CLI_CUSTOMERS, ...CLI_WAIT]);
    expect(run.stderr).toContain(
      `Dropped dropped.zip as ${s.names.inbound}/local/Customers/dropped.zip; job imp-`,
    );
    expect(run.stdout).toMatch(/Status:\s+PartiallySucceeded/);
    expect(run.code).toBe(2);
    const id = jobIdOf(run.stdout)!;
    // the id the CLI derived is the blob trigger's
    const job = (await (await s.api(`/api/jobs/${id}`)).json()) as { file: string; status: string };
    expect(job).toMatchObject({ file: 'dropped.zip', status: 'PartiallySucceeded' });
  });

  it('drop never replaces a blob already there', async () => {
    const args = ['drop', join(dir, 'staged.zip'), ...CLI_CUSTOMERS, '--container', s.names.staged];
    const first = await dmf(args);
    expect(first.stdout).toContain(`no trigger watches ${s.names.staged}`);
    expect(first.code).toBe(0);
    const second = await dmf(args);
    expect(second.stderr).toContain(`A blob is already at ${s.names.staged}/local/Customers/staged.zip`);
    expect(second.code).toBe(1);
  });

  it('send --wait: an import command naming the staged blob starts the job it names', async () => {
    const command = {
      type: 'import',
      environment: 'local',
      definitionGroupId: 'Customers',
      blobPath: `${s.names.staged}/local/Customers/staged.zip`,
    };
    const run = await sendAndWait(command, 'send-import-1');
    expect(run.stderr).toContain('Sent to dmf-commands: MessageId send-import-1; job imp-');
    expect(run.stdout).toMatch(/Status:\s+Succeeded/);
    expect(run.code).toBe(0);
    const job = (await (await s.api(`/api/jobs/${jobIdOf(run.stdout)!}`)).json()) as { file: string };
    expect(job.file).toBe('staged.zip');
  });

  it('send --wait: an export named by its definition group is found in the jobs list', async () => {
    // "customerexport" is no project's name: the app resolves it to the first project of that group
    const command = { type: 'export', environment: 'local', definitionGroupId: 'customerexport' };
    const run = await sendAndWait(command);
    expect(run.stdout).toMatch(/Status:\s+Succeeded/);
    expect(run.stdout).toMatch(/Project:\s+CustomerExport/);
    expect(run.code).toBe(0);
  });

  it('send --wait: a command the app rejects stops with the app’s reason', async () => {
    const command = {
      type: 'import',
      environment: 'local',
      definitionGroupId: 'NoSuchProject',
      blobPath: `${s.names.staged}/x.zip`,
    };
    const run = await sendAndWait(command, 'send-rejected-1');
    expect(run.stderr).toContain('The command send-rejected-1 was rejected (UNKNOWN_PROJECT)');
    expect(run.stderr).toContain(
      `${s.names.results}/rejected/commands/send-rejected-1/cmd-send-rejected-1.json`,
    );
    expect(run.code).toBe(1);
  });

  it('send refuses what is not JSON before sending anything', async () => {
    const run = await dmf(['send', '{"type":']);
    expect(run.stderr).toContain('The command is not JSON');
    expect(run.code).toBe(1);
  });
});
