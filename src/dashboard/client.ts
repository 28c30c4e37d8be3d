/**
 * The dashboard's browser script, served as `/api/dashboard/app.js`. Plain ES2020 in a string (the
 * app's tsconfig has no DOM types and the build must put it into dist/): no framework, no CDN.
 * It builds every element with DOM calls (never innerHTML with data), keeps the function key in
 * sessionStorage and sends it as `x-functions-key` on each API call.
 */
export const DASHBOARD_SCRIPT = String.raw`(function () {
  'use strict';
  var KEY = 'dmf-functions-key';
  var STATUSES = ['Pending', 'Queued', 'Running', 'Succeeded', 'PartiallySucceeded', 'Failed', 'Canceled', 'TimedOut',
    'Unknown', 'Rejected'];
  var FINAL = ['Succeeded', 'PartiallySucceeded', 'Failed', 'Canceled', 'TimedOut', 'Unknown', 'Rejected'];
  var STAGES = ['Collecting', 'Preparing', 'WaitingForSlot', 'Uploading', 'Polling', 'CollectingErrors', 'Finishing',
    'Done'];
  var SINCE = [['1h', 'Last hour', 3600e3], ['24h', 'Last 24 hours', 86400e3], ['7d', 'Last 7 days', 7 * 86400e3],
    ['30d', 'Last 30 days', 30 * 86400e3]];
  var api = document.documentElement.getAttribute('data-api') || '/api';
  var main = document.getElementById('main');
  var forget = document.getElementById('forget-key');
  var KINDS = [['import', 'Import'], ['export', 'Export'], ['recurringImport', 'Enqueue'],
    ['recurringExport', 'Recurring drain'], ['chain', 'Chain'], ['multiCompanyExport', 'Multi-company export']];
  var PAGE = 100;
  var filters = { status: '', kind: '', environment: '', project: '', since: '24h', auto: true, want: PAGE };
  var timer = null;
  // bumped on every navigation: answers that arrive for a view no longer shown are dropped
  var current = 0;
  var known = { environment: [], project: [] };

  function h(tag, attrs, children) {
    var el = document.createElement(tag);
    if (attrs) Object.keys(attrs).forEach(function (k) {
      var v = attrs[k];
      if (v === undefined || v === null || v === false) return;
      if (k === 'text') el.textContent = String(v);
      else if (k.slice(0, 2) === 'on') el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? '' : String(v));
    });
    (children || []).forEach(function (c) {
      if (c === undefined || c === null || c === false) return;
      el.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    });
    return el;
  }
  function pad(n) { return (n < 10 ? '0' : '') + n; }
  function fmtTime(iso) {
    if (!iso) return '';
    var d = new Date(iso);
    if (isNaN(d.getTime())) return iso;
    return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ' +
      pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
  }
  function timeEl(iso, twoLines) {
    if (!iso) return '';
    var text = fmtTime(iso);
    if (!twoLines) return h('time', { datetime: iso, text: text });
    var parts = text.split(' ');
    return h('time', { datetime: iso }, [h('span', { text: parts[0] }), ' ', h('span', { text: parts[1] || '' })]);
  }
  function fmtDuration(ms) {
    if (ms === undefined || ms === null || isNaN(ms) || ms < 0) return '';
    if (ms < 1000) return Math.round(ms) + ' ms';
    var s = ms / 1000;
    if (s < 60) return s.toFixed(1) + ' s';
    var m = Math.floor(s / 60);
    if (m < 60) return m + ' min ' + Math.round(s - m * 60) + ' s';
    return Math.floor(m / 60) + ' h ' + (m % 60) + ' min';
  }
  function isFinal(job) { return FINAL.indexOf(job.status) >= 0; }
  function kindOf(job) {
    var labels = { import: 'Import', export: 'Export', recurringImport: 'Enqueue', recurringExport: 'Recurring drain',
      chain: 'Chain', multiCompanyExport: 'Multi-company export' };
    if (!job.kind) return 'Job';
    return labels[job.kind] || String(job.kind).charAt(0).toUpperCase() + String(job.kind).slice(1);
  }
  function fileOf(job) { return job.file || (job.result && job.result.packageName) || job.id; }
  function legalEntityOf(job) { return job.legalEntity || (job.result && job.result.legalEntity) || ''; }
  function finishedAt(job) { return job.result && job.result.timings ? job.result.timings.finishedAt : undefined; }
  function startedAt(job) {
    return (job.result && job.result.timings && job.result.timings.requestedAt) || job.createdAt;
  }
  function duration(job) {
    var start = startedAt(job);
    if (!start) return undefined;
    var end = finishedAt(job) || (isFinal(job) ? job.updatedAt : new Date().toISOString());
    return new Date(end).getTime() - new Date(start).getTime();
  }
  function badge(status) { return h('span', { class: 'badge s-' + status, text: status || 'unknown' }); }
  function key() { return sessionStorage.getItem(KEY) || ''; }

  function AuthError() {}
  async function call(path, init) {
    var response = await fetch(api + path, Object.assign({}, init || {}, {
      headers: Object.assign({ 'x-functions-key': key() }, (init && init.headers) || {}),
      cache: 'no-store',
    }));
    if (response.status === 401 || response.status === 403) throw new AuthError();
    return response;
  }
  async function json(path, init) {
    var response = await call(path, init);
    var body = null;
    try { body = await response.json(); } catch (e) { body = null; }
    if (!response.ok) {
      var msg = body && body.error ? body.error.message + ' (' + body.error.code + ')' : 'HTTP ' + response.status;
      throw new Error(msg);
    }
    return body;
  }
  function stopTimer() { if (timer) { clearTimeout(timer); timer = null; } }
  function render(children, title) {
    main.replaceChildren.apply(main, children);
    if (title) document.title = title + ' · dmf-functions';
  }
  function fail(error) {
    if (error instanceof AuthError) {
      sessionStorage.removeItem(KEY);
      showKeyForm('The function key was refused. Enter it again.');
      return;
    }
    var box = document.getElementById('problem');
    var text = 'Could not load data: ' + (error && error.message ? error.message : String(error));
    if (box) { box.textContent = text; box.hidden = false; }
    else render([h('p', { class: 'alert', role: 'alert', text: text })]);
  }

  function showKeyForm(message) {
    stopTimer();
    forget.hidden = true;
    var input = h('input', { type: 'password', id: 'function-key', name: 'key', required: true, autocomplete: 'off',
      'aria-describedby': 'key-help' });
    var form = h('form', { class: 'key', 'aria-labelledby': 'key-title', onsubmit: function (e) {
      e.preventDefault();
      sessionStorage.setItem(KEY, input.value.trim());
      route();
    } }, [
      h('h2', { id: 'key-title', text: 'Sign in with the function key' }),
      message ? h('p', { class: 'alert', role: 'alert', text: message }) : null,
      h('div', { class: 'field' }, [h('label', { for: 'function-key', text: 'Function key' }), input]),
      h('p', { id: 'key-help', class: 'summary',
        text: 'The same key as for the HTTP API (x-functions-key). Kept for this browser tab session only.' }),
      h('div', {}, [h('button', { type: 'submit', class: 'primary', text: 'Open dashboard' })]),
    ]);
    render([form], 'Sign in');
    input.focus();
  }

  function select(id, label, options, value, onchange) {
    var el = h('select', { id: id, name: id, onchange: function () { onchange(el.value); } },
      options.map(function (o) { return h('option', { value: o[0], selected: o[0] === value, text: o[1] }); }));
    return h('div', { class: 'field' }, [h('label', { for: id, text: label }), el]);
  }
  function remember(kind, values) {
    values.forEach(function (v) { if (v && known[kind].indexOf(v) < 0) known[kind].push(v); });
    known[kind].sort();
    if (filters[kind] && known[kind].indexOf(filters[kind]) < 0) known[kind].push(filters[kind]);
  }

  function listView() {
    var problem = h('p', { id: 'problem', class: 'alert', role: 'alert', hidden: true });
    var summary = h('p', { class: 'summary', id: 'jobs-summary', 'aria-live': 'polite' });
    var tbody = h('tbody');
    var head = ['Kind', 'File', 'Status', 'Environment', 'Project', 'Legal entity', 'Stage', 'Started', 'Finished',
      'Duration', 'F&O execution', 'Errors'];
    var table = h('table', { id: 'jobs-table' }, [
      h('caption', { class: 'visually-hidden', text: 'Jobs, newest first' }),
      h('thead', {}, [h('tr', {}, head.map(function (t) { return h('th', { scope: 'col', text: t }); }))]),
      tbody,
    ]);
    var filterBox = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter jobs',
      onsubmit: function (e) { e.preventDefault(); load(); } });
    function drawFilters() {
      var envs = [['', 'All environments']].concat(known.environment.map(function (v) { return [v, v]; }));
      var projects = [['', 'All projects']].concat(known.project.map(function (v) { return [v, v]; }));
      var auto = h('input', { type: 'checkbox', id: 'auto-refresh', checked: filters.auto, onchange: function () {
        filters.auto = auto.checked; schedule();
      } });
      filterBox.replaceChildren(
        select('filter-status', 'Status', [['', 'All statuses']].concat(STATUSES.map(function (s) { return [s, s]; })),
          filters.status, function (v) { filters.status = v; restart(); }),
        select('filter-kind', 'Kind', [['', 'All kinds']].concat(KINDS), filters.kind,
          function (v) { filters.kind = v; restart(); }),
        select('filter-environment', 'Environment', envs, filters.environment,
          function (v) { filters.environment = v; restart(); }),
        select('filter-project', 'Project', projects, filters.project, function (v) { filters.project = v; restart(); }),
        select('filter-since', 'Time', SINCE.map(function (s) { return [s[0], s[1]]; }), filters.since,
          function (v) { filters.since = v; restart(); }),
        h('div', { class: 'inline' }, [auto, h('label', { for: 'auto-refresh', text: 'Refresh every 5 s' })]),
        h('button', { type: 'submit', text: 'Refresh now' }));
    }
    function row(job) {
      var errors = typeof job.errorCount === 'number' ? job.errorCount : (job.errors || []).length;
      return h('tr', { 'data-job-id': job.id, 'data-status': job.status }, [
        h('td', { text: kindOf(job) }),
        h('td', { class: 'file' }, [h('a', { href: '#/jobs/' + encodeURIComponent(job.id), text: fileOf(job) })]),
        h('td', { title: job.queuedReason || job.reason || null }, [badge(job.status)]),
        h('td', { text: job.environment || '' }),
        h('td', { text: job.project || '' }),
        h('td', { text: legalEntityOf(job) }),
        h('td', { text: job.stage || '' }),
        h('td', { class: 'time' }, [timeEl(startedAt(job), true)]),
        h('td', { class: 'time' }, [timeEl(finishedAt(job), true)]),
        h('td', { class: 'num time', text: fmtDuration(duration(job)) }),
        h('td', { class: 'mono', text: job.executionId || '' }),
        h('td', { class: 'num', text: String(errors) }),
      ]);
    }
    var mine = current;
    var seq = 0;
    var drawn = '';
    var more = h('button', { type: 'button', id: 'jobs-more', hidden: true, text: 'Show ' + PAGE + ' more',
      onclick: function () { filters.want += PAGE; load(); } });
    // filters run on the server; a new filter starts again from the newest page
    function restart() { filters.want = PAGE; load(); }
    function query(since, continuation) {
      var q = '?top=' + PAGE + '&since=' + encodeURIComponent(since);
      if (filters.status) q += '&status=' + encodeURIComponent(filters.status);
      if (filters.kind) q += '&kind=' + encodeURIComponent(filters.kind);
      if (filters.environment) q += '&environment=' + encodeURIComponent(filters.environment);
      if (filters.project) q += '&project=' + encodeURIComponent(filters.project);
      if (continuation) q += '&continuation=' + encodeURIComponent(continuation);
      return q;
    }
    async function load() {
      stopTimer();
      var req = ++seq;
      var span = SINCE.filter(function (s) { return s[0] === filters.since; })[0] || SINCE[1];
      var since = new Date(Date.now() - span[2]).toISOString();
      try {
        // the list is paged, newest first: read pages until the rows shown so far are there again
        var jobs = [];
        var continuation = null;
        do {
          var body = await json('/jobs' + query(since, continuation));
          if (mine !== current || req !== seq) return;
          jobs = jobs.concat((body && body.jobs) || []);
          continuation = body && body.continuation;
        } while (continuation && jobs.length < filters.want);
        remember('environment', jobs.map(function (j) { return j.environment; }));
        remember('project', jobs.map(function (j) { return j.project; }));
        tbody.replaceChildren.apply(tbody, jobs.length ? jobs.map(row) :
          [h('tr', {}, [h('td', { colspan: head.length, text: 'No jobs match these filters.' })])]);
        more.hidden = !continuation;
        summary.textContent = jobs.length + ' job' + (jobs.length === 1 ? '' : 's') +
          (continuation ? ' (the newest; more below)' : '') + ' · updated ' + fmtTime(new Date().toISOString());
        problem.hidden = true;
        // redraw the filters only when their choices changed (an open drop-down stays open)
        var choices = JSON.stringify(known);
        if (choices !== drawn) {
          drawn = choices;
          var focused = document.activeElement && document.activeElement.id;
          drawFilters();
          if (focused && document.getElementById(focused)) document.getElementById(focused).focus();
        }
      } catch (error) {
        if (mine !== current || req !== seq) return;
        fail(error);
      }
      schedule();
    }
    function schedule() {
      stopTimer();
      if (filters.auto && mine === current) timer = setTimeout(load, 5000);
    }
    drawFilters();
    render([h('section', { 'aria-labelledby': 'jobs-title' }, [
      h('h2', { id: 'jobs-title', text: 'Jobs' }), filterBox, problem, summary, h('div', { class: 'table-wrap' }, [table]),
      h('p', {}, [more]),
    ])], 'Jobs');
    load();
  }

  function timeline(job) {
    var r = job.result, t = (r && r.timings) || {};
    var final = isFinal(job);
    if (job.status === 'Rejected') {
      return steps([
        { name: 'Received', stage: -1, time: t.requestedAt || job.createdAt, done: true, detail: r ? 'via ' + r.trigger : '' },
        { name: 'Rejected before a job started', stage: 0, time: t.finishedAt, done: false, detail: job.reason || '' },
        { name: 'Finished', stage: 9, time: t.finishedAt, done: true, detail: 'Rejected' },
      ], true, job, ['Received']);
    }
    var copies = r && r.errorFiles ? r.errorFiles.length : 0;
    var pollText = (job.polls || 0) + ' status poll' + (job.polls === 1 ? '' : 's') +
      (job.foStatus ? ', last F&O status ' + job.foStatus : '') +
      (job.nextPollAt ? ', next poll at ' + fmtTime(job.nextPollAt) : '') +
      (job.throttledUntil ? ', throttled by F&O until ' + fmtTime(job.throttledUntil) : '') +
      (t.executionMs !== undefined ? ', F&O took ' + fmtDuration(t.executionMs) : '');
    if (kindOf(job) === 'Export') {
      var urlPolls = job.urlPolls || (r && r.urlPolls) || 0;
      var exportSteps = [
        { name: 'Received', stage: -1, time: t.requestedAt || job.createdAt, done: true, detail: r ? 'via ' + r.trigger : '' },
        { name: 'Started in F&O', stage: 0, time: t.startedAt, done: !!t.startedAt,
          detail: job.executionId ? 'execution ' + job.executionId : '' },
        { name: 'Executing in F&O', stage: 1, time: null, done: final ? !!job.foStatus : false, detail: pollText,
          polls: job.pollLog },
        { name: 'Package ready', stage: 2, time: t.packageReadyAt, done: !!t.packageReadyAt,
          detail: urlPolls ? urlPolls + ' package url poll' + (urlPolls === 1 ? '' : 's') : '' },
        { name: 'Finished', stage: 9, time: t.finishedAt, done: final, detail: final ? job.status : '' },
      ];
      return steps(exportSteps, final, job, ['Starting', 'Polling', 'WaitingForPackage']);
    }
    if (job.kind === 'recurringImport') {
      var sent = r && r.messageId ? 'message ' + r.messageId : '';
      var enqueueSteps = [
        { name: 'Received', stage: -1, time: t.requestedAt || job.createdAt, done: true, detail: job.file || '' },
        { name: 'Enqueued to F&O', stage: 0, time: t.enqueuedAt, done: !!t.enqueuedAt, detail: sent },
        { name: 'Processed by F&O', stage: 1, time: null, done: final ? !!job.foStatus : false,
          detail: (job.polls || 0) + ' message status poll' + (job.polls === 1 ? '' : 's') +
            (job.foStatus ? ', last status ' + job.foStatus : '') +
            (job.executionId ? ', execution ' + job.executionId : '') },
      ];
      if (final ? copies > 0 : true) {
        enqueueSteps.push({ name: 'Error details copied', stage: 2, time: null, done: copies > 0,
          detail: copies ? copies + ' file' + (copies === 1 ? '' : 's') + ' copied from F&O' : '' });
      }
      enqueueSteps.push({ name: 'Finished', stage: 9, time: t.finishedAt, done: final, detail: final ? job.status : '' });
      return steps(enqueueSteps, final, job, ['Enqueueing', 'Polling', 'CollectingErrors', 'Finishing']);
    }
    if (job.kind === 'chain' || job.kind === 'multiCompanyExport') {
      var kids = job.children || [];
      var doneKids = kids.filter(function (c) { return FINAL.indexOf(c.status) >= 0 || c.status === 'Skipped'; }).length;
      var groupSteps = [{ name: 'Received', stage: -1, time: t.requestedAt || job.createdAt, done: true,
        detail: r ? 'via ' + r.trigger : '' }];
      if (job.kind === 'chain') {
        groupSteps.push({ name: 'Files collected', stage: 0, time: t.collectedAt, done: !!t.collectedAt,
          detail: batchDetail(job) });
      }
      groupSteps.push({ name: job.kind === 'chain' ? 'Projects imported in order' : 'Companies exported', stage: 1,
        time: null, done: final && doneKids === kids.length, detail: doneKids + ' of ' + kids.length + ' done' });
      groupSteps.push({ name: 'Finished', stage: 9, time: t.finishedAt, done: final, detail: final ? job.status : '' });
      return steps(groupSteps, final, job, ['Collecting', 'Running', 'Finishing']);
    }
    if (job.kind === 'recurringExport') {
      var m = job.messages || {};
      var count = function (n, one) { return (n || 0) + ' ' + one + (n === 1 ? '' : 's'); };
      var drainSteps = [
        { name: 'Started', stage: -1, time: job.createdAt, done: true,
          detail: r && r.scheduledFor ? 'run scheduled for ' + fmtTime(r.scheduledFor) : '' },
        { name: 'Draining the F&O queue', stage: 0, time: null, done: final,
          detail: count(m.processed, 'message') + ' dequeued: ' + (m.stored || 0) + ' stored, ' +
            (m.alreadyStored || 0) + ' already stored, ' + (m.missing || 0) + ' without a file, ' +
            (m.failed || 0) + ' failed; ' + count(m.ackFailures, 'ack failure') },
        { name: 'Finished', stage: 9, time: r && r.finishedAt, done: final,
          detail: final ? job.status + (r ? (r.emptied ? ' (queue empty)' : ' (run cap reached; the next run continues)') : '') : '' },
      ];
      return steps(drainSteps, final, job, ['Draining']);
    }
    var importSteps = [
      { name: 'Received', stage: -1, time: t.requestedAt || job.createdAt, done: true, detail: r ? 'via ' + r.trigger : '' },
    ];
    if (job.batch || (r && r.batch)) {
      importSteps.push({ name: 'Files collected', stage: 0, time: t.collectedAt, done: !!t.collectedAt,
        detail: batchDetail(job) });
    }
    importSteps = importSteps.concat([
      { name: 'Validated', stage: 1, time: t.preparedAt, done: !!t.preparedAt },
      { name: 'Waiting for a slot', stage: 2, time: t.slotAcquiredAt, done: !!t.slotAcquiredAt,
        detail: job.slotPosition ? 'position ' + job.slotPosition + ' in the queue' : (t.slotAcquiredAt ? 'slot acquired' : '') },
      { name: 'Uploaded and started in F&O', stage: 3, time: t.startedAt || (job.result ? undefined : null),
        done: !!t.startedAt, detail: job.executionId ? 'execution ' + job.executionId : '' },
      { name: 'Executing in F&O', stage: 4, time: null, done: final ? !!job.foStatus : false, detail: pollText,
        polls: job.pollLog },
    ]);
    if (final ? copies > 0 : true) {
      importSteps.push({ name: 'Error details copied', stage: 5, time: null, done: copies > 0,
        detail: copies ? copies + ' file' + (copies === 1 ? '' : 's') + ' copied from F&O' : '' });
    }
    importSteps.push({ name: 'Finished', stage: 7, time: t.finishedAt, done: final, detail: final ? job.status : '' });
    return steps(importSteps, final, job, STAGES);
  }

  /** A batch's files and what it still misses (while it is collected), or its files once final. */
  function batchDetail(job) {
    var b = job.batch, rb = job.result && job.result.batch;
    if (b) {
      return (b.files.length ? b.files.join(', ') : 'no file yet') +
        (b.missing && b.missing.length ? '; missing ' + b.missing.join(', ') : '') +
        (b.deadline && !isFinal(job) ? '; deadline ' + fmtTime(b.deadline) : '');
    }
    return rb ? rb.files.map(function (f) { return f.name; }).join(', ') : '';
  }

  /** The jobs a chain or a multi-company export is made of, each linked to its own page. */
  function childrenTable(job) {
    var kids = job.children || [];
    if (!kids.length) return null;
    var cols = [job.kind === 'chain' ? 'Project' : 'Legal entity', 'Status', 'Files', 'Errors', 'Job'];
    return h('section', { 'aria-labelledby': 'children-title' }, [
      h('h3', { id: 'children-title', text: job.kind === 'chain' ? 'Projects, in order' : 'Companies' }),
      h('div', { class: 'table-wrap' }, [h('table', { id: 'children-table' }, [
        h('caption', { class: 'visually-hidden', text: 'The jobs this job is made of' }),
        h('thead', {}, [h('tr', {}, cols.map(function (c) { return h('th', { scope: 'col', text: c }); }))]),
        h('tbody', {}, kids.map(function (c) {
          return h('tr', { 'data-job-id': c.id }, [h('td', { text: c.project || c.legalEntity || '' }),
            h('td', {}, [c.status === 'Skipped' ? h('span', { class: 'badge', text: 'Skipped' }) : badge(c.status)]),
            h('td', { text: (c.files || []).join(', ') }),
            h('td', { class: 'num', text: typeof c.errorCount === 'number' ? String(c.errorCount) : '' }),
            h('td', { class: 'mono' }, [c.status === 'Skipped' ? c.id :
              h('a', { href: '#/jobs/' + encodeURIComponent(c.id), text: c.id })])]);
        })),
      ])]),
    ]);
  }

  function steps(list, final, job, stages) {
    var at = stages.indexOf(job.stage || stages[0]);
    var failedMarked = false;
    return h('ol', { class: 'timeline', id: 'timeline' }, list.map(function (s) {
      var state;
      if (final) {
        if (s.done) state = 'done';
        else if (!failedMarked && job.status !== 'Succeeded') { state = 'failed'; failedMarked = true; }
        else state = 'skipped';
        if (s.name === 'Finished') {
          state = job.status === 'Succeeded' ? 'done' : job.status === 'PartiallySucceeded' ? 'partial' : 'failed';
        }
      } else state = s.stage < at || (s.stage === -1) ? 'done' : s.stage === at ? 'current' : 'pending';
      var label = { done: 'done', current: 'in progress', pending: 'not yet', failed: 'stopped here', skipped: 'not reached',
        partial: 'finished with errors' }[state];
      return h('li', { class: state, 'data-step': s.name }, [
        h('span', { class: 'step', text: s.name }), h('span', { class: 'state', text: '(' + label + ')' }),
        s.time ? h('div', {}, [timeEl(s.time)]) : null,
        s.detail ? h('div', { class: 'detail', text: s.detail }) : null,
        s.polls && s.polls.length ? pollList(s.polls, job.polls || s.polls.length) : null,
      ]);
    }));
  }

  /** Each status poll (time and F&O answer); a long log shows its last POLLS_SHOWN with a count. */
  var POLLS_SHOWN = 10;
  function pollList(log, total) {
    var shown = log.slice(-POLLS_SHOWN);
    var hidden = total - shown.length;
    return h('div', { class: 'polls' }, [
      hidden > 0 ? h('p', { class: 'detail', id: 'polls-hidden',
        text: hidden + ' earlier poll' + (hidden === 1 ? '' : 's') + ' not shown' }) : null,
      h('ol', { id: 'poll-log', 'aria-label': 'Status polls', start: String(total - shown.length + 1) },
        shown.map(function (p) {
          var answer = p.foStatus || (p.answer === 'notFound' ? 'not known to F&O yet' :
            p.answer === 'throttled' ? 'throttled by F&O (429)' : 'F&O unavailable');
          return h('li', { class: 'poll' }, [timeEl(p.at), ' ', h('span', { class: 'mono', text: answer })]);
        })),
    ]);
  }

  /** The execution's F&O page as a link (http(s) only: the url comes from F&O). */
  function pageLink(url) {
    if (!url || !/^https?:\/\//i.test(url)) return null;
    return h('a', { href: url, id: 'fo-page', target: '_blank', rel: 'noopener noreferrer', text: 'Open in F&O' });
  }

  /** Per entity status and counts, as F&O gives them. */
  function entityTable(job) {
    var counts = job.entityCounts || [];
    if (!counts.length) return null;
    var cols = ['Entity', 'Status', 'Staging records', 'Staging errors', 'Target records', 'Target errors'];
    var n = function (v) { return typeof v === 'number' ? String(v) : ''; };
    return h('section', { 'aria-labelledby': 'entities-title' }, [
      h('h3', { id: 'entities-title', text: 'Entities' }),
      h('div', { class: 'table-wrap' }, [h('table', { id: 'entities-table' }, [
        h('caption', { class: 'visually-hidden', text: 'Status and record counts per entity, as F&O gives them' }),
        h('thead', {}, [h('tr', {}, cols.map(function (c) { return h('th', { scope: 'col', text: c }); }))]),
        h('tbody', {}, counts.map(function (e) {
          return h('tr', {}, [h('td', { text: e.entity }), h('td', { text: e.status || '' }),
            h('td', { text: n(e.stagingRecords) }), h('td', { text: n(e.stagingErrors) }),
            h('td', { text: n(e.targetRecords) }), h('td', { text: n(e.targetErrors) })]);
        })),
      ])]),
    ]);
  }

  function errorsTable(job) {
    var errors = job.errors || [];
    if (!errors.length) return h('p', { id: 'no-errors', text: 'No errors.' });
    var cols = ['Code', 'Entity', 'Field', 'Record', 'Message'];
    return h('div', { class: 'table-wrap' }, [h('table', { id: 'errors-table' }, [
      h('caption', { class: 'visually-hidden', text: 'Errors reported for this job' }),
      h('thead', {}, [h('tr', {}, cols.map(function (c) { return h('th', { scope: 'col', text: c }); }))]),
      h('tbody', {}, errors.map(function (e) {
        return h('tr', {}, [h('td', { class: 'mono', text: e.code }), h('td', { text: e.entity || '' }),
          h('td', { text: e.field || '' }), h('td', { text: e.recordId || '' }), h('td', { text: e.message })]);
      })),
    ])]);
  }

  async function download(jobId, name, link) {
    link.setAttribute('aria-busy', 'true');
    try {
      var response = await call('/jobs/' + encodeURIComponent(jobId) + '/files/' + encodeURIComponent(name));
      if (!response.ok) throw new Error('HTTP ' + response.status);
      var url = URL.createObjectURL(await response.blob());
      var a = h('a', { href: url, download: name });
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(function () { URL.revokeObjectURL(url); }, 10000);
    } catch (error) { fail(error); }
    link.removeAttribute('aria-busy');
  }

  function filesList(job, files) {
    if (!job.result) return h('p', { text: 'Files are listed when the job has finished.' });
    if (!files.length) return h('p', { text: 'No files.' });
    return h('ul', { class: 'files', id: 'files' }, files.map(function (f) {
      var link = h('a', { href: '#', 'data-file': f.name, onclick: function (e) {
        e.preventDefault(); download(job.id, f.name, link);
      } }, [f.name]);
      var what = f.kind === 'result' ? 'result JSON' : f.kind === 'staging' ? 'staging errors' :
        f.kind === 'targetKeys' ? 'target error keys' : f.kind === 'executionErrors' ? 'F&O execution errors' : f.kind;
      return h('li', {}, [link, ' — ' + what + (f.entity ? ' of ' + f.entity : '') +
        (typeof f.bytes === 'number' ? ', ' + f.bytes + ' bytes' : '')]);
    }));
  }

  function jobLink(id) {
    return id ? h('a', { href: '#/jobs/' + encodeURIComponent(id), class: 'mono', text: id }) : null;
  }
  function alertsText(alerts) {
    if (!alerts || !alerts.length) return null;
    return h('ul', { id: 'job-alerts', class: 'files' }, alerts.map(function (a) {
      var what = a.state === 'sent' ? 'sent' : a.state === 'failed' ? 'not delivered' : 'sending…';
      return h('li', { 'data-alert': a.alert, 'data-state': a.state },
        [a.alert + ' — ' + what + (a.status ? ' (HTTP ' + a.status + ')' : '')]);
    }));
  }
  /** A job's actions: re-run a job that has ended (imports, exports, rejected imports). */
  function actions(job) {
    var can = isFinal(job) && !job.rerunBy && (job.kind === 'import' || (job.kind === 'export' && job.status !== 'Rejected'));
    if (!can) return null;
    var note = h('p', { id: 'rerun-problem', class: 'alert', role: 'alert', hidden: true });
    var button = h('button', { type: 'button', id: 'rerun', class: 'primary', text: 'Re-run', onclick: async function () {
      button.disabled = true;
      try {
        var response = await call('/jobs/' + encodeURIComponent(job.id) + '/rerun', { method: 'POST' });
        var body = null;
        try { body = await response.json(); } catch (e) { body = null; }
        if (!response.ok) {
          note.textContent = 'Not re-run: ' + (body && body.error ? body.error.message : 'HTTP ' + response.status);
          note.hidden = false;
          button.disabled = false;
          return;
        }
        location.hash = '#/jobs/' + encodeURIComponent(body.id);
      } catch (error) { button.disabled = false; fail(error); }
    } });
    return h('div', { class: 'actions' }, [button, ' ',
      h('span', { class: 'summary', text: job.kind === 'export' ? 'runs the export again' :
        job.status === 'Rejected' ? 'takes the file it named again, with the configuration as it is now' :
        'imports the file again from its copy in the archive' }), note]);
  }

  function environmentsView() {
    var problem = h('p', { id: 'problem', class: 'alert', role: 'alert', hidden: true });
    var tbody = h('tbody');
    var who = h('input', { type: 'text', id: 'paused-by', name: 'by', autocomplete: 'name',
      value: sessionStorage.getItem('dmf-functions-by') || '' });
    var why = h('input', { type: 'text', id: 'pause-reason', name: 'reason' });
    var mine = current;
    function row(env) {
      var button = h('button', { type: 'button', class: env.paused ? 'primary' : '', 'data-action': env.paused ? 'resume' : 'pause',
        text: env.paused ? 'Resume' : 'Pause', onclick: function () { act(env, button); } });
      return h('tr', { 'data-environment': env.name, 'data-paused': String(env.paused) }, [
        h('td', { text: env.name }),
        h('td', {}, [h('span', { class: 'badge ' + (env.paused ? 's-Queued' : 's-Succeeded'), text: env.paused ? 'Paused' : 'Active' })]),
        h('td', { class: 'time' }, [timeEl(env.pausedSince, true)]),
        h('td', { text: env.pausedBy || '' }),
        h('td', { text: env.reason || '' }),
        h('td', { class: 'num', text: String(env.waiting || 0) }),
        h('td', { class: 'num', text: String(env.running || 0) }),
        h('td', {}, [button]),
      ]);
    }
    async function act(env, button) {
      button.disabled = true;
      var op = env.paused ? 'resume' : 'pause';
      var by = who.value.trim();
      if (by) sessionStorage.setItem('dmf-functions-by', by);
      var body = op === 'pause' ? JSON.stringify(Object.assign({ by: by || 'dashboard' }, why.value.trim() ? { reason: why.value.trim() } : {})) : '';
      try {
        await json('/environments/' + encodeURIComponent(env.name) + '/' + op,
          { method: 'POST', headers: { 'content-type': 'application/json' }, body: body });
        why.value = '';
        await load();
      } catch (error) { button.disabled = false; fail(error); }
    }
    async function load() {
      stopTimer();
      try {
        var body = await json('/environments');
        if (mine !== current) return;
        var envs = (body && body.environments) || [];
        tbody.replaceChildren.apply(tbody, envs.map(row));
        problem.hidden = true;
      } catch (error) { if (mine === current) fail(error); }
      if (mine === current && filters.auto) timer = setTimeout(load, 5000);
    }
    var head = ['Environment', 'State', 'Paused since', 'Paused by', 'Reason', 'Waiting imports', 'Running imports', 'Action'];
    render([h('section', { 'aria-labelledby': 'envs-title' }, [
      h('h2', { id: 'envs-title', text: 'Environments' }),
      h('p', { class: 'summary', text: 'While an environment is paused, files and requests are accepted and wait, ' +
        'in arrival order, as Queued jobs; nothing is sent to F&O. Resume sends them in that order.' }),
      h('form', { class: 'filters', onsubmit: function (e) { e.preventDefault(); } }, [
        h('div', { class: 'field' }, [h('label', { for: 'paused-by', text: 'Your name (shown as who paused)' }), who]),
        h('div', { class: 'field' }, [h('label', { for: 'pause-reason', text: 'Reason for a pause' }), why]),
      ]),
      problem,
      h('div', { class: 'table-wrap' }, [h('table', { id: 'environments-table' }, [
        h('caption', { class: 'visually-hidden', text: 'Environments' }),
        h('thead', {}, [h('tr', {}, head.map(function (t) { return h('th', { scope: 'col', text: t }); }))]),
        tbody,
      ])]),
    ])], 'Environments');
    load();
  }

  function jobView(id) {
    var problem = h('p', { id: 'problem', class: 'alert', role: 'alert', hidden: true });
    var body = h('div', { 'aria-live': 'polite' });
    var mine = current;
    async function load() {
      stopTimer();
      try {
        var job;
        try { job = await json('/jobs/' + encodeURIComponent(id)); } catch (error) {
          // exports have their own status route until the job API serves them
          if (error instanceof AuthError || id.indexOf('exp-') !== 0) throw error;
          job = await json('/exports/' + encodeURIComponent(id));
        }
        var files = [];
        if (job.result) files = ((await json('/jobs/' + encodeURIComponent(id) + '/files')) || {}).files || [];
        if (mine !== current) return;
        var r = job.result || {};
        var parent = job.parentId ? h('a', { href: '#/jobs/' + encodeURIComponent(job.parentId), id: 'parent-job',
          text: job.parentId }) : null;
        var fields = [['Kind', kindOf(job)], ['Part of', parent], ['Status', badge(job.status)], ['Stage', job.stage || ''],
          ['Queued', job.queuedReason], ['Reason', job.status === 'Rejected' ? job.reason : null],
          ['Source kept at', job.status === 'Rejected' ? job.source : r.archivedTo],
          ['Re-run of', jobLink(job.rerunOf)], ['Re-run by', jobLink(job.rerunBy)],
          ['Environment', job.environment], ['Project', job.project], ['Legal entity', legalEntityOf(job)],
          ['File', job.file || (job.result && job.result.packageName)], ['Source', r.source], ['Trigger', r.trigger], ['F&O execution', job.executionId],
          ['F&O status', job.foStatus], ['F&O page', pageLink(job.executionPageUrl)],
          ['Throttled by F&O until', job.throttledUntil ? timeEl(job.throttledUntil) : null],
          ['Started', timeEl(startedAt(job))], ['Finished', timeEl(finishedAt(job))],
          ['Duration', fmtDuration(duration(job))], ['Job id', job.id], ['Alerts', alertsText(job.alerts)]];
        body.replaceChildren.apply(body, [
          actions(job),
          h('div', { class: 'grid' }, [
            h('section', { 'aria-labelledby': 'details-title' }, [h('h3', { id: 'details-title', text: 'Details' }),
              h('dl', { class: 'details' }, fields.filter(function (f) { return f[1]; }).reduce(function (acc, f) {
                acc.push(h('dt', { text: f[0] }), h('dd', {}, [f[1]])); return acc; }, []))]),
            h('section', { 'aria-labelledby': 'timeline-title' }, [h('h3', { id: 'timeline-title', text: 'Timeline' }),
              timeline(job)]),
          ]),
          childrenTable(job),
          entityTable(job),
          h('section', { 'aria-labelledby': 'errors-title' }, [
            h('h3', { id: 'errors-title', text: 'Errors (' + (job.errors || []).length + ')' }), errorsTable(job)]),
          h('section', { 'aria-labelledby': 'files-title' }, [h('h3', { id: 'files-title', text: 'Files' }),
            filesList(job, files)])].filter(Boolean));
        problem.hidden = true;
        var sending = (job.alerts || []).some(function (a) { return a.state === 'sending'; });
        if ((!isFinal(job) || sending) && filters.auto) timer = setTimeout(load, 2000);
      } catch (error) { if (mine === current) fail(error); }
    }
    render([h('article', { 'aria-labelledby': 'job-title' }, [
      h('p', {}, [h('a', { href: '#/', text: '← All jobs' })]),
      h('h2', { id: 'job-title', text: 'Job ' + id }), problem, body,
    ])], 'Job ' + id);
    load();
  }

  function route() {
    stopTimer();
    current++;
    if (!key()) { showKeyForm(); return; }
    forget.hidden = false;
    var m = /^#\/jobs\/([^/?#]+)/.exec(location.hash);
    if (m) jobView(decodeURIComponent(m[1]));
    else if (/^#\/environments/.test(location.hash)) environmentsView();
    else listView();
  }
  forget.addEventListener('click', function () { sessionStorage.removeItem(KEY); route(); });
  window.addEventListener('hashchange', function () { route(); main.focus(); });
  route();
})();
`;
