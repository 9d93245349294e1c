// Watch: streams with their event rates, the live anomaly feed (SSE anomaly.*), a stream's
// anomaly score and metric values (uPlot, anomalies marked), an anomaly's evidence and review.
import { html, useState, useEffect, useRef, usePoll, fmtTime, fmtNum, ErrorLine, Status } from '../lib/ui.js';
import { get, patch, stream, can, api } from '../lib/api.js';
import { VList } from '../lib/vlist.js';
import { Chart } from '../lib/chart.js';

const FEED_MAX = 10000;

// The newest anomalies, then every new one as it is announced. The list is fetched once the
// stream is connected (and after each reconnection), so nothing falls between the two.
function useFeed() {
  const [items, setItems] = useState([]);
  const [live, setLive] = useState(false);
  useEffect(() => {
    let alive = true;
    const stop = stream('anomaly.*', (ev, a) => {
      if (a && a.id && a.stream) setItems(old => merge(old, [a]));
    }, () => {
      get('/api/v1/watch/anomalies?limit=200').then(r => {
        if (alive) { setItems(old => merge(old, r.anomalies)); setLive(true); }
      }).catch(() => {});
    });
    return () => { alive = false; stop(); };
  }, []);
  return [items, live];
}

function merge(old, add) {
  const seen = new Map(old.map(a => [a.id, a]));
  for (const a of add) seen.set(a.id, { ...seen.get(a.id), ...a });
  return [...seen.values()].sort((x, y) => (y.timestamp_ms || 0) - (x.timestamp_ms || 0)).slice(0, FEED_MAX);
}

function Streams() {
  const prev = useRef(new Map());
  const [d, error] = usePoll(async () => {
    const r = await get('/api/v1/watch/streams');
    const now = Date.now();
    for (const s of r.streams) {
      const p = prev.current.get(s.name);
      s.rate = p ? (s.stats.events_in - p.n) / ((now - p.t) / 1000) : null;
      prev.current.set(s.name, { n: s.stats.events_in, t: now });
    }
    return r.streams;
  }, 2000);
  return html`<section class="card"><h2>Streams</h2><${ErrorLine} error=${error} />
    <table class="grid"><thead><tr><th>Stream</th><th>Type</th><th>Events</th><th>Events/s</th><th>Anomalies</th><th>Last score</th></tr></thead>
    <tbody>${(d || []).map(s => html`<tr><td><a href=${'#/watch/stream/' + encodeURIComponent(s.name)}>${s.name}</a></td><td>${s.type}</td>
      <td>${s.stats.events_in}</td><td>${s.rate === null ? '…' : fmtNum(s.rate, 1)}</td><td>${s.stats.anomalies}</td><td>${fmtNum(s.stats.last_score, 3)}</td></tr>`)}</tbody></table>
    ${d && !d.length && html`<p class="muted">No streams yet: PUT /api/v1/watch/streams/NAME or ganglion synth --stream NAME.</p>`}</section>`;
}

function Feed({ items, live }) {
  return html`<section class="card" data-feed=${live ? 'live' : 'connecting'}><h2>Live anomalies <span class="muted">${items.length}</span></h2>
    <div class="vhead anomaly-row"><span class="th">Time</span><span class="th">Stream</span><span class="th">Severity</span><span class="th">Score</span><span class="th">Status</span></div>
    <${VList} label="anomalies" height=${360} items=${items} row=${a => html`<a class="vrow anomaly-row" role="row" key=${a.id} href=${'#/watch/anomaly/' + a.id}>
      <span>${fmtTime(a.timestamp_ms || a.timestamp)}</span><span>${a.stream}</span><span><${Status} value=${a.severity} /></span>
      <span>${fmtNum(a.score, 3)}</span><span><${Status} value=${a.status || 'pending'} /></span></a>`} /></section>`;
}

function StreamPage({ name }) {
  const [d, error] = usePoll(async () => {
    const [s, scores, an] = await Promise.all([
      get('/api/v1/watch/streams/' + encodeURIComponent(name)),
      get(`/api/v1/watch/streams/${encodeURIComponent(name)}/scores`).catch(() => ({ points: [] })),
      get(`/api/v1/watch/anomalies?stream=${encodeURIComponent(name)}&limit=500`)]);
    return { s, scores, an: an.anomalies };
  }, 3000, [name]);
  if (!d) return html`<h1>${name}</h1><${ErrorLine} error=${error} />`;
  const pts = d.scores.points || d.scores.scores || [];
  const an = [...d.an].sort((x, y) => x.last_event - y.last_event);
  const windowScores = [an.map(a => a.last_event), an.map(a => a.score), an.map(a => a.ncd_symmetric ?? a.ncd_score ?? null)];
  const values = pts.length ? [pts.map(p => p.index), pts.map(p => p.value), pts.map(p => (p.score >= 0.5 ? p.value : null))] : null;
  const scoreLine = pts.length ? [pts.map(p => p.index), pts.map(p => p.score)] : null;
  return html`<p><a href="#/watch">← Watch</a></p><h1>Stream ${name}</h1>
    <p class="muted">${d.s.type}, detector ${d.s.detector}; ${d.s.stats.events_in} events, ${d.s.stats.windows_scored} windows, ${d.s.stats.anomalies} anomalies</p>
    ${scoreLine && html`<${Chart} title="Point score" data=${scoreLine} series=${[{ label: 'score', color: '#e0a030' }]} />`}
    ${values && html`<${Chart} title="Values (anomalies marked)" data=${values} series=${[{ label: 'value', color: '#4a90d9' }, { label: 'anomaly', color: '#e05050', points: true }]} />`}
    ${an.length ? html`<${Chart} title="Anomaly score by event" data=${windowScores} series=${[{ label: 'score', color: '#e05050', points: true }, { label: 'NCD', color: '#4a90d9', points: true }]} />` : html`<p class="muted">No anomalies on this stream.</p>`}
    <section class="card"><h2>Anomalies</h2><table class="grid"><tbody>${d.an.slice(0, 50).map(a => html`<tr>
      <td><a href=${'#/watch/anomaly/' + a.id}>${fmtTime(a.timestamp_ms)}</a></td><td><${Status} value=${a.severity} /></td><td>${fmtNum(a.score, 3)}</td><td>events ${a.first_event}–${a.last_event}</td><td><${Status} value=${a.status} /></td></tr>`)}</tbody></table></section>`;
}

