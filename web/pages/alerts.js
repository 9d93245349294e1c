// Alerts (docs/alerts.md): rules with their kind and notifiers (create, silence, test, delete),
// notifiers (create a webhook, Slack or chat one; test, delete) and the notifications' history
// with the dead letters a click sends again. Viewers read; operators and admins change.
import { html, useState, usePoll, fmtTime, ErrorLine, Status } from '../lib/ui.js';
import { get, post, del, can } from '../lib/api.js';

const KINDS = ['anomaly', 'agent', 'task', 'brain', 'metric'];
// The field a rule of each kind matches on (a glob; the metric's name for `metric`).
const MATCH = { anomaly: 'stream', agent: 'agent', task: 'task_type', brain: 'brain', metric: 'metric' };

function useAct(reload) {
  const [err, setErr] = useState(null);
  const act = (p) => { setErr(null); return p.then(reload, setErr); };
  return [err, act, setErr];
}

function Notifiers({ list, reload }) {
  const [err, act] = useAct(reload);
  const [kind, setKind] = useState('webhook');
  const create = (e) => {
    e.preventDefault();
    const f = new FormData(e.target);
    const body = { name: f.get('name'), kind, url: f.get('url') };
    if (f.get('secret')) body.secret = f.get('secret');
    if (f.get('template')) body.template = f.get('template');
    act(post('/api/v1/alerts/notifiers', body).then(() => e.target.reset()));
  };
  return html`<section class="card"><h2>Notifiers</h2><${ErrorLine} error=${err} />
    <table class="grid"><thead><tr><th>Name</th><th>Kind</th><th>Target</th><th>Signed</th><th></th></tr></thead>
    <tbody>${list.map(n => html`<tr data-notifier=${n.name}><td>${n.name}</td><td>${n.kind}</td>
      <td><code>${n.url || (n.argv || []).join(' ')}</code></td><td>${n.has_secret ? 'yes' : ''}</td>
      <td>${can('write') && html`<button class="ghost" onClick=${() => act(post(`/api/v1/alerts/notifiers/${n.id}/test`))}>Test</button>
        <button class="danger" onClick=${() => act(del('/api/v1/alerts/notifiers/' + n.id))}>Delete</button>`}</td></tr>`)}</tbody></table>
    ${can('write') && html`<form class="inline-form" onSubmit=${create} aria-label="create a notifier">
      <input name="name" aria-label="notifier name" placeholder="name" required />
      <select aria-label="notifier kind" value=${kind} onChange=${e => setKind(e.target.value)}>
        <option>webhook</option><option>slack</option><option>chat</option></select>
      <input name="url" aria-label="URL" type="url" placeholder="https://…/hook" required size="28" />
      ${kind !== 'chat' && html`<input name="secret" aria-label="signing secret" type="password" placeholder="secret (16+, optional)" autocomplete="off" />`}
      ${kind !== 'webhook' && html`<input name="template" aria-label="template" placeholder=${kind === 'chat' ? '{"body":"{{title}}"}' : 'template (optional)'} required=${kind === 'chat'} size="24" />`}
      <button>Create notifier</button></form>`}</section>`;
}

