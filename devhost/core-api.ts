import Module from 'node:module';
import type {
  FunctionCallback,
  FunctionMetadata,
  HookCallback,
  HookType,
  ProgrammingModel,
  RpcLogLevel,
} from './core-types.js';

/** The module id `@azure/functions` requires to reach the worker. */
export const CORE_MODULE_ID = '@azure/functions-core';
/** Worker version this host reports (the Node.js worker line `@azure/functions` 4.x expects). */
export const CORE_API_VERSION = '3.10.1';
/** Functions host version this host reports. */
export const HOST_VERSION = '4.1037.0';

/** One function registered by the app (`app.*`, `df.app.*`). */
export interface RegisteredFunction {
  metadata: FunctionMetadata;
  callback: FunctionCallback;
}

/** A hook registered by the app (`app.hook.*`). */
export interface RegisteredHook {
  type: HookType;
  callback: HookCallback;
}

/** Receives what an app registers while it loads. One per loaded app. */
export interface AppRegistry {
  functions: Map<string, RegisteredFunction>;
  hooks: RegisteredHook[];
  /** Where library/system log lines go (`coreApi.log`). */
  log(level: RpcLogLevel, category: string, message: string): void;
  /** host.json `functionTimeout` in ms, enforced on every invocation (`false`: none). */
  functionTimeoutMs?: number | false;
}

class Disposable {
  readonly #callback: () => void;
  constructor(callback: () => void) {
    this.#callback = callback;
  }
  static from(...items: { dispose(): unknown }[]): Disposable {
    return new Disposable(() => items.forEach((i) => i.dispose()));
  }
  dispose(): void {
    this.#callback();
  }
}

let activeRegistry: AppRegistry | undefined;
let programmingModel: ProgrammingModel | undefined;
let installed = false;

/** The object answered for `require('@azure/functions-core')`, as the worker's setupCoreModule does. */
const coreApi = {
  version: CORE_API_VERSION,
  hostVersion: HOST_VERSION,
  Disposable,
  registerFunction(metadata: FunctionMetadata, callback: FunctionCallback): Disposable {
    // Outside a load (app code imported directly, e.g. by a unit test) registrations are dropped,
    // as in the library's own test mode.
    if (!activeRegistry) return new Disposable(() => {});
    const registry = activeRegistry;
    if (registry.functions.has(metadata.name)) {
      throw new Error(`devhost: a function named "${metadata.name}" is already registered.`);
    }
    registry.functions.set(metadata.name, { metadata, callback });
    return new Disposable(() => registry.functions.delete(metadata.name));
  },
  registerHook(type: HookType, callback: HookCallback): Disposable {
    if (!activeRegistry) return new Disposable(() => {});
    const registry = activeRegistry;
    const hook: RegisteredHook = { type, callback };
    registry.hooks.push(hook);
    return new Disposable(() => {
      const i = registry.hooks.indexOf(hook);
      if (i >= 0) registry.hooks.splice(i, 1);
    });
  },
  setProgrammingModel(model: ProgrammingModel): void {
    programmingModel = model;
  },
  getProgrammingModel(): ProgrammingModel | undefined {
    return programmingModel;
  },
  log(level: RpcLogLevel, category: string, message: string): void {
    activeRegistry?.log(level, category, message);
  },
};

/**
 * Answers `require('@azure/functions-core')` process-wide by wrapping `Module.prototype.require`,
 * exactly as the Functions Node.js worker does. Must run before the app (and therefore
 * `@azure/functions`) is first imported, because the library caches the result of its first require.
 */
export function installCoreApi(): void {
  if (installed) return;
  installed = true;
  const proto = (Module as unknown as { prototype: { require: (this: unknown, id: string) => unknown } })
    .prototype;
  const original = proto.require;
  proto.require = function (this: unknown, id: string): unknown {
    if (id === CORE_MODULE_ID) return coreApi;
    return original.call(this, id);
  };
}

/**
 * Runs `load` with `registry` receiving every registration. Loads are serialized by the caller;
 * the library sets its programming model once per process, which this module keeps.
 */
export async function withActiveRegistry<T>(registry: AppRegistry, load: () => Promise<T>): Promise<T> {
  if (activeRegistry)
    throw new Error('devhost: another app is loading in this process; load apps one at a time.');
  activeRegistry = registry;
  try {
    return await load();
  } finally {
    activeRegistry = undefined;
  }
}

/** The programming model the app's `@azure/functions` registered, once any function registered. */
export function getProgrammingModel(): ProgrammingModel {
  if (!programmingModel) {
    throw new Error('devhost: the app registered no programming model (did it import @azure/functions?).');
  }
  return programmingModel;
}
