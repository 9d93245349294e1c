// Admin: users (create, role, disable), API keys (the secret shown once, at creation; revoke) and
// the audit log with its filters. Shown to admins only; the server refuses everyone else anyway.
import { html, useState, usePoll, fmtTime, ErrorLine } from '../lib/ui.js';
import { get, post, patch, del } from '../lib/api.js';

const ROLES = ['viewer', 'operator', 'admin', 'agent'];

function Users() {
  const [d, error, reload] = usePoll(() => get('/api/v1/users'), 0);
  const [err, setErr] = useState(null);
  const create = async (e) => {
    e.preventDefault();
    const f = new FormData(e.target);
    setErr(null);
    try {
      await post('/api/v1/users', { username: f.get('username'), password: f.get('password'), role: f.get('role') });
      e.target.reset();
      reload();
    } catch (x) { setErr(x); }
  };
  const change = (u, body) => patch('/api/v1/users/' + u.id, body).then(reload, setErr);
  return html`<section class="card"><h2>Users</h2><${ErrorLine} error=${error || err} />
    <table class="grid"><thead><tr><th>User</th><th>Role</th><th>State</th><th>Created</th><th></th></tr></thead>
    <tbody>${((d && d.users) || []).map(u => html`<tr><td>${u.username}</td>
      <td><select aria-label=${'role of ' + u.username} value=${u.role} onChange=${e => change(u, { role: e.target.value })}>${ROLES.map(r => html`<option>${r}</option>`)}</select></td>
      <td>${u.disabled ? 'disabled' : u.locked ? 'locked' : 'active'}</td><td>${fmtTime(u.created_at)}</td>
      <td><button class="ghost" onClick=${() => change(u, { disabled: !u.disabled })}>${u.disabled ? 'Enable' : 'Disable'}</button></td></tr>`)}</tbody></table>
    <form class="inline-form" onSubmit=${create} aria-label="create a user">
      <input name="username" aria-label="username" placeholder="username" required />
      <input name="password" aria-label="password" type="password" placeholder="password (12+)" required autocomplete="new-password" />
      <select name="role" aria-label="role">${ROLES.map(r => html`<option>${r}</option>`)}</select>
      <button>Create user</button></form></section>`;
}

function Keys() {
  const [d, error, reload] = usePoll(() => get('/api/v1/keys'), 0);
  const [secret, setSecret] = useState(null);
  const [err, setErr] = useState(null);
  const create = async (e) => {
    e.preventDefault();
    const f = new FormData(e.target);
    setErr(null);
    try {
      const k = await post('/api/v1/keys', { name: f.get('name'), role: f.get('role') });
      setSecret({ name: k.name, secret: k.secret || k.key || k.token });
      e.target.reset();
      reload();
    } catch (x) { setErr(x); }
  };
  const revoke = (k) => del('/api/v1/keys/' + k.id).then(reload, setErr);
  return html`<section class="card"><h2>API keys</h2><${ErrorLine} error=${error || err} />
    ${secret && html`<div class="secret" role="status"><p>The secret of <strong>${secret.name}</strong>, shown this once:</p>
      <code data-secret>${secret.secret}</code> <button class="ghost" onClick=${() => setSecret(null)}>Done</button></div>`}
    <table class="grid"><thead><tr><th>ID</th><th>Name</th><th>Role</th><th>Created by</th><th>Created</th><th></th></tr></thead>
    <tbody>${((d && d.keys) || []).map(k => html`<tr data-key=${k.name}><td>${k.id}</td><td>${k.name}</td><td>${k.role}</td><td>${k.created_by}</td><td>${fmtTime(k.created_at)}</td>
      <td><button class="danger" onClick=${() => revoke(k)}>Revoke</button></td></tr>`)}</tbody></table>
    <form class="inline-form" onSubmit=${create} aria-label="create an API key">
      <input name="name" aria-label="key name" placeholder="name" required />
      <select name="role" aria-label="key role">${ROLES.map(r => html`<option>${r}</option>`)}</select>
      <button>Create key</button></form></section>`;
}

function Audit() {
  const [f, setF] = useState({ principal: '', action: '', result: '' });
  const [offset, setOffset] = useState(0);
  const q = new URLSearchParams({ limit: '50', offset: String(offset) });
  for (const [k, v] of Object.entries(f)) if (v) q.set(k, v);
  const [d, error] = usePoll(() => get('/api/v1/audit?' + q), 5000, [q.toString()]);
  const filter = (e) => {
    e.preventDefault();
    const x = new FormData(e.target);
    setOffset(0);
    setF({ principal: x.get('principal'), action: x.get('action'), result: x.get('result') });
  };
  return html`<section class="card"><h2>Audit log</h2>
    <form class="inline-form" onSubmit=${filter} aria-label="filter the audit log">
      <input name="principal" aria-label="principal" placeholder="principal (user:admin)" />
      <input name="action" aria-label="action" placeholder="action (POST /api/v1/agents)" />
      <input name="result" aria-label="result" placeholder="result (403)" size="6" />
      <button>Filter</button></form>
    <${ErrorLine} error=${error} />
    <table class="grid"><thead><tr><th>Time</th><th>Principal</th><th>Action</th><th>Target</th><th>Result</th></tr></thead>
    <tbody>${((d && d.entries) || []).map(a => html`<tr><td>${fmtTime(a.ts)}</td><td>${a.principal}</td><td>${a.action}</td><td>${a.target}</td><td>${a.result}</td></tr>`)}</tbody></table>
    <div class="pager"><button class="ghost" disabled=${offset === 0} onClick=${() => setOffset(Math.max(0, offset - 50))}>Newer</button>
      <span class="muted">${d ? `${offset + 1}–${offset + d.entries.length} of ${d.total}` : ''}</span>
      <button class="ghost" disabled=${!d || !d.has_more} onClick=${() => setOffset(offset + 50)}>Older</button></div></section>`;
}

function Admin() {
  return html`<h1>Admin</h1><${Users} /><${Keys} /><${Audit} />`;
}

export default { path: 'admin', title: 'Admin', order: 80, needs: 'admin', view: Admin };
