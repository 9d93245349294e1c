// Agents: the table (status colours, filter by status and label, sort, virtualised), the spawn
// form, the commands, and one agent's page with its live log, statistics, limits and restarts.
import { html, useState, useEffect, useRef, useMemo, usePoll, fmtTime, ErrorLine, Status } from '../lib/ui.js';
import { get, post, sse, can } from '../lib/api.js';
import { VList } from '../lib/vlist.js';
import { useLive, useCoalesce } from '../lib/live.js';
import { ansiPieces } from '../lib/ansi.js';

const STATUSES = ['', 'idle', 'initializing', 'running', 'thinking', 'paused', 'stopping', 'completed', 'failed', 'terminated', 'lost'];
const ENDED = new Set(['completed', 'failed', 'terminated', 'lost']);
const MAX_ROWS = 10000;

async function listAll(status, labels) {
  const out = [];
  for (let offset = 0; offset < MAX_ROWS; offset += 1000) {
    const q = new URLSearchParams({ limit: '1000', offset: String(offset) });
    if (status) q.set('status', status);
    if (labels) q.set('labels', labels);
    const r = await get('/api/v1/agents?' + q);
    out.push(...r.agents);
    if (!r.has_more) break;
  }
  return out;
}

export function Commands({ a, onDone }) {
  const [err, setErr] = useState(null);
  if (!can('write')) return null;
  const run = async (cmd, body = {}) => {
    setErr(null);
    try {
      await post(`/api/v1/agents/${encodeURIComponent(a.id)}/${cmd}`, body);
      onDone && onDone();
    } catch (e) {
      setErr(e);
    }
  };
  const ended = ENDED.has(a.status);
  const signal = (e) => {
    e.preventDefault();
    const s = new FormData(e.target).get('signal');
    if (s) run('signal', { signal: s });
  };
  return html`<div class="actions">
    ${!ended && a.status !== 'paused' && html`<button onClick=${() => run('pause')}>Pause</button>`}
    ${a.status === 'paused' && html`<button onClick=${() => run('resume')}>Resume</button>`}
    ${!ended && html`<button data-act="stop" onClick=${() => run('stop')}>Stop</button>`}
    ${!ended && html`<button class="danger" onClick=${() => run('kill')}>Kill</button>`}
    ${ended && html`<button onClick=${() => run('start')}>Start again</button>`}
    ${!ended && html`<form class="inline" onSubmit=${signal}><input name="signal" aria-label="signal" placeholder="HUP" size="6" /><button>Signal</button></form>`}
    <${ErrorLine} error=${err} />
  </div>`;
}

function SpawnForm({ onDone }) {
  const [err, setErr] = useState(null);
  const submit = async (e) => {
    e.preventDefault();
    const f = new FormData(e.target);
    const labels = {};
    for (const kv of String(f.get('labels') || '').split(',').map(s => s.trim()).filter(Boolean)) {
      const [k, ...v] = kv.split('=');
      labels[k] = v.join('=');
    }
    const body = { name: f.get('name'), argv: ['sh', '-c', f.get('command')], labels };
    if (f.get('restart')) body.restart = f.get('restart');
    try {
      const a = await post('/api/v1/agents', body);
      onDone(a);
    } catch (x) {
      setErr(x);
    }
  };
  return html`<form class="card spawn" onSubmit=${submit} aria-label="spawn an agent">
    <h2>Spawn an agent</h2>
    <label>Name <input name="name" required /></label>
    <label>Command (sh -c) <input name="command" required placeholder="./worker --flag" /></label>
    <label>Labels <input name="labels" placeholder="team=a,role=worker" /></label>
    <label>Restart <select name="restart"><option value="">never</option><option>on-failure</option><option>always</option></select></label>
    <button type="submit">Spawn</button>
    <${ErrorLine} error=${err} />
  </form>`;
}

