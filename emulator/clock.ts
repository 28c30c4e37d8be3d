/**
 * The emulator clock: how emulator time runs (real time × speed, by hand, or another process's
 * clock), and the ISO form every record shows it in. Executions, queues, tokens and faults all
 * read time from here.
 */

/** How the emulator clock runs (see {@link EmulatorClock}). */
export type EmulatorClockOptions =
  | { mode: 'real'; speed?: number }
  | { mode: 'manual' }
  | {
      mode: 'external';
      /** Epoch ms of the shared time source (e.g. a local host's clock). */
      now: () => number;
    };

/** The emulator clock: real time times a speed factor, advanced by hand, or another clock's time. */
export class EmulatorClock {
  /**
   * `real`: wall clock × speed; `manual`: moves only with advance(); `external`: reads a time source
   * shared with a host, so durable timers and executions run in lock step (benchmarks).
   */
  readonly mode: 'real' | 'manual' | 'external';
  /** Speed factor of the real clock (0 for manual). */
  readonly speed: number;
  private readonly realStart = Date.now();
  private readonly emulatorStart: number;
  private offset = 0;
  private readonly external: (() => number) | undefined;

  /**
   * `resume`: the emulator time saved by an earlier process (`now`) and the wall-clock time it was
   * saved at (`savedAt`, epoch ms). A manual clock continues at `now`; a real clock continues as if
   * it had kept running while the process was stopped (`now` + elapsed wall time × speed), so
   * executions finish when they would have, or at once if that time has passed.
   */
  constructor(options: EmulatorClockOptions = { mode: 'real' }, resume?: { now: number; savedAt: number }) {
    this.mode = options.mode;
    this.external = options.mode === 'external' ? options.now : undefined;
    this.speed = options.mode === 'real' ? (options.speed ?? 1) : 0;
    this.emulatorStart = resume
      ? resume.now + Math.max(0, this.realStart - resume.savedAt) * this.speed
      : this.realStart;
  }

  /** Emulator time in epoch ms. */
  now(): number {
    if (this.external) return this.external();
    return this.emulatorStart + (Date.now() - this.realStart) * this.speed + this.offset;
  }

  /** Moves emulator time forward (not for an external clock: its owner moves it). */
  advance(ms: number): void {
    if (this.external)
      throw new Error('the emulator clock follows an external time source; advance that one');
    this.offset += ms;
  }
}

/** Emulator time (epoch ms) as the ISO text records and answers show. */
export function iso(ms: number): string {
  return new Date(ms).toISOString();
}
