/**
 * The durable purge's plain function (src/functions/common/purgeHistory.ts) and its app setting
 * DMF_PURGE_AFTER_DAYS, validated with the other app settings. Under the local host, through the
 * real durable client: test/infra/purge.test.ts.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PURGED_STATUSES, purgeFinishedInstances } from '../../../src/functions/common/purgeHistory.js';
import { APP_SETTINGS, loadConfig } from '../../../src/shared/config/index.js';
import { ConfigError } from '../../../src/shared/errors.js';

const sampleConfig = readFileSync(new URL('../../../samples/dmf.config.json', import.meta.url), 'utf8');

describe('purgeFinishedInstances', () => {
  it('asks for the finished instances created before now minus the days, and nothing for 0 days', async () => {
    const calls: unknown[] = [];
    const client = {
      purgeInstanceHistoryBy: async (filter: unknown) => {
        calls.push(filter);
        return { instancesDeleted: 3 };
      },
    };
    const now = new Date('2031-03-31T02:30:00Z');
    expect(await purgeFinishedInstances(client, 30, now)).toEqual({
      purged: 3,
      createdBefore: new Date('2031-03-01T02:30:00Z'),
    });
    expect(calls).toEqual([
      {
        createdTimeFrom: new Date(0),
        createdTimeTo: new Date('2031-03-01T02:30:00Z'),
        runtimeStatus: ['Completed', 'Failed', 'Terminated'],
      },
    ]);
    expect(await purgeFinishedInstances(client, 0, now)).toEqual({ purged: 0 });
    expect(calls).toHaveLength(1);
    expect(PURGED_STATUSES).not.toContain('Running');
  });
});

describe('DMF_PURGE_AFTER_DAYS', () => {
  const env = (value?: string): Record<string, string | undefined> => ({
    DMF_CONFIG: sampleConfig,
    AzureWebJobsStorage: 'UseDevelopmentStorage=true',
    ServiceBusConnection: 'Endpoint=sb://localhost/;SharedAccessKeyName=k;SharedAccessKey=v=',
    DMF_PURGE_AFTER_DAYS: value,
  });
  const issues = (value: string): string[] => {
    try {
      loadConfig(env(value), { checkSecretSettings: false });
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      return (error as ConfigError).issues.map((i) => `${i.path}: ${i.message}`);
    }
    return [];
  };

  it('defaults to 30 days, accepts whole days from 0 to 3650, and refuses anything else', () => {
    expect(APP_SETTINGS.find((s) => s.name === 'DMF_PURGE_AFTER_DAYS')).toMatchObject({
      required: false,
      default: '30',
    });
    expect(loadConfig(env(), { checkSecretSettings: false }).purgeAfterDays).toBe(30);
    expect(loadConfig(env(' 7 '), { checkSecretSettings: false }).purgeAfterDays).toBe(7);
    expect(loadConfig(env('0'), { checkSecretSettings: false }).purgeAfterDays).toBe(0);
    expect(loadConfig(env('3650'), { checkSecretSettings: false }).purgeAfterDays).toBe(3650);
    for (const bad of ['-1', '1.5', '3651', '30d', 'forever'])
      expect(issues(bad), bad).toEqual([
        `DMF_PURGE_AFTER_DAYS: "${bad}" is not a whole number of days from 0 to 3650`,
      ]);
  });
});
