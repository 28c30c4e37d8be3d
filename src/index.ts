/**
 * Entry point of the function app (package.json `main`): registers every trigger, orchestration,
 * entity and activity with the Functions host.
 */
import { app } from '@azure/functions';
import './functions/index.js';
import { ACTIVITIES } from './activities/index.js';
import { registerOrchestrations } from './orchestrators/index.js';
import { registerActivities } from './shared/app/activity.js';
import { closeEventSenders } from './shared/events/index.js';

// Request bodies reach the functions as streams (through the worker's HTTP proxy), never loaded
// whole into the host's or the worker's memory: `POST /api/imports` pipes them into storage with a
// cap, and every other route reads at most a small capped body (src/shared/app/http.ts).
app.setup({ enableHttpStream: true });

registerOrchestrations();
registerActivities(ACTIVITIES);

// Event senders live as long as the worker; close their connections when it shuts down.
app.hook.appTerminate(() => closeEventSenders());
