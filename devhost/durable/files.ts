/**
 * Where the durable store keeps its files: {@link FolderFiles} (a folder on disk) or
 * {@link MemoryFiles} (nothing survives the process).
 *
 * FolderFiles hands every file operation (create, append, replace, delete, read, list) to one
 * writer thread, in batches: the thread runs them in order, one after another, and answers once
 * per batch. The event loop thus makes no filesystem call of its own, and pays one message per
 * batch instead of one thread-pool round trip per file (on a busy two-core machine each of those
 * also wakes a thread that preempts the event loop). A read asked for after a write of the same
 * file sees it. Journals being appended to stay open in the thread (append mode) until released,
 * replaced or removed.
 */
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';

/** Where the store keeps its files: a folder, or memory. */
export interface StoreFiles {
  /** Creates the place (and clears what a killed process left half-written). */
  init(): Promise<void>;
  /** Creates a file holding `text`; false (nothing written) when it exists. */
  create(name: string, text: string): Promise<boolean>;
  /** Appends to an existing file. */
  append(name: string, text: string): Promise<void>;
  /** Replaces a file atomically: a reader sees the old or the new content, never a mix. */
  replace(name: string, text: string): Promise<void>;
  /** Nothing more will be appended to `name` for a while: let go of what is kept open for it. */
  release(name: string): Promise<void>;
  /** A file's content, or undefined when it does not exist. */
  read(name: string): Promise<string | undefined>;
  /** Deletes a file; false when it did not exist. */
  remove(name: string): Promise<boolean>;
  /** Names of the files. */
  list(): Promise<string[]>;
  /** Lets go of everything kept open. */
  close(): Promise<void>;
}

/** A write the worker runs. Paths are absolute. */
type Op =
  | { kind: 'init'; dir: string }
  | { kind: 'create' | 'append'; path: string; text: string }
  | { kind: 'replace'; path: string; tmp: string; text: string }
  | { kind: 'release' | 'remove' | 'read'; path: string }
  | { kind: 'list'; dir: string }
  | { kind: 'close' };

/** What an op answers: a flag, a file's text (null: no such file), or names. */
type OpValue = boolean | string | null | string[];
type OpResult = { value: OpValue } | { error: { code?: string; message: string } };

/**
 * The writer thread (CommonJS, evaluated as is: it runs under tsx, vitest and plain Node alike).
 * Synchronous calls are what a dedicated writer thread is for; the event loop never waits on them.
 */
const WRITER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const path = require('node:path');
const MAX_OPEN = 256;
const open = new Map();
function release(file) {
  const fd = open.get(file);
  if (fd === undefined) return;
  open.delete(file);
  fs.closeSync(fd);
}
function keep(file, fd) {
  open.set(file, fd);
  if (open.size > MAX_OPEN) release(open.keys().next().value);
}
function writeAll(fd, text) {
  const data = Buffer.from(text);
  let offset = 0;
  while (offset < data.length) offset += fs.writeSync(fd, data, offset, data.length - offset);
}
function run(op) {
  switch (op.kind) {
    case 'init':
      fs.mkdirSync(op.dir, { recursive: true });
      // A replace a killed process did not finish; the file it was for is intact.
      for (const name of fs.readdirSync(op.dir)) {
        if (name.endsWith('.tmp')) fs.rmSync(path.join(op.dir, name), { force: true });
      }
      return true;
    case 'create': {
      let fd;
      try {
        fd = fs.openSync(op.path, 'ax');
      } catch (err) {
        if (err.code === 'EEXIST') return false;
        throw err;
      }
      keep(op.path, fd);
      writeAll(fd, op.text);
      return true;
    }
    case 'append': {
      let fd = open.get(op.path);
      if (fd === undefined) keep(op.path, (fd = fs.openSync(op.path, 'a')));
      else {
        open.delete(op.path);
        open.set(op.path, fd);
      }
      writeAll(fd, op.text);
      return true;
    }
    case 'replace':
      release(op.path);
      fs.writeFileSync(op.tmp, op.text);
      fs.renameSync(op.tmp, op.path);
      return true;
    case 'release':
      release(op.path);
      return true;
    case 'remove':
      release(op.path);
      try {
        fs.unlinkSync(op.path);
        return true;
      } catch (err) {
        if (err.code === 'ENOENT') return false;
        throw err;
      }
    case 'read':
      try {
        return fs.readFileSync(op.path, 'utf8');
      } catch (err) {
        if (err.code === 'ENOENT') return null;
        throw err;
      }
    case 'list':
      return fs.readdirSync(op.dir);
    case 'close':
      for (const file of [...open.keys()]) release(file);
      return true;
  }
  throw new Error('unknown op ' + op.kind);
}
parentPort.on('message', ({ id, ops }) => {
  const results = ops.map((op) => {
    try {
      return { value: run(op) };
    } catch (err) {
      return { error: { code: err.code, message: err.message } };
    }
  });
  parentPort.postMessage({ id, results });
});
`;

class WriterError extends Error {
  readonly code: string | undefined;

  constructor(error: { code?: string; message: string }) {
    super(error.message);
    this.name = 'DurableStoreWriteError';
    this.code = error.code;
  }
}

interface Queued {
  op: Op;
  resolve: (value: OpValue) => void;
  reject: (err: unknown) => void;
}

/** The writer thread and the batches in flight to it (one per store: its folders share it). */
export class Writer {
  #worker: Worker | undefined;
  #queue: Queued[] = [];
  #flushQueued = false;
  readonly #inFlight = new Map<number, Queued[]>();
  #nextId = 0;

  run(op: Op): Promise<OpValue> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ op, resolve, reject });
      if (this.#flushQueued) return;
      this.#flushQueued = true;
      // Everything asked for in this turn of the event loop goes in one message.
      queueMicrotask(() => this.#send());
    });
  }

  #start(): Worker {
    const worker = new Worker(WRITER_SOURCE, { eval: true });
    worker.on('message', ({ id, results }: { id: number; results: OpResult[] }) => {
      const batch = this.#inFlight.get(id) ?? [];
      this.#inFlight.delete(id);
      batch.forEach((queued, i) => {
        const result = results[i];
        if (result && 'value' in result) queued.resolve(result.value);
        else queued.reject(new WriterError(result?.error ?? { message: 'no answer from the writer' }));
      });
      // Idle: the writer does not keep the process alive.
      if (this.#inFlight.size === 0) worker.unref();
    });
    const fail = (err: unknown): void => {
      this.#worker = undefined;
      for (const batch of this.#inFlight.values()) for (const queued of batch) queued.reject(err);
      this.#inFlight.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`the durable store's writer thread exited (${code})`)));
    return worker;
  }

  #send(): void {
    this.#flushQueued = false;
    const batch = this.#queue;
    this.#queue = [];
    if (batch.length === 0) return;
    const worker = (this.#worker ??= this.#start());
    const id = ++this.#nextId;
    this.#inFlight.set(id, batch);
    worker.ref();
    worker.postMessage({ id, ops: batch.map((q) => q.op) });
  }

  /** Closes the files the writer holds and stops it. */
  async stop(): Promise<void> {
    const worker = this.#worker;
    if (!worker) return;
    await this.run({ kind: 'close' });
    this.#worker = undefined;
    worker.removeAllListeners('exit');
    await worker.terminate();
  }
}

