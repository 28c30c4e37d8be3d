import { randomUUID } from 'node:crypto';
import { getProgrammingModel, HOST_VERSION } from './core-api.js';
import { formatTimeSpan, FunctionTimeoutError } from './limits.js';
import type { AppRegistry, RegisteredFunction } from './core-api.js';
import type {
  CoreInvocationContext,
  FunctionCallback,
  RpcInvocationResponse,
  RpcLogLevel,
  RpcParameterBinding,
  RpcTypedData,
} from './core-types.js';

/** What a trigger hands the host for one invocation. */
export interface InvocationRequest {
  inputData: RpcParameterBinding[];
  triggerMetadata?: Record<string, RpcTypedData>;
  retryContext?: { retryCount: number; maxRetryCount: number; exception?: { message?: string } };
  invocationId?: string;
}

/** Where user and system log lines of invocations go. */
export type HostLogger = (
  level: RpcLogLevel,
  category: string,
  functionName: string,
  message: string,
) => void;

/** Default logger: user lines and system warnings/errors to the console, with the function name. */
export const consoleLogger: HostLogger = (level, category, functionName, message) => {
  if (category !== 'user' && !['warning', 'error', 'critical'].includes(level)) return;
  const line = `[${new Date().toISOString()}] ${functionName}: ${message}`;
  if (level === 'error' || level === 'critical') console.error(line);
  else if (level === 'warning') console.warn(line);
  else console.log(line);
};

/** Data shared by all hooks of one app (the worker's `appHookData`). */
const appHookData = new WeakMap<AppRegistry, Record<string, unknown>>();

async function runHooks(
  registry: AppRegistry,
  type: 'preInvocation' | 'postInvocation',
  ctx: Record<string, unknown>,
) {
  for (const hook of registry.hooks.filter((h) => h.type === type)) {
    await hook.callback(ctx);
  }
}

/** Runs appStart/appTerminate hooks as the worker does at startup/shutdown. */
export async function runAppHooks(registry: AppRegistry, type: 'appStart' | 'appTerminate'): Promise<void> {
  let data = appHookData.get(registry);
  if (!data) appHookData.set(registry, (data = {}));
  for (const hook of registry.hooks.filter((h) => h.type === type)) {
    await hook.callback({
      hookData: {},
      appHookData: data,
      functionAppDirectory: process.cwd(),
      hostVersion: HOST_VERSION,
    });
  }
}

/**
 * Invokes a registered function through the library's own invocation model, in the worker's order:
 * getInvocationModel → getArguments → preInvocation hooks → invokeFunction → postInvocation hooks →
 * getResponse. A handler (or hook) error rejects.
 */
export async function invokeRegistered(
  registry: AppRegistry,
  fn: RegisteredFunction,
  request: InvocationRequest,
  logger: HostLogger,
): Promise<RpcInvocationResponse> {
  let data = appHookData.get(registry);
  if (!data) appHookData.set(registry, (data = {}));
  const current: { invocationContext?: unknown } = {};
  const coreCtx: CoreInvocationContext = {
    invocationId: request.invocationId ?? randomUUID(),
    request: {
      inputData: request.inputData,
      triggerMetadata: request.triggerMetadata ?? {},
      retryContext: request.retryContext,
    },
    metadata: fn.metadata,
    state: 'preInvocationHooks',
    log: (level, category, message) => {
      // Log hooks see (and may rewrite) every line first, as in the worker.
      const hookCtx: Record<string, unknown> = {
        level,
        category,
        message,
        invocationContext: current.invocationContext,
        hookData: {},
        appHookData: data,
      };
      for (const hook of registry.hooks.filter((h) => h.type === 'log')) {
        try {
          void hook.callback(hookCtx);
        } catch {
          // A failing log hook must not break the invocation.
        }
      }
      logger(hookCtx.level as RpcLogLevel, category, fn.metadata.name, String(hookCtx.message));
    },
  };
  const model = getProgrammingModel().getInvocationModel(coreCtx);
  const { context, inputs } = await model.getArguments();
  current.invocationContext = context;
  const preCtx: Record<string, unknown> = {
    invocationContext: context,
    inputs,
    functionCallback: fn.callback,
    hookData: {},
    appHookData: data,
  };
  await runHooks(registry, 'preInvocation', preCtx);
  coreCtx.state = 'invocation';
  let result: unknown;
  let error: unknown;
  try {
    result = await withFunctionTimeout(
      model.invokeFunction(context, preCtx.inputs as unknown[], preCtx.functionCallback as FunctionCallback),
      registry.functionTimeoutMs,
      fn.metadata.name,
      coreCtx.invocationId,
      logger,
    );
  } catch (err) {
    error = err;
  }
  coreCtx.state = 'postInvocationHooks';
  const postCtx: Record<string, unknown> = {
    invocationContext: context,
    inputs: preCtx.inputs,
    result,
    error,
    hookData: preCtx.hookData,
    appHookData: data,
  };
  await runHooks(registry, 'postInvocation', postCtx);
  if (postCtx.error !== undefined && postCtx.error !== null) {
    throw postCtx.error instanceof Error ? postCtx.error : new Error(JSON.stringify(postCtx.error));
  }
  coreCtx.state = 'invocationResponse';
  return model.getResponse(context, postCtx.result);
}

