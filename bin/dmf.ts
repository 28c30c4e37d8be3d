#!/usr/bin/env node
/** The `dmf` command (package.json `bin`, compiled to dist/bin/dmf.js). See src/cli/main.ts. */
import { runCli } from '../src/cli/main.js';

// exitCode, not exit(): lets piped stdout drain before the process ends
process.exitCode = await runCli(process.argv.slice(2));