function Rules({ list, notifiers, reload }) {
  const [err, act] = useAct(reload);
  const [kind, setKind] = useState('anomaly');
  const name = (id) => (notifiers.find(n => n.id === id) || { name: id }).name;
  const create = (e) => {
    e.preventDefault();
    const f = new FormData(e.target);
    const body = { name: f.get('name'), kind, notifiers: f.getAll('notifier') };
    if (f.get('match')) body[MATCH[kind]] = f.get('match');
    if (kind === 'anomaly') body.min_severity = f.get('min_severity');
    if (kind === 'metric') Object.assign(body, { op: f.get('op'), threshold: Number(f.get('threshold')), for_s: Number(f.get('for_s') || 0) });
    if (f.get('group') !== '') body.group_window_s = Number(f.get('group'));
    act(post('/api/v1/alerts/rules', body).then(() => e.target.reset()));
  };
  const silence = (r, seconds) => act(post(`/api/v1/alerts/rules/${r.id}/silence`, { seconds }));
  const silenced = (r) => r.silenced_until && new Date(r.silenced_until) > new Date();
  return html`<section class="card"><h2>Rules</h2><${ErrorLine} error=${err} />
    <table class="grid"><thead><tr><th>Name</th><th>Kind</th><th>Matches</th><th>Notifiers</th><th>State</th><th></th></tr></thead>
    <tbody>${list.map(r => html`<tr data-rule=${r.name}><td>${r.name}</td><td>${r.kind}</td>
      <td>${r[MATCH[r.kind]] || '*'}${r.kind === 'metric' ? ` ${r.op} ${r.threshold}` : ''}${r.min_severity ? ` ≥ ${r.min_severity}` : ''}</td>
      <td>${(r.notifiers || []).map(name).join(', ')}</td>
      <td>${r.enabled === false ? 'disabled' : silenced(r) ? `silenced until ${fmtTime(r.silenced_until)}` : 'active'}</td>
      <td>${can('write') && html`<button class="ghost" onClick=${() => act(post(`/api/v1/alerts/rules/${r.id}/test`))}>Test</button>
        <button class="ghost" onClick=${() => silence(r, silenced(r) ? 0 : 3600)}>${silenced(r) ? 'Unsilence' : 'Silence 1 h'}</button>
        <button class="danger" onClick=${() => act(del('/api/v1/alerts/rules/' + r.id))}>Delete</button>`}</td></tr>`)}</tbody></table>
    ${can('write') && html`<form class="rule-form" onSubmit=${create} aria-label="create a rule">
      <div class="inline-form">
        <input name="name" aria-label="rule name" placeholder="name" required />
        <select aria-label="rule kind" value=${kind} onChange=${e => setKind(e.target.value)}>${KINDS.map(k => html`<option>${k}</option>`)}</select>
        <input name="match" aria-label=${MATCH[kind]} placeholder=${kind === 'metric' ? 'metric name' : MATCH[kind] + ' glob (empty: all)'} required=${kind === 'metric'} />
        ${kind === 'anomaly' && html`<select name="min_severity" aria-label="minimum severity" value="medium">${['low', 'medium', 'high', 'critical'].map(s => html`<option>${s}</option>`)}</select>`}
        ${kind === 'metric' && html`<select name="op" aria-label="operator">${['>', '>=', '<', '<='].map(s => html`<option>${s}</option>`)}</select>
          <input name="threshold" aria-label="threshold" type="number" step="any" required size="6" />
          <input name="for_s" aria-label="for seconds" type="number" min="0" placeholder="for s" size="5" />`}
        <input name="group" aria-label="group window seconds" type="number" min="0" placeholder="group s (300)" size="8" />
      </div>
      <fieldset class="inline-form"><legend>Send to</legend>${notifiers.map(n => html`<label><input type="checkbox" name="notifier" value=${n.id} /> ${n.name}</label>`)}
        ${!notifiers.length && html`<span class="muted">create a notifier first</span>`}</fieldset>
      <button>Create rule</button></form>`}</section>`;
}

function History({ rules, notifiers }) {
  const [state, setState] = useState('');
  const [d, error, reload] = usePoll(() => get('/api/v1/alerts/history?limit=100' + (state ? '&state=' + state : '')), 3000, [state]);
  const [err, act] = useAct(reload);
  const name = (list, id) => (list.find(x => x.id === id) || { name: id }).name;
  const rows = (d && d.history) || [];
  return html`<section class="card"><h2>Notifications
      <select aria-label="notification state" value=${state} onChange=${e => setState(e.target.value)}>
        <option value="">all</option><option>pending</option><option>delivered</option><option>dead</option></select></h2>
    <${ErrorLine} error=${error || err} />
    <table class="grid"><thead><tr><th>Created</th><th>Title</th><th>Rule</th><th>Notifier</th><th>State</th><th>Attempts</th><th>Last error</th><th></th></tr></thead>
    <tbody>${rows.map(h => html`<tr data-notification=${h.id}><td>${fmtTime(h.created_at)}</td><td>${h.alert && h.alert.title}</td>
      <td>${h.rule_id ? name(rules, h.rule_id) : html`<span class="muted">test</span>`}</td><td>${name(notifiers, h.notifier_id)}</td>
      <td><${Status} value=${h.state} /></td><td>${h.attempts}</td><td class="muted">${h.last_error}</td>
      <td>${h.state === 'dead' && can('write') && html`<button onClick=${() => act(post(`/api/v1/alerts/outbox/${h.id}/retry`))}>Retry</button>`}</td></tr>`)}</tbody></table>
    ${d && !rows.length && html`<p class="muted">No notifications${state ? ' ' + state : ''}.</p>`}</section>`;
}

function Alerts() {
  const [n, nerr, reloadN] = usePoll(() => get('/api/v1/alerts/notifiers'), 0);
  const [r, rerr, reloadR] = usePoll(() => get('/api/v1/alerts/rules'), 10000);
  const notifiers = (n && n.notifiers) || [], rules = (r && r.rules) || [];
  return html`<h1>Alerts</h1><${ErrorLine} error=${nerr || rerr} />
    <${Rules} list=${rules} notifiers=${notifiers} reload=${reloadR} />
    <${Notifiers} list=${notifiers} reload=${() => { reloadN(); reloadR(); }} />
    <${History} rules=${rules} notifiers=${notifiers} />`;
}

export default { path: 'alerts', title: 'Alerts', order: 65, view: Alerts };