/** Files in one folder, written by a writer thread. */
export class FolderFiles implements StoreFiles {
  readonly #dir: string;
  readonly #writer: Writer;
  #tmpCounter = 0;

  constructor(dir: string, writer: Writer = new Writer()) {
    this.#dir = dir;
    this.#writer = writer;
  }

  async init(): Promise<void> {
    await this.#writer.run({ kind: 'init', dir: this.#dir });
  }

  async create(name: string, text: string): Promise<boolean> {
    return (await this.#writer.run({ kind: 'create', path: join(this.#dir, name), text })) === true;
  }

  async append(name: string, text: string): Promise<void> {
    await this.#writer.run({ kind: 'append', path: join(this.#dir, name), text });
  }

  async replace(name: string, text: string): Promise<void> {
    const path = join(this.#dir, name);
    const tmp = `${path}.${process.pid}.${++this.#tmpCounter}.tmp`;
    await this.#writer.run({ kind: 'replace', path, tmp, text });
  }

  async release(name: string): Promise<void> {
    await this.#writer.run({ kind: 'release', path: join(this.#dir, name) });
  }

  async read(name: string): Promise<string | undefined> {
    const text = await this.#writer.run({ kind: 'read', path: join(this.#dir, name) });
    return typeof text === 'string' ? text : undefined;
  }

  async remove(name: string): Promise<boolean> {
    return (await this.#writer.run({ kind: 'remove', path: join(this.#dir, name) })) === true;
  }

  async list(): Promise<string[]> {
    const names = await this.#writer.run({ kind: 'list', dir: this.#dir });
    return Array.isArray(names) ? names : [];
  }

  close(): Promise<void> {
    return this.#writer.stop();
  }
}

/** Files in memory (nothing survives the process): the store without a filesystem. */
export class MemoryFiles implements StoreFiles {
  readonly #files = new Map<string, string>();

  async init(): Promise<void> {}

  async create(name: string, text: string): Promise<boolean> {
    if (this.#files.has(name)) return false;
    this.#files.set(name, text);
    return true;
  }

  async append(name: string, text: string): Promise<void> {
    this.#files.set(name, (this.#files.get(name) ?? '') + text);
  }

  async replace(name: string, text: string): Promise<void> {
    this.#files.set(name, text);
  }

  async release(): Promise<void> {}

  async read(name: string): Promise<string | undefined> {
    return this.#files.get(name);
  }

  async remove(name: string): Promise<boolean> {
    return this.#files.delete(name);
  }

  async list(): Promise<string[]> {
    return [...this.#files.keys()];
  }

  async close(): Promise<void> {}
}
