/**
 * The journal format of one orchestration instance: JSON lines, each ended by a newline. The first
 * line is a snapshot of the whole state (`{"snapshot": …}`); each later line is a delta
 * (`{"delta": …}`) holding only what changed since the line before: the history events appended,
 * the inbox events dropped from its front and added at its end, the leaf actions and task ids
 * appended, the outstanding tasks set or removed, and the other fields that changed.
 *
 * {@link nextRecord} compares a state with what its journal already holds (a {@link JournalShadow}
 * kept in memory for instances this process writes) and returns either a delta line to append or a
 * full snapshot that replaces the file (first write, a new execution, a terminal status, or a
 * journal grown much larger than its state). It relies on the engine's own rule for the state's
 * arrays: appended to, or replaced by a new array, never edited in place. {@link readJournal} rebuilds the state; a line
 * without its newline, one that does not parse, or a delta that does not fit (its history length
 * differs) ends the journal there: everything from it on was never acknowledged.
 */
import type { HistoryEvent, InstanceState, TaskRecord } from './state.js';

/** What changed in an instance since the journal's previous line. */
export interface InstanceDelta {
  /** The history's length before `history` was appended (a check when reading). */
  at: number;
  history?: HistoryEvent[];
  /** Events that left the front of the inbox (consumed by an episode). */
  inboxDropped?: number;
  /** Events added at the end of the inbox. */
  inboxAdded?: HistoryEvent[];
  /** Leaf action signatures appended. */
  leaves?: string[];
  /** Leaf task ids appended. */
  leafTaskIds?: (number | null)[];
  /** Outstanding tasks added or replaced, by id. */
  tasksSet?: Record<string, TaskRecord>;
  /** Outstanding tasks removed. */
  tasksDeleted?: string[];
  /** Other fields with their new values (arrays replaced rather than appended come here too). */
  set?: Partial<Record<keyof InstanceState, unknown>>;
  /** Fields that became undefined. */
  unset?: (keyof InstanceState)[];
}

/** One line of a journal. */
export type JournalLine = { snapshot: InstanceState } | { delta: InstanceDelta };

/** What an instance's journal holds, as far as the next delta needs to know (refs, not copies). */
export interface JournalShadow {
  history: HistoryEvent[];
  historyLength: number;
  inbox: HistoryEvent[];
  leaves: string[];
  leavesLength: number;
  leafTaskIds: (number | null)[] | undefined;
  leafTaskIdsLength: number;
  tasks: Map<string, TaskRecord>;
  /** The other fields as written (values or refs); customStatus as its JSON text. */
  fields: Map<keyof InstanceState, unknown>;
  /** Bytes of the last snapshot line, and of the whole journal. */
  snapshotBytes: number;
  fileBytes: number;
}

/**
 * What the journal writer does with a state: `first` starts a journal this process has not written
 * yet (a new file, or an atomic replace of an existing one, which drops whatever a killed process
 * left at its end); `append` adds a line (a delta, or a snapshot that starts over: a new execution,
 * a terminal status); `compact` replaces a journal grown much larger than its state by one snapshot.
 * No shadow after the record: nothing more is appended (terminal).
 */
export type JournalRecord =
  | { kind: 'first' | 'append' | 'compact'; text: string; shadow: JournalShadow | undefined }
  | { kind: 'unchanged' };

/** Fields compared by value (or by reference for objects) and written whole in `set` when changed. */
const PLAIN_FIELDS = [
  'instanceId',
  'name',
  'input',
  'runtimeStatus',
  'createdTime',
  'lastUpdatedTime',
  'output',
  'parent',
  'nextSeq',
] as const satisfies readonly (keyof InstanceState)[];

/** Every field the delta knows; a state with another field is always written as a snapshot. */
const KNOWN_FIELDS = new Set<string>([
  ...PLAIN_FIELDS,
  'customStatus',
  'history',
  'inbox',
  'leaves',
  'leafTaskIds',
  'tasks',
]);

