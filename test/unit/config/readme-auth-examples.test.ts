import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/shared/config/index.js';

const readme = readFileSync(new URL('../../../docs/configuration.md', import.meta.url), 'utf8');
const section = readme.slice(readme.indexOf('**Auth examples**'), readme.indexOf('**Data project**'));
const examples = [...section.matchAll(/```json\n([\s\S]*?)```/g)].map(
  (m) => JSON.parse(m[1]!) as { auth: { kind: string } },
);

const settings = {
  AzureWebJobsStorage: 'UseDevelopmentStorage=true',
  ServiceBusConnection:
    'Endpoint=sb://example.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=v',
  USMF_CLIENT_SECRET: 'not-a-real-secret',
  USMF_CERTIFICATE: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----',
  ONPREM_CLIENT_SECRET: 'not-a-real-secret',
};

describe('docs/configuration.md auth examples', () => {
  it('show every auth kind once', () => {
    expect(examples.map((e) => e.auth.kind).sort()).toEqual(
      ['adfs', 'clientCertificate', 'clientSecret', 'managedIdentity', 'workloadIdentity'].sort(),
    );
  });

  it.each(examples.map((e) => [e.auth.kind, e] as const))(
    '%s is a valid environment',
    (_kind, environment) => {
      const config = loadConfig({ ...settings, DMF_CONFIG: JSON.stringify({ environments: [environment] }) });
      expect(config.environments).toHaveLength(1);
    },
  );
});
