/**
 * Azure's limits, as the local host enforces them. Every limit is on by default (tests, `npm start`,
 * `devhost/main.ts`); a test can switch one off or shorten it only by passing `limits` to
 * `startHost`. Sources are listed in devhost/README.md ("Limits (as on Azure)").
 */

/** The limits of the local host. `false` switches a limit off (tests only). */
export interface HostLimits {
  /**
   * Largest request body in bytes; a larger one answers 413 before the function runs (the Functions
   * host's `maxRequestBodySize`, 104,857,600 bytes unless FUNCTIONS_REQUEST_BODY_SIZE_LIMIT says otherwise).
   */
  maxRequestBodyBytes: number | false;
  /**
   * A request that receives no byte and has no response started for this long is answered 502 by
   * the front end (Azure Load Balancer idle timeout, 230 s); the function keeps running.
   */
  httpIdleTimeoutMs: number | false;
  /**
   * Longest run of one invocation: `'host.json'` reads `functionTimeout` (30 min when absent, the
   * Flex Consumption default), a number overrides it in ms.
   */
  functionTimeoutMs: number | false | 'host.json';
  /**
   * Durable HTTP API: a POST that starts an orchestration must carry `application/json` when it has
   * a body (stricter than the extension, which parses any body: a `text/plain` start is what a
   * web page can send cross-site without a preflight).
   */
  jsonOnlyDurableStarts: boolean;
}

/** The limits as on Azure (Flex Consumption). */
export const AZURE_LIMITS: Readonly<HostLimits> = Object.freeze({
  maxRequestBodyBytes: 104_857_600,
  httpIdleTimeoutMs: 230_000,
  functionTimeoutMs: 'host.json',
  jsonOnlyDurableStarts: true,
});

/** `functionTimeout` when host.json has none (Flex Consumption, Premium and Dedicated default: 30 min). */
export const DEFAULT_FUNCTION_TIMEOUT_MS = 30 * 60_000;

/** Limits after host.json is read: `functionTimeoutMs` is a number or `false`. */
export interface ResolvedLimits extends Omit<HostLimits, 'functionTimeoutMs'> {
  functionTimeoutMs: number | false;
}

/**
 * Parses a .NET TimeSpan as host.json writes it (`hh:mm:ss[.fffffff]`, `d.hh:mm:ss[.fffffff]`);
 * `-1` means no timeout. Returns undefined for anything else.
 */
export function parseTimeSpan(text: string): number | false | undefined {
  const value = text.trim();
  if (value === '-1') return false;
  const m = /^(?:(\d+)\.)?(\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.(\d{1,7}))?$/.exec(value);
  if (!m) return undefined;
  const [, days, hours, minutes, seconds, fraction] = m;
  const ms =
    ((Number(days ?? 0) * 24 + Number(hours)) * 60 + Number(minutes)) * 60_000 +
    Number(seconds) * 1000 +
    Math.round(Number(`0.${fraction ?? '0'}`) * 1000);
  return ms;
}

/** A duration as .NET's `TimeSpan.ToString()` prints it (`00:30:00`, `00:00:00.5000000`, `1.00:00:00`). */
export function formatTimeSpan(ms: number): string {
  const totalTicks = Math.round(ms * 10_000);
  const ticksPerSecond = 10_000_000;
  const fraction = totalTicks % ticksPerSecond;
  let seconds = Math.floor(totalTicks / ticksPerSecond);
  const days = Math.floor(seconds / 86_400);
  seconds -= days * 86_400;
  const two = (n: number): string => String(n).padStart(2, '0');
  const hms = `${two(Math.floor(seconds / 3600))}:${two(Math.floor((seconds % 3600) / 60))}:${two(seconds % 60)}`;
  return `${days > 0 ? `${days}.` : ''}${hms}${fraction > 0 ? `.${String(fraction).padStart(7, '0')}` : ''}`;
}

/** Merges test overrides over the Azure limits and resolves `functionTimeout` from host.json. */
export function resolveLimits(
  overrides: Partial<HostLimits> | undefined,
  hostJsonFunctionTimeout: string | undefined,
): ResolvedLimits {
  const merged: HostLimits = { ...AZURE_LIMITS, ...overrides };
  let functionTimeoutMs: number | false;
  if (merged.functionTimeoutMs === 'host.json') {
    if (hostJsonFunctionTimeout === undefined) functionTimeoutMs = DEFAULT_FUNCTION_TIMEOUT_MS;
    else {
      const parsed = parseTimeSpan(hostJsonFunctionTimeout);
      if (parsed === undefined) {
        throw new Error(
          `devhost: host.json functionTimeout "${hostJsonFunctionTimeout}" is not a TimeSpan (hh:mm:ss).`,
        );
      }
      functionTimeoutMs = parsed;
    }
  } else functionTimeoutMs = merged.functionTimeoutMs;
  return { ...merged, functionTimeoutMs };
}

/**
 * The error an invocation fails with when it runs past `functionTimeout`, worded as the WebJobs
 * SDK's FunctionExecutor words it (the durable extension then reports
 * "Activity function 'X' failed: Timeout value of … was exceeded by function: Functions.X").
 */
export class FunctionTimeoutError extends Error {
  constructor(
    readonly functionName: string,
    readonly timeoutMs: number,
  ) {
    super(
      `Timeout value of ${formatTimeSpan(timeoutMs)} was exceeded by function: Functions.${functionName}`,
    );
    this.name = 'FunctionTimeoutException';
  }
}
