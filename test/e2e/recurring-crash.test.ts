import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';
import { DEFAULT_EXPORT_ACTIVITY_ID } from '@dmf-functions/emulator';
import { STORE_CONCURRENCY } from '../../src/activities/recurring/drain.js';
import {
  CHILD_PROCESS_HOST,
  eventually,
  EVERY_SECOND_DRAIN,
  list,
  recurringConfig,
  useImportStack,
  latencyFault,
} from './helpers.js';

// The host runs in a child process (real clock): SIGKILL mid-drain, restart on the same data dir.
const activityId = DEFAULT_EXPORT_ACTIVITY_ID;
const s = useImportStack({
  ...CHILD_PROCESS_HOST,
  dmfConfig: recurringConfig({ id: activityId, ...EVERY_SECOND_DRAIN }),
  emulator: { visibilityTimeoutMs: 1_500 },
});

async function crashAndRestart(): Promise<void> {
  const pid = Number(readFileSync(join(s.dataDir, 'devhost', 'devhost.lock'), 'utf8').trim());
  process.kill(pid, 'SIGKILL');
  await s.stack.childHost!.kill();
  await eventually(() => {
    try {
      process.kill(pid, 0);
      return undefined;
    } catch {
      return true;
    }
  });
  await s.stack.restartHost();
}

async function acked(ids: string[]): Promise<number> {
  const queues = await s.stack.emulator.control.queues();
  return queues.filter((q) => ids.includes(q.messageId.toLowerCase()) && q.status === 'Acked').length;
}

describe('recurring export drain survives a killed host', () => {
  it('SIGKILL mid-drain: after restart every message is stored once and acked, none lost', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 30; i++) {
      const { messageId } = await s.stack.emulator.control.seedExportMessage({
        activityId,
        fileName: `kill-${i}.csv`,
        content: `A,B\r\nKILL-${i},x\r\n`,
      });
      ids.push(messageId.toLowerCase());
    }
    // slow downloads widen the window in which the kill lands mid-message
    await s.stack.emulator.control.setFault(latencyFault('download', 500));
    await s.api('/admin/functions/recurringExportTimer', { method: 'POST', body: '{}' });
    // acks go in batches once a round of stores settled: the kill lands once files are being stored
    const stored = async (): Promise<number> =>
      (await list(s.containers.outbound, `local/recurring/${activityId}/`)).length;
    await eventually(async () => ((await stored()) >= 5 ? true : undefined), 60_000);
    expect(await acked(ids)).toBeLessThan(ids.length); // the kill lands mid-drain
    await crashAndRestart();
    await s.stack.emulator.control.clearFaults();
    await eventually(async () => {
      if ((await acked(ids)) === ids.length) return true;
      await s
        .api('/admin/functions/recurringExportTimer', { method: 'POST', body: '{}' })
        .catch(() => undefined);
      await new Promise((r) => setTimeout(r, 500));
      return undefined;
    }, 90_000);
    const blobs = await list(s.containers.outbound, `local/recurring/${activityId}/`);
    expect(blobs.sort()).toEqual(ids.map((id) => `local/recurring/${activityId}/${id}`).sort());
    const downloads = (await s.stack.emulator.control.calls()).filter(
      (c) => c.route === 'download' && c.status === 200 && ids.includes((c.messageId ?? '').toLowerCase()),
    );
    // only downloads in flight at the kill (at most STORE_CONCURRENCY) are made again
    expect(downloads.length).toBeLessThanOrEqual(ids.length + STORE_CONCURRENCY);
  }, 180_000);
});
