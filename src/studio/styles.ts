import { DECISION_STYLE, PRIVATE_COLOUR } from '../report/chart.js';

/**
 * Text colours of the decisions on the page: darker than the chart's mark colours so that every word reaches
 * 4.5:1 contrast on white, on the chips' tint and on a selected row (#ddf4ff).
 */
export const DECISION_TEXT: Record<string, string> = {
  kept: '#116329',
  reverted: '#424a53',
  crashed: '#a40e26',
  timeout: '#953800',
  invalid: '#6639ba',
  rejected: '#7d4e00',
};

const decisionCss = Object.entries(DECISION_STYLE)
  .map(([k, v]) => {
    const text = DECISION_TEXT[k] ?? '#1f2328';
    return `.d-${k}{color:${text}}.chip.d-${k}{background:#ffffff;border-color:${v.colour};border-left-width:4px}`;
  })
  .join('\n');

/** The Studio page's style sheet (phone-first: nothing overflows at 390 px, the kill switch stays in view). */
export const CSS = `
*{box-sizing:border-box}
html{scroll-padding-top:70px}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1f2328;background:#f6f8fa}
header{position:sticky;top:0;z-index:20;display:flex;flex-wrap:wrap;align-items:center;gap:8px 12px;padding:8px 18px;background:#24292f;color:#fff}
header h1{font-size:16px;margin:0;font-weight:600}header .proj{color:#d1d9e0;overflow-wrap:anywhere;min-width:0}
header label{font-size:12px;color:#d1d9e0}
header select{font:inherit;padding:3px 6px;border-radius:6px;max-width:200px}
.pill{padding:2px 10px;border-radius:12px;font-size:12px;font-weight:600;background:#57606a}
.pill.running{background:#116329}.pill.stopped{background:#7d4e00}.pill.failed,.pill.escalated{background:#a40e26}.pill.finished{background:#0550ae}
.spacer{flex:1}
#kill{background:#cf222e;color:#fff;border:0;border-radius:6px;padding:6px 14px;font-weight:700;cursor:pointer}
#kill:disabled{background:#6e7781;cursor:not-allowed}
#conn{font-size:12px;color:#d1d9e0}
:focus-visible{outline:3px solid #0969da;outline-offset:2px}
header :focus-visible{outline-color:#54aeff}
#mlflow-banner{margin:10px 18px 0;padding:8px 12px;border:1px solid #d4a72c;background:#fff8c5;border-radius:6px;font-size:13px}
main{padding:14px 18px;display:grid;gap:14px;grid-template-columns:minmax(0,1fr) minmax(0,1fr)}
.card{background:#fff;border:1px solid #d1d9e0;border-radius:8px;padding:12px 14px;min-width:0}
.card h2{font-size:13px;text-transform:uppercase;letter-spacing:.04em;color:#59636e;margin:0 0 8px}
.wide{grid-column:1 / -1}
.stats{display:grid;grid-template-columns:repeat(4,minmax(0,1fr));gap:14px}
.big{font-size:22px;font-weight:600}.muted{color:#59636e}.small{font-size:12px}
.bar{height:8px;background:#eaeef2;border-radius:4px;overflow:hidden;margin:6px 0}.bar>span{display:block;height:100%;background:#0969da}
.bar.warn>span{background:#bc4c00}.warn-text{color:#953800;font-weight:600}
.chip{display:inline-block;border:1px solid #d1d9e0;border-radius:10px;padding:0 7px;margin:2px 2px 0 0;font-size:12px}
#chart{overflow-x:auto}
#chart svg{display:block;width:100%;min-width:900px;height:auto}
#chart .pt{cursor:pointer}
#chart .pt:hover circle,#chart .pt:focus circle{stroke:#0969da;stroke-width:2}
#chart .pt:focus{outline:none}#chart .pt:focus>circle:first-of-type{stroke:#0969da;stroke-width:3}
.tools{display:flex;flex-wrap:wrap;gap:8px;margin-bottom:8px;align-items:center}
.tools[hidden]{display:none}
.tools input,.tools select{font:inherit;padding:4px 8px;border:1px solid #6e7781;border-radius:6px;min-width:0}
.tools input{flex:1 1 160px}
.tools label{font-size:12px;color:#59636e}
.scroll{max-height:520px;overflow:auto}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{padding:4px 6px;border-bottom:1px solid #eaeef2;text-align:left;vertical-align:top}
th{position:sticky;top:0;background:#f6f8fa;white-space:nowrap}
th button{font:inherit;font-weight:600;color:inherit;background:none;border:0;padding:0;cursor:pointer}
th[aria-sort="descending"] button:after{content:" \\25BE"}th[aria-sort="ascending"] button:after{content:" \\25B4"}
tbody tr{cursor:pointer}tbody tr:hover{background:#f6f8fa}tbody tr.sel{background:#ddf4ff}
tbody tr:focus-visible{outline-offset:-3px}
td.num,th.num{font-variant-numeric:tabular-nums;text-align:right;white-space:nowrap}
.hyp{max-width:420px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
pre{background:#f6f8fa;border:1px solid #eaeef2;border-radius:6px;padding:8px;overflow:auto;max-height:360px;font-size:12px;margin:6px 0}
.diff .add{color:#116329;background:#dafbe1;display:block}.diff .del{color:#a40e26;background:#ffebe9;display:block}
.diff .hunk{color:#6639ba;display:block}.diff .meta{color:#424a53;font-weight:600;display:block}
.kv{display:grid;grid-template-columns:110px minmax(0,1fr);gap:2px 10px;font-size:13px}.kv>span{overflow-wrap:anywhere}.kv b{color:#59636e;font-weight:500}
.ev{border-left:3px solid #d1d9e0;padding:2px 8px;margin:4px 0;font-size:13px;overflow-wrap:anywhere}
.ev.warning{border-color:#bc4c00}.ev.error{border-color:#cf222e}.ev .k{font-weight:600}
textarea{width:100%;min-height:60px;font:inherit;border:1px solid #6e7781;border-radius:6px;padding:6px}
input.reviewer{font:inherit;border:1px solid #6e7781;border-radius:6px;padding:4px 8px;min-width:0}
label.field{display:block;font-size:12px;color:#59636e;margin-top:8px}
button.act{font:inherit;border:1px solid #6e7781;background:#f6f8fa;color:#1f2328;border-radius:6px;padding:5px 12px;cursor:pointer;font-weight:600}
button.promote{background:#116329;color:#fff;border-color:#116329}button.reject{background:#a40e26;color:#fff;border-color:#a40e26}
button.act:disabled{opacity:.6;cursor:not-allowed}
a{color:#0550ae}
.msg{font-size:13px;margin-top:6px}.msg.err{color:#a40e26}.msg.ok{color:#116329}
.private{color:${PRIVATE_COLOUR}}
.phase{display:inline-block;padding:0 6px;border-radius:8px;background:#ddf4ff;color:#0550ae;font-size:12px;font-weight:600}
.cmp{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:10px}.cmp>div{min-width:0}
.cmp td.diff-cell{background:#fff8c5}
.verdict{border-left:4px solid #0969da;background:#ddf4ff;padding:6px 10px;border-radius:4px;font-weight:600;overflow-wrap:anywhere;margin:4px 0 8px}
.verdict.warn{border-color:#bc4c00;background:#fff1e5;color:#762c00}.verdict.ok{border-color:#1a7f37;background:#dafbe1;color:#0f4a1f}
.plot{overflow-x:auto}.plot svg{display:block;width:100%;height:auto}#align-chart svg,#harness-chart svg{min-width:560px;max-width:900px}
.tier2{border-top:1px solid #eaeef2;margin-top:10px;padding-top:8px}.tier2 h3{font-size:13px;margin:0 0 4px}
${decisionCss}
@media (max-width:1000px){main{grid-template-columns:1fr}.stats{grid-template-columns:1fr 1fr}}
@media (max-width:600px){html{scroll-padding-top:150px}header{padding:6px 10px;gap:6px 10px}header h1{font-size:15px}main{padding:10px 8px}.stats{grid-template-columns:1fr}.cmp{grid-template-columns:minmax(0,1fr)}.kv{grid-template-columns:90px minmax(0,1fr)}}
`;
