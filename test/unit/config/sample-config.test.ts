/**
 * The sample configuration `npm start` runs is the tour of every workflow: it must name what the
 * emulator serves by default, so the `DMF_RECURRING_*_ACTIVITY` lines `npm start` prints name
 * activities the app drains and enqueues, and the emulator's export project can be exported.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_CONFIG,
  DEFAULT_EXPORT_ACTIVITY_ID,
  DEFAULT_IMPORT_ACTIVITY_ID,
} from '@dmf-functions/emulator';
import { loadConfig } from '../../../src/shared/config/index.js';

const config = loadConfig(
  {
    DMF_CONFIG: readFileSync(new URL('../../../samples/dmf.config.json', import.meta.url), 'utf8'),
    LOCAL_FNO_CLIENT_SECRET: 'x',
    AzureWebJobsStorage: 'UseDevelopmentStorage=true',
    ServiceBusConnection: 'Endpoint=sb://localhost/;SharedAccessKeyName=a;SharedAccessKey=b',
  },
  {},
);

describe('samples/dmf.config.json (what npm start runs)', () => {
  it('has an import, a raw-CSV import (template) and the emulator’s export project, scheduled', () => {
    const byName = new Map(config.dataProjects.map((p) => [p.name, p]));
    expect(byName.get('Customers')).toMatchObject({
      direction: 'import',
      definitionGroupId: 'CustomerImport',
    });
    expect(byName.get('CustomersCsv')).toMatchObject({ direction: 'import', template: 'customers-v3.zip' });
    expect(byName.get('AssetMajorTypes')).toMatchObject({ definitionGroupId: 'Asset-Major-Types' });
    const exported = byName.get('CustomerExport');
    expect(exported).toMatchObject({
      direction: 'export',
      definitionGroupId: 'CustomerExport',
      environment: 'local',
    });
    expect(exported?.schedule).toBeDefined();
    // the emulator has it as an export project (it refuses to export a project it does not know)
    expect(
      (DEFAULT_CONFIG.dataProjects ?? []).find((p) => p.name === exported?.definitionGroupId)?.direction,
    ).toBe('export');
  });

  it('names the emulator’s default recurring activities, so the printed activity ids are drained and enqueued', () => {
    const recurring = config.recurringActivities;
    expect(recurring.find((a) => a.direction === 'import')).toMatchObject({
      id: DEFAULT_IMPORT_ACTIVITY_ID,
      environment: 'local',
    });
    const drain = recurring.find((a) => a.direction === 'export');
    expect(drain).toMatchObject({ id: DEFAULT_EXPORT_ACTIVITY_ID, environment: 'local' });
    expect(drain?.schedule).toBeDefined();
    for (const activity of DEFAULT_CONFIG.recurringActivities ?? []) {
      expect(recurring.map((a) => [a.id, a.direction])).toContainEqual([activity.id, activity.direction]);
    }
  });
});
