/**
 * An environment's gate as the triggers, the operator API and the activities read it: the state of
 * its slot entity (`importSlot`, key = the environment), which holds whether the environment is
 * paused (by whom, since when) besides the imports holding and waiting for its slot. The entity is
 * durable state: a pause survives restarts and deployments. Imports are held back by the entity
 * itself (it grants nothing while paused); exports, recurring imports and drains read the gate here
 * before they ask F&O for work.
 */
import * as df from 'durable-functions';
import type { DurableClient } from 'durable-functions';
import { isRecord } from '../util.js';
import { ENTITIES } from './names.js';

/** A pause as the slot entity keeps it. */
export interface PauseState {
  /** When (ISO time). */
  since: string;
  /** Who, as the caller said. */
  by: string;
  reason?: string;
}

/** What an environment's gate says now. */
export interface EnvironmentGate {
  environment: string;
  /** Set while the environment is paused. */
  paused?: PauseState;
  /** Imports holding the slot (F&O runs their ImportFromPackage). */
  holding: string[];
  /** Imports waiting for the slot, in queue (arrival) order. */
  waiting: string[];
}

/** The slot entity of an environment (its gate). */
export function slotEntityId(environment: string): df.EntityId {
  return new df.EntityId(ENTITIES.slot, environment);
}

const ids = (value: unknown): string[] =>
  Array.isArray(value)
    ? value.flatMap((m) => (isRecord(m) && typeof m.instanceId === 'string' ? [m.instanceId] : []))
    : [];

/** The gate in a slot entity's state (an entity never written is an open gate with no queue). */
export function gateOf(environment: string, state: unknown): EnvironmentGate {
  const record = isRecord(state) ? state : {};
  const paused = isRecord(record.paused) ? record.paused : undefined;
  return {
    environment,
    ...(paused && typeof paused.since === 'string' && typeof paused.by === 'string'
      ? {
          paused: {
            since: paused.since,
            by: paused.by,
            ...(typeof paused.reason === 'string' ? { reason: paused.reason } : {}),
          },
        }
      : {}),
    holding: ids(record.holders),
    waiting: ids(record.waiters),
  };
}

/** Reads an environment's gate (the persisted state of its slot entity). */
export async function readEnvironmentGate(
  client: DurableClient,
  environment: string,
): Promise<EnvironmentGate> {
  const response = await client.readEntityState<unknown>(slotEntityId(environment));
  return gateOf(environment, response.entityExists ? response.entityState : undefined);
}
