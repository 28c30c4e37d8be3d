/** Small helpers of the benchmarks' figures: rounding, medians, the machine's load around a run. */
import { cpus, loadavg } from 'node:os';

/** `n` rounded to one decimal. */
export function round1(n: number): number {
  return Math.round(n * 10) / 10;
}

/** The app's median (src/shared/util.ts), for the benches' figures. */
export { median } from '../../src/shared/util.js';

/**
 * Notes the load averages now; `report()` gives the core count and the load averages (1, 5, 15
 * minutes) at the start and now — the machine is shared, so every figure is printed with them.
 */
export function machineLoad(): { report(): { cpus: number; loadBefore: number[]; loadAfter: number[] } } {
  const before = loadavg().map(round1);
  return { report: () => ({ cpus: cpus().length, loadBefore: before, loadAfter: loadavg().map(round1) }) };
}
