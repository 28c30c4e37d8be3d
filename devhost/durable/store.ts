/**
 * The durable store: each orchestration instance is a journal (journal.ts) in
 * `<dataDir>/durable/<taskHub>/instances/<id>.jsonl`, each entity a JSON file in `…/entities/`.
 *
 * Writes are coalesced: a save joins the next batch, which starts once the event loop has run the
 * current round of callbacks: one record per changed instance or entity (a newer save of the same
 * one replaces the older), handed to the writer thread in one message (files.ts). A save resolves
 * when its record is written, so the engine's *persist, then act* holds. An instance's next record
 * waits for its previous one, so the records of a journal are in order.
 *
 * A journal this process has not written yet starts with a snapshot: created new, or written to a
 * temporary file renamed over the old journal (atomic). After that, every change is an appended
 * delta line; a new execution or a terminal status appends a snapshot line, and a journal grown
 * much larger than its state is replaced by one snapshot. A process killed mid-append leaves at
 * most a torn last line, which reading ignores (nothing was acted on it); a journal is appended to
 * only after this process wrote its snapshot, so a torn line is never extended. A file a kill left
 * empty (created, its first line not yet written) holds no instance: that start was never
 * acknowledged. Files are not fsynced: safe against process crashes, not power loss.
 */
import { join } from 'node:path';
import { FolderFiles, MemoryFiles, Writer, type StoreFiles } from './files.js';
import { nextRecord, readJournal, snapshotLine, type JournalShadow } from './journal.js';
import type { EntityRecord, InstanceState } from './state.js';

/** File name part of an id: percent-encoded, no leading dot, no `*`. */
const enc = (id: string): string => encodeURIComponent(id).replace(/\*/g, '%2A').replace(/^\./, '%2E');

const JOURNAL_SUFFIX = '.jsonl';
/** Instances written before journals: one JSON file each (read once, rewritten as a journal at init). */
const LEGACY_SUFFIX = '.json';
const ENTITY_SUFFIX = '.json';

type Write =
  | { kind: 'instance'; id: string; state: InstanceState }
  | { kind: 'entity'; id: string; record: EntityRecord };

interface Pending {
  write: Write;
  promise: Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** Where a store keeps its files. */
export interface DurableStoreFiles {
  instances: StoreFiles;
  entities: StoreFiles;
}

/** Instance journals and entity records, written in coalesced batches (one store per engine). */
export class DurableStore {
  readonly #files: DurableStoreFiles;
  /** What each journal this process writes holds (instances not finished). */
  readonly #shadows = new Map<string, JournalShadow>();
  /** Writes waiting for the next batch, by `i:`/`e:` + id (a newer save of the same one replaces the state). */
  #pending = new Map<string, Pending>();
  /** Keys being written, with the end of the batch that writes them. */
  readonly #writing = new Map<string, Promise<void>>();
  #scheduled = false;

  constructor(files: DurableStoreFiles) {
    this.#files = files;
  }

  /** The store of a task hub under a data dir. */
  static inFolder(dataDir: string, taskHub: string): DurableStore {
    const hub = join(dataDir, 'durable', enc(taskHub));
    const writer = new Writer();
    return new DurableStore({
      instances: new FolderFiles(join(hub, 'instances'), writer),
      entities: new FolderFiles(join(hub, 'entities'), writer),
    });
  }

  /** A store that keeps nothing beyond the process (benchmarks: the engine without a filesystem). */
  static inMemory(): DurableStore {
    return new DurableStore({ instances: new MemoryFiles(), entities: new MemoryFiles() });
  }

  /** Creates the folders; rewrites instances of the old one-file format as journals. */
  async init(): Promise<void> {
    await this.#files.instances.init();
    await this.#files.entities.init();
    const names = new Set(await this.#files.instances.list());
    for (const name of names) {
      if (!name.endsWith(LEGACY_SUFFIX)) continue;
      const journal = `${name.slice(0, -LEGACY_SUFFIX.length)}${JOURNAL_SUFFIX}`;
      if (!names.has(journal)) {
        const text = await this.#files.instances.read(name);
        let state: InstanceState | undefined;
        try {
          state = text === undefined ? undefined : (JSON.parse(text) as InstanceState);
        } catch {
          continue; // unreadable, as before: left alone and ignored
        }
        if (state) await this.#files.instances.replace(journal, snapshotLine(state));
      }
      await this.#files.instances.remove(name);
    }
  }

  // ---------------------------------------------------------------- writes

  /** Saves an instance; resolves once its record is written. */
  saveInstance(state: InstanceState): Promise<void> {
    return this.#enqueue({ kind: 'instance', id: state.instanceId, state });
  }

  /** Saves an entity's record; resolves once it is written. */
  saveEntity(schedulerId: string, record: EntityRecord): Promise<void> {
    return this.#enqueue({ kind: 'entity', id: schedulerId, record });
  }

  #key(write: Pick<Write, 'kind' | 'id'>): string {
    return `${write.kind === 'instance' ? 'i' : 'e'}:${write.id}`;
  }

