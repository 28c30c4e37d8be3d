/** The local host as the durable tests run it: a virtual clock, a data dir of its own. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { createVirtualClock, startHost, type RunningHost, type VirtualClock } from '../../devhost/index.js';

/**
 * One host per test file for the app at `appRoot` (HTTP and durable only, no triggers), on a
 * virtual clock that jumps to the next durable timer when the host is idle: started before the
 * file's tests, stopped (and its data dir removed) after them. `ready` receives host and clock.
 */
export function useTestHost(
  options: { appRoot: string; start: Date | number },
  ready: (host: RunningHost, clock: VirtualClock) => void,
): void {
  let dataDir: string | undefined;
  let host: RunningHost | undefined;
  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'dmf-host-'));
    const clock = createVirtualClock({ start: options.start, autoAdvance: true });
    host = await startHost({
      appRoot: options.appRoot,
      dataDir,
      clock,
      logger: () => {},
      startTriggers: false,
    });
    ready(host, clock);
  });
  afterAll(async () => {
    await host?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });
}
