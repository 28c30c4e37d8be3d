import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { afterEach, expect, test } from 'vitest';
import { sendServiceBusMessages } from '../../servicebus/index.js';

const tsxCli = createRequire(import.meta.url).resolve('tsx/cli');
const mainPath = fileURLToPath(new URL('../../servicebus/main.ts', import.meta.url));
let child: ReturnType<typeof spawn> | undefined;

afterEach(() => {
  child?.kill('SIGKILL');
  child = undefined;
});

test('the CLI prints a working connection string, then READY, and exits 0 on SIGTERM', async () => {
  const proc = spawn(process.execPath, [tsxCli, mainPath, '--port', '0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child = proc;
  let output = '';
  const ready = new Promise<string>((resolve, reject) => {
    proc.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
      const match = /SERVICEBUS_CONNECTION_STRING=(\S+)\nREADY\n/.exec(output);
      if (match?.[1]) resolve(match[1]);
    });
    proc.once('exit', (code) => reject(new Error(`CLI exited early with ${code}: ${output}`)));
  });
  const connectionString = await ready;
  expect(connectionString).toMatch(/^Endpoint=sb:\/\/127\.0\.0\.1:\d+;.*UseDevelopmentEmulator=true$/);
  await sendServiceBusMessages(connectionString, 'dmf-commands', { body: 'via CLI' });

  const exited = new Promise<number | null>((resolve) => proc.once('exit', resolve));
  proc.kill('SIGTERM');
  expect(await exited).toBe(0);
});
