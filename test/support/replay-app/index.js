// The app's real orchestrators and entities (compiled, as the host loads them) with every activity
// answered by the test: `globalThis.__replay.answer(name, input)`. Used by test/support/replay.ts.
// Each orchestrator episode's actions (what the Functions host replays against history, signals
// included) are handed to `globalThis.__replay.episode(instanceId, state)`.
import { app } from '@azure/functions';
import * as df from 'durable-functions';

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

await import('../../../dist/src/orchestrators/exportPackage.js');
await import('../../../dist/src/orchestrators/recurringExportDrain.js');
await import('../../../dist/src/orchestrators/importPackage.js');
await import('../../../dist/src/orchestrators/recurringImport.js');
await import('../../../dist/src/orchestrators/entities.js');
const { IMPORT_ACTIVITIES } = await import('../../../dist/src/activities/names.js');
const { EXPORT_ACTIVITIES, RECURRING_ACTIVITIES } =
  await import('../../../dist/src/activities/exportNames.js');

const names = new Set([
  ...Object.values(IMPORT_ACTIVITIES),
  ...Object.values(EXPORT_ACTIVITIES),
  ...Object.values(RECURRING_ACTIVITIES),
]);
for (const name of names) {
  df.app.activity(name, { handler: async (input) => globalThis.__replay.answer(name, input) });
}