function AgentList() {
  const [status, setStatus] = useState('');
  const [labels, setLabels] = useState('');
  // what is typed, applied on Enter or blur: a render meanwhile (a poll, a live event) keeps it
  const [draft, setDraft] = useState('');
  const [sort, setSort] = useState({ key: 'created_at', dir: -1 });
  const [spawn, setSpawn] = useState(false);
  // Live: a status event updates its row in place; an agent the list lacks (a new one, or one
  // the filter now takes) reloads the list once for the burst. Polled every 3 s while the
  // stream is down, every 30 s as a safety net while it is up.
  const [patch, setPatch] = useState({});
  // (the handler runs after this render, when everything below is defined)
  const isLive = useLive('agent.*.status', (ev, e) => {
    if (!e || !e.id) return;
    if (!known.has(e.id) || (status && e.status !== status)) return reloadSoon();
    setPatch(p => ({ ...p, [e.id]: { status: e.status, pid: e.pid ?? null } }));
  });
  const [items, error, reload] = usePoll(() => listAll(status, labels), isLive ? 30000 : 3000, [status, labels]);
  const reloadSoon = useCoalesce(reload, 300);
  const known = useMemo(() => new Set((items || []).map(a => a.id)), [items]);
  useEffect(() => setPatch({}), [items]);
  const sorted = useMemo(() => {
    const a = (items || []).map(x => patch[x.id] ? { ...x, ...patch[x.id] } : x);
    a.sort((x, y) => {
      const u = x[sort.key] ?? '', v = y[sort.key] ?? '';
      return (u < v ? -1 : u > v ? 1 : 0) * sort.dir;
    });
    return a;
  }, [items, sort, patch]);
  const head = (key, label) => html`<button class=${'th sort' + (sort.key === key ? ' on' : '')}
      onClick=${() => setSort({ key, dir: sort.key === key ? -sort.dir : 1 })}>${label}${sort.key === key ? (sort.dir > 0 ? ' ▲' : ' ▼') : ''}</button>`;
  return html`<h1>Agents</h1>
    <div class="toolbar">
      <label>Status <select value=${status} onChange=${e => setStatus(e.target.value)}>${STATUSES.map(s => html`<option value=${s}>${s || 'any'}</option>`)}</select></label>
      <label>Label filter <input value=${draft} placeholder="k=v,k2=v2" onInput=${e => setDraft(e.target.value)} onChange=${e => setLabels(e.target.value)} /></label>
      <span class="spacer"></span>
      <span class=${'live-dot' + (isLive ? ' on' : '')} data-live=${isLive ? 'on' : 'off'} title=${isLive ? 'live' : 'polling'}>${isLive ? 'live' : 'polling'}</span>
      <span class="muted">${sorted.length} agents</span>
      ${can('write') && html`<button onClick=${() => setSpawn(!spawn)}>${spawn ? 'Close' : 'Spawn…'}</button>`}
    </div>
    ${spawn && html`<${SpawnForm} onDone=${a => { setSpawn(false); location.hash = '#/agents/' + a.id; }} />`}
    <${ErrorLine} error=${error} />
    <div class="vhead agent-row">${head('name', 'Name')}${head('status', 'Status')}${head('pid', 'PID')}${head('restarts', 'Restarts')}${head('created_at', 'Created')}<span class="th">Labels</span></div>
    <${VList} label="agents" items=${sorted} row=${(a) => html`<a class="vrow agent-row" role="row" key=${a.id} href=${'#/agents/' + a.id}>
        <span>${a.name}</span><span><${Status} value=${a.status} /></span><span>${a.pid ?? ''}</span>
        <span>${a.restarts}</span><span>${fmtTime(a.created_at)}</span>
        <span class="muted">${Object.entries(a.labels || {}).map(([k, v]) => `${k}=${v}`).join(' ')}</span></a>`} />`;
}

function LogLine({ l }) {
  return html`<div class=${'log-line ' + l.stream} data-seq=${l.seq} id=${'seq-' + l.seq}>
    <span class="seq">${l.seq}</span>${ansiPieces(l.text || '').map(p => html`<span class=${p.cls}>${p.text}</span>`)}</div>`;
}

const LOG_KEEP = 5000;

