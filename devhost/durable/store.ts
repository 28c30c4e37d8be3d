import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EntityRecord, InstanceState } from './state.js';

const enc = (id: string): string => encodeURIComponent(id).replace(/\*/g, '%2A').replace(/^\./, '%2E');

/**
 * Instance and entity state as JSON files under `<dataDir>/durable/<taskHub>/`. Each write goes to
 * a temporary file renamed over the old one, so a killed process leaves either the old or the new
 * state, never a torn file.
 */
export class FileDurableStore {
  readonly #instancesDir: string;
  readonly #entitiesDir: string;
  #tmpCounter = 0;

  constructor(dataDir: string, taskHub: string) {
    this.#instancesDir = join(dataDir, 'durable', enc(taskHub), 'instances');
    this.#entitiesDir = join(dataDir, 'durable', enc(taskHub), 'entities');
  }

  async init(): Promise<void> {
    await mkdir(this.#instancesDir, { recursive: true });
    await mkdir(this.#entitiesDir, { recursive: true });
  }

  async #atomicWrite(file: string, data: string): Promise<void> {
    const tmp = `${file}.${process.pid}.${++this.#tmpCounter}.tmp`;
    await writeFile(tmp, data);
    await rename(tmp, file);
  }

  async saveInstance(state: InstanceState): Promise<void> {
    await this.#atomicWrite(join(this.#instancesDir, `${enc(state.instanceId)}.json`), JSON.stringify(state));
  }

  /** Reads one instance, or undefined when it does not exist. */
  readInstanceSync(instanceId: string): InstanceState | undefined {
    const file = join(this.#instancesDir, `${enc(instanceId)}.json`);
    if (!existsSync(file)) return undefined;
    return JSON.parse(readFileSync(file, 'utf8')) as InstanceState;
  }

  async deleteInstance(instanceId: string): Promise<boolean> {
    const file = join(this.#instancesDir, `${enc(instanceId)}.json`);
    if (!existsSync(file)) return false;
    await rm(file, { force: true });
    return true;
  }

  /** Every stored instance (used at startup and for status queries over all instances). */
  async listInstances(): Promise<InstanceState[]> {
    const out: InstanceState[] = [];
    for (const name of await readdir(this.#instancesDir)) {
      if (!name.endsWith('.json')) continue;
      try {
        out.push(JSON.parse(await readFile(join(this.#instancesDir, name), 'utf8')) as InstanceState);
      } catch {
        // A file deleted by a concurrent purge; skip it.
      }
    }
    return out;
  }

  readEntitySync(schedulerId: string): EntityRecord | undefined {
    const file = join(this.#entitiesDir, `${enc(schedulerId)}.json`);
    if (!existsSync(file)) return undefined;
    return JSON.parse(readFileSync(file, 'utf8')) as EntityRecord;
  }

  async saveEntity(schedulerId: string, record: EntityRecord): Promise<void> {
    await this.#atomicWrite(join(this.#entitiesDir, `${enc(schedulerId)}.json`), JSON.stringify(record));
  }
}
