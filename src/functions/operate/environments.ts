/**
 * The environments an operator can hold back: `GET /api/environments` (each configured environment,
 * paused or not, with its import queue), `POST /api/environments/{env}/pause` and `…/resume`.
 *
 * The pause lives in the environment's slot entity (durable state: it survives restarts). While it
 * is paused, arrivals are accepted and wait in arrival order, listed `Queued`: imports keep their
 * place in the slot's queue (the entity grants nothing), exports and recurring imports ask the gate
 * before their F&O call and wait for the resume, drains are not started. Jobs F&O already runs go
 * on. The resume grants the slot in queue order and wakes every waiting job.
 */
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import type { DurableClient } from 'durable-functions';
import { z } from 'zod';
import { readEnvironmentGate, slotEntityId, type EnvironmentGate } from '../../shared/app/environments.js';
import { bodyTooLarge, keyedRoute, problem, readSmallBody } from '../../shared/app/http.js';
import { ENVIRONMENT_EVENTS, IMPORT_EVENTS } from '../../shared/app/names.js';
import { getRuntime, invocationLogger } from '../../shared/app/runtime.js';
import type { Logger } from '../../shared/log/index.js';
import { printable } from '../../shared/storage/index.js';
import { describeIssues } from '../../shared/util.js';

/** Function names of the environment routes. */
export const ENVIRONMENT_FUNCTIONS = {
  list: 'environmentList',
  pause: 'environmentPause',
  resume: 'environmentResume',
} as const;

/** An environment as `GET /api/environments` shows it. */
export interface EnvironmentView {
  name: string;
  paused: boolean;
  /** While paused: since when (ISO), by whom, why. */
  pausedSince?: string;
  pausedBy?: string;
  reason?: string;
  /** Imports waiting for the environment's slot (while paused: every one that arrived). */
  waiting: number;
  /** Imports F&O runs now (they hold the slot; a pause lets them finish). */
  running: number;
}

/** The view of a gate. */
export function environmentView(gate: EnvironmentGate): EnvironmentView {
  return {
    name: gate.environment,
    paused: gate.paused !== undefined,
    ...(gate.paused
      ? {
          pausedSince: gate.paused.since,
          pausedBy: gate.paused.by,
          ...(gate.paused.reason ? { reason: gate.paused.reason } : {}),
        }
      : {}),
    waiting: gate.waiting.length,
    running: gate.holding.length,
  };
}

/** Text an operator gives (a name, a reason): printable, no control or invisible characters. */
const operatorText = (max: number): z.ZodString =>
  z
    .string()
    .trim()
    .min(1)
    .max(max)
    .refine(
      (v) => printable(v, max) === v,
      'must be plain text (no control, invisible or bidi characters, no quotes or backslashes)',
    );

/** Body of `…/pause` (optional): who pauses, and why. */
export const PauseRequestSchema = z.strictObject({
  by: operatorText(100).optional(),
  reason: operatorText(500).optional(),
});

/** How long a pause or resume waits to see the entity apply it before answering 202. */
export const APPLY_WAIT_MS = 15_000;

