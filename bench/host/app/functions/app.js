// The app bench/host/durable.ts runs: one orchestration of ten no-op activities in sequence, so
// what is measured is the host (episodes, dispatch, the durable store), not the app.
import * as df from 'durable-functions';

df.app.activity('noop', { handler: async () => undefined });

df.app.orchestration('tenActivities', function* (context) {
  for (let i = 0; i < 10; i++) yield context.df.callActivity('noop', i);
  return 'done';
});
