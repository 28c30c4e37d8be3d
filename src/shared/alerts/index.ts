/**
 * Alerts: which configured webhooks a finished (or rejected) job is sent to, the message each
 * format builds (Microsoft Teams: an Adaptive Card in a message attachment; plain JSON), and the
 * delivery of one message. What is sent is the {@link AlertNotice}: the job's public facts, never a
 * url's query, a key or a connection string; the webhook url itself (a secret) is only read at
 * delivery time, from the app setting the alert names.
 */
import { z } from 'zod';
import { ALERT_FAILURE_STATUSES, type AlertConfig } from '../config/index.js';
import { DmfFunctionsError } from '../errors.js';
import type { AnyJob } from '../jobs/index.js';

/** Longest error message an alert carries (the job page has all of them). */
export const ALERT_MESSAGE_LIMIT = 300;
/** Errors an alert carries (the job page has all of them). */
export const ALERT_ERROR_LIMIT = 3;

/** What an alert says about a job (the input of the `jobAlert` orchestration: no secrets). */
export const AlertNoticeSchema = z.strictObject({
  jobId: z.string().min(1),
  kind: z.string().min(1),
  status: z.string().min(1),
  environment: z.string().optional(),
  project: z.string().optional(),
  legalEntity: z.string().optional(),
  file: z.string().optional(),
  executionId: z.string().optional(),
  /** When the job ended (or was rejected), ISO. */
  at: z.string(),
  errorCount: z.number().int().min(0),
  errors: z.array(z.strictObject({ code: z.string(), message: z.string() })).max(ALERT_ERROR_LIMIT),
  /** Where the job's source is kept (archive, or left in place for a rejection). */
  source: z.string().optional(),
  /** The job this one re-ran. */
  rerunOf: z.string().optional(),
});
/** See {@link AlertNoticeSchema}. */
export type AlertNotice = z.infer<typeof AlertNoticeSchema>;

const cut = (text: string, limit: number): string =>
  text.length > limit ? `${text.slice(0, limit - 1)}…` : text;

/** The alert notice of a job JSON (its first errors, shortened). */
export function alertNotice(job: AnyJob, options: { at: string; source?: string }): AlertNotice {
  const fields: Record<string, unknown> = job as unknown as Record<string, unknown>;
  const text = (key: string): string | undefined =>
    typeof fields[key] === 'string' && fields[key] !== '' ? fields[key] : undefined;
  const optional = {
    environment: job.environment,
    project: job.project,
    legalEntity: text('legalEntity'),
    file: text('file'),
    executionId: job.executionId,
    source: options.source,
    rerunOf: text('rerunOf'),
  };
  return {
    jobId: job.id,
    kind: job.kind,
    status: job.status,
    ...Object.fromEntries(Object.entries(optional).filter(([, v]) => typeof v === 'string' && v !== '')),
    at: options.at,
    errorCount: job.errors.length,
    errors: job.errors
      .slice(0, ALERT_ERROR_LIMIT)
      .map((e) => ({ code: cut(e.code, 100), message: cut(e.message, ALERT_MESSAGE_LIMIT) })),
  };
}

/** True when `alert` asks to be told about a job of this kind, environment and status. */
export function alertWants(
  alert: AlertConfig,
  notice: Pick<AlertNotice, 'kind' | 'status' | 'environment'>,
): boolean {
  if (alert.kinds && !alert.kinds.includes(notice.kind as never)) return false;
  if (
    alert.environments &&
    (notice.environment === undefined || !alert.environments.includes(notice.environment))
  )
    return false;
  return alert.on.some(
    (on) =>
      on === notice.status ||
      (on === 'failure' && ALERT_FAILURE_STATUSES.includes(notice.status)) ||
      (on === 'success' && notice.status === 'Succeeded'),
  );
}

/** The names of the configured alerts that want this notice. */
export function alertsFor(alerts: readonly AlertConfig[], notice: AlertNotice): string[] {
  return alerts.filter((a) => alertWants(a, notice)).map((a) => a.name);
}

const KIND_LABELS: Readonly<Record<string, string>> = {
  import: 'Import',
  export: 'Export',
  recurringImport: 'Recurring import',
  recurringExport: 'Recurring export drain',
};

/** One line saying what happened: "Import Failed: customers.zip (local/Customers)". */
export function alertTitle(notice: AlertNotice): string {
  const what = KIND_LABELS[notice.kind] ?? notice.kind;
  const where = [notice.environment, notice.project].filter(Boolean).join('/');
  return `${what} ${notice.status}: ${notice.file ?? notice.jobId}${where ? ` (${where})` : ''}`;
}

/**
 * Text from a job (file names, error messages: partly the caller's) as plain text in an Adaptive
 * Card: TextBlock and FactSet render a Markdown subset (bold, italic, links, lists), so the
 * characters that open its markup are escaped — a file named `[x](https://…)` must not become a
 * link in the channel, nor `*x*` bold. A backslash escape shows the character itself.
 */
