/** Text output of the CLI: job summaries, tables, durations, exit codes. Pure functions. */
import { JOB_OUTCOMES } from '../shared/jobs/statuses.js';
import type { CliEnvironment, CliJob, CliJobFile } from './api.js';

/** Exit codes of `dmf`. */
export const EXIT_CODES = { succeeded: 0, failed: 1, partiallySucceeded: 2 } as const;

/** Job statuses after which nothing changes. */
export const FINAL_STATUSES: ReadonlySet<string> = new Set(JOB_OUTCOMES);

/** The exit code for a job status: 0 Succeeded (or still running), 2 PartiallySucceeded, 1 otherwise. */
export function exitCodeFor(status: string): number {
  if (status === 'PartiallySucceeded') return EXIT_CODES.partiallySucceeded;
  if (status === 'Succeeded' || !FINAL_STATUSES.has(status)) return EXIT_CODES.succeeded;
  return EXIT_CODES.failed;
}

/** `850 ms`, `4.2 s`, `3 min 12 s`, `1 h 5 min`. */
export function formatDuration(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms) || ms < 0) return '';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s - m * 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

/** ISO time as `YYYY-MM-DD HH:MM:SSZ` (UTC: scripts and logs compare them). */
export function formatTime(iso: string | null | undefined): string {
  if (!iso) return '';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : `${d.toISOString().slice(0, 19).replace('T', ' ')}Z`;
}

/** Job duration: from request to finish, or to `now` while it runs. */
export function jobDurationMs(job: CliJob, now: Date = new Date()): number | undefined {
  const start = job.result?.timings?.requestedAt ?? job.createdAt;
  if (!start) return undefined;
  const end = job.result?.timings?.finishedAt ?? (FINAL_STATUSES.has(job.status) ? job.updatedAt : undefined);
  return (end ? new Date(end) : now).getTime() - new Date(start).getTime();
}

/** One line saying where a running job is, for `--wait`. */
export function stageLine(job: CliJob): string {
  const parts = [job.status, job.stage ?? ''];
  if (job.slotPosition) parts.push(`queue position ${job.slotPosition}`);
  if (job.status === 'Queued' && job.paused && typeof job.paused === 'object') {
    const paused = job.paused as { environment?: unknown; since?: unknown; by?: unknown };
    parts.push(
      `${String(paused.environment)} paused since ${formatTime(String(paused.since))} by ${String(paused.by)}`,
    );
  }
  if (job.foStatus) parts.push(`F&O ${job.foStatus}`);
  if (job.throttledUntil) parts.push(`throttled until ${formatTime(job.throttledUntil)}`);
  if (job.polls) parts.push(`${job.polls} poll${job.polls === 1 ? '' : 's'}`);
  return parts.filter(Boolean).join(' · ');
}

/** The environments of `dmf env list`. */
export function environmentsTable(envs: readonly CliEnvironment[]): string {
  if (envs.length === 0) return 'No environments.';
  return table(
    ['ENVIRONMENT', 'STATE', 'SINCE', 'BY', 'WAITING', 'RUNNING', 'REASON'],
    envs.map((e) => [
      e.name,
      e.paused ? 'paused' : 'active',
      formatTime(e.pausedSince),
      e.pausedBy ?? '',
      String(e.waiting ?? 0),
      String(e.running ?? 0),
      e.reason ?? '',
    ]),
  );
}

/** Aligns rows under a header (plain spaces, no colours: output is often piped). */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/** The jobs list of `dmf jobs`. */
export function jobsTable(jobs: readonly CliJob[], now: Date = new Date()): string {
  if (jobs.length === 0) return 'No jobs.';
  return table(
    ['ID', 'STATUS', 'ENV', 'PROJECT', 'LE', 'STAGE', 'STARTED', 'DURATION', 'ERRORS', 'FILE'],
    jobs.map((j) => [
      j.id,
      j.status,
      j.environment ?? '',
      j.project ?? '',
      j.legalEntity ?? '',
      j.stage ?? '',
      formatTime(j.result?.timings?.requestedAt ?? j.createdAt),
      formatDuration(jobDurationMs(j, now)),
      String(j.errorCount ?? j.errors.length),
      j.file ?? '',
    ]),
  );
}

