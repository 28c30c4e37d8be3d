/**
 * Injected faults and the call log: the faults a test or the control API set (which route, how
 * often, until when; each use counted) and the record of every call the emulator answered (route,
 * status, fault applied, emulator-clock and wall-clock timing), newest last.
 */
import { iso, type EmulatorClock } from './clock.js';
import { FaultSpecSchema, type ActiveFault, type FaultSpec } from './options.js';

/** A call the emulator answered. */
export interface CallRecord {
  id: number;
  environment: string;
  route: string;
  method: string;
  path: string;
  status: number;
  executionId?: string;
  messageId?: string;
  fault?: string;
  /** Emulator-clock times. */
  startedAt: string;
  endedAt: string;
  /** Wall-clock duration of the call in ms (shows injected latency). */
  durationMs: number;
}

/** The active faults with their counters. */
export class Faults {
  /** Active faults, in the order they were added (the first match wins). */
  active: ActiveFault[] = [];
  private seq = 0;

  constructor(private readonly clock: EmulatorClock) {}

  /** Adds a fault; returns it with its id. */
  add(spec: FaultSpec): ActiveFault {
    const parsed = FaultSpecSchema.parse(spec);
    const fault: ActiveFault = {
      ...parsed,
      id: `fault-${++this.seq}`,
      hits: 0,
      remaining: parsed.times ?? null,
      // Throttling lasts a span of emulator time from now, so a manual or shared clock ends it.
      ...(parsed.kind === 'throttle' ? { until: iso(this.clock.now() + parsed.forMs) } : {}),
    };
    this.active.push(fault);
    return fault;
  }

  /** Removes all faults (counters included). */
  clear(): void {
    this.active = [];
  }

  /** Takes (consumes one use of) the first fault of `kinds` matching the route. */
  take<K extends ActiveFault['kind']>(
    environment: string,
    route: string,
    kinds: readonly K[],
  ): Extract<ActiveFault, { kind: K }> | undefined {
    const now = this.clock.now();
    const fault = this.active.find(
      (f) =>
        (kinds as readonly string[]).includes(f.kind) &&
        (f.route === route ||
          (f.route === '*' && (f.kind !== 'throttle' || !f.actions || f.actions.includes(route)))) &&
        (f.environment === undefined || f.environment === environment) &&
        (f.remaining === null || f.remaining > 0) &&
        (f.until === undefined || Date.parse(f.until) > now),
    );
    if (!fault) return undefined;
    fault.hits++;
    if (fault.remaining !== null) fault.remaining--;
    return fault as Extract<ActiveFault, { kind: K }>;
  }
}

/** The call log (newest last, at most 10 000 records). */
export class CallLog {
  /** The records, oldest first. */
  readonly records: CallRecord[] = [];
  /** Id of the last record (kept across {@link clear}, so ids never repeat). */
  seq = 0;
  private readonly starts = new WeakMap<CallRecord, number>();

  constructor(private readonly clock: EmulatorClock) {}

  /** Starts a call record. */
  start(environment: string, route: string, method: string, path: string): CallRecord {
    const now = iso(this.clock.now());
    const record: CallRecord = {
      id: ++this.seq,
      environment,
      route,
      method,
      path,
      status: 0,
      startedAt: now,
      endedAt: now,
      durationMs: 0,
    };
    this.starts.set(record, Date.now());
    this.records.push(record);
    if (this.records.length > 10_000) this.records.splice(0, this.records.length - 10_000);
    return record;
  }

  /** Completes a call record. */
  end(record: CallRecord, status: number): void {
    record.status = status;
    record.endedAt = iso(this.clock.now());
    record.durationMs = Date.now() - (this.starts.get(record) ?? Date.now());
    this.starts.delete(record);
  }

  /** Puts saved records back (at start): the id counter continues after the highest. */
  restore(records: readonly CallRecord[], seq: number): void {
    this.records.push(...records);
    this.seq = Math.max(seq, ...records.map((c) => c.id));
  }

  /** Forgets the records (not the id counter). */
  clear(): void {
    this.records.length = 0;
  }
}
