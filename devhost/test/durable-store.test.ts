import fs, { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DurableStore } from '../durable/store.js';
import type { HistoryEvent, InstanceState, TaskRecord } from '../durable/state.js';
import { createVirtualClock, startHost } from '../index.js';

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'devhost-store-'));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const instancesDir = (dataDir: string): string => join(dataDir, 'durable', 'Hub', 'instances');
const plain = (state: InstanceState): unknown => JSON.parse(JSON.stringify(state));

/** A small deterministic random source (a failing sequence can be replayed from its seed). */
function random(seed: number): (n: number) => number {
  let x = seed;
  return (n) => {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    return x % n;
  };
}

function newState(id: string): InstanceState {
  return {
    instanceId: id,
    name: 'orchestration',
    input: { id },
    runtimeStatus: 'Pending',
    createdTime: '2030-01-01T00:00:00.000Z',
    lastUpdatedTime: '2030-01-01T00:00:00.000Z',
    output: null,
    customStatus: null,
    history: [],
    inbox: [{ EventType: 0, EventId: -1, IsPlayed: false, Timestamp: 't0', Input: '"x"' }],
    nextSeq: 0,
    leaves: [],
    leafTaskIds: [],
    tasks: {},
  };
}

/**
 * One change of the kinds the engine makes, following its rule for arrays: appended to, or
 * replaced by a new array (an episode consumes a prefix of the inbox; continueAsNew starts over).
 */
function mutate(state: InstanceState, pick: (n: number) => number, step: number): void {
  const event = (n: number): HistoryEvent => ({
    EventType: pick(16),
    EventId: n,
    IsPlayed: pick(2) === 0,
    Timestamp: `t${step}`,
    Result: pick(3) === 0 ? 'x'.repeat(pick(300)) : null,
  });
  switch (pick(9)) {
    case 0: // an event delivered, its task done
      state.inbox.push(event(-1));
      delete state.tasks[String(pick(6))];
      break;
    case 1: {
      // an episode: the inbox's front consumed, history, leaves and tasks added, custom status
      const consumed = new Set(state.inbox.slice(0, 1 + pick(2)));
      state.inbox = state.inbox.filter((e) => !consumed.has(e));
      state.runtimeStatus = 'Running';
      for (let i = pick(4); i > 0; i--) state.history.push(event(state.nextSeq));
      const id = state.nextSeq++;
      state.leaves.push(`0:activity${id}`);
      (state.leafTaskIds ??= []).push(pick(2) === 0 ? id : null);
      const task: TaskRecord = { kind: 'activity', id, name: 'a', inputJson: String(id) };
      state.tasks[String(id)] = task;
      if (pick(2) === 0) state.customStatus = { step: pick(3) };
      state.lastUpdatedTime = `t${step}`;
      break;
    }
    case 2: // a long timer renumbered: task ids replaced by a new array
      state.leafTaskIds = state.leafTaskIds?.map((x) => (x === null ? null : x + 1));
      break;
    case 3: // tasks replaced whole (the final episode keeps only entity signals)
      state.tasks = Object.fromEntries(Object.entries(state.tasks).slice(0, 1));
      break;
    case 4: // continueAsNew
      state.input = { again: step };
      state.history = [];
      state.inbox = [event(-1), ...state.inbox.filter(() => pick(2) === 0)];
      state.nextSeq = 0;
      state.leaves = [];
      state.leafTaskIds = [];
      state.tasks = {};
      break;
    case 5: // a task replaced by its next attempt
      state.tasks['0'] = { kind: 'timer', id: 0, fireAt: `t${step}` };
      break;
    case 6:
      state.customStatus = undefined;
      break;
    case 7: // an old state without leafTaskIds
      if (pick(4) === 0) delete state.leafTaskIds;
      break;
    default: // nothing changed
      break;
  }
}

