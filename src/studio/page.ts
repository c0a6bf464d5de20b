import { DECISION_STYLE, PRIVATE_COLOUR } from '../report/chart.js';

/**
 * The Studio's single page: plain HTML, CSS and JavaScript (no framework, no build step, no CDN). It reads
 * the JSON API, listens to `/api/stream` (Server-Sent Events) for live snapshots, and posts the kill switch,
 * submissions and reviews. The client script avoids template literals so it can live in this TS string.
 */

const decisionCss = Object.entries(DECISION_STYLE)
  .map(
    ([k, v]) => `.d-${k}{color:${v.colour}}.chip.d-${k}{background:${v.colour}1a;border-color:${v.colour}55}`,
  )
  .join('\n');

const CSS = `
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1f2328;background:#f6f8fa}
header{display:flex;align-items:center;gap:12px;padding:10px 18px;background:#24292f;color:#fff}
header h1{font-size:16px;margin:0;font-weight:600}header .proj{opacity:.8}
header select{font:inherit;padding:3px 6px;border-radius:6px}
.pill{padding:2px 10px;border-radius:12px;font-size:12px;font-weight:600;background:#57606a}
.pill.running{background:#1f883d}.pill.stopped{background:#9a6700}.pill.failed,.pill.escalated{background:#cf222e}.pill.finished{background:#0969da}
.spacer{flex:1}
#kill{background:#cf222e;color:#fff;border:0;border-radius:6px;padding:6px 14px;font-weight:700;cursor:pointer}
#kill:disabled{background:#8c959f;cursor:not-allowed}
#conn{font-size:12px;opacity:.8}
#mlflow-banner{margin:10px 18px 0;padding:8px 12px;border:1px solid #d4a72c;background:#fff8c5;border-radius:6px;font-size:13px}
main{padding:14px 18px;display:grid;gap:14px;grid-template-columns:minmax(0,1fr) minmax(0,1fr)}
.card{background:#fff;border:1px solid #d1d9e0;border-radius:8px;padding:12px 14px;min-width:0}
.card h2{font-size:13px;text-transform:uppercase;letter-spacing:.04em;color:#59636e;margin:0 0 8px}
.wide{grid-column:1 / -1}
.stats{display:grid;grid-template-columns:repeat(4,minmax(0,1fr));gap:14px}
.big{font-size:22px;font-weight:600}.muted{color:#59636e}.small{font-size:12px}
.bar{height:8px;background:#eaeef2;border-radius:4px;overflow:hidden;margin:6px 0}.bar>span{display:block;height:100%;background:#0969da}
.bar.warn>span{background:#bc4c00}.warn-text{color:#bc4c00;font-weight:600}
.chip{display:inline-block;border:1px solid #d1d9e0;border-radius:10px;padding:0 7px;margin:2px 2px 0 0;font-size:12px}
#chart svg{width:100%;height:auto}#chart .pt:hover circle{stroke:#0969da}
.tools{display:flex;gap:8px;margin-bottom:8px}.tools input,.tools select{font:inherit;padding:4px 8px;border:1px solid #d1d9e0;border-radius:6px}
.tools input{flex:1}
.scroll{max-height:520px;overflow:auto}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{padding:4px 6px;border-bottom:1px solid #eaeef2;text-align:left;vertical-align:top}
th{position:sticky;top:0;background:#f6f8fa;cursor:pointer;user-select:none;white-space:nowrap}
th.sorted:after{content:" \\25BE"}th.sorted.asc:after{content:" \\25B4"}
tbody tr{cursor:pointer}tbody tr:hover{background:#f6f8fa}tbody tr.sel{background:#ddf4ff}
td.num,th.num{font-variant-numeric:tabular-nums;text-align:right;white-space:nowrap}
.hyp{max-width:420px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
pre{background:#f6f8fa;border:1px solid #eaeef2;border-radius:6px;padding:8px;overflow:auto;max-height:360px;font-size:12px;margin:6px 0}
#diff .add{color:#1a7f37;background:#dafbe1;display:block}#diff .del{color:#cf222e;background:#ffebe9;display:block}
#diff .hunk{color:#8250df;display:block}#diff .meta{color:#57606a;font-weight:600;display:block}
.kv{display:grid;grid-template-columns:110px minmax(0,1fr);gap:2px 10px;font-size:13px}.kv>span{overflow-wrap:anywhere}.kv b{color:#59636e;font-weight:500}
.ev{border-left:3px solid #d1d9e0;padding:2px 8px;margin:4px 0;font-size:13px}
.ev.warning{border-color:#bc4c00}.ev.error{border-color:#cf222e}.ev .k{font-weight:600}
textarea{width:100%;min-height:60px;font:inherit;border:1px solid #d1d9e0;border-radius:6px;padding:6px}
input.reviewer{font:inherit;border:1px solid #d1d9e0;border-radius:6px;padding:4px 8px}
button.act{font:inherit;border:1px solid #d1d9e0;background:#f6f8fa;border-radius:6px;padding:5px 12px;cursor:pointer;font-weight:600}
button.promote{background:#1f883d;color:#fff;border-color:#1f883d}button.reject{background:#cf222e;color:#fff;border-color:#cf222e}
button.act:disabled{opacity:.5;cursor:not-allowed}
.msg{font-size:13px;margin-top:6px}.msg.err{color:#cf222e}.msg.ok{color:#1a7f37}
.private{color:${PRIVATE_COLOUR}}
${decisionCss}
@media (max-width:1000px){main{grid-template-columns:1fr}.stats{grid-template-columns:1fr 1fr}}
`;

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
    state = s;
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
    $('chart').innerHTML = s.chart;
    renderTable();
    renderEvents(s);
    renderReview(s);
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
      }).join('') + '</div>';
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
    $('current').innerHTML = cur
      ? '<div class="big">#' + cur.id + ' <span class="small muted">seq ' + cur.seq + '</span> <span id="current-elapsed">' + dur(Date.now() + offset - Date.parse(cur.startedAt)) + '</span></div><div class="small hyp" title="' + esc(cur.hypothesis) + '">' + esc(cur.hypothesis) + '</div>'
      : '<div class="muted">' + (running ? 'between experiments' : 'nothing running') + '</div>';
  }
  function rows() {
    if (!state) return [];
    var text = $('filter').value.toLowerCase(), dec = $('decision-filter').value;
    var list = state.experiments.filter(function (e) {
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
    $('exp-count').textContent = list.length + ' of ' + (state ? state.experiments.length : 0);
    document.querySelectorAll('#exp-table th').forEach(function (th) {
      th.classList.toggle('sorted', th.getAttribute('data-k') === sortKey);
      th.classList.toggle('asc', th.getAttribute('data-k') === sortKey && sortAsc);
    });
    $('exp-body').innerHTML = list.map(function (e) {
      return '<tr data-id="' + e.id + '" class="' + (e.id === selected ? 'sel' : '') + '">' +
        '<td class="num">' + e.id + '</td><td class="num">' + e.seq + '</td>' +
        '<td class="d-' + esc(e.decision) + '">' + esc(e.decision) + (e.review ? ' \u00b7 ' + esc(e.review) : '') + '</td>' +
        '<td class="num">' + num(e.score) + (e.private != null ? '<br><span class="private">' + num(e.private) + '</span>' : '') + '</td>' +
        '<td class="num">' + signed(e.delta) + '</td><td class="num">' + e.duration_s.toFixed(1) + 's</td>' +
        '<td class="hyp" title="' + esc(e.hypothesis) + '">' + esc(e.hypothesis) + '</td></tr>';
    }).join('');
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
        (m ? '<table class="small" style="margin-top:8px"><thead><tr><th>metric</th><th class="num">public</th><th class="num">private</th></tr></thead><tbody>' + m + '</tbody></table>' : '') +
        '<h2 style="margin-top:10px">Diff</h2><pre id="diff">' + diffHtml(d.patch) + '</pre>' +
        '<h2>stdout</h2><pre id="stdout">' + esc(tail(d.stdout)) + '</pre>' +
        '<h2>stderr</h2><pre id="stderr">' + esc(tail(d.stderr)) + '</pre>' +
        (d.events.length ? '<h2>Events</h2>' + d.events.map(evHtml).join('') : '') +
        (d.reviews.length ? '<h2>Reviews</h2>' + d.reviews.map(function (r) {
          return '<div class="ev"><span class="k">' + esc(r.decision) + '</span> by ' + esc(r.reviewer) + ' \u00b7 ' + esc(r.ts) + ': ' + esc(r.note) + '</div>';
        }).join('') : '');
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
    $('submit-best').disabled = !best || submitted;
    $('submit-best').textContent = best ? (submitted ? 'best #' + best.id + ' is submitted' : 'Submit best #' + best.id + ' to the private holdout') : 'nothing to submit';
    $('submit-note').textContent = st && st.status === 'running' ? 'the run is still going: a later best can be submitted again' : '';
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
    th.onclick = function () {
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
<select id="run-select" aria-label="run"></select><span class="pill" id="run-status" data-status="">connecting</span>
<span class="spacer"></span><span id="conn">connecting…</span>
<button id="kill" disabled title="stop the run within a second; the branch stays at its last kept commit">Kill switch</button></header>
<div id="mlflow-banner" role="status" hidden></div>
<main>
<section class="card wide" id="escalation" hidden><h2>Escalated: needs a person</h2>
<div id="escalation-msg"></div>
<div class="small muted">Nothing runs and nothing is submitted until a person clears it (also: ratchet clear --note "&lt;why&gt;").</div>
<textarea id="clear-note" placeholder="note (required): what you checked and why work may go on"></textarea>
<button class="act" id="clear-escalation">Clear the escalation</button><div class="msg" id="clear-msg"></div></section>
<section class="card wide"><div class="stats">
<div><h2>Best score</h2><div id="best"></div></div>
<div><h2>Experiments</h2><div id="budget-exp"></div><div id="budget-fail"></div></div>
<div><h2>Wall clock</h2><div id="budget-clock"></div></div>
<div><h2>Running now</h2><div id="current"></div></div>
</div></section>
<section class="card wide"><h2>Score over experiments</h2><div id="chart"></div></section>
<section class="card"><h2>Experiments <span class="muted" id="exp-count"></span></h2>
<div class="tools"><input id="filter" placeholder="filter: hypothesis, reason, conclusion, #id">
<select id="decision-filter"><option value="">all decisions</option><option>kept</option><option>reverted</option><option>crashed</option><option>timeout</option><option>invalid</option><option>rejected</option></select></div>
<div class="scroll"><table id="exp-table"><thead><tr><th data-k="id">#</th><th data-k="seq">seq</th><th data-k="decision">decision</th><th data-k="score" class="num">score</th><th data-k="delta" class="num">gain</th><th data-k="duration_s" class="num">time</th><th data-k="hypothesis">hypothesis</th></tr></thead>
<tbody id="exp-body"></tbody></table></div></section>
<section class="card" id="detail"><div class="muted">click an experiment (a row, or a mark on the chart) to see its hypothesis, diff, logs and metrics</div></section>
<section class="card"><h2>Guardrails, escalations and events</h2><div class="scroll" id="events"></div></section>
<section class="card" id="review"><h2>Tier-2 review</h2>
<button class="act" id="submit-best" disabled>nothing to submit</button> <span class="small muted" id="submit-note"></span>
<div style="margin-top:10px"><label class="small muted" for="review-target">submitted candidate</label><br><select id="review-target"></select></div>
<textarea id="review-note" placeholder="note (required): what you checked and why you decide so"></textarea>
<div style="display:flex;gap:8px;align-items:center"><input class="reviewer" id="review-reviewer" placeholder="reviewer (default: the Studio's user)">
<button class="act promote" id="promote" disabled>Promote</button><button class="act reject" id="reject" disabled>Reject</button></div>
<div class="msg" id="review-msg"></div><div id="reviews"></div></section>
</main>
<script>${SCRIPT}</script>
</body></html>
`;
}
