import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { APP_SETTINGS, loadConfig } from '../../../src/shared/config/index.js';

const sampleText = readFileSync(new URL('../../../local.settings.sample.json', import.meta.url), 'utf8');
const sample = JSON.parse(sampleText) as { Values: Record<string, string> };

describe('local.settings.sample.json (the func start path)', () => {
  it('mentions every app setting the config module knows', () => {
    const missing = APP_SETTINGS.map((s) => s.name).filter((name) => !sampleText.includes(name));
    expect(missing).toEqual([]);
  });

  it('is a valid configuration as it stands', () => {
    const config = loadConfig(sample.Values);
    expect(config.environments.map((e) => e.name)).toEqual(['local']);
  });
});
