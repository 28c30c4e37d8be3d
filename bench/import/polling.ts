/**
 * Polling benchmark (injected clock, no waiting): status calls and detection lag — the time from
 * F&O finishing to the orchestration knowing — for 1-minute, 10-minute and 1-hour imports, with the
 * app's schedule (`nextPollDelayMs`, default settings, first run and with 3 similar earlier runs)
 * against fixed 5 s and 60 s polling. Run: `npx tsx bench/import/polling.ts`.
 *
 * The simulation is the orchestrator's loop: wait `delay`, poll, stop at the first poll at or after
 * the execution's end. "Not found"/NotRun answers cost polls like any other.
 */
import { DEFAULT_POLLING, nextPollDelayMs } from '../../src/shared/polling/schedule.js';

/** One simulated execution. */
interface Outcome {
  calls: number;
  lagMs: number;
}

function simulate(durationMs: number, delay: (elapsedMs: number, polls: number) => number): Outcome {
  let elapsed = 0;
  let polls = 0;
  for (;;) {
    elapsed += delay(elapsed, polls);
    polls++;
    if (elapsed >= durationMs) return { calls: polls, lagMs: elapsed - durationMs };
  }
}

/** Each import length is run at 41 actual durations spread over ±10 % (F&O is never exact). */
const SPREAD = Array.from({ length: 41 }, (_, i) => 0.9 + i * 0.005);

function average(
  nominal: number,
  delay: (e: number, p: number) => number,
): { calls: number; lagPct: number; maxLagPct: number } {
  const runs = SPREAD.map((f) => {
    const d = nominal * f;
    const o = simulate(d, delay);
    return { calls: o.calls, lagPct: (o.lagMs / d) * 100 };
  });
  return {
    calls: runs.reduce((a, r) => a + r.calls, 0) / runs.length,
    lagPct: runs.reduce((a, r) => a + r.lagPct, 0) / runs.length,
    maxLagPct: Math.max(...runs.map((r) => r.lagPct)),
  };
}

const durations: [string, number][] = [
  ['1 min', 60_000],
  ['10 min', 600_000],
  ['1 h', 3_600_000],
];
const app = (history?: number[]) => (e: number, p: number) =>
  nextPollDelayMs({
    elapsedMs: e,
    pollsSoFar: p,
    settings: DEFAULT_POLLING,
    ...(history ? { history } : {}),
  });
const rows: string[][] = [['import', 'strategy', 'status calls (mean)', 'lag % (mean)', 'lag % (max)']];
const summary = new Map<string, { calls: number; lagPct: number; maxLagPct: number }>();
for (const [label, duration] of durations) {
  const history = [duration * 0.97, duration * 1.02, duration];
  const strategies: [string, (e: number, p: number) => number][] = [
    ['fixed 5 s', () => 5_000],
    ['fixed 60 s', () => 60_000],
    ['app, first run', app()],
    ['app, 3 similar earlier runs', app(history)],
  ];
  for (const [name, delay] of strategies) {
    const r = average(duration, delay);
    summary.set(`${label}/${name}`, r);
    rows.push([label, name, r.calls.toFixed(1), r.lagPct.toFixed(1), r.maxLagPct.toFixed(1)]);
  }
}
const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
for (const row of rows) console.log(row.map((c, i) => c.padEnd(widths[i]!)).join('  '));

const first = summary.get('1 h/app, first run')!;
const learned = summary.get('1 h/app, 3 similar earlier runs')!;
const verdict = (ok: boolean): string => (ok ? 'MET' : 'MISSED');
console.log(
  `\n1-hour import, first run: ${first.calls.toFixed(1)} calls (goal ≤ 40), lag max ${first.maxLagPct.toFixed(1)} % (goal ≤ 10 %): ${verdict(first.calls <= 40 && first.maxLagPct <= 10)}`,
);
console.log(
  `1-hour import, 3 similar earlier runs: ${learned.calls.toFixed(1)} calls (goal ≤ 12), lag max ${learned.maxLagPct.toFixed(1)} % (goal ≤ 5 %): ${verdict(learned.calls <= 12 && learned.maxLagPct <= 5)}`,
);
