/**
 * `dmf`: the command-line tool. Talks to the function app's HTTP API only (imports, exports, jobs,
 * job files, re-runs, environments); `dmf package …` works offline on local files and `dmf emulator` starts the F&O
 * emulator. Exit codes: 0 Succeeded, 2 PartiallySucceeded, 1 failed or error.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename, extname, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import type { Writable } from 'node:stream';
import { SingleBar } from 'cli-progress';
import { Command, CommanderError, Option } from 'commander';
import { DEFAULT_NAMES, loadConfig, referencedSettings, SETTING_NAMES } from '../shared/config/index.js';
import { ConfigError, DmfFunctionsError } from '../shared/errors.js';
import { buildPackageFromTemplate, validatePackage } from '../shared/packages/index.js';
import { inboundPath } from '../shared/storage/index.js';
import {
  ApiError,
  BASE_URL_VARIABLES,
  DEFAULT_BASE_URL,
  DEFAULT_UPLOAD_THRESHOLD_BYTES,
  DmfApiClient,
  KEY_VARIABLES,
  type CliJob,
  type CliJobFile,
} from './api.js';
import {
  CliError,
  findConnectionString,
  findFunctionsKey,
  keyRefusedHint,
  recordedStackLines,
  startDataDir,
} from './local.js';
import {
  blobEtag,
  checkContainerName,
  checkMessageId,
  commandJob,
  droppedBlobJob,
  dropFile,
  readCommand,
  recordedRejection,
  sendCommand,
  type CausedJob,
} from './sources.js';
import {
  environmentsTable,
  EXIT_CODES,
  exitCodeFor,
  FINAL_STATUSES,
  formatTime,
  jobDetails,
  jobsTable,
  stageLine,
  table,
} from './format.js';

/** What the CLI reads and writes (the real process by default; tests pass their own). */
export interface CliIo {
  stdout: Writable;
  stderr: Writable;
  env: NodeJS.ProcessEnv;
  /** Draw progress bars (stderr is a terminal). */
  interactive: boolean;
}

/** Default poll interval of `--wait`, in seconds. */
export const DEFAULT_WAIT_INTERVAL_SECONDS = 2;
/** Default limit of `--wait`, in seconds. */
export const DEFAULT_WAIT_TIMEOUT_SECONDS = 6 * 3600;

interface GlobalOptions {
  url?: string;
  key?: string;
  json?: boolean;
}

export { CliError };

/** How long `--wait` waits for a dropped blob or a sent command to become a job before it gives up. */
export const DEFAULT_APPEAR_SECONDS = 120;

function firstEnv(env: NodeJS.ProcessEnv, names: readonly string[]): string | undefined {
  for (const name of names) if (env[name]) return env[name];
  return undefined;
}

/** Jobs `dmf jobs` shows without `--limit` or `--all`. */
export const DEFAULT_JOBS_LIMIT = 100;

/** Parses `--since` (or `--until`): a duration back from now (`30m`, `24h`, `7d`) or an ISO time. */
export function parseSince(text: string, now: Date = new Date(), flag = '--since'): Date {
  const m = /^(\d+(?:\.\d+)?)\s*(m|h|d)$/i.exec(text.trim());
  if (m) {
    const unit = { m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2]!.toLowerCase() as 'm' | 'h' | 'd'];
    return new Date(now.getTime() - Number(m[1]) * unit);
  }
  const date = new Date(text);
  if (Number.isNaN(date.getTime())) {
    throw new CliError(`${flag} "${text}" is neither a duration (30m, 24h, 7d) nor an ISO date/time.`);
  }
  return date;
}

function positiveNumber(name: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0)
      throw new CliError(`${name} must be a positive number, got "${value}".`);
    return n;
  };
}

