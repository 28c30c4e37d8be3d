/**
 * The baseline of bench/jobs/list.ts: the jobs list as it was before the job index (main at
 * e4425f5, `handleListJobs` in src/functions/common/jobs.ts) — one durable status query over every
 * instance created since `since`, each turned into its job JSON, filtered and sorted in memory —
 * in a stand-in app with an `importPackage` orchestration that completes at once with a result
 * built from its input (so the instances hold what real completed imports hold).
 *
 * One difference, in the baseline's favour: that API answered every job in the window (it could
 * not page); this answers only the newest `top`, so the time measured is the scan, not the
 * serialization of a 100 MB answer.
 */
import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import type { OrchestrationContext } from 'durable-functions';
import { IMPORT_INSTANCE_PREFIX, jobFromStatus, type ImportResult } from '../../../src/shared/jobs/index.js';

/** What the bench starts each instance with: a real import input plus the result it ends with. */
interface BenchInput {
  result: ImportResult;
  [key: string]: unknown;
}

df.app.orchestration('importPackage', function* (context: OrchestrationContext) {
  const { result } = context.df.getInput<BenchInput>();
  context.df.setCustomStatus({ stage: 'Done', executionId: result.executionId, polls: result.polls });
  yield context.df.createTimer(context.df.currentUtcDateTime);
  return result;
});

async function scan(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const wanted = (request.query.get('status') ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const environment = request.query.get('environment');
  const top = Number(request.query.get('top') ?? 100);
  const sinceText = request.query.get('since');
  const since = sinceText ? new Date(sinceText) : new Date(Date.now() - 7 * 86_400_000);
  // as before the index: every instance of the window, then the job JSON of each
  const statuses = await df.getClient(context).getStatusBy({ createdTimeFrom: since });
  const jobs = statuses
    .filter((s) => s.instanceId.startsWith(IMPORT_INSTANCE_PREFIX) && s.name === 'importPackage')
    .map((s) => jobFromStatus(s))
    .filter((j) => wanted.length === 0 || wanted.includes(j.status))
    .filter((j) => !environment || j.environment === environment)
    .sort((a, b) => (b.createdAt ?? '').localeCompare(a.createdAt ?? ''));
  return { status: 200, jsonBody: { jobs: jobs.slice(0, top), since: since.toISOString() } };
}

app.http('jobListScan', {
  methods: ['GET'],
  authLevel: 'anonymous',
  route: 'jobs',
  extraInputs: [df.input.durableClient()],
  handler: scan,
});
