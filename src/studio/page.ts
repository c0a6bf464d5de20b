import { CSS } from './styles.js';

/**
 * The Studio's single page: plain HTML, CSS and JavaScript (no framework, no build step, no CDN). It reads
 * the JSON API, listens to `/api/stream` (Server-Sent Events) for live snapshots, and posts the kill switch,
 * submissions and reviews. The client script avoids template literals so it can live in this TS string.
 */

const SCRIPT = String.raw`
(function () {
  'use strict';
  var params = new URLSearchParams(location.search);
  var token = params.get('token') || sessionStorage.getItem('ratchet-token') || '';
  if (params.get('token')) {
    sessionStorage.setItem('ratchet-token', token);
    params.delete('token');
    history.replaceState(null, '', location.pathname + (params.toString() ? '?' + params.toString() : ''));
  }
  var state = null, selected = null, chosenRun = params.get('run') || '', sortKey = 'id', sortAsc = false;
  var offset = 0, es = null, detailVersion = '';
  // The experiment table: the snapshot's rows (the run's newest, at most the server's SNAPSHOT_ROWS) and the older
  // rows loaded through /api/experiments (Load older / Load all), merged by id. Once older rows are loaded, the rows
  // the snapshot's window leaves as the run goes on are kept too, so what is loaded stays the run's newest rows
  // without a gap. The filter, the sort, the count and the compare choices work on what is loaded.
  var older = new Map(), olderRun = null, olderEnd = false, tableRows = [], paging = false;
  var $ = function (id) { return document.getElementById(id); };
  function esc(s) {
    return String(s == null ? '' : s).replace(/[&<>"']/g, function (c) {
      return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c];
    });
  }
  function num(v, d) { return v == null || !isFinite(v) ? '\u2014' : Number(v).toFixed(d == null ? 4 : d); }
  function signed(v, d) { return v == null ? '' : (v >= 0 ? '+' : '') + Number(v).toFixed(d == null ? 4 : d); }
  // The gap is public − private in the metric's direction (src/report/words.ts gapText): > 0 = private worse.
  function gapText(g, d) {
    if (g == null || !isFinite(g)) return 'gap \u2014';
    var a = Math.abs(g).toFixed(d == null ? 4 : d);
    return Number(a) === 0 ? 'private equal to public' : 'private ' + (g > 0 ? 'worse' : 'better') + ' by ' + a;
  }
  function dur(ms) {
    if (ms == null || !isFinite(ms)) return '\u2014';
    if (ms < 1000) return Math.round(ms) + 'ms';
    if (ms < 60000) return (ms / 1000).toFixed(1) + 's';
    var s = Math.round(ms / 1000);
    if (s < 3600) return Math.floor(s / 60) + 'm' + String(s % 60).padStart(2, '0') + 's';
    var m = Math.floor(s / 60);
    return Math.floor(m / 60) + 'h' + String(m % 60).padStart(2, '0') + 'm';
  }
  function api(path, opts) {
    opts = opts || {};
    var headers = { 'Content-Type': 'application/json' };
    if (token) headers.Authorization = 'Bearer ' + token;
    return fetch(path, { method: opts.method || 'GET', headers: headers, body: opts.body ? JSON.stringify(opts.body) : undefined })
      .then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (j) {
          if (!r.ok) throw new Error((j.error || r.statusText) + (j.hint ? ' \u2014 fix: ' + j.hint : ''));
          return j;
        });
      });
  }
  function connect() {
    if (es) es.close();
    var q = new URLSearchParams();
    if (chosenRun) q.set('run', chosenRun);
    if (token) q.set('token', token);
    es = new EventSource('/api/stream?' + q.toString());
    es.addEventListener('state', function (ev) {
      $('conn').textContent = 'live';
      render(JSON.parse(ev.data));
    });
    es.onerror = function () { $('conn').textContent = 'reconnecting\u2026'; };
  }
  function render(s) {
    var prev = state;
    state = s;
    mergeRows(prev, s);
    if (older.size && prev && prev.run === s.run && prev.rowsKey !== s.rowsKey) refreshOlder(s.run);
    offset = Date.parse(s.serverTime) - Date.now();
    document.title = 'Ratchet Studio \u2014 ' + s.project.name;
    $('proj').textContent = s.project.name + ' \u00b7 ' + s.project.metric + ' (' + s.project.direction + ')';
    var sel = $('run-select');
    var opts = '<option value="">latest run</option>' + s.runs.map(function (r) {
      return '<option value="' + esc(r.id) + '"' + (r.id === chosenRun ? ' selected' : '') + '>' + esc(r.id) + ' (' + esc(r.status) + ')</option>';
    }).join('');
    if (sel.innerHTML !== opts) sel.innerHTML = opts;
    var st = s.status && s.status.run;
    var pill = $('run-status');
    pill.textContent = st ? st.status + (st.active ? '' : st.status === 'running' ? ' (no process)' : '') : 'no run yet';
    pill.className = 'pill ' + (st ? st.status : '');
    pill.setAttribute('data-status', st ? st.status : '');
    $('kill').disabled = !(st && st.active);
    var pe = s.status && s.status.project_escalation;
    $('escalation').hidden = !pe;
    if (pe) $('escalation-msg').textContent = pe.message + ' (' + pe.at + (pe.run ? ', run ' + pe.run : '') + ')';
    var mb = $('mlflow-banner');
    mb.hidden = !(s.mlflow && !s.mlflow.reachable);
    mb.textContent = mb.hidden ? '' : 'MLflow unreachable since ' + s.mlflow.since + ': ' + s.mlflow.message +
      ' (or send the queue with \u201cratchet mlflow sync\u201d)';
    renderStats(s);
    keepFocus($('chart'), s.chart, 'data-id');
    renderLive(s);
    renderCompareChoices();
    var cq = new URLSearchParams();
    if (s.run) cq.set('run', s.run);
    if (token) cq.set('token', token);
    $('csv-link').setAttribute('href', '/api/experiments.csv' + (cq.toString() ? '?' + cq.toString() : ''));
    renderTable();
    renderEvents(s);
    renderReview(s);
    renderHarness(s);
    renderTier2(s);
    renderFinalized(s);
    renderAlignment(s);
    if (selected != null) loadDetail(selected, false);
  }
  function renderStats(s) {
    var st = s.status || {};
    var c = st.experiments || {};
    var best = st.best;
    $('best').innerHTML = '<div class="big">' + num(best && best.score) + '</div><div class="muted small">baseline ' + num(st.baseline) +
      (best && st.baseline != null ? ' \u00b7 gain ' + signed(s.project.direction === 'maximize' ? best.score - st.baseline : st.baseline - best.score) : '') +
      (best ? ' \u00b7 #' + best.id : '') + '</div>' +
      (st.submission ? '<div class="small private">private ' + num(st.submission.private) + ' (' + gapText(st.submission.gap) + ')</div>' : '') +
      (st.noise_note ? '<div class="small ' + (st.noise_note.measured ? 'muted' : 'warn-text') + '" id="noise-note">' + (st.noise_note.measured ? '' : 'WARNING ') + esc(st.noise_note.text) + '</div>' : '');
    var b = s.budgets;
    var pe = b.experiments.max ? Math.min(100, 100 * b.experiments.used / b.experiments.max) : 0;
    $('budget-exp').innerHTML = '<div class="big">' + b.experiments.used + (b.experiments.max ? ' / ' + b.experiments.max : '') + '</div>' +
      '<div class="bar"><span style="width:' + pe + '%"></span></div><div class="small">' +
      '<span class="chip d-kept" id="kept-count">' + (c.kept || 0) + ' kept change' + (c.kept === 1 ? '' : 's') + ' (' + (c.baseline ? '+ baseline' : 'no baseline') + ')</span>' +
      ['reverted', 'crashed', 'timeout', 'invalid', 'rejected'].map(function (k) {
        return '<span class="chip d-' + k + '">' + k + ' ' + (c[k] || 0) + '</span>';
      }).join('') + '</div>' +
      (st.directions ? '<div class="small" id="directions">' + st.directions.map(function (d) {
        return '<div class="direction" data-direction="' + d.direction + '">d' + d.direction + ' \u00b7 ' + d.experiments +
          ' exp \u00b7 ' + d.kept + ' kept \u00b7 best ' + num(d.best && d.best.score) + (d.best ? ' (#' + d.best.id + ')' : '') +
          ' <span class="muted">' + esc(d.branch) + '</span></div>';
      }).join('') + '</div>' : '');
    renderClock();
    var f = b.failures;
    $('budget-fail').innerHTML = '<div class="small muted">consecutive failures ' + f.consecutive + (f.max ? ' / ' + f.max : '') + '</div>' +
      '<div class="bar warn"><span style="width:' + (f.max ? Math.min(100, 100 * f.consecutive / f.max) : 0) + '%"></span></div>';
  }
  function renderClock() {
    if (!state) return;
    var s = state, b = s.budgets, st = s.status && s.status.run;
    var running = st && st.status === 'running';
    var elapsed = running && st.active ? b.wallClock.elapsedMs + Math.max(0, Date.now() + offset - Date.parse(s.serverTime)) : b.wallClock.elapsedMs;
    var pw = b.wallClock.maxMs ? Math.min(100, 100 * elapsed / b.wallClock.maxMs) : 0;
    $('budget-clock').innerHTML = '<div class="big">' + dur(elapsed) + '</div><div class="bar"><span style="width:' + pw + '%"></span></div>' +
      '<div class="small muted">' + (b.wallClock.maxMs ? dur(Math.max(0, b.wallClock.maxMs - elapsed)) + ' left of ' + dur(b.wallClock.maxMs) : '') + '</div>';
    var cur = s.current;
    var eta = etaMs(s, elapsed, cur);
    var phase = cur ? (cur.live ? cur.live.phase : 'execute') : running && st.active ? 'propose' : '';
    $('current').innerHTML = (cur
      ? '<div class="big">#' + cur.id + ' <span class="small muted">seq ' + cur.seq + '</span> <span id="current-elapsed">' + dur(Date.now() + offset - Date.parse(cur.startedAt)) + '</span></div><div class="small hyp" title="' + esc(cur.hypothesis) + '">' + esc(cur.hypothesis) + '</div>'
      : '<div class="muted">' + (running ? 'between experiments' : 'nothing running') + '</div>') +
      (phase ? '<div class="small">phase <span class="phase" id="current-phase">' + phase + '</span></div>' : '') +
      (eta != null ? '<div class="small muted" id="eta">about ' + dur(eta) + ' left (median experiment ' + dur(medianMs(s)) + ')</div>' : '');
  }
  // The median experiment of the whole run, computed by the server (the snapshot holds only the newest rows).
  function medianMs(s) { return s.medianDurationMs == null ? null : s.medianDurationMs; }
  // ETA: the median finished experiment times the experiments left (the running one counted as half done),
  // capped by the wall clock left. Null when nothing runs or nothing bounds the run.
  function etaMs(s, elapsed, cur) {
    var st = s.status && s.status.run;
    if (!st || !st.active) return null;
    var med = medianMs(s), b = s.budgets, best = null;
    if (med != null && b.experiments.max) {
      var left = Math.max(0, b.experiments.max - b.experiments.used);
      var curLeft = cur ? Math.max(0, med - (Date.now() + offset - Date.parse(cur.startedAt))) : 0;
      best = Math.max(0, (left - (cur ? 1 : 0)) * med + curLeft);
    }
    if (b.wallClock.maxMs) {
      var w = Math.max(0, b.wallClock.maxMs - elapsed);
      best = best == null ? w : Math.min(best, w);
    }
    return best;
  }
  function renderLive(s) {
    var cur = s.current, box = $('live');
    box.hidden = !(cur && cur.live);
    if (box.hidden) return;
    $('live-head').innerHTML = '#' + cur.id + ' \u00b7 phase <span class="phase">' + esc(cur.live.phase) + '</span>';
    $('live-stdout').textContent = cur.live.stdout || '(nothing yet)';
    $('live-stderr').textContent = cur.live.stderr || '(nothing yet)';
  }
  // Re-render a container's HTML and give focus back to the element (by selector) that had it.
  function keepFocus(el, html, attr) {
    var a = document.activeElement, key = a && el.contains(a) && a.getAttribute(attr);
    el.innerHTML = html;
    if (key) {
      var again = el.querySelector('[' + attr + '="' + key + '"]');
      if (again) again.focus();
    }
  }
  function renderCompareChoices() {
    var list = tableRows.slice().sort(function (a, b) { return a.id - b.id; });
    var opts = list.map(function (e) {
      return '<option value="' + e.id + '">#' + e.id + ' ' + esc(e.decision) + ' ' + num(e.score) + '</option>';
    }).join('');
    ['compare-a', 'compare-b'].forEach(function (id, i) {
      var el = $(id), cur = el.value;
      if (el.getAttribute('data-opts') === opts) return;
      el.setAttribute('data-opts', opts);
      el.innerHTML = opts;
      if (cur) el.value = cur;
      else if (list.length > i) el.value = String(list[Math.min(list.length - 1, list.length - 2 + i < 0 ? 0 : list.length - 2 + i)].id);
    });
  }
  function compare(a, b) {
    var out = $('compare-out');
    out.innerHTML = '<div class="muted">comparing\u2026</div>';
    api('/api/compare?a=' + encodeURIComponent(a) + '&b=' + encodeURIComponent(b)).then(function (c) {
      var keys = {};
      [c.a.params || {}, c.b.params || {}].forEach(function (p) { Object.keys(p).forEach(function (k) { keys[k] = 1; }); });
      var prow = Object.keys(keys).sort().map(function (k) {
        var x = JSON.stringify((c.a.params || {})[k]), y = JSON.stringify((c.b.params || {})[k]);
        var cls = x === y ? '' : ' class="diff-cell"';
        return '<tr><th scope="row">' + esc(k) + '</th><td' + cls + '>' + esc(x == null ? '\u2014' : x) + '</td><td' + cls + '>' + esc(y == null ? '\u2014' : y) + '</td></tr>';
      }).join('');
      var mk = {};
      [c.a.metrics || {}, c.b.metrics || {}].forEach(function (m) { Object.keys(m).forEach(function (k) { mk[k] = 1; }); });
      var mrow = Object.keys(mk).sort().map(function (k) {
        return '<tr><th scope="row">' + esc(k) + '</th><td class="num">' + num(c.a.metrics[k], 6) + '</td><td class="num">' + num(c.b.metrics[k], 6) + '</td></tr>';
      }).join('');
      var head = '<thead><tr><th scope="col"></th><th scope="col">#' + c.a.id + ' <span class="d-' + esc(c.a.decision) + '">' + esc(c.a.decision) + '</span></th><th scope="col">#' + c.b.id + ' <span class="d-' + esc(c.b.decision) + '">' + esc(c.b.decision) + '</span></th></tr></thead>';
      out.innerHTML = '<div class="cmp"><div><h3 class="small muted">hypotheses</h3><div class="kv"><b>#' + c.a.id + '</b><span>' + esc(c.a.hypothesis) + '</span><b>#' + c.b.id + '</b><span>' + esc(c.b.hypothesis) + '</span></div>' +
        '<h3 class="small muted">public metrics</h3><div class="scroll" tabindex="0" role="region" aria-label="public metrics compared"><table id="compare-metrics">' + head + '<tbody><tr><th scope="row">score</th><td class="num">' + num(c.a.score, 6) + '</td><td class="num">' + num(c.b.score, 6) + '</td></tr>' + mrow + '</tbody></table></div></div>' +
        '<div><h3 class="small muted">params</h3><div class="scroll" tabindex="0" role="region" aria-label="params compared"><table id="compare-params">' + head + '<tbody>' + (prow || '<tr><td colspan="3">no params</td></tr>') + '</tbody></table></div></div></div>' +
        '<h3 class="small muted">git diff #' + c.a.id + ' \u2192 #' + c.b.id + '</h3>' + (c.diff_note ? '<div class="small warn-text">' + esc(c.diff_note) + '</div>' : '') +
        '<pre class="diff" id="compare-diff" tabindex="0" aria-label="git diff">' + (c.diff == null ? '' : c.diff ? diffHtml(c.diff) : '(no difference)') + '</pre>';
    }).catch(function (e) { out.innerHTML = '<div class="msg err">' + esc(e.message) + '</div>'; });
  }
  $('compare-go').onclick = function () { compare($('compare-a').value, $('compare-b').value); };
  // Fold a snapshot's rows into the table: a new run starts afresh; rows leaving the window are kept once older rows
  // were loaded; a row of the window replaces its older copy.
  function mergeRows(prev, s) {
    if (olderRun !== s.run) {
      older = new Map();
      olderRun = s.run;
      olderEnd = false;
    } else if (older.size && prev && prev.run === s.run) {
      var now = new Set(s.experiments.map(function (e) { return e.id; }));
      prev.experiments.forEach(function (e) { if (!now.has(e.id)) older.set(e.id, e); });
    }
    s.experiments.forEach(function (e) { older.delete(e.id); });
    tableRows = s.experiments.slice();
    older.forEach(function (e) { tableRows.push(e); });
  }
  // Load the page of rows older than the oldest loaded one (GET /api/experiments, newest first); with all, every
  // page down to the run's first row.
  function loadOlder(all) {
    if (paging || !state || !state.run) return;
    var run = state.run, msg = $('exp-more-msg');
    var lowest = tableRows.reduce(function (m, e) { return m == null || e.id < m ? e.id : m; }, null);
    var q = new URLSearchParams();
    q.set('run', run);
    if (lowest != null) q.set('before', String(lowest));
    paging = true;
    msg.textContent = 'loading\u2026';
    api('/api/experiments?' + q.toString()).then(function (p) {
      paging = false;
      if (olderRun !== run) return;
      var shown = new Set(state.experiments.map(function (e) { return e.id; }));
      p.experiments.forEach(function (e) { if (!shown.has(e.id)) { older.set(e.id, e); tableRows.push(e); } });
      if (p.next == null) olderEnd = true;
      msg.textContent = '';
      renderTable();
      renderCompareChoices();
      if (all && p.next != null) loadOlder(true);
    }).catch(function (e) { paging = false; msg.textContent = e.message; });
  }
  // The older rows loaded, read again when one of the run's rows changed other than by being added (rowsKey: a
  // conclusion set later, a private score, a review): each page down to the oldest loaded, each row put in place.
  function refreshOlder(run) {
    var lowest = null, highest = null;
    older.forEach(function (e, id) {
      if (lowest == null || id < lowest) lowest = id;
      if (highest == null || id > highest) highest = id;
    });
    if (lowest == null) return;
    (function page(before) {
      var q = new URLSearchParams();
      q.set('run', run);
      q.set('before', String(before));
      q.set('limit', '5000');
      api('/api/experiments?' + q.toString()).then(function (p) {
        if (olderRun !== run || !state) return;
        p.experiments.forEach(function (e) { if (older.has(e.id)) older.set(e.id, e); });
        tableRows = state.experiments.slice();
        older.forEach(function (e) { tableRows.push(e); });
        renderTable();
        if (p.next != null && p.next > lowest) page(p.next);
      }).catch(function () { /* the next change reads them again */ });
    })(highest + 1);
  }
  $('load-older').onclick = function () { loadOlder(false); };
  $('load-all').onclick = function () { loadOlder(true); };
  function rows() {
    if (!state) return [];
    var text = $('filter').value.toLowerCase(), dec = $('decision-filter').value;
    var list = tableRows.filter(function (e) {
      if (dec && e.decision !== dec) return false;
      if (!text) return true;
      return (e.hypothesis + ' ' + e.reason + ' ' + (e.conclusion || '') + ' #' + e.id).toLowerCase().indexOf(text) >= 0;
    });
    list.sort(function (a, b) {
      var x = a[sortKey], y = b[sortKey];
      if (x == null && y == null) return 0;
      if (x == null) return 1;
      if (y == null) return -1;
      var r = typeof x === 'number' ? x - y : String(x).localeCompare(String(y));
      return sortAsc ? r : -r;
    });
    return list;
  }
  function renderTable() {
    var list = rows();
    var loaded = tableRows.length, total = state ? state.experimentsTotal : 0;
    var partial = loaded < total && !olderEnd;
    $('exp-count').textContent = list.length + ' of ' + (partial ? 'the newest ' + loaded + ' of ' + total : loaded);
    $('exp-more').hidden = !partial;
    $('exp-loaded').textContent = partial ? 'newest ' + loaded + ' of ' + total + ' loaded' : '';
    $('exp-hint').textContent = 'Tab to a row and press Enter to open it; the column buttons sort.' +
      (partial ? ' Filter and sort apply to the rows loaded (the newest ' + loaded + ' of ' + total + '): Load older brings the rest.' : '');
    document.querySelectorAll('#exp-table th').forEach(function (th) {
      th.setAttribute('aria-sort', th.getAttribute('data-k') === sortKey ? (sortAsc ? 'ascending' : 'descending') : 'none');
    });
    keepFocus($('exp-body'), list.map(function (e) {
      return '<tr data-id="' + e.id + '" tabindex="0" aria-label="experiment #' + e.id + ' ' + esc(e.decision) + ' ' + (e.score == null ? 'no score' : num(e.score)) + ', Enter opens it"' + (e.id === selected ? ' class="sel" aria-current="true"' : '') + '>' +
        '<td class="num">' + e.id + '</td><td class="num">' + e.seq + '</td>' +
        '<td class="d-' + esc(e.decision) + '">' + esc(e.decision) + (e.review ? ' \u00b7 ' + esc(e.review) : '') + '</td>' +
        '<td class="num">' + num(e.score) + (e.private != null ? '<br><span class="private">' + num(e.private) + '</span>' : '') + '</td>' +
        '<td class="num">' + signed(e.delta) + '</td><td class="num">' + e.duration_s.toFixed(1) + 's</td>' +
        '<td class="hyp" title="' + esc(e.hypothesis) + '">' + esc(e.hypothesis) + '</td></tr>';
    }).join(''), 'data-id');
  }
  function diffHtml(p) {
    if (!p) return '<span class="muted">(empty patch: the baseline, or nothing changed)</span>';
    return p.split('\n').map(function (l) {
      var c = l.indexOf('diff --git') === 0 || l.indexOf('+++') === 0 || l.indexOf('---') === 0 || l.indexOf('index ') === 0 ? 'meta'
        : l.charAt(0) === '+' ? 'add' : l.charAt(0) === '-' ? 'del' : l.indexOf('@@') === 0 ? 'hunk' : '';
      return c ? '<span class="' + c + '">' + esc(l) + '</span>' : esc(l) + '\n';
    }).join('');
  }
  function loadDetail(id, scroll) {
    selected = id;
    if (location.hash !== '#/experiment/' + id) history.replaceState(null, '', location.pathname + location.search + '#/experiment/' + id);
    renderTable();
    api('/api/experiments/' + id).then(function (d) {
      var v = JSON.stringify([d.decision, d.conclusion, d.events.length, d.reviews.length, d.private && d.private.score]);
      if (!scroll && v === detailVersion && $('detail').getAttribute('data-id') === String(id)) return;
      detailVersion = v;
      var m = Object.keys(d.metrics || {}).map(function (k) {
        return '<tr><td>' + esc(k) + '</td><td class="num">' + num(d.metrics[k], 6) + '</td><td class="num private">' +
          (d.private && d.private.metrics[k] != null ? num(d.private.metrics[k], 6) : '') + '</td></tr>';
      }).join('');
      var params = d.params ? Object.keys(d.params).map(function (k) { return esc(k) + '=' + esc(JSON.stringify(d.params[k])); }).join('  ') : '\u2014';
      $('detail').setAttribute('data-id', String(id));
      $('detail').innerHTML =
        '<h2>Experiment #' + d.id + ' <span class="d-' + esc(d.decision) + '">' + esc(d.decision) + '</span></h2>' +
        '<div class="small"><a id="detail-link" href="#/experiment/' + d.id + '">link to this experiment</a> <button type="button" class="act" id="copy-link">Copy link</button> <span id="copy-msg" class="small muted" role="status"></span></div>' +
        '<div class="kv"><b>hypothesis</b><span id="detail-hypothesis">' + esc(d.hypothesis) + '</span>' +
        '<b>conclusion</b><span>' + esc(d.conclusion || '\u2014') + '</span>' +
        '<b>why</b><span>' + esc(d.reason) + '</span>' +
        '<b>score</b><span>' + num(d.score, 6) + (d.delta == null ? '' : ' gain ' + signed(d.delta, 6)) + ' (best before ' + num(d.best_before, 6) + ')' +
        (d.ci_low != null ? ' \u00b7 95% CI ' + signed(d.ci_low, 5) + '..' + signed(d.ci_high, 5) + ' \u00b7 P(better) ' + num(d.prob_improvement, 3) : '') + '</span>' +
        '<b>files</b><span>' + esc((d.files || []).join(', ') || '\u2014') + '</span>' +
        '<b>params</b><span class="small">' + params + '</span>' +
        '<b>sandbox</b><span>' + esc(d.sandbox.status) + ' ' + esc(d.sandbox.message) + (d.sandboxed ? '' : ' (UNSANDBOXED)') + '</span>' +
        '<b>commit</b><span>' + esc(d.commit || '\u2014') + '</span>' +
        '<b>proposer</b><span>' + esc(d.proposer) + ', ' + d.duration_s.toFixed(1) + ' s</span></div>' +
        (m ? '<div class="scroll" tabindex="0" role="region" aria-label="metrics"><table class="small" style="margin-top:8px"><thead><tr><th>metric</th><th class="num">public</th><th class="num">private</th></tr></thead><tbody>' + m + '</tbody></table></div>' : '') +
        '<h2 style="margin-top:10px">Diff</h2><pre class="diff" id="diff" tabindex="0" aria-label="diff">' + diffHtml(d.patch) + '</pre>' +
        '<h2>stdout</h2><pre id="stdout" tabindex="0" aria-label="stdout">' + esc(tail(d.stdout)) + '</pre>' +
        '<h2>stderr</h2><pre id="stderr" tabindex="0" aria-label="stderr">' + esc(tail(d.stderr)) + '</pre>' +
        (d.events.length ? '<h2>Events</h2>' + d.events.map(evHtml).join('') : '') +
        (d.reviews.length ? '<h2>Reviews</h2>' + d.reviews.map(function (r) {
          return '<div class="ev"><span class="k">' + esc(r.decision) + '</span> by ' + esc(r.reviewer) + ' \u00b7 ' + esc(r.ts) + ': ' + esc(r.note) + '</div>';
        }).join('') : '');
      $('copy-link').onclick = function () {
        var link = location.href.split('#')[0] + '#/experiment/' + d.id;
        var done = function () { $('copy-msg').textContent = 'copied'; };
        if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(link).then(done, function () { $('copy-msg').textContent = link; });
        else $('copy-msg').textContent = link;
      };
      if (scroll) $('detail').scrollIntoView({ block: 'nearest' });
    }).catch(function (e) { $('detail').innerHTML = '<div class="msg err">' + esc(e.message) + '</div>'; });
  }
  function tail(t) {
    if (!t) return '(empty)';
    var l = t.split('\n');
    return l.length > 60 ? '\u2026\n' + l.slice(-60).join('\n') : t;
  }
  function evHtml(e) {
    return '<div class="ev ' + esc(e.severity) + '"><span class="k">' + esc(e.kind) + (e.guardrail ? ' \u00b7 ' + esc(e.guardrail) : '') + '</span>' +
      (e.experimentId ? ' #' + e.experimentId : '') + ' <span class="muted small">' + esc(e.ts) + '</span><br>' + esc(e.message) + '</div>';
  }
  function renderEvents(s) {
    var list = s.events.filter(function (e) { return e.kind !== 'run.started'; }).slice(0, 80);
    $('events').innerHTML = list.length ? list.map(evHtml).join('') : '<div class="muted">no guardrail trip, escalation or review yet</div>';
  }
  function renderReview(s) {
    var best = s.status && s.status.best;
    var subs = s.submissions.slice().reverse();
    var st = s.status && s.status.run;
    var submitted = best && subs.some(function (x) { return x.experimentId === best.id; });
    var active = !!(st && st.active);
    $('submit-best').disabled = !best || submitted || active;
    $('submit-best').title = active ? 'disabled while the run is active: stop it (kill switch) or let it finish, then submit its best' : '';
    $('submit-best').textContent = best ? (submitted ? 'best #' + best.id + ' is submitted' : 'Submit best #' + best.id + ' to the private holdout') : 'nothing to submit';
    $('submit-note').textContent = active ? 'the run is still going: submit once it has ended (a later best may replace this one)' : '';
    var target = $('review-target');
    var cur = target.value;
    target.innerHTML = subs.map(function (x) {
      return '<option value="' + x.experimentId + '">#' + x.experimentId + ': public ' + num(x.public) + ', private ' + num(x.private) + ', ' + gapText(x.gap) + '</option>';
    }).join('');
    if (cur && subs.some(function (x) { return String(x.experimentId) === cur; })) target.value = cur;
    var none = subs.length === 0;
    $('promote').disabled = none;
    $('reject').disabled = none;
    $('reviews').innerHTML = s.reviews.length ? s.reviews.slice().reverse().map(function (r) {
      return '<div class="ev review" data-decision="' + esc(r.decision) + '"><span class="k">' + esc(r.decision) + '</span> #' + r.experimentId + ' by ' + esc(r.reviewer) + ' <span class="muted small">' + esc(r.ts) + '</span><br>' + esc(r.note) + '</div>';
    }).join('') : '<div class="muted">' + (none ? 'submit the best kept experiment, then promote or reject it' : 'not reviewed yet') + '</div>';
  }
  // Set a container's HTML only when it changed (a snapshot comes with every log line of the running experiment).
  var shown = {};
  function setHtml(el, html) {
    if (shown[el.id] === html) return;
    shown[el.id] = html;
    el.innerHTML = html;
  }
  function sig(v) { return v == null || !isFinite(v) ? '\u2014' : Number(v).toPrecision(4); }
  // Tier 2 (bandit tasks): each submitted policy's estimators with their intervals against production, trust, verdict.
  function renderTier2(s) {
    var list = (s.tier2 || []).slice().reverse();
    setHtml($('tier2'), list.map(function (t) {
      var ev = t.evidence, pct = Math.round(ev.confidence * 100) + '%';
      var rows = ev.estimates.map(function (e) {
        var where = e.low > ev.production ? 'above' : e.high < ev.production ? 'below' : 'overlaps';
        return '<tr data-name="' + esc(e.name) + '"><th scope="row">' + esc(e.name) + (e.name === ev.primary ? ' (primary)' : '') + '</th><td class="num">' + sig(e.value) +
          '</td><td class="num">[' + sig(e.low) + ', ' + sig(e.high) + ']</td><td>' + where + '</td></tr>';
      }).join('');
      return '<div class="tier2" data-experiment="' + t.experimentId + '" data-candidate="' + (ev.candidate ? 'true' : 'false') + '">' +
        '<h3>Tier-2 evidence of #' + t.experimentId + ' <span class="muted small">private logs, ' + ev.rows + ' rows, ' + pct + ' bootstrap intervals</span></h3>' +
        '<div class="verdict ' + (ev.candidate ? 'ok' : 'warn') + '" role="status">' + (ev.candidate ? '' : 'WARNING ') + esc(ev.verdict) + '</div>' +
        '<div class="plot">' + t.chart + '</div>' +
        '<div class="scroll" tabindex="0" role="region" aria-label="tier-2 estimates of #' + t.experimentId + '"><table class="small"><thead><tr><th scope="col">estimator</th><th scope="col" class="num">estimate</th><th scope="col" class="num">' + pct + ' interval</th><th scope="col">vs production</th></tr></thead><tbody>' + rows +
        '<tr data-name="logging"><th scope="row">logging policy (production)</th><td class="num">' + sig(ev.production) + '</td><td class="num">\u2014</td><td>mean logged reward</td></tr></tbody></table></div>' +
        '<div class="small">trust: effective sample size ' + Number(ev.ess).toFixed(0) + ', largest weight ' + sig(ev.maxWeight) + ', unsupported mass ' + sig(ev.unsupportedMass) + ', estimator spread ' + sig(ev.disagreement) +
        (ev.untrusted.length ? '<br><span class="warn-text">not trusted: ' + esc(ev.untrusted.join('; ')) + '</span>' : '') + '</div></div>';
    }).join(''));
  }
  // Harness tasks: score against cost, the Pareto front as a step line and in a table, the current best ringed.
  // Hypotheses are proposer text: escaped everywhere (the SVG's titles by the server, the table here).
  function renderHarness(s) {
    var h = s.harness, box = $('harness');
    box.hidden = !h;
    if (!h) { setHtml($('harness-body'), ''); return; }
    var byId = {};
    h.points.forEach(function (p) { byId[p.id] = p; });
    var cost = function (v) { return h.cost === 'cost_per_task' ? '$' + Number(v).toPrecision(4) : Number(v).toFixed(1); };
    var best = h.best != null ? byId[h.best] : null;
    var rows = h.front.map(function (id) {
      var p = byId[id];
      return '<tr data-id="' + p.id + '"' + (p.best ? ' data-best="true"' : '') + '><td class="num"><a href="#/experiment/' + p.id + '">#' + p.id + '</a>' + (p.best ? ' (best)' : '') + '</td><td class="d-' + esc(p.decision) + '">' + esc(p.decision) +
        '</td><td class="num">' + num(p.score) + '</td><td class="num">' + cost(p.cost) + '</td><td class="hyp" title="' + esc(p.hypothesis) + '">' + esc(p.hypothesis) + '</td></tr>';
    }).join('');
    setHtml($('harness-body'),
      '<div class="small" id="harness-facts">' + h.front.length + ' of ' + h.points.length + ' scored experiment' + (h.points.length === 1 ? '' : 's') + ' on the Pareto front' +
      (best ? ' \u00b7 current best #' + best.id + ': ' + esc(h.score) + ' ' + num(best.score) + ', ' + esc(h.cost) + ' ' + cost(best.cost) + (best.front ? '' : ' (not on the front)') : '') +
      (h.ceiling != null ? ' \u00b7 cost ceiling ' + cost(h.ceiling) : '') + (h.unscored ? ' \u00b7 ' + h.unscored + ' without a score (not drawn)' : '') + '</div>' +
      (h.points.length ? '<div class="plot" id="harness-chart">' + h.chart + '</div>' : '<div class="muted">no scored experiment yet</div>') +
      (rows ? '<div class="scroll" tabindex="0" role="region" aria-label="the Pareto front"><table class="small" id="harness-front"><thead><tr><th scope="col" class="num">experiment</th><th scope="col">decision</th><th scope="col" class="num">' + esc(h.score) + '</th><th scope="col" class="num">' + esc(h.cost) + '</th><th scope="col">hypothesis</th></tr></thead><tbody>' + rows + '</tbody></table></div>' : ''));
  }
  // Finalized branches (ratchet finalize): each re-run alone; a branch that holds and was submitted can be promoted.
  function renderFinalized(s) {
    var list = s.finalized || [], box = $('finalized');
    box.hidden = !list.length;
    var rows = list.map(function (b) {
      return '<tr data-branch="' + esc(b.branch) + '" data-holds="' + (b.holds ? 'true' : 'false') + '"><td><code>' + esc(b.branch) + '</code></td><td>' +
        b.experiments.map(function (id) { return '#' + id; }).join(', ') + '</td><td class="verdict-cell' + (b.holds ? '' : ' warn-text') + '">' + (b.holds ? '' : 'WARNING ') + esc(b.verdict) +
        '</td><td class="num">' + num(b.score, 6) + '</td><td class="num">' + signed(b.gain, 6) + '</td><td>' + (b.review ? esc(b.review) + ' (#' + b.reviewExperiment + ')' : '\u2014') +
        '</td><td><button type="button" class="act show-pr" data-branch="' + esc(b.branch) + '">PR.md</button> <button type="button" class="act promote final-promote" data-branch="' + esc(b.branch) + '"' +
        (b.blocked ? ' disabled title="' + esc(b.blocked) + '"' : '') + '>Promote</button>' + (b.blocked ? '<div class="small muted blocked">' + esc(b.blocked) + '</div>' : '') + '</td></tr>';
    }).join('');
    setHtml($('final-body'), list.length ? '<div class="scroll" tabindex="0" role="region" aria-label="finalized branches"><table class="small" id="final-table"><thead><tr><th scope="col">branch</th><th scope="col">experiments</th><th scope="col">re-run alone</th><th scope="col" class="num">score</th><th scope="col" class="num">gain over the baseline</th><th scope="col">review</th><th scope="col">actions</th></tr></thead><tbody>' + rows + '</tbody></table></div>' : '');
  }
  $('final-body').onclick = function (ev) {
    var btn = ev.target.closest('button');
    if (!btn || btn.disabled) return;
    var branch = btn.getAttribute('data-branch'), msg = $('final-msg');
    if (btn.classList.contains('show-pr')) {
      var q = new URLSearchParams();
      if (state && state.run) q.set('run', state.run);
      q.set('branch', branch);
      api('/api/finalized/pr?' + q.toString()).then(function (r) {
        $('final-pr-head').textContent = 'PR.md of ' + r.branch;
        $('final-pr').hidden = false;
        $('final-pr').textContent = r.text;
      }).catch(function (e) { msg.className = 'msg err'; msg.textContent = e.message; });
      return;
    }
    msg.className = 'msg';
    msg.textContent = 'recording\u2026';
    api('/api/finalized/review', { method: 'POST', body: { run: state && state.run, branch: branch, decision: 'promote', note: $('final-note').value, reviewer: $('final-reviewer').value } })
      .then(function (r) {
        msg.className = 'msg ok';
        msg.textContent = 'recorded: promote ' + r.branch + ' (#' + r.experimentId + ') by ' + r.reviewer;
        $('final-note').value = '';
      })
      .catch(function (e) { msg.className = 'msg err'; msg.textContent = e.message; });
  };
  // Tier 3: offline gains against online A/B results (the project's imported tests, every run's experiments).
  function renderAlignment(s) {
    var a = s.alignment, box = $('alignment');
    box.hidden = !a;
    if (!a) { setHtml($('align-body'), ''); return; }
    var facts = a.facts.map(function (f) { return '<b>' + esc(f.label) + '</b><span>' + esc(f.value) + '</span>'; }).join('');
    var rows = a.points.map(function (p) {
      return '<tr data-test="' + esc(p.testId) + '"><td>' + esc(p.testId) + '</td><td class="num">#' + p.experimentId + '</td><td class="num">' + signed(p.offline, 5) +
        '</td><td class="num">' + sig(p.online) + ' [' + sig(p.onlineLow) + ', ' + sig(p.onlineHigh) + ']</td><td>' + (p.win ? 'yes' : 'no') + '</td></tr>';
    }).join('');
    setHtml($('align-body'),
      '<div id="align-verdict" class="verdict' + (a.ready === false ? ' warn' : a.ready ? ' ok' : '') + '" role="status">' + (a.ready === false ? 'WARNING ' : '') + esc(a.verdict) + '</div>' +
      '<div class="kv" id="align-facts">' + facts + '</div>' +
      (a.chart ? '<div class="plot" id="align-chart">' + a.chart + '</div>' : '') +
      (rows ? '<div class="scroll" tabindex="0" role="region" aria-label="A/B tests and their experiments"><table class="small" id="align-pairs"><thead><tr><th scope="col">A/B test</th><th scope="col" class="num">experiment</th><th scope="col" class="num">offline delta</th><th scope="col" class="num">online delta [interval]</th><th scope="col">online win</th></tr></thead><tbody>' + rows + '</tbody></table></div>' : '') +
      (a.unpaired.length ? '<div class="small" id="align-unpaired"><b>not paired:</b> ' + a.unpaired.map(function (u) { return esc(u.testId) + ' (' + esc(u.reason) + ')'; }).join('; ') + '</div>' : ''));
  }
  function review(decision) {
    var msg = $('review-msg');
    msg.className = 'msg';
    msg.textContent = 'recording\u2026';
    api('/api/review', { method: 'POST', body: { experiment: Number($('review-target').value), decision: decision, note: $('review-note').value, reviewer: $('review-reviewer').value } })
      .then(function (r) {
        msg.className = 'msg ok';
        msg.textContent = 'recorded: ' + r.decision + ' #' + r.experimentId + ' by ' + r.reviewer;
        $('review-note').value = '';
      })
      .catch(function (e) { msg.className = 'msg err'; msg.textContent = e.message; });
  }
  $('promote').onclick = function () { review('promote'); };
  $('reject').onclick = function () { review('reject'); };
  $('submit-best').onclick = function () {
    var msg = $('review-msg');
    msg.className = 'msg';
    msg.textContent = 'scoring on the private holdout\u2026';
    $('submit-best').disabled = true;
    api('/api/submit', { method: 'POST', body: { run: state && state.run } })
      .then(function (r) { msg.className = 'msg ok'; msg.textContent = 'submitted #' + r.experimentId + ': private ' + num(r.private, 6) + ', ' + gapText(r.gap, 6); })
      .catch(function (e) { msg.className = 'msg err'; msg.textContent = e.message; $('submit-best').disabled = false; });
  };
  $('clear-escalation').onclick = function () {
    var msg = $('clear-msg');
    msg.className = 'msg';
    msg.textContent = 'clearing\u2026';
    api('/api/clear', { method: 'POST', body: { note: $('clear-note').value } })
      .then(function () { msg.className = 'msg ok'; msg.textContent = 'cleared'; $('clear-note').value = ''; })
      .catch(function (e) { msg.className = 'msg err'; msg.textContent = e.message; });
  };
  $('kill').onclick = function () {
    var id = state && state.run;
    if (!confirm('Stop run ' + id + '? The running experiment is killed and the branch stays at its last kept commit.')) return;
    $('kill').disabled = true;
    $('kill').textContent = 'stopping\u2026';
    api('/api/stop', { method: 'POST', body: { run: id } })
      .then(function () { $('kill').textContent = 'Kill switch'; })
      .catch(function (e) { $('kill').textContent = 'Kill switch'; alert(e.message); });
  };
  $('run-select').onchange = function () { chosenRun = this.value; selected = null; $('detail').innerHTML = '<div class="muted">click an experiment</div>'; connect(); };
  $('filter').oninput = renderTable;
  $('decision-filter').onchange = renderTable;
  document.querySelectorAll('#exp-table th').forEach(function (th) {
    th.querySelector('button').onclick = function () {
      var k = th.getAttribute('data-k');
      if (sortKey === k) sortAsc = !sortAsc; else { sortKey = k; sortAsc = k === 'hypothesis'; }
      renderTable();
    };
  });
  $('exp-body').onclick = function (ev) {
    var tr = ev.target.closest('tr');
    if (tr) loadDetail(Number(tr.getAttribute('data-id')), true);
  };
  $('chart').onclick = function (ev) {
    var g = ev.target.closest('.pt');
    if (g) loadDetail(Number(g.getAttribute('data-id')), true);
  };
  function activateOnKey(container, selector) {
    container.addEventListener('keydown', function (ev) {
      if (ev.key !== 'Enter' && ev.key !== ' ') return;
      var el = ev.target.closest(selector);
      if (!el || el !== ev.target) return;
      ev.preventDefault();
      loadDetail(Number(el.getAttribute('data-id')), true);
    });
  }
  activateOnKey($('exp-body'), 'tr[data-id]');
  activateOnKey($('chart'), '.pt[data-id]');
  $('harness-body').onclick = function (ev) {
    var g = ev.target.closest('.hpt');
    if (g) loadDetail(Number(g.getAttribute('data-id')), true);
  };
  activateOnKey($('harness-body'), '.hpt[data-id]');
  function fromHash() {
    var m = /^#\/experiment\/(\d+)$/.exec(location.hash);
    if (m && Number(m[1]) !== selected) loadDetail(Number(m[1]), true);
  }
  window.addEventListener('hashchange', fromHash);
  fromHash();
  setInterval(renderClock, 1000);
  connect();
})();
`;