/** A journal is compacted (rewritten as one snapshot) once it outgrows its state this much… */
const COMPACT_FACTOR = 4;
/** …and is at least this large (small journals are cheap to read). */
const COMPACT_MIN_BYTES = 256 * 1024;

const TERMINAL_STATUSES: ReadonlySet<string> = new Set(['Completed', 'Failed', 'Terminated']);

function shadowOf(state: InstanceState, snapshotBytes: number, fileBytes: number): JournalShadow {
  const fields = new Map<keyof InstanceState, unknown>();
  for (const key of PLAIN_FIELDS) fields.set(key, state[key]);
  fields.set('customStatus', JSON.stringify(state.customStatus));
  return {
    history: state.history,
    historyLength: state.history.length,
    inbox: [...state.inbox],
    leaves: state.leaves,
    leavesLength: state.leaves.length,
    leafTaskIds: state.leafTaskIds,
    leafTaskIdsLength: state.leafTaskIds?.length ?? 0,
    tasks: new Map(Object.entries(state.tasks)),
    fields,
    snapshotBytes,
    fileBytes,
  };
}

/** The snapshot line of a state (what a journal starts with). */
export function snapshotLine(state: InstanceState): string {
  return `${JSON.stringify({ snapshot: state } satisfies JournalLine)}\n`;
}

/**
 * The record that brings a journal holding `shadow` to `state`. Terminal states are written as a
 * snapshot and keep no shadow (nothing is appended to a finished instance's journal).
 */
export function nextRecord(state: InstanceState, shadow: JournalShadow | undefined): JournalRecord {
  const snapshot = (kind: 'first' | 'append' | 'compact'): JournalRecord => {
    const text = snapshotLine(state);
    const terminal = TERMINAL_STATUSES.has(state.runtimeStatus);
    const fileBytes = (kind === 'append' ? (shadow?.fileBytes ?? 0) : 0) + text.length;
    return { kind, text, shadow: terminal ? undefined : shadowOf(state, text.length, fileBytes) };
  };
  if (!shadow) return snapshot('first');
  if (shadow.fileBytes > Math.max(COMPACT_MIN_BYTES, COMPACT_FACTOR * shadow.snapshotBytes)) {
    return snapshot('compact');
  }
  if (
    TERMINAL_STATUSES.has(state.runtimeStatus) ||
    state.history !== shadow.history ||
    state.history.length < shadow.historyLength
  ) {
    return snapshot('append');
  }
  for (const key in state) if (!KNOWN_FIELDS.has(key)) return snapshot('append');

  const delta: InstanceDelta = { at: shadow.historyLength };
  let changed = false;
  const set = (key: keyof InstanceState, value: unknown): void => {
    if (value === undefined) (delta.unset ??= []).push(key);
    else (delta.set ??= {})[key] = value;
    changed = true;
  };

  if (state.history.length > shadow.historyLength) {
    delta.history = state.history.slice(shadow.historyLength);
    changed = true;
  }

  // The inbox only loses events at its front (an episode consumes a prefix) and gains them at its end.
  const inbox = state.inbox;
  const old = shadow.inbox;
  let kept = 0;
  const firstKept = inbox.length > 0 ? old.indexOf(inbox[0] as HistoryEvent) : -1;
  if (firstKept >= 0 && old.length - firstKept <= inbox.length) {
    kept = old.length - firstKept;
    for (let i = 0; i < kept; i++) {
      if (inbox[i] !== old[firstKept + i]) {
        kept = 0;
        break;
      }
    }
  }
  const dropped = old.length - kept;
  if (dropped > 0) {
    delta.inboxDropped = dropped;
    changed = true;
  }
  if (inbox.length > kept) {
    delta.inboxAdded = inbox.slice(kept);
    changed = true;
  }

  if (state.leaves === shadow.leaves && state.leaves.length >= shadow.leavesLength) {
    if (state.leaves.length > shadow.leavesLength) {
      delta.leaves = state.leaves.slice(shadow.leavesLength);
      changed = true;
    }
  } else set('leaves', state.leaves);

  const ids = state.leafTaskIds;
  if (ids !== undefined && ids === shadow.leafTaskIds && ids.length >= shadow.leafTaskIdsLength) {
    if (ids.length > shadow.leafTaskIdsLength) {
      delta.leafTaskIds = ids.slice(shadow.leafTaskIdsLength);
      changed = true;
    }
  } else if (ids !== undefined || shadow.leafTaskIds !== undefined) set('leafTaskIds', ids);

  for (const [id, task] of Object.entries(state.tasks)) {
    if (shadow.tasks.get(id) !== task) {
      (delta.tasksSet ??= {})[id] = task;
      changed = true;
    }
  }
  for (const id of shadow.tasks.keys()) {
    if (!(id in state.tasks)) {
      (delta.tasksDeleted ??= []).push(id);
      changed = true;
    }
  }

  for (const key of PLAIN_FIELDS) if (state[key] !== shadow.fields.get(key)) set(key, state[key]);
  const customStatus = JSON.stringify(state.customStatus);
  if (customStatus !== shadow.fields.get('customStatus')) set('customStatus', state.customStatus);

  if (!changed) return { kind: 'unchanged' };
  const text = `${JSON.stringify({ delta } satisfies JournalLine)}\n`;
  return {
    kind: 'append',
    text,
    shadow: shadowOf(state, shadow.snapshotBytes, shadow.fileBytes + text.length),
  };
}