describe('durable store (journals)', () => {
  it('reads back exactly the state it wrote, after every kind of change, appending deltas', async () => {
    for (const seed of [1, 7, 42]) {
      const dataDir = tempDir();
      const store = DurableStore.inFolder(dataDir, 'Hub');
      await store.init();
      const pick = random(seed);
      const states = Array.from({ length: 4 }, (_, i) => newState(`i-${seed}-${i}`));
      for (let step = 0; step < 150; step++) {
        const changed = states.filter(() => pick(2) === 0);
        for (const state of changed) mutate(state, pick, step);
        await Promise.all(changed.map((s) => store.saveInstance(s)));
        for (const state of changed) expect(await store.readInstance(state.instanceId)).toEqual(plain(state));
      }
      // A fresh store (another process) reads the same.
      await store.close();
      const again = DurableStore.inFolder(dataDir, 'Hub');
      await again.init();
      for (const state of states) expect(await again.readInstance(state.instanceId)).toEqual(plain(state));
      const listed = await again.listInstances();
      expect(listed.map((s) => s.instanceId).sort()).toEqual(states.map((s) => s.instanceId).sort());
      // Deltas were appended (a rewrite per save would leave one line).
      const lines = readFileSync(join(instancesDir(dataDir), `i-${seed}-0.jsonl`), 'utf8').split('\n');
      expect(lines.filter((l) => l.startsWith('{"delta":')).length).toBeGreaterThan(10);
    }
  });

  it('ignores a torn last line, and the next write starts the journal over', async () => {
    const dataDir = tempDir();
    const store = DurableStore.inFolder(dataDir, 'Hub');
    await store.init();
    const state = newState('torn');
    await store.saveInstance(state);
    state.inbox.push({ EventType: 5, EventId: -1, IsPlayed: false, Timestamp: 't1', Result: '1' });
    await store.saveInstance(state);
    await store.close();
    const file = join(instancesDir(dataDir), 'torn.jsonl');
    const saved = plain(state);
    // A process killed in the middle of an append.
    appendFileSync(file, '{"delta":{"at":0,"inboxAdded":[{"EventType":5,"Eve');

    const restarted = DurableStore.inFolder(dataDir, 'Hub');
    await restarted.init();
    const read = await restarted.readInstance('torn');
    expect(read).toEqual(saved);
    read!.runtimeStatus = 'Running';
    await restarted.saveInstance(read!);
    const text = readFileSync(file, 'utf8');
    expect(text).not.toContain('"Eve\n');
    expect(text.split('\n')).toHaveLength(2); // one snapshot line and the final newline
    expect(await restarted.readInstance('torn')).toEqual(plain(read!));
  });

  it('rewrites an instance of the old one-file format as a journal', async () => {
    const dataDir = tempDir();
    const state = newState('old/one');
    fs.mkdirSync(instancesDir(dataDir), { recursive: true });
    writeFileSync(join(instancesDir(dataDir), 'old%2Fone.json'), JSON.stringify(state));
    const store = DurableStore.inFolder(dataDir, 'Hub');
    await store.init();
    expect(readdirSync(instancesDir(dataDir))).toEqual(['old%2Fone.jsonl']);
    expect(await store.readInstance('old/one')).toEqual(plain(state));
  });
});

describe('durable engine and the filesystem', () => {
  it('makes no synchronous filesystem call while orchestrations, entities and status queries run', async () => {
    const dataDir = tempDir();
    const host = await startHost({
      appRoot: join(import.meta.dirname, 'fixtures', 'durable-app'),
      dataDir,
      clock: createVirtualClock({ start: Date.parse('2030-01-01T00:00:00Z') }),
      logger: () => {},
      startTriggers: false,
    });
    const fsFunctions = fs as unknown as Record<string, unknown>;
    const calls: string[] = [];
    const originals = new Map<string, (...args: unknown[]) => unknown>();
    for (const [name, value] of Object.entries(fsFunctions)) {
      if (!name.endsWith('Sync') || typeof value !== 'function') continue;
      const original = value as (...args: unknown[]) => unknown;
      originals.set(name, original);
      fsFunctions[name] = function (this: unknown, ...args: unknown[]): unknown {
        if (new Error().stack?.includes(`${join('devhost', 'durable')}`)) calls.push(name);
        return original.apply(this, args);
      };
    }
    syncBuiltinESMExports();
    try {
      const ids = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          host.durable.startNew('tenActivities', { instanceId: `s-${i}` }),
        ),
      );
      ids.push(await host.durable.startNew('useCounter', { input: 'k' }));
      ids.push(await host.durable.startNew('parent'));
      for (const id of ids)
        expect((await host.durable.waitForCompletion(id)).runtimeStatus).toBe('Completed');
      expect((await host.durable.getStatus('s-1'))?.runtimeStatus).toBe('Completed');
      expect(await host.durable.readEntity('counter', 'k')).toMatchObject({ state: '5' });
      expect(await host.durable.startNew('tenActivities', { instanceId: 's-1' })).toBe('s-1');
      expect((await host.durable.waitForCompletion('s-1')).runtimeStatus).toBe('Completed');
      expect(await host.durable.purge('s-2')).toBe(1);
      expect(await host.durable.raiseEvent('s-3', 'x', '1')).toBe('gone');
      expect((await host.durable.queryStatuses({})).length).toBeGreaterThanOrEqual(12);
    } finally {
      for (const [name, original] of originals) fsFunctions[name] = original;
      syncBuiltinESMExports();
      await host.stop();
    }
    expect(calls).toEqual([]);
  });
});