/** The Studio page (one self-contained HTML document). */
export function studioPage(): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Ratchet Studio</title><style>${CSS}</style></head>
<body>
<header><h1>Ratchet Studio</h1><span class="proj" id="proj"></span>
<label for="run-select">run</label><select id="run-select"></select><span class="pill" id="run-status" data-status="">connecting</span>
<span class="spacer"></span><span id="conn">connecting…</span>
<button id="kill" disabled title="stop the run within a second; the branch stays at its last kept commit">Kill switch</button></header>
<div id="mlflow-banner" role="status" hidden></div>
<main>
<section class="card wide" id="escalation" hidden><h2>Escalated: needs a person</h2>
<div id="escalation-msg"></div>
<div class="small muted">Nothing runs and nothing is submitted until a person clears it (also: ratchet clear --note "&lt;why&gt;").</div>
<label class="field" for="clear-note">note (required)</label><textarea id="clear-note" placeholder="what you checked and why work may go on"></textarea>
<button class="act" id="clear-escalation">Clear the escalation</button><div class="msg" id="clear-msg"></div></section>
<section class="card wide"><div class="stats">
<div><h2>Best score</h2><div id="best"></div></div>
<div><h2>Experiments</h2><div id="budget-exp"></div><div id="budget-fail"></div></div>
<div><h2>Wall clock</h2><div id="budget-clock"></div></div>
<div><h2>Running now</h2><div id="current"></div></div>
</div></section>
<section class="card wide"><h2>Score over experiments</h2><div id="chart"></div></section>
<section class="card wide" id="harness" hidden><h2>Score and cost (harness)</h2>
<p class="small muted" style="margin:0 0 6px">Each scored experiment of the run at its public-holdout score and cost. The Pareto front (the step line and the table) is the experiments no other one beats on both: at least as good on each, better on one. A rejected experiment is drawn but never on the front. Click a mark to open the experiment.</p>
<div id="harness-body"></div></section>
<section class="card"><h2>Experiments <span class="muted" id="exp-count"></span></h2>
<div class="tools"><label for="filter">filter</label><input id="filter" placeholder="hypothesis, reason, conclusion, #id">
<label for="decision-filter">decision</label><select id="decision-filter"><option value="">all decisions</option><option>kept</option><option>reverted</option><option>crashed</option><option>timeout</option><option>invalid</option><option>rejected</option></select>
<a id="csv-link" href="/api/experiments.csv" download>Download CSV</a></div>
<p class="small muted" id="exp-hint" style="margin:0 0 4px">Tab to a row and press Enter to open it; the column buttons sort.</p>
<div class="tools" id="exp-more" hidden><span class="small" id="exp-loaded"></span><button type="button" class="act" id="load-older">Load older</button><button type="button" class="act" id="load-all">Load all</button><span class="small muted" id="exp-more-msg" role="status"></span></div>
<div class="scroll"><table id="exp-table" aria-label="experiments" aria-describedby="exp-hint"><thead><tr><th data-k="id" aria-sort="descending"><button type="button">#</button></th><th data-k="seq" aria-sort="none"><button type="button">seq</button></th><th data-k="decision" aria-sort="none"><button type="button">decision</button></th><th data-k="score" class="num" aria-sort="none"><button type="button">score</button></th><th data-k="delta" class="num" aria-sort="none"><button type="button">gain</button></th><th data-k="duration_s" class="num" aria-sort="none"><button type="button">time</button></th><th data-k="hypothesis" aria-sort="none"><button type="button">hypothesis</button></th></tr></thead>
<tbody id="exp-body"></tbody></table></div></section>
<section class="card" id="detail"><div class="muted">click an experiment (a row, or a mark on the chart) to see its hypothesis, diff, logs and metrics</div></section>
<section class="card wide" id="live" hidden><h2>Running experiment: live</h2><div id="live-head"></div>
<h3 class="small muted">stdout (last 50 lines)</h3><pre id="live-stdout" tabindex="0" aria-label="stdout of the running experiment"></pre><h3 class="small muted">stderr (last 50 lines)</h3><pre id="live-stderr" tabindex="0" aria-label="stderr of the running experiment"></pre></section>
<section class="card wide" id="compare"><h2>Compare two experiments</h2>
<div class="tools"><label for="compare-a">experiment A</label><select id="compare-a"></select><label for="compare-b">experiment B</label><select id="compare-b"></select>
<button class="act" id="compare-go" type="button">Compare</button></div><div id="compare-out"></div></section>
<section class="card wide" id="finalized" hidden><h2>Finalized branches (tier-2 review)</h2>
<p class="small muted" style="margin:0 0 6px"><code>ratchet finalize</code> made one branch per independent change (dependent ones stacked), off the run's base commit, and re-ran each by itself on the public holdout. Promoting a branch records the tier-2 review of its experiment, which must have been submitted.</p>
<div id="final-body"></div>
<h3 class="small muted" id="final-pr-head"></h3><pre id="final-pr" tabindex="0" aria-labelledby="final-pr-head" hidden></pre>
<label class="field" for="final-note">note (required)</label><textarea id="final-note" placeholder="what you checked in the branch and its PR.md"></textarea>
<label class="field" for="final-reviewer">reviewer</label><input class="reviewer" id="final-reviewer" placeholder="default: the Studio's user">
<div class="msg" id="final-msg" role="status"></div></section>
<section class="card wide" id="alignment" hidden><h2>Offline vs online A/B results (tier 3)</h2>
<p class="small muted" style="margin:0 0 6px">Do offline wins translate into online wins? Each imported A/B test against the experiment it shipped (any run), as <code>ratchet align</code> reports it.</p>
<div id="align-body"></div></section>
<section class="card"><h2>Guardrails, escalations and events</h2><div class="scroll" id="events" tabindex="0" role="region" aria-label="guardrails, escalations and events"></div></section>
<section class="card" id="review"><h2>Tier-2 review</h2>
<button class="act" id="submit-best" disabled>nothing to submit</button> <span class="small muted" id="submit-note"></span>
<div style="margin-top:10px"><label class="small muted" for="review-target">submitted candidate</label><br><select id="review-target" style="max-width:100%"></select></div>
<div id="tier2"></div>
<label class="field" for="review-note">note (required)</label><textarea id="review-note" placeholder="what you checked and why you decide so"></textarea>
<label class="field" for="review-reviewer">reviewer</label><div style="display:flex;flex-wrap:wrap;gap:8px;align-items:center"><input class="reviewer" id="review-reviewer" placeholder="default: the Studio's user">
<button class="act promote" id="promote" disabled>Promote</button><button class="act reject" id="reject" disabled>Reject</button></div>
<div class="msg" id="review-msg"></div><div id="reviews"></div></section>
</main>
<script>${SCRIPT}</script>
</body></html>
`;
}