/** Signals `operation` and waits (polling the entity's state) until `applied` holds; undefined on time out. */
async function applyAndRead(
  client: DurableClient,
  environment: string,
  operation: 'pause' | 'resume',
  input: unknown,
  applied: (gate: EnvironmentGate) => boolean,
): Promise<EnvironmentGate | undefined> {
  await client.signalEntity(slotEntityId(environment), operation, input);
  const deadline = Date.now() + APPLY_WAIT_MS;
  for (let delay = 50; ; delay = Math.min(delay * 2, 500)) {
    const gate = await readEnvironmentGate(client, environment);
    if (applied(gate)) return gate;
    if (Date.now() > deadline) return undefined;
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
}

/** Raises `event` on each instance, in order; an instance that ended meanwhile is skipped. */
async function wake(client: DurableClient, ids: readonly string[], event: string): Promise<number> {
  let woken = 0;
  for (const id of ids) {
    try {
      await client.raiseEvent(id, event, { at: new Date().toISOString() });
      woken++;
    } catch {
      // ended (or purged) since: nothing waits there
    }
  }
  return woken;
}

/**
 * The exports and recurring imports listed `Queued` in an environment, oldest first (the job index:
 * the list an operator sees). Imports are not among them: they wait in the slot's queue.
 */
async function queuedOthers(environment: string, logger: Logger): Promise<string[]> {
  const { jobIndex, config } = getRuntime();
  const days = config.jobIndexDays > 0 ? config.jobIndexDays : 3650;
  const ids: string[] = [];
  try {
    let continuation: string | undefined;
    do {
      const page = await jobIndex.list({
        top: 1000,
        since: new Date(Date.now() - days * 86_400_000),
        statuses: ['Queued'],
        kinds: ['export', 'recurringImport'],
        environment,
        ...(continuation ? { continuation } : {}),
      });
      ids.push(...page.jobs.map((j) => j.id));
      continuation = page.continuation;
    } while (continuation);
  } catch (error) {
    // each waiting job also asks again on its own timer
    logger.warn(`Could not list the queued jobs of ${environment}: ${(error as Error).message}`);
  }
  return ids.reverse();
}

function environmentOf(request: HttpRequest): string | HttpResponseInit {
  const name = request.params.env ?? '';
  const env = getRuntime().config.environments.find((e) => e.name === name);
  return env
    ? env.name
    : problem(404, 'UNKNOWN_ENVIRONMENT', `Environment "${printable(name)}" is not configured.`);
}

/** Handles `GET /api/environments`. */
export async function handleListEnvironments(
  _request: HttpRequest,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const client = df.getClient(context);
  const environments: EnvironmentView[] = [];
  for (const env of getRuntime().config.environments)
    environments.push(environmentView(await readEnvironmentGate(client, env.name)));
  return { status: 200, jsonBody: { environments } };
}

/**
 * Handles `POST /api/environments/{env}/pause` (JSON body optional: `{ "by", "reason" }`; `by`
 * defaults to the signed-in principal App Service authentication names, else `unknown`). 200 with
 * the environment once the pause is in force (pausing a paused environment keeps the first pause),
 * 202 when the entity has not applied it within {@link APPLY_WAIT_MS}.
 */
export async function handlePause(
  request: HttpRequest,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const environment = environmentOf(request);
  if (typeof environment !== 'string') return environment;
  const text = await readSmallBody(request);
  if (text === undefined) return bodyTooLarge(64 * 1024);
  let body: unknown = {};
  if (text.trim() !== '') {
    try {
      body = JSON.parse(text);
    } catch {
      return problem(
        400,
        'BODY_NOT_JSON',
        'The body is not JSON: give {"by": "…", "reason": "…"} or nothing.',
      );
    }
  }
  const parsed = PauseRequestSchema.safeParse(body);
  if (!parsed.success)
    return problem(400, 'BODY_INVALID', `The body is invalid: ${describeIssues(parsed.error)}`);
  const principal = request.headers.get('x-ms-client-principal-name') ?? undefined;
  const by =
    parsed.data.by ?? (principal && PauseRequestSchema.shape.by.safeParse(principal).data) ?? 'unknown';
  const client = df.getClient(context);
  const logger = invocationLogger(context, { environment });
  const gate = await applyAndRead(
    client,
    environment,
    'pause',
    { since: new Date().toISOString(), by, ...(parsed.data.reason ? { reason: parsed.data.reason } : {}) },
    (g) => g.paused !== undefined,
  );
  if (!gate) {
    logger.warn(`Pause of ${environment} not applied yet`);
    return { status: 202, jsonBody: { name: environment, paused: true, applied: false } };
  }
  // the imports waiting now recheck at once and show Queued
  await wake(client, gate.waiting, IMPORT_EVENTS.slotGranted);
  logger.info(`Environment ${environment} paused by ${by} since ${gate.paused!.since}`);
  return { status: 200, jsonBody: environmentView(gate) };
}

/**
 * Handles `POST /api/environments/{env}/resume`: 200 with the environment once resumed (resuming an
 * environment that is not paused changes nothing), then wakes what waits: the imports of the slot's
 * queue (granted in arrival order) and the exports and recurring imports listed `Queued`, oldest
 * first. 202 when the entity has not applied it within {@link APPLY_WAIT_MS}.
 */
export async function handleResume(
  request: HttpRequest,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const environment = environmentOf(request);
  if (typeof environment !== 'string') return environment;
  const client = df.getClient(context);
  const logger = invocationLogger(context, { environment });
  const gate = await applyAndRead(
    client,
    environment,
    'resume',
    { now: new Date().toISOString() },
    (g) => g.paused === undefined,
  );
  if (!gate) {
    logger.warn(`Resume of ${environment} not applied yet`);
    return { status: 202, jsonBody: { name: environment, paused: false, applied: false } };
  }
  const imports = await wake(client, [...gate.holding, ...gate.waiting], IMPORT_EVENTS.slotGranted);
  const others = await wake(client, await queuedOthers(environment, logger), ENVIRONMENT_EVENTS.resumed);
  logger.info(`Environment ${environment} resumed: ${imports} import(s) and ${others} other job(s) woken`);
  return { status: 200, jsonBody: environmentView(gate) };
}

keyedRoute(ENVIRONMENT_FUNCTIONS.list, 'GET', 'environments', handleListEnvironments);
keyedRoute(ENVIRONMENT_FUNCTIONS.pause, 'POST', 'environments/{env}/pause', handlePause);
keyedRoute(ENVIRONMENT_FUNCTIONS.resume, 'POST', 'environments/{env}/resume', handleResume);
