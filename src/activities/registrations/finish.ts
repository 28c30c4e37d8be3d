import * as df from 'durable-functions';
import { finishImport, type FinishInput } from '../finish.js';
import { IMPORT_ACTIVITIES } from '../names.js';
import { getRuntime, invocationLogger } from '../runtime.js';

df.app.activity(IMPORT_ACTIVITIES.finish, {
  // written by our own orchestrator (never by a user): its shape is the FinishInput contract
  handler: async (raw: unknown, context) => {
    const input = raw as FinishInput;
    return finishImport(getRuntime(), input, invocationLogger(context, { instanceId: input.result.id }));
  },
});
