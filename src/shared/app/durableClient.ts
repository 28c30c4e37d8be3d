/**
 * The durable client as the triggers, the job API and the slot activities use it. The library
 * reports the extension's HTTP answers only inside error messages; this is the one place that
 * reads them, so callers get typed results (an unknown instance, one that already exists).
 */
import type { DurableClient, DurableOrchestrationStatus } from 'durable-functions';

/** Runtime statuses of an instance that still runs (may still hold or wait for a slot). */
export const ACTIVE_RUNTIME_STATUSES: ReadonlySet<string> = new Set([
  'Pending',
  'Running',
  'ContinuedAsNew',
  'Suspended',
]);

/** True when the instance still runs (see {@link ACTIVE_RUNTIME_STATUSES}). */
export function isActive(status: { runtimeStatus: unknown } | undefined): boolean {
  return status !== undefined && ACTIVE_RUNTIME_STATUSES.has(String(status.runtimeStatus));
}

/** The extension's HTTP status in a durable client error ("HTTP 404", "status code: 409"), if any. */
function statusOf(error: unknown): number | undefined {
  if (!(error instanceof Error)) return undefined;
  const found = /\b(?:HTTP|status code:?)\s+(\d{3})\b/.exec(error.message);
  return found ? Number(found[1]) : undefined;
}

/** `getStatus` that answers undefined for an unknown instance (404) instead of throwing. */
export async function findStatus(
  client: DurableClient,
  instanceId: string,
  options: { showInput?: boolean } = {},
): Promise<DurableOrchestrationStatus | undefined> {
  try {
    return await client.getStatus(instanceId, { showInput: options.showInput ?? false });
  } catch (error) {
    if (statusOf(error) === 404) return undefined;
    throw error;
  }
}

/**
 * The status of instance `id` when it is an instance of `orchestrator` (job ids of a kind start with
 * `prefix`); undefined for an unknown id or another kind of instance.
 */
export async function findInstanceOf(
  client: DurableClient,
  id: string,
  kind: { prefix: string; orchestrator: string },
  options: { showInput?: boolean } = {},
): Promise<DurableOrchestrationStatus | undefined> {
  if (!id.startsWith(kind.prefix)) return undefined;
  const status = await findStatus(client, id, options);
  return status?.name === kind.orchestrator ? status : undefined;
}

/**
 * Starts `orchestrator` under `instanceId` unless an instance with that id exists, in any state:
 * `exists` when found first, or when a concurrent start won the race (409). A duplicate delivery
 * of the same request is a no-op.
 */
export async function startOnce(
  client: DurableClient,
  orchestrator: string,
  instanceId: string,
  input: unknown,
  options: { checkFirst?: boolean } = {},
): Promise<'started' | 'exists'> {
  if ((options.checkFirst ?? true) && (await findStatus(client, instanceId))) return 'exists';
  try {
    await client.startNew(orchestrator, { instanceId, input });
    return 'started';
  } catch (error) {
    if (statusOf(error) === 409) return 'exists';
    throw error;
  }
}

/** The instances among `instanceIds` that no longer run (terminated, failed, completed, unknown). */
export async function staleInstances(
  client: DurableClient,
  instanceIds: readonly string[],
): Promise<string[]> {
  const stale: string[] = [];
  for (const id of instanceIds) {
    if (!isActive(await findStatus(client, id))) stale.push(id);
  }
  return stale;
}
