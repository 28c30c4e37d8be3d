/**
 * The app's entry point (package.json `main`): importing a file registers its functions with the
 * Functions runtime. Every trigger, orchestrator and activity file is listed here.
 */
import './functions/health.js';
