/**
 * What the CLI finds of `npm start` (issue 16): with no key given it reads the key file, and a
 * refused or missing key names every place looked at; connection strings come from the shell, else
 * from the lines the last start recorded.
 */
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../../src/cli/main.js';
import { findConnectionString, findFunctionsKey } from '../../../src/cli/local.js';

const dir = mkdtempSync(join(tmpdir(), 'dmf-cli-local-'));
const KEY = 'key-from-the-file';
let server: Server;
let url: string;
const seenKeys: (string | undefined)[] = [];

beforeAll(async () => {
  writeFileSync(join(dir, 'functions.key'), `${KEY}\n`);
  server = createServer((req, res) => {
    const key = req.headers['x-functions-key'];
    seenKeys.push(typeof key === 'string' ? key : undefined);
    if (key !== KEY) return res.writeHead(401).end();
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ jobs: [] }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  writeFileSync(
    join(dir, 'stack.env'),
    `FUNCTIONS_BASE_URL=${url}\nSTORAGE_CONNECTION_STRING=UseDevelopmentStorage=true;X=1\nREADY\n`,
  );
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

async function dmf(
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c: Buffer) => (out += c.toString()));
  stderr.on('data', (c: Buffer) => (err += c.toString()));
  const code = await runCli(args, {
    stdout,
    stderr,
    env: { DMF_START_DATA_DIR: dir, ...env },
    interactive: false,
  });
  return { code, stdout: out, stderr: err };
}

describe('the CLI and the local stack', () => {
  it('with no key and no url given, uses the key file and the url npm start recorded', async () => {
    const run = await dmf(['jobs'], {});
    expect(run.stdout).toContain('No jobs.');
    expect(run.code).toBe(0);
    expect(seenKeys.at(-1)).toBe(KEY);
  });

  it('a refused key: the 401 names the key used and every place looked at', async () => {
    const run = await dmf(['jobs'], { FUNCTIONS_KEY: 'stale' });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('HTTP 401: the function key from FUNCTIONS_KEY was refused');
    expect(run.stderr).toContain('--key (not given)');
    expect(run.stderr).toContain('DMF_FUNCTIONS_KEY (not set)');
    expect(run.stderr).toContain('FUNCTIONS_KEY (used)');
    expect(run.stderr).toContain(`${join(dir, 'functions.key')} (not read)`);
  });

  it('no key anywhere: the 401 says none was found, and where it looked', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'dmf-cli-nokey-'));
    try {
      const run = await dmf(['jobs', '--url', url], { DMF_START_DATA_DIR: empty });
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('none was found');
      expect(run.stderr).toContain(`${join(empty, 'functions.key')} (absent)`);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  it('finds the key in order: --key, DMF_FUNCTIONS_KEY, FUNCTIONS_KEY, the file', () => {
    expect(findFunctionsKey('a', { FUNCTIONS_KEY: 'b' }, dir)).toMatchObject({ key: 'a', from: '--key' });
    expect(findFunctionsKey(undefined, { DMF_FUNCTIONS_KEY: 'c', FUNCTIONS_KEY: 'b' }, dir).from).toBe(
      'DMF_FUNCTIONS_KEY',
    );
    expect(findFunctionsKey(undefined, {}, dir)).toMatchObject({
      key: KEY,
      from: join(dir, 'functions.key'),
    });
    // the local key goes to the local stack only
    const remote = findFunctionsKey(undefined, {}, dir, 'https://contoso-dmf.azurewebsites.net');
    expect(remote.key).toBeUndefined();
    expect(remote.looked.at(-1)).toContain(
      'not read: https://contoso-dmf.azurewebsites.net is not the local stack',
    );
  });

  it('connection strings: the shell’s, else the recorded ones, else an error naming both places', () => {
    expect(
      findConnectionString('STORAGE_CONNECTION_STRING', { STORAGE_CONNECTION_STRING: 'mine' }, dir),
    ).toBe('mine');
    expect(findConnectionString('STORAGE_CONNECTION_STRING', {}, dir)).toBe('UseDevelopmentStorage=true;X=1');
    expect(() => findConnectionString('SERVICEBUS_CONNECTION_STRING', {}, dir)).toThrow(
      /No SERVICEBUS_CONNECTION_STRING: set it .*or run npm start, which records it in .*stack\.env/,
    );
  });

  it('dmf drop refuses a hostile project or file name before touching storage', async () => {
    const file = join(dir, 'x.zip');
    writeFileSync(file, 'PK');
    const run = await dmf(['drop', file, '--env', 'local', '--project', '../dmf-results'], {});
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('cannot be a path segment');
    const container = await dmf(
      ['drop', file, '--env', 'local', '--project', 'Customers', '--container', '../x'],
      {},
    );
    expect(container.stderr).toContain('is not a container name');
  });
});
