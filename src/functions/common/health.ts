import { app, type HttpResponseInit } from '@azure/functions';

/** Name of the health function. */
export const HEALTH_FUNCTION = 'health';

/** Liveness probe: answers without touching F&O or storage, so load balancers and scripts can poll it. */
export function health(): HttpResponseInit {
  return { status: 200, jsonBody: { status: 'ok' } };
}

app.http(HEALTH_FUNCTION, { route: 'health', methods: ['GET'], authLevel: 'anonymous', handler: health });
