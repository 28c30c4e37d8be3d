/**
 * infra/hooks/postdeploy.sh with a stand-in `az` on PATH: it subscribes every blob trigger, and
 * every way it can fail (az missing or signed out, no key, a refused subscription) stops with exit
 * 1, a message saying what to do, and never the key. (postdeploy.ps1 mirrors it; there is no
 * PowerShell here, so it is only checked for the same messages.)
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const hooks = join(import.meta.dirname, '..', '..', 'infra', 'hooks');
const KEY = 'k3y/with+odd=chars';

// The stand-in: logs its arguments, answers like az does, fails where FAKE_AZ_* says.
const FAKE_AZ = `#!/bin/sh
echo "$*" >> "$FAKE_AZ_LOG"
case "$1 $2" in
  "account show")
    if [ -n "\${FAKE_AZ_SIGNED_OUT:-}" ]; then echo "ERROR: Please run 'az login' to setup account." >&2; exit 1; fi
    echo 00000000-0000-0000-0000-000000000001 ;;
  "functionapp keys")
    n=$(cat "$FAKE_AZ_LOG" | grep -c "functionapp keys")
    if [ "$n" -lt "\${FAKE_AZ_KEY_AT:-1}" ]; then echo "ERROR: (ServiceUnavailable) host is starting" >&2; exit 1; fi
    echo "$FAKE_AZ_KEY" ;;
  "eventgrid system-topic")
    if [ -n "\${FAKE_AZ_EG_FAIL:-}" ]; then
      for a in "$@"; do case "$a" in https://*) url="$a" ;; esac; done
      echo "ERROR: Webhook validation handshake failed for $url. Http POST request failed with response code Unknown." >&2
      exit 1
    fi ;;
  *) echo "fake az: unexpected $*" >&2; exit 2 ;;
esac
`;

let dir = '';
const hasSh = spawnSync('sh', ['-c', 'command -v awk']).status === 0;

/** The hook stopped (exit 1), saying each of `messages` on stderr. */
function expectStopped(r: { status: number | null; stderr: string }, ...messages: string[]): void {
  expect(r.status).toBe(1);
  for (const message of messages) expect(r.stderr).toContain(message);
}

