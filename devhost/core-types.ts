/**
 * The subset of the `@azure/functions-core` contract (supplied by the real Node.js worker) that
 * `@azure/functions` 4.x calls. The package ships no typings for it, so the shapes are restated
 * here from the library's own use of them.
 */

/** Typed data as the worker exchanges it with the host (protobuf `TypedData`). */
export interface RpcTypedData {
  string?: string | null;
  json?: string | null;
  bytes?: Uint8Array | null;
  stream?: Uint8Array | null;
  http?: RpcHttpData | null;
  int?: number | null;
  double?: number | null;
  /** An SDK-type binding's reference (e.g. the blob extension's `AzureStorageBlobs` data); see triggers/blob.ts. */
  modelBindingData?: RpcModelBindingData | null;
}

/** The worker protocol's `ModelBindingData` (the host's ParameterBindingData). */
export interface RpcModelBindingData {
  version?: string | null;
  source?: string | null;
  contentType?: string | null;
  content?: Uint8Array | null;
}

/** HTTP request/response data as the worker exchanges it with the host. */
export interface RpcHttpData {
  method?: string | null;
  url?: string | null;
  headers?: Record<string, string> | null;
  body?: RpcTypedData | null;
  params?: Record<string, string> | null;
  statusCode?: string | null;
  query?: Record<string, string> | null;
  cookies?: unknown[] | null;
  enableContentNegotiation?: boolean | null;
}

/** One binding of a function as registered (`bindings[name]`). */
export interface RpcBindingInfo {
  type?: string;
  direction?: 'in' | 'out' | 'inout';
  [option: string]: unknown;
}

/** The retry policy of a non-durable function (`app.*({ retry })`). */
export interface RpcRetryOptions {
  maxRetryCount?: number;
  /** `exponentialBackoff` or `fixedDelay`. */
  retryStrategy?: string;
  delayInterval?: { seconds?: number; nanos?: number } | null;
  minimumInterval?: { seconds?: number; nanos?: number } | null;
  maximumInterval?: { seconds?: number; nanos?: number } | null;
}

/** Metadata passed to `registerFunction`. */
export interface FunctionMetadata {
  name: string;
  bindings: Record<string, RpcBindingInfo>;
  retryOptions?: RpcRetryOptions;
}

/** The function's callback as registered. */
export type FunctionCallback = (...args: unknown[]) => unknown;

/** A binding value in an invocation request. */
export interface RpcParameterBinding {
  name: string;
  data?: RpcTypedData | null;
}

/** The invocation response produced by `InvocationModel.getResponse`. */
export interface RpcInvocationResponse {
  invocationId?: string;
  outputData?: RpcParameterBinding[];
  returnValue?: RpcTypedData | null;
}

/** Worker log levels and categories. */
export type RpcLogLevel = 'trace' | 'debug' | 'information' | 'warning' | 'error' | 'critical' | 'none';

/** The context handed to `ProgrammingModel.getInvocationModel`. */
export interface CoreInvocationContext {
  invocationId: string;
  request: {
    inputData?: RpcParameterBinding[];
    triggerMetadata?: Record<string, RpcTypedData>;
    traceContext?: { traceParent?: string; traceState?: string; attributes?: Record<string, string> };
    retryContext?: { retryCount: number; maxRetryCount: number; exception?: { message?: string } };
  };
  metadata: FunctionMetadata;
  state?: 'preInvocationHooks' | 'postInvocationHooks' | 'invocation' | 'invocationResponse';
  log(level: RpcLogLevel, category: 'user' | 'system' | 'customMetric', message: string): void;
}

/** What `getArguments` resolves to. */
export interface InvocationArguments {
  context: unknown;
  inputs: unknown[];
}

/** The per-invocation model of a programming model. */
export interface InvocationModel {
  getArguments(): Promise<InvocationArguments>;
  invokeFunction(context: unknown, inputs: unknown[], handler: FunctionCallback): Promise<unknown>;
  getResponse(context: unknown, result: unknown): Promise<RpcInvocationResponse>;
}

/** The programming model `@azure/functions` registers through `setProgrammingModel`. */
export interface ProgrammingModel {
  name: string;
  version: string;
  getInvocationModel(coreCtx: CoreInvocationContext): InvocationModel;
  getCapabilities?(capabilities: Record<string, string>): Promise<Record<string, string>>;
}

/** Hook kinds the library can register. */
export type HookType = 'preInvocation' | 'postInvocation' | 'appStart' | 'appTerminate' | 'log';

/** A hook callback; the argument is a plain context object the library wraps. */
export type HookCallback = (context: Record<string, unknown>) => unknown;