function applyDelta(state: InstanceState, delta: InstanceDelta): boolean {
  if (delta.at !== state.history.length) return false;
  if (delta.history) state.history.push(...delta.history);
  if (delta.inboxDropped) state.inbox.splice(0, delta.inboxDropped);
  if (delta.inboxAdded) state.inbox.push(...delta.inboxAdded);
  if (delta.leaves) state.leaves.push(...delta.leaves);
  if (delta.leafTaskIds) (state.leafTaskIds ??= []).push(...delta.leafTaskIds);
  for (const id of delta.tasksDeleted ?? []) delete state.tasks[id];
  if (delta.tasksSet) Object.assign(state.tasks, delta.tasksSet);
  if (delta.set) Object.assign(state, delta.set);
  for (const key of delta.unset ?? []) delete (state as unknown as Record<string, unknown>)[key];
  return true;
}

/** A journal read back: the state, and whether lines after the last good one had to be dropped. */
export interface ReadJournal {
  state: InstanceState | undefined;
  /** True when the journal ends in a torn or unusable line (ignored). */
  torn: boolean;
  /** Lines used. */
  lines: number;
}

const SNAPSHOT_START = '{"snapshot":';

/**
 * Rebuilds an instance from its journal text, from its last complete snapshot line on (earlier
 * lines are history the snapshot already holds).
 */
export function readJournal(text: string): ReadJournal {
  const end = text.lastIndexOf('\n') + 1;
  const last = text.lastIndexOf(`\n${SNAPSHOT_START}`, end - 2);
  if (last >= 0) {
    const read = replay(text.slice(last + 1));
    if (read.state) return read;
  }
  return replay(text);
}

function replay(text: string): ReadJournal {
  const parts = text.split('\n');
  // The piece after the last newline is empty in a clean journal, a torn line otherwise.
  const tail = parts.pop();
  let state: InstanceState | undefined;
  let lines = 0;
  for (const part of parts) {
    let line: JournalLine;
    try {
      line = JSON.parse(part) as JournalLine;
    } catch {
      return { state, torn: true, lines };
    }
    if ('snapshot' in line) state = line.snapshot;
    else if (!state || !('delta' in line) || !applyDelta(state, line.delta))
      return { state, torn: true, lines };
    lines++;
  }
  return { state, torn: tail !== undefined && tail !== '', lines };
}
