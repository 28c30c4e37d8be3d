/**
 * Entry point of the function app (package.json `main`): imports every registration file. Each
 * file registers its functions with `app.*` / `df.app.*` when imported.
 */
import './functions/health.js';
import './functions/importBlob.js';
import './functions/importCommand.js';
import './functions/importsHttp.js';
import './functions/jobsHttp.js';
import './functions/dashboard.js';
import './orchestrators/importPackage.js';
import './orchestrators/entities.js';
import './activities/registrations/prepare.js';
import './activities/registrations/uploadAndStart.js';
import './activities/registrations/getStatus.js';
import './activities/registrations/collectErrors.js';
import './activities/registrations/finish.js';
import './activities/registrations/slot.js';
import './functions/exportsHttp.js';
import './functions/exportSchedule.js';
import './orchestrators/exportPackage.js';
import './activities/registrations/export.js';
import './functions/recurringTriggers.js';
import './functions/recurringImportBlob.js';
import './orchestrators/recurringExportDrain.js';
import './orchestrators/recurringImport.js';
import './activities/registrations/recurring.js';
import './functions/purgeHistory.js';

import { app } from '@azure/functions';
import { closeEventSenders } from './shared/events/index.js';

// Event senders live as long as the worker; close their connections when it shuts down.
app.hook.appTerminate(() => closeEventSenders());
