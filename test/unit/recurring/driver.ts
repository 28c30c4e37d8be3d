/** Drives an orchestrator generator with a fake durable context: every activity call is answered by `answer`. */
export interface Call {
  kind: 'activity' | 'timer' | 'entity';
  name?: string;
  input?: unknown;
  at?: Date;
}

export interface DriveResult {
  calls: Call[];
  output: unknown;
  continuedWith: unknown;
  customStatuses: unknown[];
}

type Answer = { value: unknown } | { error: Error };

export function drive(
  orchestrator: (context: never) => Generator<unknown, unknown, unknown>,
  options: { input: unknown; instanceId?: string; answer: (call: Call, calls: Call[]) => Answer },
): DriveResult {
  let now = new Date('2026-01-01T00:00:00Z');
  const calls: Call[] = [];
  const customStatuses: unknown[] = [];
  let continuedWith: unknown;
  const context = {
    df: {
      instanceId: options.instanceId ?? 'exp-test',
      get currentUtcDateTime() {
        return now;
      },
      getInput: () => options.input,
      setCustomStatus: (s: unknown) => customStatuses.push(s),
      callActivityWithRetry: (name: string, _retry: unknown, input: unknown): Call => ({
        kind: 'activity',
        name,
        input,
      }),
      callActivity: (name: string, input: unknown): Call => ({ kind: 'activity', name, input }),
      createTimer: (at: Date): Call => ({ kind: 'timer', at }),
      callEntity: (entity: { name: string }, operation: string, input?: unknown): Call => ({
        kind: 'entity',
        name: `${entity.name}.${operation}`,
        input,
      }),
      signalEntity: () => undefined,
      continueAsNew: (input: unknown) => {
        continuedWith = input;
      },
    },
  };
  const gen = orchestrator(context as never);
  let next = gen.next();
  for (let steps = 0; !next.done; steps++) {
    if (steps > 10_000) throw new Error('orchestrator did not finish');
    const call = next.value as Call;
    calls.push(call);
    if (call.kind === 'timer') {
      now = call.at!;
      next = gen.next(undefined);
      continue;
    }
    const answer = options.answer(call, calls);
    next = 'error' in answer ? gen.throw(answer.error) : gen.next(answer.value);
  }
  return { calls, output: next.value, continuedWith, customStatuses };
}
