import { writeFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import {
  ConfigError,
  DEFAULT_SERVICE_BUS_CONFIG_PATH,
  ManualClock,
  loadBrokerConfig,
  parseBrokerConfig,
  parseIsoDuration,
  startServiceBusBroker,
} from '../../servicebus/index.js';
import { testConfig } from './support.js';

describe('Service Bus broker config', () => {
  test('ISO 8601 durations of the emulator config convert to milliseconds', () => {
    expect(parseIsoDuration('PT1M')).toBe(60_000);
    expect(parseIsoDuration('PT0.5S')).toBe(500);
    expect(parseIsoDuration('P1DT2H')).toBe(26 * 3_600_000);
    expect(parseIsoDuration('PT1H30M')).toBe(5_400_000);
    expect(() => parseIsoDuration('1 minute')).toThrow(/ISO 8601/);
    expect(() => parseIsoDuration('PT')).toThrow(/ISO 8601/);
  });

  test('the project default declares dmf-commands (MaxDeliveryCount 5) and dmf-events/all', async () => {
    const config = await loadBrokerConfig(DEFAULT_SERVICE_BUS_CONFIG_PATH);
    const ns = config.UserConfig.Namespaces[0];
    expect(ns?.Queues.map((q) => [q.Name, q.Properties.MaxDeliveryCount, q.Properties.LockDuration])).toEqual(
      [['dmf-commands', 5, 60_000]],
    );
    expect(ns?.Topics.map((t) => [t.Name, t.Subscriptions.map((s) => s.Name)])).toEqual([
      ['dmf-events', ['all']],
    ]);

    const broker = await startServiceBusBroker();
    try {
      expect(broker.entities().map((e) => `${e.kind}:${e.path}`)).toEqual([
        'queue:dmf-commands',
        'topic:dmf-events',
        'subscription:dmf-events/Subscriptions/all',
      ]);
    } finally {
      await broker.stop();
    }
  });

  test('invalid declarations fail with a ConfigError naming every bad key', () => {
    const bad = {
      UserConfig: {
        Namespaces: [
          {
            Name: 'sbemulatorns',
            Queues: [
              { Name: 'a', Properties: { LockDuration: 'one minute', MaxDeliveryCount: 0 } },
              { Name: 'b', Properties: { RequiresSession: true } },
            ],
            Topics: [],
          },
        ],
      },
    };
    let error: unknown;
    try {
      parseBrokerConfig(bad);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const paths = (error as ConfigError).issues.map((i) => i.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        'UserConfig.Namespaces.0.Queues.0.Properties.LockDuration',
        'UserConfig.Namespaces.0.Queues.0.Properties.MaxDeliveryCount',
        'UserConfig.Namespaces.0.Queues.1.Properties.RequiresSession',
      ]),
    );
  });

  test('unsupported SQL filters and duplicate names are rejected instead of silently ignored', () => {
    const withSql = testConfig({
      subscriptions: [
        {
          Name: 's',
          Rules: [
            { Name: 'r', Properties: { FilterType: 'Sql', SqlFilter: { SqlExpression: "sys.Label = 'x'" } } },
          ],
        },
      ],
    });
    expect(() => parseBrokerConfig(withSql)).toThrow(/only the always-true SQL filter/);
    const duplicate = testConfig({ queues: { Q: {} } });
    expect(() => parseBrokerConfig(duplicate)).toThrow(/duplicate entity name "Q"/);
  });

  test('a config file path is read and a missing file is a ConfigError', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sb-config-'));
    try {
      const path = join(dir, 'Config.json');
      await writeFile(path, JSON.stringify(testConfig({ queues: { orders: { LockDuration: 'PT5S' } } })));
      const broker = await startServiceBusBroker({ config: path, clock: new ManualClock() });
      try {
        expect(broker.entities().map((e) => e.path)).toContain('orders');
      } finally {
        await broker.stop();
      }
      await expect(loadBrokerConfig(join(dir, 'missing.json'))).rejects.toBeInstanceOf(ConfigError);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('a busy port is reported as a broker error', async () => {
    const first = await startServiceBusBroker({ config: testConfig() });
    try {
      await expect(startServiceBusBroker({ config: testConfig(), port: first.port })).rejects.toMatchObject({
        code: 'SERVICEBUS_BROKER_LISTEN',
      });
    } finally {
      await first.stop();
    }
  });
});
