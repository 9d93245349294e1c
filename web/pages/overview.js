// Overview: health, version, uptime, counts, loop lag, request rate and errors. Agent status
// changes and new anomalies arrive as events and refresh it at once; what the daemon publishes no
// event for (rates, lag, uptime) is polled every 5 s, and everything every 2 s while the stream is
// down (the request rate is the difference of /metrics' counters between two polls).
import { html, usePoll, useRef, fmtDuration, fmtNum, ErrorLine, Status } from '../lib/ui.js';
import { get, can } from '../lib/api.js';
import { useLive, useCoalesce } from '../lib/live.js';

function metricsSum(text) {
  let req = 0, err = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith('ganglion_http_requests_total{')) continue;
    const v = Number(line.slice(line.lastIndexOf(' ') + 1));
    req += v;
    const m = line.match(/status="(\d+)"/);
    if (m && Number(m[1]) >= 500) err += v;
  }
  return { req, err };
}

function Overview() {
  const prev = useRef(null);
  const live = useLive('agent.*.status,anomaly.created', () => reloadSoon());
  const [d, error, reload] = usePoll(async () => {
    const [health, info, stats, watch] = await Promise.all([
      get('/healthz'), get('/api/v1/system/info'), get('/api/v1/agents/stats'),
      get('/api/v1/watch/stats').catch(() => null)]);
    let rate = null, errors = null;
    if (can('read')) {
      const m = metricsSum(await get('/metrics', { text: true }).catch(() => ''));
      const now = Date.now();
      if (prev.current) rate = (m.req - prev.current.req) / ((now - prev.current.t) / 1000);
      prev.current = { ...m, t: now };
      errors = m.err;
    }
    return { health, info, stats, watch, rate, errors };
  }, live ? 5000 : 2000);
  const reloadSoon = useCoalesce(reload, 500);
  if (!d) return html`<h1>Overview</h1><${ErrorLine} error=${error} /><p>Loading…</p>`;
  const { health, info, stats, watch } = d;
  const tiles = [
    ['Health', html`<${Status} value=${health.status === 'ok' && stats.healthy ? 'healthy' : 'unhealthy'} />`],
    ['Version', `${info.version} (${info.revision})`],
    ['Uptime', fmtDuration(info.uptime_s)],
    ['Agents', `${stats.active_agents} active / ${stats.agents}`],
    ['Loop lag p99', `${fmtNum(stats.loop_lag && stats.loop_lag.p99_ms)} ms`],
    ['Requests/s', d.rate === null ? '…' : fmtNum(d.rate, 1)],
    ['5xx answers', d.errors === null ? '' : String(d.errors)],
    ['Agent errors', String(stats.errors)],
    ['Restarts', String(stats.restarts)],
    ['Streams', watch ? String(watch.streams_total) : ''],
    ['Anomalies', watch ? String(watch.anomalies_detected) : ''],
    ['Store', `${info.store.backend} v${info.store.schema_version}`],
  ];
  return html`<h1>Overview <span class=${'live-dot' + (live ? ' on' : '')} data-live=${live ? 'on' : 'off'}>${live ? 'live' : 'polling'}</span></h1>
    <${ErrorLine} error=${error} />
    <div class="tiles">${tiles.map(([k, v]) => html`<div class="tile"><div class="k">${k}</div><div class="v" data-tile=${k}>${v}</div></div>`)}</div>
    <h2>Agents by status</h2>
    <div class="tiles small">${Object.entries(stats.by_status || {}).map(([k, v]) => html`<div class="tile"><div class="k"><${Status} value=${k} /></div><div class="v">${v}</div></div>`)}</div>`;
}

export default { path: 'overview', title: 'Overview', order: 10, view: Overview };
