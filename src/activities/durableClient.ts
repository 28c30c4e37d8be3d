/** Helpers around the durable client used by starters, the job API and the slot activities. */
import type { DurableClient, DurableOrchestrationStatus } from 'durable-functions';

/** `getStatus` that answers undefined for an unknown instance instead of throwing. */
export async function findStatus(
  client: DurableClient,
  instanceId: string,
  options: { showInput?: boolean } = {},
): Promise<DurableOrchestrationStatus | undefined> {
  try {
    return await client.getStatus(instanceId, { showInput: options.showInput ?? false });
  } catch (error) {
    if (error instanceof Error && /\b404\b/.test(error.message)) return undefined;
    throw error;
  }
}

/** Runtime statuses of an instance that still runs (may still hold or wait for a slot). */
export const ACTIVE_RUNTIME_STATUSES: ReadonlySet<string> = new Set([
  'Pending',
  'Running',
  'ContinuedAsNew',
  'Suspended',
]);

/** The instances among `instanceIds` that no longer run (terminated, failed, completed, unknown). */
export async function staleInstances(
  client: DurableClient,
  instanceIds: readonly string[],
): Promise<string[]> {
  const stale: string[] = [];
  for (const id of instanceIds) {
    const status = await findStatus(client, id);
    if (!status || !ACTIVE_RUNTIME_STATUSES.has(String(status.runtimeStatus))) stale.push(id);
  }
  return stale;
}
