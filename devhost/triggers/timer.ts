import { mkdirSync, readFileSync, writeFileSync, renameSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { Cron } from 'croner';
import type { AppRegistry } from '../core-api.js';
import type { BindingServices } from '../bindings.js';
import type { HostClock } from '../clock.js';
import type { RpcRetryOptions } from '../core-types.js';
import { invokeRegistered, stringOption } from '../invoke.js';
import type { HostLogger } from '../invoke.js';

/** A late firing beyond this counts as past due (the host's schedule monitor notion). */
export const PAST_DUE_THRESHOLD_MS = 1000;

/** Options for {@link startTimerTriggers}. */
export interface TimerTriggerOptions {
  registry: AppRegistry;
  clock: HostClock;
  logger: HostLogger;
  /** Schedule status files (the host's schedule monitor) live under `<dataDir>/timers/`. */
  dataDir: string;
  bindings: BindingServices;
}

interface ScheduleStatus {
  Last: string;
  Next: string;
  LastUpdated: string;
}

/**
 * Parses an NCRONTAB expression (6 fields, seconds first) or a TimeSpan (`hh:mm:ss`) schedule and
 * returns a function giving the next occurrence after a time. `%Name%` refers to an app setting.
 */
export function parseSchedule(
  schedule: string,
  env: NodeJS.ProcessEnv = process.env,
): (after: number) => number {
  let expr = schedule.trim();
  const setting = /^%(.+)%$/.exec(expr);
  if (setting) {
    const value = env[setting[1] as string];
    if (!value)
      throw new Error(`Timer schedule refers to app setting ${setting[1] as string}, which is not set.`);
    expr = value.trim();
  }
  const span = /^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})$/.exec(expr);
  if (span) {
    const ms =
      ((Number(span[1] ?? 0) * 24 + Number(span[2])) * 3600 + Number(span[3]) * 60 + Number(span[4])) * 1000;
    if (ms <= 0) throw new Error(`Timer schedule ${expr} must be positive.`);
    return (after) => after + ms;
  }
  const cron = new Cron(expr, { paused: true, timezone: 'Etc/UTC', mode: '6-part', domAndDow: true });
  return (after) => {
    const next = cron.nextRun(new Date(after));
    if (!next) throw new Error(`Timer schedule ${expr} has no future occurrence.`);
    return next.getTime();
  };
}

const durationMs = (d: { seconds?: number; nanos?: number } | null | undefined): number =>
  (d?.seconds ?? 0) * 1000 + Math.floor((d?.nanos ?? 0) / 1e6);

/** Delay before retry `retry` (1-based) of a function retry policy (fixedDelay or exponentialBackoff). */
export function retryDelay(policy: RpcRetryOptions, retry: number): number {
  if (policy.retryStrategy === 'exponentialBackoff') {
    const min = durationMs(policy.minimumInterval);
    const max = durationMs(policy.maximumInterval) || Number.MAX_SAFE_INTEGER;
    return Math.min(max, min * Math.pow(2, retry - 1));
  }
  return durationMs(policy.delayInterval);
}

/**
 * Runs timer triggers on the host clock: each occurrence of the schedule, `runOnStartup`, and a
 * past-due run at startup when an occurrence was missed while the host was down (schedule status
 * kept in files, like the host's schedule monitor). Invocations of one function never overlap.
 */
export function startTimerTriggers(options: TimerTriggerOptions): {
  stop(): void;
  /** Runs a timer function now (the host's `POST /admin/functions/{name}`); false if there is none. */
  runNow(name: string): boolean;
} {
  const cancels: (() => void)[] = [];
  const runners = new Map<string, () => void>();
  let stopped = false;
  const dir = join(options.dataDir, 'timers');
  mkdirSync(dir, { recursive: true });

  for (const fn of options.registry.functions.values()) {
    const entry = Object.entries(fn.metadata.bindings).find(([, b]) => b.type === 'timerTrigger');
    if (!entry) continue;
    const [triggerName, binding] = entry;
    const name = fn.metadata.name;
    let next: (after: number) => number;
    try {
      next = parseSchedule(stringOption(binding, 'schedule') ?? '');
    } catch (err) {
      options.logger(
        'error',
        'system',
        name,
        `Timer trigger disabled: ${err instanceof Error ? err.message : String(err)}`,
      );
      continue;
    }
    const statusFile = join(dir, `${encodeURIComponent(name)}.json`);
    const readStatus = (): ScheduleStatus | undefined =>
      existsSync(statusFile) ? (JSON.parse(readFileSync(statusFile, 'utf8')) as ScheduleStatus) : undefined;
    const writeStatus = (s: ScheduleStatus): void => {
      writeFileSync(`${statusFile}.tmp`, JSON.stringify(s));
      renameSync(`${statusFile}.tmp`, statusFile);
    };
    let running = Promise.resolve();

    const invoke = (scheduledAt: number, isPastDue: boolean): void => {
      running = running.then(async () => {
        if (stopped) return;
        const now = options.clock.now();
        const status: ScheduleStatus = {
          Last: new Date(scheduledAt).toISOString(),
          Next: new Date(next(now)).toISOString(),
          LastUpdated: new Date(now).toISOString(),
        };
        writeStatus(status);
        const payload = { Schedule: { AdjustForDST: true }, ScheduleStatus: status, IsPastDue: isPastDue };
        const policy = fn.metadata.retryOptions;
        const maxRetries = policy?.maxRetryCount ?? 0;
        for (let retryCount = 0; !stopped; retryCount++) {
          try {
            const response = await invokeRegistered(
              options.registry,
              fn,
              {
                inputData: [
                  { name: triggerName, data: { json: JSON.stringify(payload) } },
                  ...options.bindings.extraInputs(fn),
                ],
                retryContext: policy ? { retryCount, maxRetryCount: maxRetries } : undefined,
              },
              options.logger,
            );
            await options.bindings.applyOutputs(fn, response.outputData ?? []);
            return;
          } catch (err) {
            options.logger(
              'error',
              'system',
              name,
              `Executed with error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
            );
            // The function's retry policy (app.timer({ retry })), on the host clock; -1 retries forever.
            if (!policy || (maxRetries !== -1 && retryCount >= maxRetries)) return;
            const delay = retryDelay(policy, retryCount + 1);
            await new Promise<void>((resolve) => {
              cancels.push(options.clock.setTimer(options.clock.now() + delay, resolve));
            });
          }
        }
      });
    };

    runners.set(name.toLowerCase(), () => invoke(options.clock.now(), false));

    const arm = (after: number): void => {
      if (stopped) return;
      const due = next(after);
      cancels.push(
        options.clock.setTimer(due, () => {
          invoke(due, options.clock.now() - due > PAST_DUE_THRESHOLD_MS);
          arm(Math.max(due, options.clock.now()));
        }),
      );
    };

    const now = options.clock.now();
    const previous = readStatus();
    if (previous && new Date(previous.Next).getTime() < now) invoke(new Date(previous.Next).getTime(), true);
    else if (binding.runOnStartup === true) invoke(now, false);
    else if (!previous) {
      writeStatus({
        Last: new Date(0).toISOString(),
        Next: new Date(next(now)).toISOString(),
        LastUpdated: new Date(now).toISOString(),
      });
    }
    arm(now);
  }
  return {
    stop() {
      stopped = true;
      cancels.forEach((c) => c());
    },
    runNow(name) {
      const run = runners.get(name.toLowerCase());
      run?.();
      return run !== undefined;
    },
  };
}
