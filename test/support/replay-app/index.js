// The app's real orchestrators and entities (compiled, as the host loads them) with every activity
// answered by the test: `globalThis.__replay.answer(name, input)`. Used by test/support/replay.ts.
// Each orchestrator episode's actions (what the Functions host replays against history, signals
// included) are handed to `globalThis.__replay.episode(instanceId, state)`.
import { app } from '@azure/functions';
import * as df from 'durable-functions';
import { URL } from 'node:url';

const register = app.generic;
app.generic = (name, options) => {
  if (options.trigger?.type !== 'orchestrationTrigger') return register(name, options);
  const handler = options.handler;
  return register(name, {
    ...options,
    handler: async (trigger, context) => {
      const state = await handler(trigger, context);
      globalThis.__replay?.episode?.(trigger?.instanceId, state);
      return state;
    },
  });
};

// absolute urls: a relative specifier in a dynamic import is resolved wrongly when this file is
// loaded through vitest's module runner (as '<cwd>/file:/…')
const { registerOrchestrations } = await import(
  new URL('../../../dist/src/orchestrators/index.js', import.meta.url).href
);
const { ACTIVITIES } = await import(new URL('../../../dist/src/activities/index.js', import.meta.url).href);

registerOrchestrations();
for (const { name } of ACTIVITIES) {
  df.app.activity(name, { handler: async (input) => globalThis.__replay.answer(name, input) });
}
