/** Small helpers of the benchmarks' figures: rounding, medians, the machine's load around a run. */
import { cpus, loadavg } from 'node:os';

/** `n` rounded to one decimal. */
export function round1(n: number): number {
  return Math.round(n * 10) / 10;
}

/** The median of `values` (the mean of the middle two for an even count). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * Notes the load averages now; `report()` gives the core count and the load averages (1, 5, 15
 * minutes) at the start and now — the machine is shared, so every figure is printed with them.
 */
export function machineLoad(): { report(): { cpus: number; loadBefore: number[]; loadAfter: number[] } } {
  const before = loadavg().map(round1);
  return { report: () => ({ cpus: cpus().length, loadBefore: before, loadAfter: loadavg().map(round1) }) };
}
