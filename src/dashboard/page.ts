/** The dashboard's HTML shell and stylesheet (served by `src/functions/common/dashboard.ts`). */

/** Escapes text for an HTML attribute or text node. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * The page: a static shell without data (anonymous is fine); the script asks for the function
 * key once per browser session and sends it with every API call. `base` is the route prefix path
 * (`/api`), so assets and API calls work under any prefix.
 */
export function dashboardHtml(base: string): string {
  const b = escapeHtml(base);
  return `<!doctype html>
<html lang="en" data-api="${b}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>dmf-functions · jobs</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${b}/dashboard/app.css">
<script src="${b}/dashboard/app.js" defer></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header>
  <h1><a href="#/">dmf-functions</a> <span class="sub">F&amp;O data jobs</span></h1>
  <nav aria-label="Dashboard">
    <a href="#/">Jobs</a>
    <a href="#/environments">Environments</a>
    <button type="button" id="forget-key" hidden>Forget key</button>
  </nav>
</header>
<main id="main" tabindex="-1">
  <noscript><p>This dashboard needs JavaScript.</p></noscript>
</main>
<footer><p>Data from this function app's job API. Times in your browser's time zone.</p></footer>
</body>
</html>
`;
}

/** The stylesheet: plain CSS, system fonts, status shown by text and colour. */
export const DASHBOARD_CSS = `
:root { --fg: #1b1f24; --muted: #57606a; --line: #d0d7de; --bg: #fff; --panel: #f6f8fa; --accent: #0550ae;
  --ok: #116329; --ok-bg: #dafbe1; --warn: #7d4e00; --warn-bg: #fff1c2; --bad: #a40e26; --bad-bg: #ffebe9;
  --run: #0550ae; --run-bg: #ddf4ff; font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--fg); background: var(--bg); font-size: 14px; line-height: 1.45; }
a { color: var(--accent); }
.skip { position: absolute; left: -9999px; }
.skip:focus { left: 8px; top: 8px; background: var(--bg); padding: 4px 8px; z-index: 10; }
header { display: flex; align-items: center; justify-content: space-between; padding: 10px 20px;
  border-bottom: 1px solid var(--line); background: var(--panel); }
header h1 { font-size: 18px; margin: 0; }
header h1 a { color: var(--fg); text-decoration: none; }
header .sub { color: var(--muted); font-weight: normal; font-size: 14px; margin-left: 6px; }
nav { display: flex; gap: 12px; align-items: center; }
main { padding: 16px 20px; }
main:focus { outline: none; }
footer { padding: 8px 20px; color: var(--muted); font-size: 12px; border-top: 1px solid var(--line); }
h2 { font-size: 17px; margin: 4px 0 12px; }
h3 { font-size: 15px; margin: 20px 0 8px; }
button, select, input { font: inherit; }
button { border: 1px solid var(--line); background: var(--bg); border-radius: 6px; padding: 4px 10px; cursor: pointer; }
button.primary { background: var(--accent); color: #fff; border-color: var(--accent); }
:focus-visible { outline: 2px solid var(--accent); outline-offset: 2px; }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
form.filters { display: flex; flex-wrap: wrap; gap: 12px; align-items: flex-end; margin-bottom: 10px; }
form .field { display: flex; flex-direction: column; gap: 2px; }
form .field label { font-size: 12px; color: var(--muted); }
form.filters .inline { display: flex; align-items: center; gap: 6px; padding-bottom: 4px; }
select, input[type=password], input[type=text] { border: 1px solid var(--line); border-radius: 6px; padding: 4px 6px; background: var(--bg); }
form.key { max-width: 420px; display: flex; flex-direction: column; gap: 10px; margin-top: 20px; }
.summary { color: var(--muted); margin: 6px 0; }
.alert { border: 1px solid var(--bad); background: var(--bad-bg); color: var(--bad); padding: 8px 12px; border-radius: 6px; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 6px 6px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: var(--panel); font-weight: 600; white-space: nowrap; }
td.time span { display: block; white-space: nowrap; }
td.file, td.mono { overflow-wrap: anywhere; min-width: 14ch; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.mono, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; }
tbody tr:hover { background: #f6f8fa; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; white-space: nowrap; }
.s-Succeeded { color: var(--ok); background: var(--ok-bg); }
.s-PartiallySucceeded { color: var(--warn); background: var(--warn-bg); }
.s-Failed, .s-TimedOut, .s-Canceled, .s-Unknown, .s-Rejected { color: var(--bad); background: var(--bad-bg); }
.s-Queued { color: var(--warn); background: var(--warn-bg); }
.actions { display: flex; flex-wrap: wrap; align-items: center; gap: 8px; margin: 4px 0 12px; }
.actions .alert { flex-basis: 100%; }
.s-Running, .s-Pending { color: var(--run); background: var(--run-bg); }
dl.details { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; margin: 0; }
dl.details dt { color: var(--muted); }
dl.details dd { margin: 0; }
ol.timeline { list-style: none; margin: 0; padding: 0 0 0 4px; }
ol.timeline li { position: relative; padding: 0 0 14px 26px; border-left: 2px solid var(--line); margin-left: 8px; }
ol.timeline li:last-child { border-left-color: transparent; }
ol.timeline li::before { content: ""; position: absolute; left: -8px; top: 2px; width: 14px; height: 14px; border-radius: 50%;
  background: var(--bg); border: 2px solid var(--line); }
ol.timeline li.done::before { background: var(--ok); border-color: var(--ok); }
ol.timeline li.current::before { background: var(--run); border-color: var(--run); }
ol.timeline li.failed::before { background: var(--bad); border-color: var(--bad); }
ol.timeline li.partial::before { background: #bf8700; border-color: #bf8700; }
ol.timeline .step { font-weight: 600; }
ol.timeline .state { color: var(--muted); font-size: 12px; margin-left: 6px; }
ol.timeline .detail { color: var(--muted); }
ol.timeline ol.polls { list-style: decimal; margin: 4px 0 0 18px; padding: 0; color: var(--muted); }
ol.timeline ol.polls li { border: 0; padding: 0; margin: 0; }
ol.timeline ol.polls li::before { display: none; }
.grid { display: grid; grid-template-columns: minmax(280px, 1fr) minmax(280px, 1fr); gap: 24px; }
@media (max-width: 800px) { .grid { grid-template-columns: 1fr; } }
ul.files { padding-left: 18px; }
`;
