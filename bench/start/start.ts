/**
 * `npm start` benchmark (not run in CI): seconds from `npm start` to the `READY` line on a warm
 * clone (node_modules installed, `dist/` built by an earlier start), in a fresh process each time,
 * on a free port and a data folder of its own (the durable state, Azurite's data and the emulator's
 * certificates are created or reused as by a user's second start). Cases, alternating in order,
 * each repeated `BENCH_REPEATS` times (default 3):
 *
 * - **current**: nothing changed since the last build (the build step is skipped);
 * - **one file touched**: `src/shared/util.ts` touched first (an incremental `tsc`);
 * - **limit**: the same start without the build step (`tsx devhost/start.ts`), the floor for any
 *   build step.
 *
 * Goal (issue 17): ≤ 15 s on a warm clone. Run: `npx tsx bench/start/start.ts`.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, utimesSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { machineLoad, median, round1 } from '../support/figures.js';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const repeats = Number(process.env.BENCH_REPEATS ?? 3);

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Seconds from spawning `command` to its READY line; then stops it (SIGINT to its process group). */
async function timeToReady(command: string[], dataDir: string): Promise<number> {
  const port = await freePort();
  const started = performance.now();
  const child = spawn(command[0]!, command.slice(1), {
    cwd: ROOT,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, DEVHOST_PORT: String(port), DMF_START_DATA_DIR: dataDir },
  });
  let out = '';
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const seconds = await new Promise<number>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (/^READY$/m.test(out)) resolve((performance.now() - started) / 1000);
    });
    child.on('exit', (code) => reject(new Error(`exited with ${String(code)} before READY:\n${err}`)));
  });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  process.kill(-child.pid!, 'SIGINT');
  const killer = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), 20_000);
  await exited;
  clearTimeout(killer);
  return seconds;
}

async function main(): Promise<void> {
  const load = machineLoad();
  const dataDir = mkdtempSync(join(tmpdir(), 'dmf-bench-start-'));
  const npm = ['npm', 'start'];
  const noBuild = [join(ROOT, 'node_modules', '.bin', 'tsx'), 'devhost/start.ts'];
  try {
    // the first start of this data folder creates it: not measured; it also builds dist/ if needed
    console.error(`warm-up start: ${round1(await timeToReady(npm, dataDir))} s`);
    const cases = {
      current: () => timeToReady(npm, dataDir),
      'one file touched': async () => {
        const now = Date.now() / 1000;
        utimesSync(join(ROOT, 'src', 'shared', 'util.ts'), now, now);
        return timeToReady(npm, dataDir);
      },
      'limit (no build step)': () => timeToReady(noBuild, dataDir),
    };
    const runs: Record<string, number[]> = {};
    const names = Object.keys(cases) as (keyof typeof cases)[];
    for (let rep = 0; rep < repeats; rep++) {
      for (const name of rep % 2 === 0 ? names : [...names].reverse()) {
        const seconds = await cases[name]();
        (runs[name] ??= []).push(round1(seconds));
        console.error(`repeat ${rep + 1} ${name}: ${round1(seconds)} s`);
      }
    }
    const current = median(runs.current!);
    console.log(
      JSON.stringify(
        {
          machine: load.report(),
          secondsToReady: Object.fromEntries(
            names.map((n) => [n, { runs: runs[n], median: median(runs[n]!) }]),
          ),
          goal: `warm clone ≤ 15 s: ${current} s (median) ${current <= 15 ? 'MET' : 'NOT MET'}`,
        },
        null,
        2,
      ),
    );
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
