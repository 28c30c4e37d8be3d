/**
 * Alerts: which alerts want a job, the messages they send (a Teams message with an Adaptive Card,
 * plain JSON), and the delivery against a local receiver (2xx delivered, 408/429/5xx and no answer
 * retried, other refusals not, never a url's path or query in an error).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AlertDeliveryError,
  alertMessage,
  alertNotice,
  alertsFor,
  deliverAlert,
  plainCardText,
  teamsMessage,
  type AlertNotice,
} from '../../../src/shared/alerts/index.js';
import { AlertConfigSchema } from '../../../src/shared/config/index.js';
import { rejectedJob } from '../../../src/shared/jobs/index.js';
import { FAILED_IMPORT_NOTICE } from '../../support/inputs.js';

const notice: AlertNotice = { ...FAILED_IMPORT_NOTICE, errorCount: 5 };
const alert = (over: Record<string, unknown> = {}) =>
  AlertConfigSchema.parse({ name: 'a', urlSetting: 'HOOK', ...over });

describe('alerts', () => {
  it('an alert wants failures by default; success, statuses, environments and kinds narrow it', () => {
    const alerts = [
      alert({ name: 'failures' }),
      alert({ name: 'successes', on: ['success'] }),
      alert({ name: 'partial-only', on: ['PartiallySucceeded'] }),
      alert({ name: 'other-env', environments: ['test'] }),
      alert({ name: 'exports', kinds: ['export'] }),
    ];
    expect(alertsFor(alerts, notice)).toEqual(['failures']);
    expect(alertsFor(alerts, { ...notice, status: 'Succeeded' })).toEqual(['successes']);
    expect(alertsFor(alerts, { ...notice, status: 'PartiallySucceeded' })).toEqual([
      'failures',
      'partial-only',
    ]);
    expect(alertsFor(alerts, { ...notice, status: 'Rejected' })).toEqual(['failures']);
    // an operator's own cancel is no failure
    expect(alertsFor(alerts, { ...notice, status: 'Canceled' })).toEqual([]);
    expect(alertsFor(alerts, { ...notice, kind: 'export', environment: 'test' })).toEqual([
      'failures',
      'other-env',
      'exports',
    ]);
  });

  it('the Teams message is an Adaptive Card in a message attachment, its text never markup', () => {
    const hostile = {
      ...notice,
      file: '[click](https://evil.example) *bold* <b>',
      errors: [{ code: 'X', message: '_y_' }],
    };
    const message = teamsMessage(hostile, { pageUrl: 'https://app.example/api/dashboard#/jobs/imp-1' });
    expect(message).toMatchObject({
      type: 'message',
      attachments: [
        {
          contentType: 'application/vnd.microsoft.card.adaptive',
          contentUrl: null,
          content: {
            $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
            type: 'AdaptiveCard',
            version: '1.2',
            actions: [
              {
                type: 'Action.OpenUrl',
                title: 'Open the job',
                url: 'https://app.example/api/dashboard#/jobs/imp-1',
              },
            ],
          },
        },
      ],
    });
    const text = JSON.stringify(message);
    expect(text).not.toContain('[click](');
    expect(text).toContain('\\\\[click\\\\](https://evil.example) \\\\*bold\\\\* \\\\<b\\\\>');
    expect(text).toContain('Errors (5)');
    expect(plainCardText('a_b')).toBe('a\\_b');
    // far below Teams' 28 KB message limit, even with long messages
    const long = {
      ...notice,
      errors: Array.from({ length: 3 }, () => ({ code: 'E', message: 'x'.repeat(300) })),
    };
    expect(JSON.stringify(teamsMessage(long)).length).toBeLessThan(4_000);
  });

  it('the JSON message carries a text line and the notice; the format follows the alert', () => {
    expect(alertMessage(alert({ format: 'json' }), notice)).toEqual({
      type: 'com.dmf-functions.alert',
      text: 'Import Failed: c.zip (prod/customers)',
      job: notice,
    });
    expect(alertMessage(alert({ dashboardUrl: 'https://app.example/api/dashboard/' }), notice)).toMatchObject(
      {
        type: 'message',
      },
    );
  });

  it('a notice takes a job’s public facts and its first errors, shortened', () => {
    const job = rejectedJob(
      {
        id: 'cmd-1',
        trigger: 'serviceBus',
        subject: 'commands/1',
        reason: 'r'.repeat(1_000),
        code: 'SOURCE_NOT_FOUND',
        rejectedAt: '2026-01-01T00:00:00.000Z',
        kind: 'import',
        environment: 'prod',
        source: 'inbound/x.zip',
      },
      'results/rejected/commands/1/cmd-1.json',
    );
    const made = alertNotice(job, { at: '2026-01-01T00:00:00.000Z', source: 'inbound/x.zip' });
    expect(made).toMatchObject({
      jobId: 'cmd-1',
      status: 'Rejected',
      source: 'inbound/x.zip',
      errorCount: 1,
    });
    expect(made.errors[0]!.message.length).toBe(300);
    expect(made).not.toHaveProperty('project');
  });
});

describe('alert delivery', () => {
  let server: Server;
  let base: string;
  const answers: number[] = [];
  beforeAll(async () => {
    server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        if (req.url?.startsWith('/hang')) return; // never answers
        if (req.url?.startsWith('/moved')) {
          res.writeHead(302, { location: '/ok' });
          res.end();
          return;
        }
        res.writeHead(answers.shift() ?? 200);
        res.end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('2xx is delivered; 408, 429 and 5xx are worth a retry; other refusals are final', async () => {
    answers.push(202);
    expect(await deliverAlert(`${base}/hook?sig=s3cr3t`, { a: 1 })).toEqual({ delivered: true, status: 202 });
    for (const status of [408, 429, 503]) {
      answers.push(status);
      const error = await deliverAlert(`${base}/hook?sig=s3cr3t`, {}).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(AlertDeliveryError);
      expect((error as AlertDeliveryError).transient).toBe(true);
      expect((error as Error).message).toBe(`The webhook at ${new URL(base).host} answered HTTP ${status}`);
    }
    answers.push(404);
    expect(await deliverAlert(`${base}/hook?sig=s3cr3t`, {})).toEqual({ delivered: false, status: 404 });
  });

  it('no answer within the timeout, or a redirect, is worth a retry and names the host only', async () => {
    for (const path of ['/hang/secret-path?sig=s3cr3t', '/moved/secret-path?sig=s3cr3t']) {
      const error = await deliverAlert(`${base}${path}`, {}, { timeoutMs: 300 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(AlertDeliveryError);
      expect((error as Error).message).not.toMatch(/secret-path|s3cr3t/);
      expect((error as Error).cause).toBeUndefined();
    }
  });
});