async function download(id) {
  const text = await api('GET', `/api/v1/watch/anomalies/${id}/export`, undefined, { text: true });
  const url = URL.createObjectURL(new Blob([typeof text === 'string' ? text : JSON.stringify(text)], { type: 'application/json' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = `anomaly-${id}.json`;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

function AnomalyPage({ id }) {
  const [a, error, reload] = usePoll(() => get('/api/v1/watch/anomalies/' + id), 0, [id]);
  const [err, setErr] = useState(null);
  if (!a) return html`<h1>Anomaly</h1><${ErrorLine} error=${error} />`;
  const move = async (body) => {
    setErr(null);
    try { await patch('/api/v1/watch/anomalies/' + id, body); reload(); } catch (e) { setErr(e); }
  };
  const ev = [
    ['NCD (symmetric)', fmtNum(a.ncd_symmetric, 3)], ['NCD (reference)', fmtNum(a.ncd_reference, 3)],
    ['Novelty', fmtNum(a.novelty, 3)], ['p-value', fmtNum(a.p_value, 5)], ['Confidence', fmtNum(a.confidence_level, 4)],
    ['Compression baseline', fmtNum(a.compression_baseline)], ['Compression window', fmtNum(a.compression_window)],
    ['Compression change', fmtNum(a.compression_ratio_change, 3)], ['Entropy', `${fmtNum(a.baseline_entropy)} → ${fmtNum(a.window_entropy)}`],
    ['Events', `${a.first_event}–${a.last_event}`], ['Incident', a.incident_id ?? ''],
  ];
  const win = Array.isArray(a.window_data) ? a.window_data : typeof a.window_data === 'string' ? a.window_data.split('\n') : [];
  return html`<p><a href="#/watch">← Watch</a></p>
    <h1>Anomaly on <a href=${'#/watch/stream/' + encodeURIComponent(a.stream)}>${a.stream}</a> <${Status} value=${a.severity} /> <${Status} value=${a.status} /></h1>
    <div class="actions">
      ${can('write') && a.status !== 'acknowledged' && html`<button onClick=${() => move({ status: 'acknowledged' })}>Acknowledge</button>`}
      ${can('write') && a.status !== 'resolved' && html`<button onClick=${() => move({ status: 'resolved' })}>Resolve</button>`}
      ${can('write') && a.status !== 'dismissed' && html`<button onClick=${() => move({ status: 'dismissed', tags: [...new Set([...(a.tags || []), 'false-positive'])] })}>False positive</button>`}
      <button class="ghost" onClick=${() => download(id).catch(setErr)}>Export evidence</button>
    </div>
    <${ErrorLine} error=${err} />
    <section class="card"><h2>Explanation</h2><p class="explain">${a.glass_box_explanation}</p></section>
    <div class="grid2">
      <section class="card"><h2>Evidence</h2><table class="kv">${ev.map(([k, v]) => html`<tr><th>${k}</th><td>${v}</td></tr>`)}</table></section>
      <section class="card"><h2>Review</h2><table class="kv">
        <tr><th>Status</th><td>${a.status}</td></tr><tr><th>Acknowledged</th><td>${a.acknowledged_by || ''} ${fmtTime(a.acknowledged_at)}</td></tr>
        <tr><th>Dismissed</th><td>${a.dismissed_by || ''} ${fmtTime(a.dismissed_at)}</td></tr><tr><th>Tags</th><td>${(a.tags || []).join(', ')}</td></tr></table></section>
    </div>
    <section class="card"><h2>The window's events</h2><pre class="window">${win.map(l => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n')}</pre></section>`;
}

function Watch({ args }) {
  const [items, live] = useFeed();
  if (args[0] === 'stream') return html`<${StreamPage} name=${args[1]} />`;
  if (args[0] === 'anomaly') return html`<${AnomalyPage} id=${args[1]} />`;
  return html`<h1>Watch</h1><${Streams} /><${Feed} items=${items} live=${live} />`;
}

export default { path: 'watch', title: 'Watch', order: 30, view: Watch };
