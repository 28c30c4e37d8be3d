/** Every trigger of the app: each module registers its functions with `app.*` when imported. */
import './common/health.js';
import './common/purgeHistory.js';
import './common/jobs.js';
import './common/reindex.js';
import './common/jobFiles.js';
import './common/dashboard.js';
import './imports/blob.js';
import './imports/command.js';
import './imports/http.js';
import './imports/uploads.js';
import './exports/http.js';
import './exports/schedule.js';
import './recurring/schedule.js';
import './recurring/http.js';
import './recurring/blob.js';
import './operate/rerun.js';
import './operate/environments.js';