async function ensureFile(path: string): Promise<number> {
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new CliError(`${path} is not a file.`, { code: 'FILE_NOT_FOUND' });
    return info.size;
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError(`Cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, {
      code: 'FILE_NOT_FOUND',
      cause: error,
    });
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Creates and runs the `dmf` program on `argv` (without node and script); resolves to the exit code. */
export async function runCli(argv: readonly string[], io: CliIo = processIo()): Promise<number> {
  let exitCode = 0;
  const out = (text: string): void => {
    io.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  };
  const err = (text: string): void => {
    io.stderr.write(text.endsWith('\n') ? text : `${text}\n`);
  };
  const program = new Command('dmf');
  program
    .description('Imports and exports through the dmf-functions app, and offline DMF package tools.')
    .addOption(new Option('--url <url>', `function app base url (env ${BASE_URL_VARIABLES.join(' or ')})`))
    .addOption(
      new Option(
        '--key <key>',
        `function key (env ${KEY_VARIABLES.join(' or ')}, else the key npm start keeps in .local/start/functions.key)`,
      ),
    )
    .option('--json', 'print JSON for scripts instead of text')
    .enablePositionalOptions()
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) });

  const globals = (cmd: Command): GlobalOptions => cmd.optsWithGlobals<GlobalOptions>();
  // the connection and output flags work before or after the command name (`dmf jobs --json`)
  const common = (cmd: Command): Command =>
    cmd
      .addOption(new Option('--url <url>', 'function app base url').hideHelp())
      .addOption(new Option('--key <key>', 'function key').hideHelp())
      .option('--json', 'print JSON for scripts instead of text');
  const dataDir = (): string => startDataDir(io.env);
  const client = (cmd: Command): DmfApiClient => {
    const g = globals(cmd);
    const baseUrl =
      g.url ??
      firstEnv(io.env, BASE_URL_VARIABLES) ??
      recordedStackLines(dataDir()).FUNCTIONS_BASE_URL ??
      DEFAULT_BASE_URL;
    // no key given: the one npm start keeps (a new shell has no FUNCTIONS_KEY)
    const found = findFunctionsKey(g.key, io.env, dataDir(), baseUrl);
    return new DmfApiClient({
      baseUrl,
      key: found.key,
      keyHint: keyRefusedHint(found),
    });
  };
  const printJson = (value: unknown): void => out(JSON.stringify(value, null, 2));

  async function waitForJob(
    api: DmfApiClient,
    id: string,
    options: {
      intervalSeconds: number;
      timeoutSeconds: number;
      quiet: boolean;
      fallback?: string;
      /** The job may not exist yet (404 means "not yet"). */
      untilKnown?: boolean;
    },
  ): Promise<CliJob> {
    const deadline = Date.now() + options.timeoutSeconds * 1000;
    let last = '';
    for (;;) {
      let job: CliJob;
      try {
        job = await api.getJob(id, options.fallback ? { fallback: options.fallback } : {});
      } catch (error) {
        if (
          !(options.untilKnown && error instanceof ApiError && error.status === 404) ||
          Date.now() > deadline
        ) {
          throw error;
        }
        await sleep(options.intervalSeconds * 1000);
        continue;
      }
      const line = stageLine(job);
      if (line !== last && !options.quiet) err(`  ${new Date().toISOString().slice(11, 19)}  ${line}`);
      last = line;
      if (FINAL_STATUSES.has(job.status)) return job;
      if (Date.now() > deadline) {
        throw new CliError(
          `Job ${id} is still ${job.status} (${job.stage ?? 'no stage'}) after ${options.timeoutSeconds} s; follow it with: dmf job ${id}`,
          { code: 'WAIT_TIMED_OUT' },
        );
      }
      await sleep(options.intervalSeconds * 1000);
    }
  }

  /**
   * Waits until the job a drop or a command caused is known, then follows it like `--wait` and
   * reports it (resolves to the exit code). Gives up with the app's reason when it recorded a
   * refusal instead (rejected/… in the results container), or after {@link DEFAULT_APPEAR_SECONDS}
   * without either.
   */
  async function followCaused(
    cmd: Command,
    caused: CausedJob,
    given: { storage: string; since: Date; what: string } & WaitOptions,
  ): Promise<number> {
    const json = Boolean(globals(cmd).json);
    const api = client(cmd);
    const options = {
      ...given,
      intervalSeconds: given.interval,
      timeoutSeconds: given.timeout,
      quiet: json,
    };
    return finalReport(api, await waitForCaused(api, caused, options), json);
  }

  async function waitForCaused(
    api: DmfApiClient,
    caused: CausedJob,
    options: {
      storage: string;
      intervalSeconds: number;
      timeoutSeconds: number;
      quiet: boolean;
      since: Date;
      what: string;
    },
  ): Promise<CliJob> {
    const results = io.env[SETTING_NAMES.resultsContainer] || DEFAULT_NAMES.resultsContainer;
    const deadline = Date.now() + Math.min(options.timeoutSeconds, DEFAULT_APPEAR_SECONDS) * 1000;
    for (;;) {
      for (const id of caused.ids) {
        try {
          await api.getJob(id);
          return await waitForJob(api, id, options);
        } catch (error) {
          if (!(error instanceof ApiError && error.status === 404)) throw error;
        }
      }
      if (caused.matches) {
        const { jobs } = await api.listJobs({
          kind: ['export'],
          since: new Date(options.since.getTime() - 60_000),
        });
        const found = jobs.find((j) => caused.matches!(j));
        if (found) return waitForJob(api, found.id, options);
      }
      const rejected = await recordedRejection(options.storage, results, caused.rejectionPath);
      if (rejected) {
        throw new CliError(
          `${options.what} was rejected (${rejected.code}): ${rejected.reason} (recorded in ${results}/${caused.rejectionPath})`,
          { code: rejected.code },
        );
      }
      if (Date.now() > deadline) {
        throw new CliError(
          `${options.what} became no job within ${Math.round((deadline - options.since.getTime()) / 1000)} s${caused.note ? ` (${caused.note})` : ''}: is the app running (npm start), and does it watch that container and queue? See dmf jobs, and ${results}/rejected/ for refusals.`,
          { code: 'NO_JOB' },
        );
      }
      await sleep(options.intervalSeconds * 1000);
    }
  }

  async function finalReport(api: DmfApiClient, job: CliJob, json: boolean): Promise<number> {
    const files: CliJobFile[] = job.result ? await api.jobFiles(job.id).catch(() => []) : [];
    if (json) printJson({ ...job, files });
    else out(jobDetails(job, files));
    const code = exitCodeFor(job.status);
    if (code !== EXIT_CODES.succeeded) {
      const reason = job.errors[0]?.message;
      err(`dmf: job ${job.id} ${job.status}${reason ? `: ${reason}` : ''}`);
    }
    return code;
  }

  const waitOptions = (cmd: Command): Command =>
    cmd
      .addOption(
        new Option('--interval <seconds>', 'seconds between status checks while waiting')
          .default(DEFAULT_WAIT_INTERVAL_SECONDS)
          .argParser(positiveNumber('--interval')),
      )
      .addOption(
        new Option('--timeout <seconds>', 'give up waiting after this many seconds')
          .default(DEFAULT_WAIT_TIMEOUT_SECONDS)
          .argParser(positiveNumber('--timeout')),
      );

  waitOptions(
    common(program.command('import'))
      .description('upload a package (or a data file, for a project with a template) and start its import')
      .argument('<file>', 'the .zip package or data file')
      .requiredOption('--env <name>', 'environment (as configured in the app)')
      .requiredOption('--project <name>', 'import data project')
      .option('--legal-entity <id>', 'legal entity (default: the project’s)')
      .option('--wait', 'wait for the job to finish, showing its stage; exit code follows its status')
      .addOption(
        new Option(
          '--upload-threshold <MB>',
          'files larger than this go through a direct upload url (POST /api/uploads + PUT), not the request body',
        )
          .default(DEFAULT_UPLOAD_THRESHOLD_BYTES / 1024 / 1024)
          .argParser(positiveNumber('--upload-threshold')),
      ),
  ).action(async (file: string, opts: ImportOptions, cmd: Command) => {
    const g = globals(cmd);
    const size = await ensureFile(file);
    const api = client(cmd);
    const bar =
      io.interactive && !g.json
        ? new SingleBar({
            stream: io.stderr,
            format: `Uploading ${basename(file)} [{bar}] {percentage}% | {value}/{total} bytes`,
            hideCursor: true,
            clearOnComplete: false,
          })
        : undefined;
    bar?.start(size, 0);
    let accepted;
    // above the threshold the file goes straight to storage (a request body is limited to 100 MB
    // and would pass through the function); below it, nothing is checked first
    const direct = size > opts.uploadThreshold * 1024 * 1024;
    try {
      const request = {
        environment: opts.env,
        project: opts.project,
        legalEntity: opts.legalEntity,
        onProgress: (sent: number) => bar?.update(sent),
      };
      accepted = direct
        ? await api.importThroughUploadUrl(file, request)
        : await api.importFile(file, request);
    } finally {
      bar?.stop();
    }
    if (!opts.wait) {
      if (g.json) printJson(accepted);
      else out(`Accepted: job ${accepted.id}\n  follow with: dmf job ${accepted.id}`);
      return;
    }
    if (!g.json) err(`Job ${accepted.id} accepted; waiting…`);
    const job = await waitForJob(api, accepted.id, {
      intervalSeconds: opts.interval,
      timeoutSeconds: opts.timeout,
      quiet: Boolean(g.json),
      // an uploaded blob becomes a job once the blob trigger has seen it
      untilKnown: direct,
    });
    exitCode = await finalReport(api, job, Boolean(g.json));
  });

  waitOptions(
    common(program.command('drop'))
      .description(
        'upload a file into the inbound layout ({env}/{project}/[{legal entity}/]{file}), as a blob drop; uses STORAGE_CONNECTION_STRING',
      )
      .argument('<file>', 'the .zip package or data file')
      .requiredOption('--env <name>', 'environment (as configured in the app)')
      .requiredOption('--project <name>', 'import data project (name or definitionGroupId)')
      .option('--legal-entity <id>', 'legal entity segment (default: the project’s)')
      .option(
        '--container <name>',
        `container (default DMF_INBOUND_CONTAINER, else ${DEFAULT_NAMES.inboundContainer}); another one holds the file for a command's blobPath`,
      )
      .option(
        '--wait',
        'wait for the job the blob trigger starts, showing its stage; exit code follows its status',
      ),
  ).action(async (file: string, opts: DropOptions, cmd: Command) => {
    const g = globals(cmd);
    await ensureFile(file);
    const path = inboundPath({
      environment: opts.env,
      project: opts.project,
      ...(opts.legalEntity ? { legalEntity: opts.legalEntity } : {}),
      fileName: basename(file),
    });
    const inbound = io.env[SETTING_NAMES.inboundContainer] || DEFAULT_NAMES.inboundContainer;
    const container = checkContainerName(opts.container ?? inbound);
    const storage = findConnectionString('STORAGE_CONNECTION_STRING', io.env, dataDir());
    const since = new Date();
    const etag = await dropFile({ connectionString: storage, container, path, file });
    const caused = droppedBlobJob(container, path, etag);
    const id = caused.ids[0]!;
    const watched = container === inbound;
    if (!opts.wait) {
      if (g.json)
        printJson({ container, path, blobPath: `${container}/${path}`, etag, ...(watched ? { id } : {}) });
      else
        out(
          watched
            ? `Dropped ${basename(file)} as ${container}/${path}: job ${id} once the blob trigger sees it\n  follow with: dmf job ${id}`
            : `Dropped ${basename(file)} as ${container}/${path}: no trigger watches ${container}; name it in a command ("blobPath": "${container}/${path}")`,
        );
      return;
    }
    if (!g.json) err(`Dropped ${basename(file)} as ${container}/${path}; job ${id}; waiting…`);
    exitCode = await followCaused(cmd, caused, {
      ...opts,
      storage,
      since,
      what: `The blob ${container}/${path}`,
    });
  });

  waitOptions(
    common(program.command('send'))
      .description(
        'send a command (import or export, JSON) to the app’s Service Bus queue; uses SERVICEBUS_CONNECTION_STRING',
      )
      .argument('<command>', 'the command as JSON text ({"type":"import",…}) or the path of a JSON file')
      .option(
        '--message-id <id>',
        'the MessageId (default: a new GUID); the app starts one job per MessageId',
      )
      .option(
        '--queue <name>',
        `the commands queue (default DMF_COMMANDS_QUEUE, else ${DEFAULT_NAMES.commandsQueue})`,
      )
      .option(
        '--wait',
        'wait for the job the command starts, showing its stage; exit code follows its status',
      ),
  ).action(async (given: string, opts: SendOptions, cmd: Command) => {
    const g = globals(cmd);
    const { body } = await readCommand(given);
    const messageId = checkMessageId(opts.messageId ?? randomUUID());
    const queue = opts.queue ?? (io.env[SETTING_NAMES.commandsQueue] || DEFAULT_NAMES.commandsQueue);
    const connectionString = findConnectionString('SERVICEBUS_CONNECTION_STRING', io.env, dataDir());
    // an import moves its blob: its ETag (part of the job id) is read before the command goes out
    const storage = opts.wait
      ? findConnectionString('STORAGE_CONNECTION_STRING', io.env, dataDir())
      : undefined;
    const caused = storage
      ? await commandJob(body, messageId, (container, path) => blobEtag(storage, container, path))
      : undefined;
    const since = new Date();
    await sendCommand({ connectionString, queue, body, messageId });
    if (!opts.wait || !caused || !storage) {
      if (g.json) printJson({ queue, messageId });
      else out(`Sent to ${queue}: MessageId ${messageId}`);
      return;
    }
    if (!g.json) {
      err(
        `Sent to ${queue}: MessageId ${messageId}; ${caused.ids.length === 1 && !caused.matches ? `job ${caused.ids[0]}` : 'its job'}; waiting…`,
      );
    }
    exitCode = await followCaused(cmd, caused, { ...opts, storage, since, what: `The command ${messageId}` });
  });

  waitOptions(
    common(program.command('export'))
      .description('run an export data project and wait for its package')
      .requiredOption('--env <name>', 'environment (as configured in the app)')
      .requiredOption('--project <name>', 'export data project')
      .option('--legal-entity <id>', 'legal entity (default: the project’s)')
      .option(
        '--legal-entities <list>',
        'several legal entities (comma-separated): one export per company, grouped under one job',
      )
      .option('--out <file>', 'save the exported package here (one company only)'),
  ).action(async (opts: ExportOptions, cmd: Command) => {
    const g = globals(cmd);
    const api = client(cmd);
    const legalEntities = opts.legalEntities
      ?.split(',')
      .map((e) => e.trim())
      .filter(Boolean);
    if (legalEntities && (opts.legalEntity || opts.out)) {
      throw new CliError(
        '--legal-entities runs one export per company: give neither --legal-entity nor --out.',
      );
    }
    const accepted = await api.startExport({
      environment: opts.env,
      project: opts.project,
      legalEntity: opts.legalEntity,
      legalEntities,
    });
    if (!g.json) err(`Job ${accepted.id} accepted; waiting…`);
    const job = await waitForJob(api, accepted.id, {
      intervalSeconds: opts.interval,
      timeoutSeconds: opts.timeout,
      quiet: Boolean(g.json),
      fallback: `/exports/${encodeURIComponent(accepted.id)}`,
    });
    exitCode = await finalReport(api, job, Boolean(g.json));
    if (opts.out && job.children?.length) {
      throw new CliError(
        `Job ${job.id} exported several companies: save each one with dmf job <id> --download.`,
        {
          code: 'NO_PACKAGE',
        },
      );
    }
    if (opts.out && exitCode !== EXIT_CODES.failed) {
      const files = await api.jobFiles(job.id);
      const pkg =
        files.find((f) => f.kind === 'package') ?? files.find((f) => f.name.toLowerCase().endsWith('.zip'));
      if (!pkg) throw new CliError(`Job ${job.id} lists no package file to save.`, { code: 'NO_PACKAGE' });
      await pipeline(await api.downloadJobFile(job.id, pkg.name), createWriteStream(opts.out));
      if (!g.json) err(`Saved ${pkg.name} to ${opts.out}`);
    }
  });

  common(program.command('jobs'))
    .description("list jobs, newest first (from the app's job index, paged)")
    .option('--status <list>', 'only these statuses (comma-separated, e.g. Failed,PartiallySucceeded)')
    .option(
      '--kind <list>',
      'only these kinds (import, export, recurringImport, recurringExport, chain, multiCompanyExport)',
    )
    .option(
      '--since <when>',
      'requested since: a duration back (30m, 24h, 7d) or an ISO time (default: the app’s 7 days)',
    )
    .option('--until <when>', 'requested before: a duration back or an ISO time')
    .option('--env <name>', 'only this environment')
    .option('--project <name>', 'only this project')
    .option(
      '--limit <n>',
      `at most this many jobs (default ${DEFAULT_JOBS_LIMIT})`,
      positiveNumber('--limit'),
    )
    .option('--all', 'every job that matches (pages through the whole list)')
    .action(async (opts: JobsOptions, cmd: Command) => {
      const g = globals(cmd);
      const csv = (text: string | undefined): string[] | undefined =>
        text
          ?.split(',')
          .map((s) => s.trim())
          .filter(Boolean);
      const limit = opts.all ? undefined : Math.floor(opts.limit ?? DEFAULT_JOBS_LIMIT);
      const { jobs, more } = await client(cmd).listAllJobs({
        status: csv(opts.status),
        kind: csv(opts.kind),
        environment: opts.env,
        project: opts.project,
        since: opts.since === undefined ? undefined : parseSince(opts.since),
        until: opts.until === undefined ? undefined : parseSince(opts.until, new Date(), '--until'),
        ...(limit !== undefined ? { limit } : {}),
      });
      if (g.json) printJson(jobs);
      else out(jobsTable(jobs));
      if (more) err(`(the newest ${jobs.length} shown; more match: --limit N or --all)`);
    });

  const configCommand = program
    .command('config')
    .description('the configuration JSON (DMF_CONFIG / DMF_CONFIG_FILE)');
  common(configCommand.command('validate'))
    .description('check a configuration file with the app’s own rules (every problem, with its path)')
    .argument('<file>', 'the configuration JSON, e.g. samples/dmf.config.json')
    .action(async (file: string, _opts: unknown, cmd: Command) => {
      await ensureFile(file);
      const path = resolve(file);
      let summary;
      try {
        // the JSON only: storage and Service Bus are the deployment's, secrets are checked at startup
        const config = loadConfig(
          {
            [SETTING_NAMES.configFile]: path,
            [SETTING_NAMES.storage]: 'UseDevelopmentStorage=true',
            [SETTING_NAMES.serviceBus]: 'Endpoint=sb://localhost/;SharedAccessKeyName=k;SharedAccessKey=k',
          },
          { checkSecretSettings: false },
        );
        summary = {
          file: path,
          ok: true,
          environments: config.environments.map((e) => e.name),
          dataProjects: config.dataProjects.map((p) => p.name),
          recurringActivities: config.recurringActivities.map((a) => `${a.direction} ${a.id}`),
          secretSettings: referencedSettings(config).map((r) => r.name),
        };
      } catch (error) {
        if (!(error instanceof ConfigError)) throw error;
        if (globals(cmd).json) printJson({ file: path, ok: false, issues: error.issues });
        else err(`${path}: ${error.message}`);
        exitCode = EXIT_CODES.failed;
        return;
      }
      if (globals(cmd).json) printJson(summary);
      else
        out(
          [
            `OK: ${path}`,
            `  environments:         ${summary.environments.join(', ')}`,
            `  data projects:        ${summary.dataProjects.join(', ') || 'none'}`,
            `  recurring activities: ${summary.recurringActivities.join(', ') || 'none'}`,
            `  secret settings it names (set them as app settings): ${summary.secretSettings.join(', ') || 'none'}`,
          ].join('\n'),
        );
    });

  const admin = program.command('admin').description('operations on the app itself');
  common(admin.command('reindex'))
    .description(
      'rebuild the job index from the running instances and the result JSONs in storage (existing deployments, or after failed index writes)',
    )
    .action(async (_opts: unknown, cmd: Command) => {
      const g = globals(cmd);
      const api = client(cmd);
      const totals = { indexed: 0, skipped: 0, steps: 0 };
      let continuation: string | undefined;
      do {
        const step = await api.reindex(continuation);
        totals.indexed += step.indexed;
        totals.skipped += step.skipped;
        totals.steps++;
        if (!g.json) err(`  ${step.phase}: ${step.indexed} indexed, ${step.skipped} skipped`);
        continuation = step.continuation;
      } while (continuation);
      if (g.json) printJson(totals);
      else out(`Reindexed ${totals.indexed} job(s) in ${totals.steps} step(s); ${totals.skipped} skipped.`);
    });

  common(program.command('job'))
    .description('show one job with its errors and files; exit code follows its status')
    .argument('<id>', 'job id')
    .option('--download <name>', 'save one of the job’s files (see the Files list)')
    .option('--out <file>', 'where --download saves (default: the file name)')
    .action(async (id: string, opts: JobOptions, cmd: Command) => {
      const g = globals(cmd);
      const api = client(cmd);
      if (opts.download) {
        const target = opts.out ?? basename(opts.download);
        await pipeline(await api.downloadJobFile(id, opts.download), createWriteStream(target));
        if (g.json) printJson({ id, file: opts.download, savedTo: target });
        else out(`Saved ${opts.download} to ${target}`);
        return;
      }
      const job = await api.getJob(id, { fallback: `/exports/${encodeURIComponent(id)}` });
      exitCode = await finalReport(api, job, Boolean(g.json));
    });

  waitOptions(
    common(program.command('rerun'))
      .description(
        'start a finished or rejected job again from the same source (an import from its archived file, an export from its data project)',
      )
      .argument('<id>', 'job id')
      .option('--wait', 'wait for the new job to finish; exit code follows its status'),
  ).action(async (id: string, opts: WaitOptions & { wait?: boolean }, cmd: Command) => {
    const g = globals(cmd);
    const api = client(cmd);
    const rerun = await api.rerun(id);
    if (!opts.wait) {
      if (g.json) printJson(rerun);
      else
        out(
          `${rerun.started ? 'Started' : 'Already re-run as'} job ${rerun.id} (re-run of ${rerun.rerunOf})\n  follow with: dmf job ${rerun.id}`,
        );
      return;
    }
    if (!g.json)
      err(`Job ${rerun.id} (re-run of ${rerun.rerunOf}) ${rerun.started ? 'started' : 'found'}; waiting…`);
    const job = await waitForJob(api, rerun.id, {
      intervalSeconds: opts.interval,
      timeoutSeconds: opts.timeout,
      quiet: Boolean(g.json),
    });
    exitCode = await finalReport(api, job, Boolean(g.json));
  });

  const env = program
    .command('env')
    .description('environments: list them, pause one (arrivals wait, nothing goes to F&O), resume it');
  common(env.command('list'))
    .description('each configured environment: paused or active, since when, by whom, its import queue')
    .action(async (_opts: unknown, cmd: Command) => {
      const envs = await client(cmd).environments();
      if (globals(cmd).json) printJson(envs);
      else out(environmentsTable(envs));
    });
  common(env.command('pause'))
    .description(
      'pause an environment: files and requests are accepted and wait (Queued), in arrival order; jobs F&O already runs go on',
    )
    .argument('<env>', 'environment (as configured in the app)')
    .option('--reason <text>', 'why (shown on the waiting jobs)')
    .option('--by <name>', 'who pauses (default: your user name)')
    .action(async (name: string, opts: { reason?: string; by?: string }, cmd: Command) => {
      const paused = await client(cmd).pauseEnvironment(name, {
        by: opts.by ?? (io.env.USER || io.env.USERNAME || undefined),
        ...(opts.reason ? { reason: opts.reason } : {}),
      });
      if (globals(cmd).json) printJson(paused);
      else if (paused.applied === false)
        out(`Pause of ${paused.name} accepted; the app has not applied it yet.`);
      else
        out(
          `Environment ${paused.name} paused since ${formatTime(paused.pausedSince)} by ${paused.pausedBy ?? '?'}${paused.reason ? ` (${paused.reason})` : ''}; ${paused.waiting ?? 0} import(s) waiting.`,
        );
    });
  common(env.command('resume'))
    .description('resume an environment: what waits is sent to F&O in arrival order')
    .argument('<env>', 'environment (as configured in the app)')
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      const resumed = await client(cmd).resumeEnvironment(name);
      if (globals(cmd).json) printJson(resumed);
      else if (resumed.applied === false)
        out(`Resume of ${resumed.name} accepted; the app has not applied it yet.`);
      else
        out(
          `Environment ${resumed.name} resumed; ${resumed.waiting ?? 0} import(s) waiting go on in arrival order.`,
        );
    });

  const pkg = program.command('package').description('offline tools for DMF data packages (.zip)');
  common(pkg.command('inspect'))
    .description('show the manifest, entities and files of a package')
    .argument('<zip>', 'the package')
    .action(async (zip: string, _opts: unknown, cmd: Command) => {
      await ensureFile(zip);
      const report = await validatePackage(zip, { requireDataFiles: false });
      const summary = {
        file: zip,
        definitionGroupName: report.manifest?.definitionGroupName,
        description: report.manifest?.description ?? report.header?.description,
        packageVersion: report.header?.packageVersion,
        entities: report.entities.map((e) => ({
          entityName: e.entityName,
          inputFilePath: e.inputFilePath,
          sourceFormat: e.sourceFormat,
          executionUnit: e.executionUnit,
          levelInExecutionUnit: e.levelInExecutionUnit,
          sequenceInLevel: e.sequenceInLevel,
          entityMapCount: e.entityMapCount,
          isComposite: e.isComposite,
        })),
        files: report.files.map((f) => ({ name: f.name, bytes: f.uncompressedSize })),
        errors: report.errors,
        warnings: report.warnings,
      };
      if (globals(cmd).json) printJson(summary);
      else {
        out(
          [
            `Package ${zip}`,
            `  Definition group: ${summary.definitionGroupName ?? '(unreadable manifest)'}`,
            ...(summary.packageVersion ? [`  Package version:  ${summary.packageVersion}`] : []),
            '',
            table(
              ['ENTITY', 'DATA FILE', 'FORMAT', 'ORDER', 'MAPPINGS'],
              summary.entities.map((e) => [
                e.entityName,
                e.inputFilePath,
                e.sourceFormat,
                `${e.executionUnit}.${e.levelInExecutionUnit}.${e.sequenceInLevel}`,
                String(e.entityMapCount),
              ]),
            ),
            '',
            table(
              ['FILE', 'BYTES'],
              summary.files.map((f) => [f.name, String(f.bytes)]),
            ),
            ...report.errors.map((e) => `error ${e.code}: ${e.message}`),
            ...report.warnings.map((w) => `warning ${w.code}: ${w.message}`),
          ].join('\n'),
        );
      }
      if (!report.ok) exitCode = EXIT_CODES.failed;
    });
  common(pkg.command('validate'))
    .description('check a package the way the app does before sending it to F&O (exit 1 on errors)')
    .argument('<zip>', 'the package')
    .option('--template', 'it is a template: data files may be missing')
    .option('--verify-data', 'also inflate every data file to check real sizes')
    .action(async (zip: string, opts: { template?: boolean; verifyData?: boolean }, cmd: Command) => {
      await ensureFile(zip);
      const report = await validatePackage(zip, {
        requireDataFiles: !opts.template,
        verifyData: Boolean(opts.verifyData),
      });
      if (globals(cmd).json) {
        printJson({
          file: zip,
          ok: report.ok,
          errors: report.errors,
          warnings: report.warnings,
          entities: report.entities.map((e) => e.entityName),
        });
      } else {
        out(
          [
            report.ok
              ? `OK: ${zip} — ${report.entities.length} entit${report.entities.length === 1 ? 'y' : 'ies'} (${report.entities.map((e) => e.entityName).join(', ')})`
              : `INVALID: ${zip}`,
            ...report.errors.map((e) => `  error ${e.code}${e.file ? ` (${e.file})` : ''}: ${e.message}`),
            ...report.warnings.map((w) => `  warning ${w.code}${w.file ? ` (${w.file})` : ''}: ${w.message}`),
          ].join('\n'),
        );
      }
      if (!report.ok) exitCode = EXIT_CODES.failed;
    });
  common(pkg.command('build'))
    .description(
      'wrap a data file into a package made from a template, as the app does for template projects',
    )
    .requiredOption('--template <zip>', 'the template package (exported from the data project)')
    .argument('<data>', 'the data file (CSV, XML, …)')
    .option('--out <file>', 'the package to write (default: <data name>.zip)')
    .option('--entity <label>', 'entity receiving the file, when the template has several')
    .option('--keep-name', 'keep the data file’s own name and rewrite InputFilePath')
    .action(async (data: string, opts: BuildOptions, cmd: Command) => {
      await ensureFile(opts.template);
      const size = await ensureFile(data);
      const target = opts.out ?? `${basename(data, extname(data))}.zip`;
      const built = await buildPackageFromTemplate(
        opts.template,
        { content: createReadStream(data), fileName: basename(data), size },
        {
          ...(opts.entity ? { entityName: opts.entity } : {}),
          dataFileName: opts.keepName ? 'incoming' : 'template',
        },
      );
      await pipeline(built.stream, createWriteStream(target));
      const summary = {
        file: target,
        entityName: built.entityName,
        dataFileName: built.dataFileName,
        isComposite: built.isComposite,
      };
      if (globals(cmd).json) printJson(summary);
      else out(`Wrote ${target}: ${built.dataFileName} for entity "${built.entityName}"`);
    });

  program
    .command('emulator')
    .description('start the local F&O DMF emulator (flags as npm run emulator: --port, --speed, …)')
    .argument('[args...]', 'emulator flags')
    .allowUnknownOption()
    .passThroughOptions()
    .helpOption(false)
    .action(async (args: string[]) => {
      exitCode = await runEmulator(args);
    });

  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : EXIT_CODES.failed;
    const message =
      error instanceof DmfFunctionsError
        ? error.message
        : error instanceof Error
          ? error.message
          : String(error);
    const code = error instanceof DmfFunctionsError ? error.code : 'UNEXPECTED';
    if (globals(program).json) out(JSON.stringify({ error: { code, message } }));
    err(`dmf: ${message}`);
    return EXIT_CODES.failed;
  }
  return exitCode;
}

