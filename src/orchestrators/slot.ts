/**
 * The per-environment slot: at most `capacity` imports hold it (= have an ImportFromPackage
 * execution in flight); the others wait in ARRIVAL order. An import takes its place in the queue
 * when its orchestration starts (`enqueue`), prepares its package meanwhile, and then asks for the
 * slot (`acquire`, which marks it ready). Only ready imports at the head of the queue are granted,
 * so a later file never overtakes an earlier one. Pure state transitions; the durable entity
 * `importSlot` applies them. Waiters are granted by the entity itself (moved into the holders) when
 * a holder leaves; the caller notifies them with an external event.
 */

/** One queued or holding import. */
export interface SlotMember {
  instanceId: string;
  since: string;
}

/** State of one environment's slot. */
export interface SlotState {
  holders: SlotMember[];
  waiters: (SlotMember & { ready: boolean })[];
  /** Capacity given by the last `acquire` (the environment's `concurrency`). */
  capacity: number;
}

/** Answer to `acquire`. */
export interface AcquireResult {
  granted: boolean;
  /** 1-based place in the queue when not granted. */
  position: number;
  /**
   * Whom this waiter checks on its recheck (do they still run?): the holders and the one waiter
   * directly ahead. Every waiter watching its predecessor covers the whole queue with one check
   * each, where watching everyone ahead would cost n² lookups for n queued files.
   */
  watch: string[];
  /** Others granted by this call (must be notified). */
  notify: string[];
  /**
   * When granted: the waiter now first in line, if any. The caller wakes it so it rechecks at its
   * new place (every 60 s at the head) instead of on the longer interval of its old place.
   */
  next?: string;
}

/** A fresh, empty slot. */
export function emptySlot(): SlotState {
  return { holders: [], waiters: [], capacity: 1 };
}

/** Moves ready waiters at the head of the queue into free places; returns the instance ids granted. */
function grant(state: SlotState, now: string): string[] {
  const granted: string[] = [];
  while (state.holders.length < state.capacity && state.waiters[0]?.ready === true) {
    const next = state.waiters.shift()!;
    state.holders.push({ instanceId: next.instanceId, since: now });
    granted.push(next.instanceId);
  }
  return granted;
}

/**
 * Takes a place in the queue (no-op when already queued or holding), ordered by arrival time
 * `since` (when the trigger received the file; ties keep the order of the calls): the first
 * episodes of orchestrations started one after the other may run in any order.
 */
export function enqueue(state: SlotState, input: { instanceId: string; now: string; since?: string }): void {
  const known =
    state.holders.some((h) => h.instanceId === input.instanceId) ||
    state.waiters.some((w) => w.instanceId === input.instanceId);
  if (known) return;
  const since = input.since ?? input.now;
  const index = state.waiters.findIndex((w) => w.since > since);
  const member = { instanceId: input.instanceId, since, ready: false };
  if (index < 0) state.waiters.push(member);
  else state.waiters.splice(index, 0, member);
}

/**
 * Asks for the slot (and marks the caller ready). Granted when the caller holds it already, or
 * when it is at the head of the queue and there is room.
 */
export function acquire(
  state: SlotState,
  input: { instanceId: string; capacity: number; now: string },
): AcquireResult {
  state.capacity = input.capacity;
  const next = (): string | undefined => state.waiters[0]?.instanceId;
  if (state.holders.some((h) => h.instanceId === input.instanceId)) {
    return { granted: true, position: 0, watch: [], notify: [], next: next() };
  }
  const waiter = state.waiters.find((w) => w.instanceId === input.instanceId);
  if (waiter) waiter.ready = true;
  else state.waiters.push({ instanceId: input.instanceId, since: input.now, ready: true });
  const notify = grant(state, input.now).filter((id) => id !== input.instanceId);
  if (state.holders.some((h) => h.instanceId === input.instanceId)) {
    return { granted: true, position: 0, watch: [], notify, next: next() };
  }
  const index = state.waiters.findIndex((w) => w.instanceId === input.instanceId);
  return {
    granted: false,
    position: index + 1,
    watch: [
      ...state.holders.map((h) => h.instanceId),
      ...(index > 0 ? [state.waiters[index - 1]!.instanceId] : []),
    ],
    notify,
  };
}

/**
 * Removes instances from holders and waiters (release by the import itself, or eviction of ones
 * that no longer run) and grants the freed places. @returns the instance ids granted.
 */
export function remove(state: SlotState, input: { instanceIds: string[]; now: string }): string[] {
  const gone = new Set(input.instanceIds);
  state.holders = state.holders.filter((h) => !gone.has(h.instanceId));
  state.waiters = state.waiters.filter((w) => !gone.has(w.instanceId));
  return grant(state, input.now);
}