function runHook(env: Record<string, string | undefined>, options: { withAz?: boolean } = {}) {
  const bin = join(dir, options.withAz === false ? 'empty-bin' : 'bin');
  const log = join(dir, `az-${Math.random().toString(36).slice(2)}.log`);
  writeFileSync(log, '');
  const base: Record<string, string> = {
    PATH: `${bin}:/usr/bin:/bin`,
    FAKE_AZ_LOG: log,
    FAKE_AZ_KEY: KEY,
    DMF_HOOK_WAIT_SECONDS: '0',
    AZURE_RESOURCE_GROUP: 'rg-dmf',
    AZURE_FUNCTION_APP_NAME: 'func-abc',
    AZURE_FUNCTION_APP_URL: 'https://func-abc.azurewebsites.net',
    AZURE_EVENTGRID_SYSTEM_TOPIC_NAME: 'stabc-blob-events',
    AZURE_SUBSCRIPTION_ID: '00000000-0000-0000-0000-000000000001',
  };
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete base[k];
    else base[k] = v;
  }
  const run = spawnSync('sh', [join(hooks, 'postdeploy.sh')], { env: base, encoding: 'utf8' });
  return {
    status: run.status,
    stdout: run.stdout,
    stderr: run.stderr,
    calls: readFileSync(log, 'utf8').trim().split('\n').filter(Boolean),
  };
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'postdeploy-'));
  for (const sub of ['bin', 'empty-bin']) spawnSync('mkdir', ['-p', join(dir, sub)]);
  writeFileSync(join(dir, 'bin', 'az'), FAKE_AZ);
  chmodSync(join(dir, 'bin', 'az'), 0o755);
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!hasSh)('infra/hooks/postdeploy.sh', () => {
  it('subscribes every blob trigger to blob-created events of its container, in the deployed subscription', () => {
    const r = runHook({ FAKE_AZ_KEY_AT: '3' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const creates = r.calls.filter((c) => c.startsWith('eventgrid'));
    expect(creates).toHaveLength(2);
    expect(creates[0]).toContain(
      `--endpoint https://func-abc.azurewebsites.net/runtime/webhooks/blobs?functionName=Host.Functions.importBlobTrigger&code=${KEY}`,
    );
    expect(creates[0]).toContain('--subject-begins-with /blobServices/default/containers/dmf-inbound/');
    expect(creates[1]).toContain('--name recurringImportBlobTrigger');
    expect(creates[1]).toContain('/containers/dmf-recurring-inbound/');
    expect(r.calls.every((c) => c.endsWith('--subscription 00000000-0000-0000-0000-000000000001'))).toBe(
      true,
    );
    expect(r.calls.filter((c) => c.startsWith('functionapp keys'))).toHaveLength(3); // waited for the key
    expect(r.stdout).toContain('every blob trigger is subscribed');
    expect(r.stdout).not.toContain(KEY);
  });

  it('stops when az is signed out, naming both logins', () => {
    const r = runHook({ FAKE_AZ_SIGNED_OUT: '1' });
    expectStopped(
      r,
      'the Azure CLI is not signed in to subscription 00000000-0000-0000-0000-000000000001',
      'Run: az login && az account set --subscription',
      'azd auth login signs in azd only',
      "Please run 'az login'", // what az said
      'azd hooks run postdeploy',
    );
    expect(r.calls.filter((c) => c.startsWith('eventgrid'))).toEqual([]);
  });

  it('stops when az is not installed', () => {
    expectStopped(runHook({}, { withAz: false }), 'the Azure CLI (az) is not installed');
  });

  it('stops when the key never appears, with what az said', () => {
    const r = runHook({ FAKE_AZ_KEY_AT: '99', DMF_HOOK_KEY_ATTEMPTS: '2' });
    expectStopped(r, 'no blobs_extension key on func-abc after 2 attempts', 'host is starting');
    expect(r.calls.filter((c) => c.startsWith('eventgrid'))).toEqual([]);
  });

  it('stops when Event Grid refuses the subscription, without printing the key', () => {
    const r = runHook({ FAKE_AZ_EG_FAIL: '1' });
    expectStopped(
      r,
      'could not subscribe function importBlobTrigger to blob-created events of container dmf-inbound',
      'Webhook validation handshake failed',
      'code=***',
    );
    expect(r.stderr + r.stdout).not.toContain(KEY);
    expect(r.calls.filter((c) => c.startsWith('eventgrid'))).toHaveLength(1); // stopped at the first
  });

  it('stops outside azd (no outputs), and skips when DMF_BLOB_TRIGGERS is empty', () => {
    const outside = runHook({ AZURE_FUNCTION_APP_NAME: undefined });
    expect(outside.status).toBe(1);
    expect(outside.stderr).toContain('AZURE_FUNCTION_APP_NAME is not set');
    const none = runHook({ DMF_BLOB_TRIGGERS: '' });
    expect(none.status).toBe(0);
    expect(none.calls).toEqual([]);
  });
});

describe('infra/hooks/postdeploy.ps1 (not run: no PowerShell here)', () => {
  it('says the same things and never swallows az errors', () => {
    const ps1 = readFileSync(join(hooks, 'postdeploy.ps1'), 'utf8');
    const sh = readFileSync(join(hooks, 'postdeploy.sh'), 'utf8');
    for (const text of [
      'the Azure CLI (az) is not installed',
      'the Azure CLI is not signed in',
      'azd auth login signs in azd only',
      'no blobs_extension key on $app after $attempts attempts',
      'could not subscribe function $fn to blob-created events of container $container',
      'azd hooks run postdeploy',
      'DMF_HOOK_WAIT_SECONDS',
      'DMF_HOOK_KEY_ATTEMPTS',
    ]) {
      expect(sh, text).toContain(text);
      expect(ps1, text).toContain(text);
    }
    for (const script of [sh, ps1]) {
      expect(script).not.toMatch(/2>\s*\/dev\/null\s*\|\|\s*true/);
      expect(script).not.toMatch(/2>\$null/);
    }
  });
});
