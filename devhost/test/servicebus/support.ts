import type { BrokerConfig } from '../../servicebus/index.js';

/** Entity properties for tests: short lock, few deliveries, so nothing waits long. */
export function entityProperties(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    MaxDeliveryCount: 3,
    LockDuration: 'PT30S',
    DeadLetteringOnMessageExpiration: false,
    ...overrides,
  };
}

/** A config with one queue `q` (plus extra queues) and topic `t` with subscriptions `s1`, `s2`. */
export function testConfig(
  options: {
    queues?: Record<string, Record<string, unknown>>;
    subscriptions?: Record<string, unknown>[];
  } = {},
): BrokerConfig {
  const queues = { q: {}, ...options.queues };
  return {
    UserConfig: {
      Namespaces: [
        {
          Name: 'sbemulatorns',
          Queues: Object.entries(queues).map(([Name, props]) => ({
            Name,
            Properties: entityProperties(props),
          })),
          Topics: [
            {
              Name: 't',
              Subscriptions: options.subscriptions ?? [
                { Name: 's1', Properties: entityProperties() },
                { Name: 's2', Properties: entityProperties() },
              ],
            },
          ],
        },
      ],
      Logging: { Type: 'File' },
    },
  } as BrokerConfig;
}

/** Polls `condition` every 10 ms until it holds; fails after `timeoutMs`. */
export async function waitFor(condition: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