/** The detail view of `dmf job` (and the end of `import --wait`): fields, errors, files. */
export function jobDetails(job: CliJob, files: readonly CliJobFile[] = [], now: Date = new Date()): string {
  const fields: [string, string | null | undefined][] = [
    ['Status', job.status],
    ['Queued', job.queuedReason],
    ['Reason', job.status === 'Rejected' ? job.reason : undefined],
    ['Source', job.status === 'Rejected' ? job.source : undefined],
    ['Stage', job.stage],
    ['Kind', job.kind],
    ['Part of', job.parentId],
    ['Environment', job.environment],
    ['Project', job.project],
    ['Legal entity', job.legalEntity],
    ['File', job.file],
    ['F&O execution', job.executionId],
    ['F&O status', job.foStatus],
    ['F&O page', job.executionPageUrl],
    ['Throttled', job.throttledUntil ? `by F&O, until ${formatTime(job.throttledUntil)}` : undefined],
    ['Started', formatTime(job.result?.timings?.requestedAt ?? job.createdAt)],
    ['Finished', formatTime(job.result?.timings?.finishedAt)],
    ['Duration', formatDuration(jobDurationMs(job, now))],
    ['Polls', job.polls ? String(job.polls) : ''],
    ['Re-run of', job.rerunOf],
    ['Re-run by', job.rerunBy],
    [
      'Alerts',
      job.alerts
        ?.map((a) => `${a.alert} ${a.state}${typeof a.status === 'number' ? ` (HTTP ${a.status})` : ''}`)
        .join(', '),
    ],
  ];
  const lines = [`Job ${job.id}`];
  for (const [label, value] of fields) if (value) lines.push(`  ${`${label}:`.padEnd(15)}${value}`);
  if (job.entityCounts?.length) {
    const count = (n: number | null | undefined): string => (n === undefined || n === null ? '' : String(n));
    lines.push('', 'Entities (as F&O counts them):');
    const rows = job.entityCounts.map((e) => [
      e.entity,
      e.status ?? '',
      count(e.stagingRecords),
      count(e.stagingErrors),
      count(e.targetRecords),
      count(e.targetErrors),
    ]);
    const header = ['ENTITY', 'STATUS', 'STAGING', 'STAGING ERRORS', 'TARGET', 'TARGET ERRORS'];
    lines.push(
      ...table(header, rows)
        .split('\n')
        .map((l) => `  ${l}`),
    );
  }
  if (job.batch) {
    const b = job.batch;
    lines.push('', `Batch ${b.batchId}:`);
    lines.push(`  Files:    ${b.files.length > 0 ? b.files.join(', ') : '(none yet)'}`);
    if (b.missing.length > 0) lines.push(`  Missing:  ${b.missing.join(', ')}`);
    if (b.deadline && !FINAL_STATUSES.has(job.status)) lines.push(`  Deadline: ${formatTime(b.deadline)}`);
  }
  if (job.children?.length) {
    lines.push('', 'Jobs (dmf job <id>):');
    const rows = job.children.map((c) => [
      c.id,
      c.status,
      c.project ?? c.legalEntity ?? '',
      c.files?.join(', ') ?? '',
      c.errorCount ? String(c.errorCount) : '',
    ]);
    lines.push(
      ...table(['ID', 'STATUS', 'PROJECT/LE', 'FILES', 'ERRORS'], rows)
        .split('\n')
        .map((l) => `  ${l}`),
    );
  }
  if (job.errors.length > 0) {
    lines.push('', `Errors (${job.errors.length}):`);
    for (const e of job.errors) {
      const where = [e.entity, e.field && `field ${e.field}`, e.recordId && `record ${e.recordId}`]
        .filter(Boolean)
        .join(', ');
      lines.push(`  ${e.code}${where ? ` [${where}]` : ''}: ${e.message}`);
    }
  }
  if (files.length > 0) {
    lines.push('', 'Files (dmf job <id> --download <name>):');
    for (const f of files) {
      lines.push(
        `  ${f.name}  (${f.kind}${f.entity ? `, ${f.entity}` : ''}${f.bytes === undefined ? '' : `, ${f.bytes} bytes`})`,
      );
    }
  }
  return lines.join('\n');
}