  #enqueue(write: Write): Promise<void> {
    const key = this.#key(write);
    const existing = this.#pending.get(key);
    if (existing) {
      existing.write = write;
      return existing.promise;
    }
    let resolve!: () => void;
    let reject!: (err: unknown) => void;
    const promise = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    this.#pending.set(key, { write, promise, resolve, reject });
    this.#schedule();
    return promise;
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    // After the current round of callbacks, so the saves it makes share one batch.
    setImmediate(() => {
      this.#scheduled = false;
      this.#writeBatch();
    });
  }

  /**
   * Writes what is pending, except what is still being written from an earlier batch (it waits
   * for that one: a record is computed from what its journal already holds). Batches may overlap
   * otherwise; the writer runs their writes in the order they were asked for.
   */
  #writeBatch(): void {
    const ready: [string, Pending][] = [];
    for (const entry of this.#pending) if (!this.#writing.has(entry[0])) ready.push(entry);
    if (ready.length === 0) return;
    for (const [key] of ready) this.#pending.delete(key);
    const done = Promise.all(
      ready.map(([, p]) =>
        this.#write(p.write).then(
          () => p.resolve(),
          (err: unknown) => p.reject(err),
        ),
      ),
    ).then(() => {
      for (const [key] of ready) this.#writing.delete(key);
      if (this.#pending.size > 0) this.#schedule();
    });
    for (const [key] of ready) this.#writing.set(key, done);
  }

  async #write(write: Write): Promise<void> {
    if (write.kind === 'entity') {
      await this.#files.entities.replace(`${enc(write.id)}${ENTITY_SUFFIX}`, JSON.stringify(write.record));
      return;
    }
    const { id, state } = write;
    const name = `${enc(id)}${JOURNAL_SUFFIX}`;
    const files = this.#files.instances;
    const record = nextRecord(state, this.#shadows.get(id));
    if (record.kind === 'unchanged') return;
    try {
      if (record.kind === 'append') await files.append(name, record.text);
      else if (record.kind === 'compact') await files.replace(name, record.text);
      // A journal this process has not written: new, or replaced whole (a torn end is never extended).
      else if (!(await files.create(name, record.text))) await files.replace(name, record.text);
    } catch (err) {
      // What the journal holds is unknown now: the next save starts it over.
      this.#shadows.delete(id);
      await files.release(name).catch(() => undefined);
      throw err;
    }
    if (record.shadow) this.#shadows.set(id, record.shadow);
    else {
      this.#shadows.delete(id);
      await files.release(name);
    }
  }

  /** Waits until nothing of `key` is waiting or being written. */
  async #settled(key: string): Promise<void> {
    for (;;) {
      const pending = this.#pending.get(key);
      const writing = this.#writing.get(key);
      if (pending) await pending.promise.catch(() => undefined);
      else if (writing) await writing;
      else return;
    }
  }

  /** Resolves once every save made so far is written (or failed). */
  async flushed(): Promise<void> {
    while (this.#pending.size > 0 || this.#writing.size > 0 || this.#scheduled) {
      const writing = this.#writing.values().next();
      if (!writing.done) await writing.value;
      else await new Promise((resolve) => setImmediate(resolve));
    }
  }

  /** Writes what is pending, then lets go of open files (the store can still be used after). */
  async close(): Promise<void> {
    await this.flushed();
    await this.#files.instances.close();
    await this.#files.entities.close();
  }

  // ---------------------------------------------------------------- reads

  /** Reads one instance, or undefined when it does not exist. */
  async readInstance(instanceId: string): Promise<InstanceState | undefined> {
    await this.#settled(this.#key({ kind: 'instance', id: instanceId }));
    const text = await this.#files.instances.read(`${enc(instanceId)}${JOURNAL_SUFFIX}`);
    return text === undefined ? undefined : readJournal(text).state;
  }

  /** Deletes an instance (a pending save of it is dropped). Returns whether it existed. */
  async deleteInstance(instanceId: string): Promise<boolean> {
    const key = this.#key({ kind: 'instance', id: instanceId });
    const pending = this.#pending.get(key);
    if (pending) {
      this.#pending.delete(key);
      pending.resolve();
    }
    await this.#settled(key);
    this.#shadows.delete(instanceId);
    return this.#files.instances.remove(`${enc(instanceId)}${JOURNAL_SUFFIX}`);
  }

  /** Every stored instance (at startup, and for status queries over all instances). */
  async listInstances(): Promise<InstanceState[]> {
    const names = (await this.#files.instances.list()).filter((n) => n.endsWith(JOURNAL_SUFFIX));
    // Asked for at once: the writer thread reads them in one batch.
    const texts = await Promise.all(names.map((name) => this.#files.instances.read(name)));
    const out: InstanceState[] = [];
    for (const text of texts) {
      // undefined: deleted by a concurrent purge since the listing
      const state = text === undefined ? undefined : readJournal(text).state;
      if (state) out.push(state);
    }
    return out;
  }

  /** Reads an entity's record, or undefined when it has none. */
  async readEntity(schedulerId: string): Promise<EntityRecord | undefined> {
    await this.#settled(this.#key({ kind: 'entity', id: schedulerId }));
    const text = await this.#files.entities.read(`${enc(schedulerId)}${ENTITY_SUFFIX}`);
    return text === undefined ? undefined : (JSON.parse(text) as EntityRecord);
  }
}