export function plainCardText(text: string): string {
  return text.replace(/[\\`*_[\]<>#]/g, (c) => `\\${c}`);
}

/** The job page's url on the dashboard, when the alert names the dashboard. */
export function jobPageUrl(alert: Pick<AlertConfig, 'dashboardUrl'>, jobId: string): string | undefined {
  return alert.dashboardUrl ? `${alert.dashboardUrl}#/jobs/${encodeURIComponent(jobId)}` : undefined;
}

/**
 * The Teams message: an Adaptive Card (schema 1.2, the version of Microsoft's incoming webhook
 * example) in a message attachment, as Teams incoming webhooks and the Workflows trigger "When a
 * Teams webhook request is received" accept it (Learn: "Create and send messages", section "Send
 * Adaptive Cards using an Incoming Webhook"). Only `Action.OpenUrl` is used (webhooks do not
 * support `Action.Submit`). Kept far below the 28 KB message limit (Learn: "Create an Incoming
 * Webhook"): at most {@link ALERT_ERROR_LIMIT} errors of {@link ALERT_MESSAGE_LIMIT} characters.
 */
export function teamsMessage(
  notice: AlertNotice,
  options: { pageUrl?: string } = {},
): Record<string, unknown> {
  const failed = notice.status !== 'Succeeded';
  const facts: { title: string; value: string }[] = [
    ['Status', notice.status],
    ['Kind', KIND_LABELS[notice.kind] ?? notice.kind],
    ['Environment', notice.environment],
    ['Project', notice.project],
    ['Legal entity', notice.legalEntity],
    ['File', notice.file],
    ['F&O execution', notice.executionId],
    ['Source kept at', notice.source],
    ['Re-run of', notice.rerunOf],
    ['Job id', notice.jobId],
    ['At', notice.at],
  ]
    .filter((f): f is [string, string] => typeof f[1] === 'string' && f[1] !== '')
    .map(([title, value]) => ({ title, value: plainCardText(value) }));
  const body: Record<string, unknown>[] = [
    {
      type: 'TextBlock',
      size: 'Medium',
      weight: 'Bolder',
      wrap: true,
      color: failed ? 'Attention' : 'Good',
      text: plainCardText(alertTitle(notice)),
    },
    { type: 'FactSet', facts },
  ];
  if (notice.errors.length > 0) {
    body.push({
      type: 'TextBlock',
      weight: 'Bolder',
      wrap: true,
      text: `Errors (${notice.errorCount})`,
    });
    for (const e of notice.errors)
      body.push({ type: 'TextBlock', wrap: true, text: plainCardText(`${e.code}: ${e.message}`) });
  }
  const card: Record<string, unknown> = {
    $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
    type: 'AdaptiveCard',
    version: '1.2',
    body,
  };
  if (options.pageUrl)
    card.actions = [{ type: 'Action.OpenUrl', title: 'Open the job', url: options.pageUrl }];
  return {
    type: 'message',
    attachments: [
      { contentType: 'application/vnd.microsoft.card.adaptive', contentUrl: null, content: card },
    ],
  };
}

/** The plain JSON message: a `text` line (what chat webhooks show) and the notice itself. */
export function jsonMessage(
  notice: AlertNotice,
  options: { pageUrl?: string } = {},
): Record<string, unknown> {
  return {
    type: 'com.dmf-functions.alert',
    text: alertTitle(notice),
    job: notice,
    ...(options.pageUrl ? { jobPageUrl: options.pageUrl } : {}),
  };
}

/** The message an alert sends for a notice, in its format. */
export function alertMessage(alert: AlertConfig, notice: AlertNotice): Record<string, unknown> {
  const pageUrl = jobPageUrl(alert, notice.jobId);
  const options = pageUrl ? { pageUrl } : {};
  return alert.format === 'teams' ? teamsMessage(notice, options) : jsonMessage(notice, options);
}

/** Timeout of one webhook call. */
export const ALERT_TIMEOUT_MS = 10_000;

/** How a delivery ended (a transient failure throws instead, so the caller retries). */
export interface AlertDelivery {
  delivered: boolean;
  /** The webhook's HTTP status, when it answered. */
  status?: number;
}

/** A failed delivery worth retrying (no answer, a timeout, 408, 429, a 5xx). */
export class AlertDeliveryError extends DmfFunctionsError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { code: 'ALERT_DELIVERY_FAILED', transient: true, cause: options.cause });
  }
}

/**
 * POSTs `message` as JSON to the webhook. A 2xx is delivered; no answer, a timeout, 408, 429 or a
 * 5xx throws {@link AlertDeliveryError} (transient: retry later, Teams throttles more than four
 * requests a second); any other status is a refusal not worth repeating (`delivered: false`).
 * Error messages name the webhook's host only: its path and query are the secret.
 */
export async function deliverAlert(
  url: string,
  message: unknown,
  options: { signal?: AbortSignal; timeoutMs?: number; fetch?: typeof fetch } = {},
): Promise<AlertDelivery> {
  const host = new URL(url).host;
  const timeout = AbortSignal.timeout(options.timeoutMs ?? ALERT_TIMEOUT_MS);
  let response: Response;
  try {
    response = await (options.fetch ?? fetch)(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(message),
      redirect: 'error',
      signal: options.signal ? AbortSignal.any([timeout, options.signal]) : timeout,
    });
  } catch (error) {
    throw new AlertDeliveryError(`The webhook at ${host} did not answer: ${(error as Error).name}`, {
      cause: undefined,
    });
  }
  await response.body?.cancel().catch(() => undefined);
  if (response.ok) return { delivered: true, status: response.status };
  if (response.status === 408 || response.status === 429 || response.status >= 500)
    throw new AlertDeliveryError(`The webhook at ${host} answered HTTP ${response.status}`);
  return { delivered: false, status: response.status };
}
