import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable } from 'node:stream';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import {
  DEFAULT_CONFIG,
  EmulatorConfigError,
  emulatorConfigJsonSchema,
  emulatorEnvironmentLines,
  loadEmulatorConfig,
  startEmulator,
} from '../index.js';
import { action, customersPackage, getToken, importPackage, valueOf } from './helpers.js';

/** The emulator package's folder (its tests run from the repository root or from here). */
const EMULATOR = join(import.meta.dirname, '..');
const tmp = mkdtempSync(join(tmpdir(), 'emulator-config-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('configuration', () => {
  it('reports every invalid key at once', () => {
    const bad = {
      tenantId: 'not-a-guid',
      clients: [{ clientId: '', secrets: 'x' }],
      environments: [{ name: 'a b', type: 'cloud', clients: ['c'] }],
      extra: true,
    };
    let error: unknown;
    try {
      loadEmulatorConfig(bad as never);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(EmulatorConfigError);
    const paths = (error as EmulatorConfigError).issues.map((i) => i.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        'tenantId',
        'clients.0.clientId',
        'clients.0.secrets',
        'environments.0.name',
        '',
      ]),
    );
  });

  it('cross-checks references (unknown client, unknown data project)', () => {
    const file = join(tmp, 'cross.json');
    writeFileSync(
      file,
      JSON.stringify({
        ...DEFAULT_CONFIG,
        environments: [{ name: 'e', clients: ['ghost'] }],
        recurringActivities: [
          { id: '0f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a09', name: 'x', direction: 'import', dataProject: 'Nope' },
        ],
      }),
    );
    expect(() => loadEmulatorConfig(file)).toThrow(
      /environments\.0\.clients\.0[\s\S]*recurringActivities\.0\.dataProject/,
    );
  });

  it('cross-checks entity references (unknown entity, one field per key field)', () => {
    const project = (references: unknown): unknown => ({
      name: 'Refs',
      direction: 'import',
      entities: [
        { label: 'Parent', keyFields: ['A', 'B'] },
        { label: 'Child', keyFields: ['ID'], references },
      ],
    });
    let error: unknown;
    try {
      loadEmulatorConfig({
        ...DEFAULT_CONFIG,
        dataProjects: [
          project([{ entity: 'Nobody', fields: ['X'] }]) as never,
          { ...(project([{ entity: 'parent', fields: ['A'] }]) as object), name: 'Refs2' } as never,
        ],
        recurringActivities: [],
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(EmulatorConfigError);
    expect((error as EmulatorConfigError).issues).toEqual([
      { path: 'dataProjects.0.entities.1.references.0.entity', message: 'unknown entity "Nobody"' },
      {
        path: 'dataProjects.1.entities.1.references.0.fields',
        message: '"parent" has 2 key field(s) (A, B); give one field for each',
      },
    ]);
  });

  it('ships an up-to-date JSON Schema of the config file', () => {
    const shipped: unknown = JSON.parse(readFileSync(join(EMULATOR, 'config.schema.json'), 'utf8'));
    // Regenerate (in emulator/): npx tsx main.ts --print-config-schema > config.schema.json && npx prettier --write config.schema.json
    expect(shipped).toEqual(emulatorConfigJsonSchema());
  });

  it('accepts the documented example config file', () => {
    const config = loadEmulatorConfig(join(EMULATOR, 'emulator.config.example.json'));
    expect(config.environments.map((e) => e.type)).toEqual(['cloud', 'onprem']);
  });

  it('starts from a config file path', async () => {
    const file = join(tmp, 'ok.json');
    writeFileSync(
      file,
      JSON.stringify({
        ...DEFAULT_CONFIG,
        environments: [{ name: 'from-file', clients: DEFAULT_CONFIG.environments[0]?.clients }],
      }),
    );
    const em = await startEmulator({
      config: file,
      storageConnectionString: inject('azuriteConnectionString'),
      clock: { mode: 'manual' },
    });
    try {
      expect(em.environments.map((e) => e.name)).toEqual(['from-file']);
      expect(await em.control.clock()).toMatchObject({ mode: 'manual' });
    } finally {
      await em.stop();
    }
  });
});

describe('startEmulator options', () => {
  it('runs a real clock with a speed factor, and takes faults from the options', async () => {
    const em = await startEmulator({
      storageConnectionString: inject('azuriteConnectionString'),
      clock: { mode: 'real', speed: 1_000 },
      faults: [{ route: 'GetAzureWriteUrl', kind: 'status', status: 503, times: 1 }],
    });
    try {
      const before = Date.parse((await em.control.clock()).now);
      const token = await getToken(em);
      expect((await action(em, 'GetAzureWriteUrl', { uniqueFileName: 'a.zip' }, token)).status).toBe(503);
      expect((await action(em, 'GetAzureWriteUrl', { uniqueFileName: 'a.zip' }, token)).status).toBe(200);
      const id = await importPackage(em, token, await customersPackage('CUSTOMERACCOUNT\r\nRT-1\r\n'));
      // 2 s of emulator time pass in about 2 ms of real time; poll with a bounded wait.
      const deadline = Date.now() + 5_000;
      let status = '';
      while (Date.now() < deadline) {
        const r = await action(em, 'GetExecutionSummaryStatus', { executionId: id }, token);
        status = r.status === 200 ? String(valueOf(r)) : 'not found yet';
        if (status === 'Succeeded') break;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      expect(status).toBe('Succeeded');
      expect(Date.parse((await em.control.clock()).now) - before).toBeGreaterThan(2_000);
    } finally {
      await em.stop();
    }
  });
});

describe('shared clock and per-project durations', () => {
  it('follows an external time source and runs each project for its own configured time', async () => {
    let now = Date.parse('2026-03-01T08:00:00Z');
    const em = await startEmulator({
      storageConnectionString: inject('azuriteConnectionString'),
      clock: { mode: 'external', now: () => now },
      notFoundWindowMs: 0,
      config: {
        ...DEFAULT_CONFIG,
        dataProjects: [
          {
            name: 'CustomerImport',
            direction: 'import',
            entities: [{ label: 'Customers V3', name: 'CustomersV3', keyFields: ['CustomerAccount'] }],
            executionDurationMs: { min: 40_000, max: 50_000 },
          },
        ],
        recurringActivities: [],
      },
    });
    try {
      expect(await em.control.clock()).toMatchObject({ mode: 'external', now: '2026-03-01T08:00:00.000Z' });
      // the owner of the time source moves it; the control API refuses to
      await expect(em.control.advanceClock(1_000)).rejects.toThrow(/409|host/);
      const token = await getToken(em);
      const id = await importPackage(em, token, await customersPackage('CUSTOMERACCOUNT\r\nRT-1\r\n'));
      const status = async (): Promise<unknown> =>
        valueOf(await action(em, 'GetExecutionSummaryStatus', { executionId: id }, token));
      now += 39_000;
      expect(await status()).toBe('Executing');
      now += 11_000;
      expect(await status()).toBe('Succeeded');
      const execution = (await em.control.executions()).find((e) => e.executionId === id)!;
      const ran = Date.parse(execution.endAt) - Date.parse(execution.createdAt);
      expect(ran).toBeGreaterThanOrEqual(40_000);
      expect(ran).toBeLessThanOrEqual(50_000);
    } finally {
      await em.stop();
    }
  });

  it('rejects a duration range whose min is above its max', async () => {
    await expect(
      startEmulator({
        storageConnectionString: inject('azuriteConnectionString'),
        config: {
          ...DEFAULT_CONFIG,
          dataProjects: [
            {
              name: 'CustomerImport',
              direction: 'import',
              entities: [{ label: 'Customers V3', keyFields: ['CustomerAccount'] }],
              executionDurationMs: { min: 5_000, max: 1_000 },
            },
          ],
          recurringActivities: [],
        },
      }),
    ).rejects.toThrow(/dataProjects\.0\.executionDurationMs: min is larger than max/);
  });
});

/** The keys `npm run emulator` prints for the built-in configuration, in order (a contract). */
const DEFAULT_KEYS = [
  'DMF_BASE_URL',
  'DMF_AUTHORITY_HOST',
  'DMF_TENANT_ID',
  'DMF_TOKEN_URL',
  'DMF_CLIENT_ID',
  'DMF_CLIENT_SECRET',
  'DMF_CLIENT_CERTIFICATE_PATH',
  'DMF_SCOPE',
  'DMF_CA_CERT',
  'DMF_CONTROL_URL',
  'DMF_RECURRING_IMPORT_ACTIVITY',
  'DMF_RECURRING_EXPORT_ACTIVITY',
  'DMF_STORAGE_CONNECTION_STRING',
];

describe('emulatorEnvironmentLines', () => {
  it('gives the KEY=value pairs of a running emulator, with on-premises and further environments', async () => {
    const em = await startEmulator({
      config: join(EMULATOR, 'emulator.config.example.json'),
      storageConnectionString: inject('azuriteConnectionString'),
      clock: { mode: 'manual' },
    });
    try {
      const lines = emulatorEnvironmentLines(em);
      expect(lines.map(([key]) => key)).toEqual([
        ...DEFAULT_KEYS,
        'DMF_ADFS_TOKEN_URL',
        'DMF_BASE_URL_ONPREM',
      ]);
      const values = Object.fromEntries(lines);
      expect(values).toMatchObject({
        DMF_BASE_URL: em.baseUrl,
        DMF_TOKEN_URL: em.tokenUrl,
        DMF_CLIENT_SECRET: em.credentials.clientSecret,
        DMF_SCOPE: `${em.baseUrl}/.default`,
        DMF_CA_CERT: em.caCertPath,
        DMF_STORAGE_CONNECTION_STRING: inject('azuriteConnectionString'),
        DMF_ADFS_TOKEN_URL: em.adfsTokenUrl,
        DMF_BASE_URL_ONPREM: em.environments[1]?.baseUrl,
      });
    } finally {
      await em.stop();
    }
  });
});

/** Waits for `npm run emulator`'s READY line; returns what it printed up to there. */
function ready(
  child: ChildProcessByStdio<null, Readable, Readable>,
  stderr: () => string = () => '',
): Promise<string> {
  let out = '';
  return new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no READY: ${out}`)), 30_000);
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      if (/^READY$/m.test(out)) {
        clearTimeout(timer);
        resolve(out);
      }
    });
    child.once('exit', () => reject(new Error(`exited early: ${out} ${stderr()}`)));
  });
}

describe('npm run emulator entry point', () => {
  it('takes DMF_EMULATOR_STATE_FILE: an unusable file is moved aside and reported, state saved on SIGTERM', async () => {
    const stateFile = join(tmp, 'cli-state.json');
    writeFileSync(stateFile, 'not json');
    const child = spawn(process.execPath, ['--import', 'tsx', 'main.ts'], {
      cwd: EMULATOR,
      env: {
        ...process.env,
        DMF_EMULATOR_STORAGE_CONNECTION_STRING: inject('azuriteConnectionString'),
        DMF_EMULATOR_STATE_FILE: stateFile,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await ready(child, () => err);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited, err).toBe(0);
    const movedTo = /moved it to (\S+)/.exec(err)?.[1] ?? '';
    expect(err).toContain(`state file ${stateFile} is unusable`);
    expect(readFileSync(movedTo, 'utf8')).toBe('not json');
    expect((JSON.parse(readFileSync(stateFile, 'utf8')) as { version: number }).version).toBe(1);
  });

  it('prints KEY=value lines then READY, serves tokens, and stops cleanly on SIGTERM', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'main.ts'], {
      cwd: EMULATOR,
      env: { ...process.env, DMF_EMULATOR_STORAGE_CONNECTION_STRING: inject('azuriteConnectionString') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const out = await ready(child);
      const values = Object.fromEntries(
        out
          .split('\n')
          .filter((l) => l.includes('='))
          .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
      );
      expect(Object.keys(values)).toEqual(DEFAULT_KEYS);
      for (const key of DEFAULT_KEYS) expect(values[key], key).toBeTruthy();
      const res = await fetch(values.DMF_TOKEN_URL ?? '', {
        method: 'POST',
        body: new URLSearchParams({
          grant_type: 'client_credentials',
          client_id: values.DMF_CLIENT_ID ?? '',
          client_secret: values.DMF_CLIENT_SECRET ?? '',
          scope: `${values.DMF_BASE_URL ?? ''}/.default`,
        }),
      });
      expect(res.status).toBe(200);
      await res.text();
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  });
});
