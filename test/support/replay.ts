/**
 * Runs the app's orchestrators through durable-functions' real replay on the local host's durable
 * engine (virtual clock), with each activity answered by the test. What an orchestrator did is read
 * back from the calls its activities received and from its durable history — no mocked `context.df`.
 * Needs the built app (`npm run build`; `npm test` builds first).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createVirtualClock, startHost, type InstanceStatus, type RunningHost } from '@dmf-functions/devhost';
import { PROJECT_ROOT } from '@dmf-functions/devhost/stack';

/** An activity call the orchestrator made (every attempt), or a durable timer it created. */
export interface Call {
  kind: 'activity' | 'timer';
  name?: string;
  input?: unknown;
  at?: Date;
}

/** What a test's activity answers: a value, or an error the activity throws. */
export type Answer = { value: unknown } | { error: Error };

/** The outcome of one orchestration run (all its continue-as-new generations). */
export interface ReplayRun {
  /** Activity calls across all generations, in order. */
  activityCalls: Call[];
  /** Activity calls and timers of the last generation, in history order. */
  calls: Call[];
  /**
   * The orchestrator's actions as its last episode returned them (every generation's last one): what
   * the Functions host replays against the history, entity signals included.
   */
  actions: unknown[];
  output: unknown;
  status: InstanceStatus;
  /** The host's (virtual) time when the run was started. */
  startedAt: Date;
}

interface ReplayHook {
  answer(name: string, input: unknown): unknown;
  episode?(instanceId: string | undefined, state: unknown): void;
}
const hook = globalThis as unknown as { __replay?: ReplayHook };

/** A local host with the replay app loaded; stop it in `afterAll`. */
export interface ReplayHost {
  run(
    orchestrator: string,
    options: { input: unknown; instanceId?: string; answer: (call: Call, calls: Call[]) => Answer },
  ): Promise<ReplayRun>;
  /** The host's durable engine (entities, events) for scenarios that need more than activities. */
  durable: RunningHost['durable'];
  /** The host's (virtual) time now: inputs that hold times to come are made from it. */
  now(): Date;
  stop(): Promise<void>;
}

let sequence = 0;

/** Starts the replay host (HTTP and durable only, no triggers). */
export async function startReplayHost(): Promise<ReplayHost> {
  const dataDir = mkdtempSync(join(tmpdir(), 'dmf-replay-'));
  const clock = createVirtualClock({ start: Date.parse('2026-01-01T00:00:00Z'), autoAdvance: true });
  const host: RunningHost = await startHost({
    appRoot: PROJECT_ROOT,
    main: 'test/support/replay-app/index.js',
    dataDir,
    clock,
    logger: () => undefined,
    startTriggers: false,
  });
  return {
    durable: host.durable,
    now: () => new Date(clock.now()),
    async run(orchestrator, options) {
      const activityCalls: Call[] = [];
      const instanceId = options.instanceId ?? `replay-${++sequence}`;
      const generations: unknown[] = [];
      let lastActions: unknown;
      hook.__replay = {
        episode(id, state) {
          if (id !== undefined && id !== instanceId) return;
          const parsed = (typeof state === 'string' ? JSON.parse(state) : state) as {
            actions?: unknown;
            isDone?: boolean;
          };
          lastActions = parsed?.actions;
          // a generation ends with its last episode (done, or continued as new)
          if (parsed?.isDone || JSON.stringify(parsed?.actions ?? []).includes('"actionType":4')) {
            generations.push(lastActions);
            lastActions = undefined;
          }
        },
        answer(name, input) {
          const call: Call = { kind: 'activity', name, input };
          activityCalls.push(call);
          const answer = options.answer(call, activityCalls);
          if ('error' in answer) throw answer.error;
          return answer.value;
        },
      };
      const startedAt = new Date(clock.now());
      await host.durable.startNew(orchestrator, { instanceId, input: options.input });
      await host.durable.waitForCompletion(instanceId, 30_000);
      const status = (await host.durable.getStatus(instanceId, { showHistory: true, showInput: true }))!;
      if (status.runtimeStatus !== 'Completed') {
        throw new Error(`${orchestrator} ended ${status.runtimeStatus}: ${JSON.stringify(status.output)}`);
      }
      const calls: Call[] = [];
      for (const event of (status.history ?? []) as Record<string, unknown>[]) {
        if (event.EventType === 'TaskScheduled' || event.EventType === 4) {
          calls.push({
            kind: 'activity',
            name: String(event.Name),
            input: typeof event.Input === 'string' ? (JSON.parse(event.Input) as unknown) : undefined,
          });
        } else if (event.EventType === 'TimerCreated' || event.EventType === 10) {
          calls.push({ kind: 'timer', at: new Date(String(event.FireAt)) });
        }
      }
      if (lastActions !== undefined) generations.push(lastActions);
      return { activityCalls, calls, actions: generations, output: status.output, status, startedAt };
    },
    async stop() {
      await host.stop();
      delete hook.__replay;
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