/**
 * Races a running invocation against host.json `functionTimeout`. Past it the invocation fails with
 * the host's FunctionTimeoutException message (the durable retry policy then applies to activities).
 * A Node.js function cannot be cancelled: on Azure the host restarts the worker process, here the
 * handler keeps running in the background and its result is dropped.
 */
async function withFunctionTimeout<T>(
  running: Promise<T>,
  timeoutMs: number | false | undefined,
  functionName: string,
  invocationId: string,
  logger: HostLogger,
): Promise<T> {
  if (timeoutMs === undefined || timeoutMs === false) return running;
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      logger(
        'error',
        'system',
        functionName,
        `Timeout value of ${formatTimeSpan(timeoutMs)} exceeded by function 'Functions.${functionName}' (Id: '${invocationId}'). Initiating cancellation.`,
      );
      reject(new FunctionTimeoutError(functionName, timeoutMs));
    }, timeoutMs);
    timer.unref();
  });
  // The abandoned handler may still fail later: that must not become an unhandled rejection.
  running.catch(() => undefined);
  try {
    return await Promise.race([running, timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

/** Decodes typed data the way the library's fromRpcTypedData does (JSON is tried for strings). */
export function typedDataToValue(data: RpcTypedData | null | undefined): unknown {
  if (!data) return undefined;
  if (typeof data.string === 'string') {
    try {
      return JSON.parse(data.string) as unknown;
    } catch {
      return data.string;
    }
  }
  if (typeof data.json === 'string') return JSON.parse(data.json) as unknown;
  if (data.bytes) return Buffer.from(data.bytes);
  if (typeof data.int === 'number') return data.int;
  if (typeof data.double === 'number') return data.double;
  return undefined;
}

/** The JSON text of a returned value, as the Durable extension stores results (`null` for none). */
export function typedDataToJsonText(data: RpcTypedData | null | undefined): string {
  if (!data) return 'null';
  if (typeof data.json === 'string') return data.json;
  if (typeof data.string === 'string') return JSON.stringify(data.string);
  if (typeof data.int === 'number') return String(data.int);
  if (typeof data.double === 'number') return String(data.double);
  if (data.bytes) return JSON.stringify(Buffer.from(data.bytes).toString('base64'));
  return 'null';
}

/** The registered function `name` (case-insensitive, as the host matches names) with a `triggerType` trigger. */
export function findFunction(
  registry: AppRegistry,
  name: string,
  triggerType: string,
): RegisteredFunction | undefined {
  for (const fn of registry.functions.values()) {
    if (fn.metadata.name.toLowerCase() !== name.toLowerCase()) continue;
    if (Object.values(fn.metadata.bindings).some((b) => b.type === triggerType)) return fn;
  }
  return undefined;
}

/** The name of `fn`'s `triggerType` binding (what its trigger data is sent as). */
export function triggerBindingName(fn: RegisteredFunction, triggerType: string): string {
  const entry = Object.entries(fn.metadata.bindings).find(([, b]) => b.type === triggerType);
  if (!entry) throw new Error(`function ${fn.metadata.name} has no ${triggerType}`);
  return entry[0];
}

/** A thrown value as text: its message, and its stack (or the message again) as details. */
export function errorText(err: unknown): { message: string; details: string } {
  if (err instanceof Error) return { message: err.message, details: err.stack ?? err.message };
  const s = typeof err === 'string' ? err : JSON.stringify(err);
  return { message: s, details: s };
}

/** A binding option that must be a string (binding metadata values are untyped). */
export function stringOption(binding: Record<string, unknown>, key: string): string | undefined {
  const value = binding[key];
  return typeof value === 'string' ? value : undefined;
}