function AgentLog({ id }) {
  const [lines, setLines] = useState([]);
  const [follow, setFollow] = useState(true);
  const [stderr, setStderr] = useState(true);
  const [search, setSearch] = useState('');
  const box = useRef(null);
  useEffect(() => {
    setLines([]);
    const buf = [];
    let queued = false;
    const stop = sse(`/api/v1/agents/${encodeURIComponent(id)}/logs?follow=1&since=0`, (ev, data) => {
      if (!ev.endsWith('.output') || !data || data.seq === undefined) return;
      buf.push(data);
      if (!queued) {
        queued = true;
        requestAnimationFrame(() => {
          queued = false;
          const add = buf.splice(0);
          setLines(ls => ls.concat(add).slice(-LOG_KEEP));
        });
      }
    });
    return stop;
  }, [id]);
  useEffect(() => {
    if (follow && box.current) box.current.scrollTop = box.current.scrollHeight;
  }, [lines, follow]);
  const shown = lines.filter(l => (stderr || l.stream !== 'stderr') && (!search || (l.text || '').includes(search)));
  const jump = (e) => {
    e.preventDefault();
    const n = new FormData(e.target).get('seq');
    const el = box.current && box.current.querySelector(`[data-seq="${Number(n)}"]`);
    if (el) { setFollow(false); el.scrollIntoView({ block: 'center' }); el.classList.add('hit'); }
  };
  return html`<section class="log-panel">
    <div class="toolbar">
      <button aria-pressed=${follow} onClick=${() => setFollow(!follow)}>${follow ? 'Pause following' : 'Follow'}</button>
      <label><input type="checkbox" checked=${stderr} onChange=${e => setStderr(e.target.checked)} /> stderr</label>
      <label>Search <input value=${search} onInput=${e => setSearch(e.target.value)} /></label>
      <form class="inline" onSubmit=${jump}><input name="seq" type="number" min="1" aria-label="sequence" placeholder="seq" size="6" /><button>Jump</button></form>
      <span class="muted">${lines.length} lines</span>
    </div>
    <div class="log" ref=${box} aria-live="polite" aria-label="log" tabindex="0"
      onWheel=${e => { if (e.deltaY < 0) setFollow(false); }}>${shown.map(l => html`<${LogLine} key=${l.seq} l=${l} />`)}</div>
  </section>`;
}

function AgentPage({ id }) {
  const [a, error, reload] = usePoll(() => get('/api/v1/agents/' + encodeURIComponent(id)), 2000, [id]);
  if (!a) return html`<h1>Agent</h1><${ErrorLine} error=${error} />`;
  const kv = (o) => Object.entries(o || {}).map(([k, v]) => html`<tr><th>${k}</th><td>${typeof v === 'object' ? JSON.stringify(v) : String(v)}</td></tr>`);
  return html`<p><a href="#/agents">← Agents</a></p>
    <h1>${a.name} <${Status} value=${a.status} /></h1>
    <${ErrorLine} error=${error} />
    <${Commands} a=${a} onDone=${reload} />
    <div class="grid2">
      <section class="card"><h2>Process</h2><table class="kv">${kv({ id: a.id, pid: a.pid, argv: a.argv.join(' '), cwd: a.cwd, started: fmtTime(a.started_at), ended: fmtTime(a.ended_at), exit_code: a.exit_code, reason: a.reason })}</table></section>
      <section class="card"><h2>Stats</h2><table class="kv">${kv({ ...(a.output || {}), ...(a.usage || {}) })}</table></section>
      <section class="card"><h2>Limits</h2><table class="kv">${kv(a.limits)}</table>${!Object.keys(a.limits || {}).length && html`<p class="muted">none</p>`}</section>
      <section class="card"><h2>Restarts</h2><table class="kv">${kv({ policy: a.restart, restarts: a.restarts, labels: a.labels })}</table></section>
    </div>
    <h2>Log</h2>
    <${AgentLog} id=${a.id} />`;
}

function Agents({ args }) {
  return args[0] ? html`<${AgentPage} id=${args[0]} />` : html`<${AgentList} />`;
}

export default { path: 'agents', title: 'Agents', order: 20, view: Agents };
