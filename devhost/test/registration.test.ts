import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { AppRegistry } from '../core-api.js';
import { loadApp, resolveMainFiles } from '../load-app.js';

const appRoot = join(import.meta.dirname, 'fixtures', 'all-triggers');

async function load(): Promise<AppRegistry> {
  const registry: AppRegistry = { functions: new Map(), hooks: [], log: () => {} };
  await loadApp(registry, { appRoot });
  return registry;
}

function bindings(registry: AppRegistry, name: string): Record<string, Record<string, unknown>>[] {
  const fn = registry.functions.get(name);
  if (!fn) throw new Error(`${name} not registered`);
  return Object.entries(fn.metadata.bindings).map(([bindingName, b]) => ({ [bindingName]: b }));
}

function byType(
  registry: AppRegistry,
  name: string,
  type: string,
): Record<string, unknown> & { name: string } {
  const fn = registry.functions.get(name);
  const entry = Object.entries(fn?.metadata.bindings ?? {}).find(([, b]) => b.type === type);
  if (!entry) throw new Error(`${name} has no ${type} binding: ${JSON.stringify(bindings(registry, name))}`);
  return { ...entry[1], name: entry[0] };
}

describe('registration capture through @azure/functions-core', () => {
  it('resolves package.json main globs to the files the worker would load', async () => {
    const files = await resolveMainFiles(appRoot, 'functions/*.js');
    expect(files.map((f) => f.slice(appRoot.length))).toEqual(['/functions/all.js']);
    await expect(resolveMainFiles(appRoot, 'nothing/*.js')).rejects.toThrow(/matched no files/);
  });

  it('receives every app.* and df.app.* registration with its full binding metadata', async () => {
    const registry = await load();
    expect([...registry.functions.keys()].sort()).toEqual(
      [
        'activityFn',
        'blobFn',
        'entityFn',
        'httpFn',
        'orchFn',
        'queueFn',
        'sbQueueFn',
        'sbTopicFn',
        'timerFn',
      ].sort(),
    );
    const bindings: [string, string, Record<string, unknown>][] = [
      [
        'httpFn',
        'httpTrigger',
        { direction: 'in', authLevel: 'function', methods: ['POST'], route: 'things/{id}' },
      ],
      ['httpFn', 'http', { name: '$return', direction: 'out' }],
      ['httpFn', 'durableClient', { direction: 'in' }],
      [
        'httpFn',
        'serviceBus',
        { direction: 'out', queueName: 'out-queue', connection: 'ServiceBusConnection' },
      ],
      ['timerFn', 'timerTrigger', { schedule: '0 */5 * * * *', runOnStartup: true }],
      ['blobFn', 'blobTrigger', { path: 'incoming/{name}.csv', connection: 'StorageConnection' }],
      ['blobFn', 'blob', { direction: 'out', path: 'results/{name}.json' }],
      ['sbQueueFn', 'serviceBusTrigger', { queueName: 'in-queue', connection: 'ServiceBusConnection' }],
      ['sbTopicFn', 'serviceBusTrigger', { topicName: 'events', subscriptionName: 'sub1' }],
      ['queueFn', 'queueTrigger', { queueName: 'work' }],
    ];
    for (const [fn, type, binding] of bindings) {
      expect(byType(registry, fn, type), `${fn} ${type}`).toMatchObject(binding);
    }
    expect(registry.functions.get('queueFn')?.metadata.retryOptions).toMatchObject({
      retryStrategy: 'fixedDelay',
      maxRetryCount: 3,
      delayInterval: { seconds: 10 },
    });
    expect(byType(registry, 'orchFn', 'orchestrationTrigger')).toMatchObject({ direction: 'in' });
    expect(byType(registry, 'activityFn', 'activityTrigger')).toMatchObject({ direction: 'in' });
    expect(byType(registry, 'activityFn', 'blob')).toMatchObject({ direction: 'in', path: 'a/b' });
    expect(byType(registry, 'entityFn', 'entityTrigger')).toMatchObject({ direction: 'in' });
    // Binding names are the type plus a stable hash, as the library generates them.
    expect(byType(registry, 'timerFn', 'timerTrigger').name).toMatch(/^timerTrigger[0-9a-f]+$/);
  });

  it('gives each load its own registrations, so one process can host a fixture twice', async () => {
    const a = await load();
    const b = await load();
    expect(a.functions.size).toBe(9);
    expect(b.functions.size).toBe(9);
    expect(a.functions.get('httpFn')?.callback).not.toBe(b.functions.get('httpFn')?.callback);
  });

  it('refuses an app that registered nothing, explaining the likely cause', async () => {
    const registry: AppRegistry = { functions: new Map(), hooks: [], log: () => {} };
    await expect(
      loadApp(registry, { appRoot: join(import.meta.dirname, 'fixtures', 'empty-app') }),
    ).rejects.toThrow(/registered no functions/);
  });
});
