/**
 * What `npm start` keeps between starts (issue 16): the last ports, reused only where free, and the
 * printed lines, readable by the owner only.
 */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freeRecordedPorts, readRecordedPorts, recordStart } from '../start-state.js';

const dir = mkdtempSync(join(tmpdir(), 'dmf-start-state-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const listen = (): Promise<{ server: Server; port: number }> =>
  new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      resolve({ server, port: typeof address === 'object' && address ? address.port : 0 });
    });
  });

describe('npm start state', () => {
  it('reuses a recorded port that is free, and leaves out one another program took', async () => {
    const taken = await listen();
    const freed = await listen();
    await new Promise((resolve) => freed.server.close(resolve));
    try {
      recordStart(dir, { blob: freed.port, serviceBus: taken.port, environments: { default: freed.port } }, [
        ['FUNCTIONS_KEY', 'k'],
      ]);
      const reused = await freeRecordedPorts(readRecordedPorts(dir));
      expect(reused).toEqual({ blob: freed.port, environments: { default: freed.port } });
    } finally {
      await new Promise((resolve) => taken.server.close(resolve));
    }
  });

  it('ignores a record that is not ports', () => {
    writeFileSync(join(dir, 'ports.json'), '{"blob":"x","queue":70000,"table":-1,"environments":{"a":1.5}}');
    expect(readRecordedPorts(dir)).toEqual({});
    writeFileSync(join(dir, 'ports.json'), 'not json');
    expect(readRecordedPorts(dir)).toEqual({});
  });

  it('records the printed lines for the owner only', () => {
    recordStart(dir, {}, [
      ['FUNCTIONS_KEY', 'secret'],
      ['STORAGE_CONNECTION_STRING', 'a=b;c=d'],
    ]);
    const file = join(dir, 'stack.env');
    expect(readFileSync(file, 'utf8')).toBe('FUNCTIONS_KEY=secret\nSTORAGE_CONNECTION_STRING=a=b;c=d\n');
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });
});
