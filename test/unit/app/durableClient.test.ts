import type { DurableClient } from 'durable-functions';
import { describe, expect, it } from 'vitest';
import { findInstanceOf, findStatus, startOnce } from '../../../src/shared/app/durableClient.js';

// the messages durable-functions' DurableClient throws for the extension's 404 and 409 answers
const notFound = new Error(
  'DurableClient error: Durable Functions extension replied with HTTP 404 response. This usually means we could not find any data associated with the instanceId provided: imp-1.',
);
const conflict = new Error(
  'The operation failed with an unexpected status code: 409. Details: {"Message":"An instance with ID imp-1 already exists."}',
);
const unavailable = new Error('The operation failed with an unexpected status code: 503. Details: ""');

function client(options: { status?: unknown; statusError?: Error; startError?: Error }): DurableClient {
  return {
    getStatus: () =>
      options.statusError ? Promise.reject(options.statusError) : Promise.resolve(options.status),
    startNew: (_name: string, start: { instanceId: string }) =>
      options.startError ? Promise.reject(options.startError) : Promise.resolve(start.instanceId),
  } as unknown as DurableClient;
}

describe('durable client helpers', () => {
  it('an unknown instance is undefined, other failures throw', async () => {
    expect(await findStatus(client({ statusError: notFound }), 'imp-1')).toBeUndefined();
    await expect(findStatus(client({ statusError: unavailable }), 'imp-1')).rejects.toBe(unavailable);
  });

  it('starts once: an instance found first or a start losing the race (409) exists', async () => {
    expect(await startOnce(client({ statusError: notFound }), 'importPackage', 'imp-1', {})).toBe('started');
    expect(await startOnce(client({ status: { name: 'importPackage' } }), 'importPackage', 'imp-1', {})).toBe(
      'exists',
    );
    expect(
      await startOnce(client({ statusError: notFound, startError: conflict }), 'importPackage', 'imp-1', {}),
    ).toBe('exists');
    await expect(
      startOnce(client({ statusError: notFound, startError: unavailable }), 'importPackage', 'imp-1', {}),
    ).rejects.toBe(unavailable);
  });

  it('finds an instance only under its kind', async () => {
    const kind = { prefix: 'exp-', orchestrator: 'exportPackage' };
    const export1 = client({ status: { name: 'exportPackage' } });
    expect(await findInstanceOf(export1, 'exp-1', kind)).toEqual({ name: 'exportPackage' });
    expect(await findInstanceOf(export1, 'imp-1', kind)).toBeUndefined();
    expect(
      await findInstanceOf(client({ status: { name: 'importPackage' } }), 'exp-1', kind),
    ).toBeUndefined();
  });
});
