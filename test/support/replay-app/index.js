// The app's real orchestrators and entities (compiled, as the host loads them) with every activity
// answered by the test: `globalThis.__replay.answer(name, input)`. Used by test/support/replay.ts.
import * as df from 'durable-functions';
import '../../../dist/src/orchestrators/exportPackage.js';
import '../../../dist/src/orchestrators/recurringExportDrain.js';
import '../../../dist/src/orchestrators/entities.js';
import { IMPORT_ACTIVITIES } from '../../../dist/src/activities/names.js';
import { EXPORT_ACTIVITIES, RECURRING_ACTIVITIES } from '../../../dist/src/activities/exportNames.js';

const names = new Set([
  ...Object.values(IMPORT_ACTIVITIES),
  ...Object.values(EXPORT_ACTIVITIES),
  ...Object.values(RECURRING_ACTIVITIES),
]);
for (const name of names) {
  df.app.activity(name, { handler: async (input) => globalThis.__replay.answer(name, input) });
}
