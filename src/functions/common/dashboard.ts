/**
 * `GET /api/dashboard` serves the jobs dashboard (HTML shell, `app.js`, `app.css`) from the app
 * itself: no CDN, works offline. The shell holds no data, so it is anonymous; every data call the
 * page makes carries the function key the operator enters once per browser session.
 */
import { app, type HttpRequest, type HttpResponseInit } from '@azure/functions';
import { DASHBOARD_SCRIPT } from '../../dashboard/client.js';
import { DASHBOARD_CSS, dashboardHtml } from '../../dashboard/page.js';

/** Function name of the dashboard. */
export const DASHBOARD_FUNCTION = 'dashboard';

/** Route of the dashboard under the route prefix. */
export const DASHBOARD_ROUTE = 'dashboard';

/** Only same-origin scripts, styles and API calls; downloads come from blob: urls. */
export const DASHBOARD_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const common = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'content-security-policy': DASHBOARD_CSP,
};

/** Handles `GET /api/dashboard[/app.js|/app.css]`. */
export function handleDashboard(request: HttpRequest): HttpResponseInit {
  const asset = request.params.asset ?? '';
  const path = new URL(request.url).pathname;
  const base = path.slice(0, path.toLowerCase().lastIndexOf(`/${DASHBOARD_ROUTE}`)) || '';
  switch (asset) {
    case '':
    case 'index.html':
      return {
        status: 200,
        headers: { ...common, 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-cache' },
        body: dashboardHtml(base),
      };
    case 'app.js':
      return {
        status: 200,
        headers: { ...common, 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'no-cache' },
        body: DASHBOARD_SCRIPT,
      };
    case 'app.css':
      return {
        status: 200,
        headers: { ...common, 'content-type': 'text/css; charset=utf-8', 'cache-control': 'no-cache' },
        body: DASHBOARD_CSS,
      };
    default:
      return { status: 404, headers: common, body: 'Not found' };
  }
}

app.http(DASHBOARD_FUNCTION, {
  methods: ['GET'],
  authLevel: 'anonymous',
  route: `${DASHBOARD_ROUTE}/{*asset}`,
  handler: handleDashboard,
});
