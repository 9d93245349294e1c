// Tasks: the queue with its states (filter by state), a task's progress, result and transitions.
import { html, useState, useEffect, usePoll, fmtTime, ErrorLine, Status } from '../lib/ui.js';
import { get, post, sse, can } from '../lib/api.js';

const STATES = ['', 'queued', 'assigned', 'running', 'succeeded', 'failed', 'cancelled', 'expired'];

function TaskList() {
  const [state, setState] = useState('');
  const [d, error] = usePoll(() => get('/api/v1/tasks?limit=500' + (state ? '&state=' + state : '')), 2000, [state]);
  return html`<h1>Tasks</h1>
    <div class="toolbar"><label>State <select value=${state} onChange=${e => setState(e.target.value)}>${STATES.map(s => html`<option value=${s}>${s || 'any'}</option>`)}</select></label></div>
    <${ErrorLine} error=${error} />
    <table class="grid"><thead><tr><th>ID</th><th>Type</th><th>State</th><th>Priority</th><th>Attempts</th><th>Worker</th><th>Progress</th><th>Created</th></tr></thead>
    <tbody>${((d && d.tasks) || []).map(t => html`<tr><td><a href=${'#/tasks/' + t.id}>${t.id}</a></td><td>${t.type}</td><td><${Status} value=${t.state} /></td>
      <td>${t.priority}</td><td>${t.attempts}</td><td>${t.worker || ''}</td><td>${progressText(t.progress)}</td><td>${fmtTime(t.created_at)}</td></tr>`)}</tbody></table>
    ${d && !d.tasks.length && html`<p class="muted">No tasks${state ? ' in this state' : ''}.</p>`}`;
}

function progressText(p) {
  if (p === null || p === undefined) return '';
  if (typeof p === 'number') return `${Math.round(p * 100)} %`;
  if (typeof p === 'object' && 'percent' in p) return `${p.percent} %`;
  return JSON.stringify(p);
}

function TaskPage({ id }) {
  const [t, error, reload] = usePoll(() => get('/api/v1/tasks/' + id), 2000, [id]);
  const [events, setEvents] = useState([]);
  const [err, setErr] = useState(null);
  useEffect(() => {
    setEvents([]);
    return sse(`/api/v1/tasks/${id}/events`, (ev, data) => setEvents(e => [...e, { ev, data }].slice(-200)));
  }, [id]);
  if (!t) return html`<h1>Task</h1><${ErrorLine} error=${error} />`;
  const cancel = () => post(`/api/v1/tasks/${id}/cancel`, {}).then(reload, setErr);
  const done = ['succeeded', 'failed', 'cancelled', 'expired'].includes(t.state);
  return html`<p><a href="#/tasks">← Tasks</a></p><h1>${t.type} <${Status} value=${t.state} /></h1>
    ${can('write') && !done && html`<div class="actions"><button class="danger" onClick=${cancel}>Cancel</button></div>`}
    <${ErrorLine} error=${err} />
    <div class="grid2">
      <section class="card"><h2>Task</h2><table class="kv">${['id', 'description', 'agent', 'capability', 'priority', 'attempts', 'worker', 'via', 'created_at', 'updated_at'].map(k => html`<tr><th>${k}</th><td>${t[k] === undefined || t[k] === null ? '' : String(t[k])}</td></tr>`)}
        <tr><th>progress</th><td>${progressText(t.progress)}</td></tr></table></section>
      <section class="card"><h2>Result</h2><pre class="json">${JSON.stringify(t.output ?? t.error ?? null, null, 2)}</pre>
        <h2>Input</h2><pre class="json">${JSON.stringify(t.input ?? null, null, 2)}</pre></section>
    </div>
    <section class="card"><h2>Transitions</h2><ul class="events">${events.map(e => html`<li><code>${e.ev}</code> ${typeof e.data === 'object' ? JSON.stringify(e.data) : e.data}</li>`)}</ul></section>`;
}

function Tasks({ args }) {
  return args[0] ? html`<${TaskPage} id=${args[0]} />` : html`<${TaskList} />`;
}

export default { path: 'tasks', title: 'Tasks', order: 40, view: Tasks };
