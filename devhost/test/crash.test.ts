import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DURABLE_SYSTEM_KEY_NAME, readHostKeys } from '../index.js';

const repoRoot = resolve(import.meta.dirname, '..', '..');
const appRoot = join(import.meta.dirname, 'fixtures', 'crash-app');

interface HostProcess {
  child: ChildProcess;
  baseUrl: string;
  key: string;
}

const children: ChildProcess[] = [];

/** Starts `devhost/main.ts` as a child process and waits for READY. */
async function startHostProcess(dataDir: string, logFile: string): Promise<HostProcess> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'devhost/main.ts', '--app-root', appRoot, '--data-dir', dataDir, '--port', '0'],
    {
      cwd: repoRoot,
      env: { ...process.env, CRASH_LOG: logFile, DEVHOST_FUNCTIONS_KEY: 'crash-key' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  children.push(child);
  let out = '';
  let err = '';
  child.stderr?.on('data', (c: Buffer) => (err += c.toString()));
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`host did not get READY:\n${out}\n${err}`)), 30_000);
    child.stdout?.on('data', (c: Buffer) => {
      out += c.toString();
      if (/^READY$/m.test(out)) {
        clearTimeout(timer);
        resolvePromise({
          child,
          baseUrl: /FUNCTIONS_BASE_URL=(\S+)/.exec(out)?.[1] ?? '',
          key: /FUNCTIONS_KEY=(\S+)/.exec(out)?.[1] ?? '',
        });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`host exited with ${String(code)}:\n${out}\n${err}`));
    });
  });
}

function executions(logFile: string): string[] {
  return existsSync(logFile) ? readFileSync(logFile, 'utf8').split('\n').filter(Boolean) : [];
}

afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

describe('crash recovery', () => {
  it('continues an orchestration after SIGKILL and restart; each activity runs at least once, at most the in-flight one twice', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'devhost-crash-'));
    const logFile = join(dataDir, 'side-effects.log');
    try {
      const first = await startHostProcess(dataDir, logFile);
      expect(first.key).toBe('crash-key');
      const started = await fetch(`${first.baseUrl}/api/start/crash-1`, {
        method: 'POST',
        headers: { 'x-functions-key': first.key },
      });
      expect(started.status).toBe(202);
      await expect
        .poll(() => executions(logFile).length, { timeout: 15_000, interval: 20 })
        .toBeGreaterThanOrEqual(2);
      first.child.kill('SIGKILL');
      await new Promise((r) => first.child.once('exit', r));
      const beforeRestart = executions(logFile);
      expect(beforeRestart.length).toBeLessThan(6);

      const second = await startHostProcess(dataDir, logFile);
      // The public Durable API takes the system key, which the host keeps in its secrets file.
      const systemKey = readHostKeys(dataDir)?.systemKeys[DURABLE_SYSTEM_KEY_NAME] ?? '';
      const statusUrl = `${second.baseUrl}/runtime/webhooks/durabletask/instances/crash-1?code=${systemKey}`;
      await expect
        .poll(
          async () =>
            (
              (await (await fetch(statusUrl)).json()) as {
                runtimeStatus: string;
              }
            ).runtimeStatus,
          {
            timeout: 20_000,
            interval: 100,
          },
        )
        .toBe('Completed');
      const status = (await (await fetch(statusUrl)).json()) as {
        output: number[];
      };
      expect(status.output).toEqual([0, 10, 20, 30, 40, 50]);
      const runs = executions(logFile);
      const counts = new Map<string, number>();
      for (const r of runs) counts.set(r, (counts.get(r) ?? 0) + 1);
      expect([...counts.keys()].sort()).toEqual([
        'crash-1:0',
        'crash-1:1',
        'crash-1:2',
        'crash-1:3',
        'crash-1:4',
        'crash-1:5',
      ]);
      // Only an activity in flight at the kill may run a second time.
      expect([...counts.values()].filter((n) => n > 1).length).toBeLessThanOrEqual(1);
      expect(Math.max(...counts.values())).toBeLessThanOrEqual(2);
      second.child.kill('SIGTERM');
      await new Promise((r) => second.child.once('exit', r));
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('resumes every orchestration after a SIGKILL in the middle of a burst of journal writes', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'devhost-crash-'));
    const logFile = join(dataDir, 'side-effects.log');
    const journals = (): number => {
      const dir = join(dataDir, 'durable', 'CrashHub', 'instances');
      return existsSync(dir) ? readdirSync(dir).filter((n) => n.endsWith('.jsonl')).length : 0;
    };
    try {
      const first = await startHostProcess(dataDir, logFile);
      // Not awaited: the host dies while it answers.
      const burst = fetch(`${first.baseUrl}/api/burst/300`, {
        method: 'POST',
        headers: { 'x-functions-key': first.key },
      }).catch(() => undefined);
      // Killed while instances are being started, run and finished: appends and snapshots in flight.
      await expect.poll(journals, { timeout: 30_000, interval: 5 }).toBeGreaterThanOrEqual(150);
      first.child.kill('SIGKILL');
      await new Promise((r) => first.child.once('exit', r));
      await burst;
      // Instances whose first line (the snapshot) was complete may have been acknowledged: all of
      // them must finish. A file the kill left empty or torn in its first line was not.
      const dir = join(dataDir, 'durable', 'CrashHub', 'instances');
      const written = readdirSync(dir)
        .filter((n) => n.endsWith('.jsonl') && readFileSync(join(dir, n), 'utf8').includes('\n'))
        .map((n) => n.slice(0, -'.jsonl'.length))
        .sort();
      expect(written.length).toBeGreaterThanOrEqual(100);

      const second = await startHostProcess(dataDir, logFile);
      const systemKey = readHostKeys(dataDir)?.systemKeys[DURABLE_SYSTEM_KEY_NAME] ?? '';
      const list = async (): Promise<{ instanceId: string; runtimeStatus: string; output: unknown }[]> =>
        (await (
          await fetch(`${second.baseUrl}/runtime/webhooks/durabletask/instances?code=${systemKey}`)
        ).json()) as { instanceId: string; runtimeStatus: string; output: unknown }[];
      // Every instance the store acknowledged finishes, with its full result.
      await expect
        .poll(async () => (await list()).filter((s) => s.runtimeStatus !== 'Completed').length, {
          timeout: 60_000,
          interval: 200,
        })
        .toBe(0);
      const finished = await list();
      expect(finished.map((s) => s.instanceId).sort()).toEqual(expect.arrayContaining(written));
      expect(finished.every((s) => s.output === 21)).toBe(true);
      second.child.kill('SIGTERM');
      await new Promise((r) => second.child.once('exit', r));
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