interface WaitOptions {
  interval: number;
  timeout: number;
}
interface ImportOptions extends WaitOptions {
  env: string;
  project: string;
  legalEntity?: string;
  wait?: boolean;
  uploadThreshold: number;
}
interface DropOptions extends WaitOptions {
  env: string;
  project: string;
  legalEntity?: string;
  container?: string;
  wait?: boolean;
}
interface SendOptions extends WaitOptions {
  messageId?: string;
  queue?: string;
  wait?: boolean;
}
interface ExportOptions extends WaitOptions {
  env: string;
  project: string;
  legalEntity?: string;
  legalEntities?: string;
  out?: string;
}
interface JobsOptions {
  status?: string;
  kind?: string;
  since?: string;
  until?: string;
  env?: string;
  project?: string;
  limit?: number;
  all?: boolean;
}
interface JobOptions {
  download?: string;
  out?: string;
}
interface BuildOptions {
  template: string;
  out?: string;
  entity?: string;
  keepName?: boolean;
}

/**
 * How to run the emulator: its program entry as the workspace package exports it
 * (`@dmf-functions/emulator/main`), a separate process the CLI never imports. The package ships
 * TypeScript, so a `.ts` entry runs under tsx (resolved from here, so any working directory
 * works) whether this CLI runs from dist/ or under tsx itself.
 */
function emulatorEntry(): { args: string[] } {
  const main = fileURLToPath(import.meta.resolve('@dmf-functions/emulator/main'));
  return main.endsWith('.ts') ? { args: ['--import', import.meta.resolve('tsx'), main] } : { args: [main] };
}

function runEmulator(args: readonly string[]): Promise<number> {
  const child = spawn(process.execPath, [...emulatorEntry().args, ...args], { stdio: 'inherit' });
  const forward = (signal: NodeJS.Signals): void => {
    child.kill(signal);
  };
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  return new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
      resolve(code ?? (signal ? 0 : 1));
    });
  });
}

/** The real process's streams and environment. */
export function processIo(): CliIo {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    interactive: Boolean(process.stderr.isTTY),
  };
}
