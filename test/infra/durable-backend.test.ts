/**
 * scripts/durable-backend.ts: which backend `DMF_DURABLE_BACKEND` picks, and the host.json the
 * package ships for it (the repository's unchanged for Azure Storage, the scheduler variant).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  DurableBackendError,
  hostJsonFor,
  hostJsonTextFor,
  resolveDurableBackend,
} from '../../scripts/durable-backend.js';
import { PackageBuildError, buildPackage } from '../../scripts/package.js';

const root = join(import.meta.dirname, '..', '..');
const text = readFileSync(join(root, 'host.json'), 'utf8');
const hostJson = JSON.parse(text) as { extensions: { durableTask: Record<string, unknown> } };

describe('DMF_DURABLE_BACKEND', () => {
  it('defaults to azureStorage and accepts exactly the two backends', () => {
    expect(resolveDurableBackend({})).toBe('azureStorage');
    expect(resolveDurableBackend({ DMF_DURABLE_BACKEND: ' ' })).toBe('azureStorage');
    expect(resolveDurableBackend({ DMF_DURABLE_BACKEND: 'scheduler' })).toBe('scheduler');
    expect(resolveDurableBackend({ DMF_DURABLE_BACKEND: 'azureStorage' })).toBe('azureStorage');
    expect(() => resolveDurableBackend({ DMF_DURABLE_BACKEND: 'Scheduler' })).toThrow(DurableBackendError);
    expect(() => resolveDurableBackend({ DMF_DURABLE_BACKEND: 'netherite' })).toThrow(
      /DMF_DURABLE_BACKEND must be one of azureStorage, scheduler; got "netherite"/,
    );
  });

  it('stops npm run package before it builds anything when the value is not a backend', async () => {
    await expect(
      buildPackage({ root, env: { DMF_DURABLE_BACKEND: 'mssql' }, reuseDependencies: true }),
    ).rejects.toThrow(PackageBuildError);
  });
});

describe('the host.json the package ships', () => {
  it('is the repository host.json, byte for byte, for azureStorage', () => {
    expect(hostJsonTextFor('azureStorage', text)).toBe(text);
    const copy = hostJsonFor('azureStorage', hostJson);
    expect(copy).toEqual(hostJson);
    expect(copy).not.toBe(hostJson);
  });

  it('is the scheduler variant for scheduler, leaving the repository host.json alone', () => {
    const before = structuredClone(hostJson);
    const variant = hostJsonFor('scheduler', hostJson) as typeof hostJson & {
      extensionBundle: { version: string };
    };
    expect(hostJson).toEqual(before);
    expect(variant.extensions.durableTask).toEqual({
      hubName: '%TASKHUB_NAME%',
      storageProvider: {
        type: 'azureManaged',
        connectionStringName: 'DURABLE_TASK_SCHEDULER_CONNECTION_STRING',
      },
      maxConcurrentActivityFunctions: hostJson.extensions.durableTask.maxConcurrentActivityFunctions,
      maxConcurrentOrchestratorFunctions: hostJson.extensions.durableTask.maxConcurrentOrchestratorFunctions,
      maxConcurrentEntityFunctions: hostJson.extensions.durableTask.maxConcurrentOrchestratorFunctions,
      tracing: hostJson.extensions.durableTask.tracing,
    });
    expect(variant.extensionBundle.version).toBe('[4.32.0, 5.0.0)');
    // Everything else is the repository's.
    const { extensions: _e, extensionBundle: _b, ...rest } = variant;
    const { extensions: _e2, extensionBundle: _b2, ...restBefore } = before as typeof variant;
    expect(rest).toEqual(restBefore);
    expect(JSON.parse(hostJsonTextFor('scheduler', text))).toEqual(variant);
  });

  it('refuses a host.json it cannot adapt', () => {
    expect(() => hostJsonFor('scheduler', [])).toThrow(DurableBackendError);
    expect(() => hostJsonFor('scheduler', { extensions: {} })).toThrow(/no extensions.durableTask/);
    expect(() =>
      hostJsonFor('scheduler', {
        extensionBundle: { version: '[3.*, 4.0.0)' },
        extensions: { durableTask: {} },
      }),
    ).toThrow(/4.x range/);
  });
});
