// Admin: users (create, role, disable, approve a self-registered one), invitation codes (the code
// shown once), teams and their members, API keys (the secret shown once, at creation; revoke) and
// the audit log with its filters. Shown to admins only; the server refuses everyone else anyway.
import { html, useState, usePoll, fmtTime, ErrorLine } from '../lib/ui.js';
import { api, get, post, patch, del } from '../lib/api.js';

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
  const approve = (u) => post('/api/v1/users/' + u.id + '/approve').then(reload, setErr);
  return html`<section class="card"><h2>Users</h2><${ErrorLine} error=${error || err} />
    <table class="grid"><thead><tr><th>User</th><th>Role</th><th>State</th><th>Created</th><th></th></tr></thead>
    <tbody>${((d && d.users) || []).map(u => html`<tr data-user=${u.username}><td>${u.username}${u.email ? html` <span class="muted">${u.email}${u.email_verified ? ' ✓' : ''}</span>` : ''}</td>
      <td><select aria-label=${'role of ' + u.username} value=${u.role} onChange=${e => change(u, { role: e.target.value })}>${ROLES.map(r => html`<option>${r}</option>`)}</select></td>
      <td>${u.pending ? 'awaiting approval' : u.disabled ? 'disabled' : u.locked ? 'locked' : 'active'}</td><td>${fmtTime(u.created_at)}</td>
      <td>${u.pending ? html`<button onClick=${() => approve(u)}>Approve</button>`
        : html`<button class="ghost" onClick=${() => change(u, { disabled: !u.disabled })}>${u.disabled ? 'Enable' : 'Disable'}</button>`}</td></tr>`)}</tbody></table>
    <form class="inline-form" onSubmit=${create} aria-label="create a user">
      <input name="username" aria-label="username" placeholder="username" required />
      <input name="password" aria-label="password" type="password" placeholder="password (12+)" required autocomplete="new-password" />
      <select name="role" aria-label="role">${ROLES.map(r => html`<option>${r}</option>`)}</select>
      <button>Create user</button></form></section>`;
}

function Invites() {
  const [d, error, reload] = usePoll(() => get('/api/v1/invites'), 0);
  const [code, setCode] = useState(null);
  const [err, setErr] = useState(null);
  const create = async (e) => {
    e.preventDefault();
    const days = Number(new FormData(e.target).get('days'));
    setErr(null);
    try {
      setCode(await post('/api/v1/invites', days > 0 ? { ttl_s: Math.round(days * 86400) } : {}));
      reload();
    } catch (x) { setErr(x); }
  };
  const link = code && `${location.origin}${location.pathname}#/register?invite=${encodeURIComponent(code.code)}`;
  return html`<section class="card"><h2>Invitations</h2><${ErrorLine} error=${error || err} />
    ${code && html`<div class="secret" role="status"><p>The invitation code, shown this once (valid until ${fmtTime(code.expires_at)}):</p>
      <code data-invite>${code.code}</code><p class="muted">Or send this link: <code>${link}</code></p>
      <button class="ghost" onClick=${() => setCode(null)}>Done</button></div>`}
    <table class="grid"><thead><tr><th>ID</th><th>Created by</th><th>Created</th><th>Expires</th><th></th></tr></thead>
    <tbody>${((d && d.invites) || []).map(i => html`<tr data-invite-id=${i.id}><td>${i.id}</td><td>${i.created_by}</td><td>${fmtTime(i.created_at)}</td><td>${fmtTime(i.expires_at)}</td>
      <td><button class="danger" onClick=${() => del('/api/v1/invites/' + i.id).then(reload, setErr)}>Revoke</button></td></tr>`)}</tbody></table>
    <form class="inline-form" onSubmit=${create} aria-label="create an invitation">
      <input name="days" aria-label="valid for days" type="number" min="0" step="any" placeholder="days (default 7)" />
      <button>Create invitation</button></form></section>`;
}

function Teams() {
  const [d, error, reload] = usePoll(() => get('/api/v1/teams'), 0);
  const [err, setErr] = useState(null);
  const act = (p) => p.then(reload, setErr);
  const create = (e) => {
    e.preventDefault();
    setErr(null);
    const name = new FormData(e.target).get('name');
    act(post('/api/v1/teams', { name }).then(() => e.target.reset()));
  };
  const add = (t) => (e) => {
    e.preventDefault();
    const user = new FormData(e.target).get('user');
    act(api('PUT', `/api/v1/teams/${encodeURIComponent(t.name)}/members/${encodeURIComponent(user)}`).then(() => e.target.reset()));
  };
  const member = (t, u) => `/api/v1/teams/${encodeURIComponent(t.name)}/members/${encodeURIComponent(u)}`;
  return html`<section class="card"><h2>Teams</h2><${ErrorLine} error=${error || err} />
    <table class="grid"><thead><tr><th>Team</th><th>Members</th><th></th></tr></thead>
    <tbody>${((d && d.teams) || []).map(t => html`<tr data-team=${t.name}><td>${t.name}</td>
      <td class="members">${t.members.map(u => html`<span class="chip">${u} <button class="ghost" aria-label=${'remove ' + u + ' from ' + t.name} onClick=${() => act(del(member(t, u)))}>×</button></span>`)}
        <form class="inline-form" onSubmit=${add(t)} aria-label=${'add a member to ' + t.name}>
          <input name="user" aria-label=${'member of ' + t.name} placeholder="username" required size="10" /><button class="ghost">Add</button></form></td>
      <td><button class="danger" onClick=${() => act(del('/api/v1/teams/' + encodeURIComponent(t.name)))}>Delete</button></td></tr>`)}</tbody></table>
    <form class="inline-form" onSubmit=${create} aria-label="create a team">
      <input name="name" aria-label="team name" placeholder="team name" required />
      <button>Create team</button></form></section>`;
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
  return html`<h1>Admin</h1><${Users} /><${Invites} /><${Teams} /><${Keys} /><${Audit} />`;
}

export default { path: 'admin', title: 'Admin', order: 80, needs: 'admin', view: Admin };
