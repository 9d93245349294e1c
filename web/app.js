// The console's shell: sign-in, the navigation built from pages/index.js, hash routing
// (#/agents/ID → page "agents", args ["ID"]), the theme switch. Pages live in pages/, one file each.
import { html, render, useState, useEffect } from './lib/ui.js';
import { session, onSession, login, useKey, logout, can, resume } from './lib/api.js';
import { ACCOUNT_PAGES, useOptions } from './account.js';
import * as pages from './pages/index.js';

// A module namespace lists its exports alphabetically: each page says where it goes in the menu.
const PAGES = Object.values(pages).sort((a, b) => a.order - b.order);

function parseHash() {
  const h = location.hash.replace(/^#\/?/, '');
  const [path, query = ''] = h.split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  return { name: parts[0] || 'overview', args: parts.slice(1), query: new URLSearchParams(query) };
}

function useRoute() {
  const [route, setRoute] = useState(parseHash());
  useEffect(() => {
    const f = () => setRoute(parseHash());
    addEventListener('hashchange', f);
    f(); // a hash changed between this render and the effect (a link followed as the shell mounts)
    return () => removeEventListener('hashchange', f);
  }, []);
  return route;
}

function theme(next) {
  const t = next || localStorage.getItem('ganglion-theme') ||
    (matchMedia('(prefers-color-scheme: light)').matches ? 'light' : 'dark');
  document.documentElement.dataset.theme = t;
  if (next) localStorage.setItem('ganglion-theme', t);
  return t;
}

function Login() {
  const o = useOptions();
  const [err, setErr] = useState(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e) => {
    e.preventDefault();
    const f = new FormData(e.target);
    setBusy(true);
    setErr(null);
    try {
      if (f.get('key')) await useKey(f.get('key').trim());
      else await login(f.get('username'), f.get('password'));
    } catch (x) {
      setErr(x.message);
    }
    setBusy(false);
  };
  return html`<main class="login">
    <form class="card" onSubmit=${submit} aria-label="sign in">
      <h1>ganglion</h1>
      <label>Username <input name="username" autocomplete="username" autofocus /></label>
      <label>Password <input name="password" type="password" autocomplete="current-password" /></label>
      <details><summary>Use an API key instead</summary>
        <label>API key <input name="key" autocomplete="off" placeholder="gk_…" /></label>
      </details>
      <button type="submit" disabled=${busy}>Sign in</button>
      ${err && html`<p class="error" role="alert">${err}</p>`}
      <p class="account-links">
        ${o && o.registration !== 'off' && html`<a href="#/register">Create an account</a>`}
        ${o && html`<a href="#/reset">${o.password_reset_by_mail ? 'Forgot your password?' : 'Have a reset token?'}</a>`}
      </p>
    </form>
  </main>`;
}

function Shell({ s }) {
  const route = useRoute();
  const [t, setT] = useState(theme());
  const [menu, setMenu] = useState(false);
  const visible = PAGES.filter(p => !p.needs || can(p.needs));
  const page = visible.find(p => p.path === route.name) || visible[0];
  useEffect(() => { document.title = `${page.title} · ganglion`; setMenu(false); }, [page, route.args.join('/')]);
  const View = page.view;
  return html`<div class="shell">
    <header class="top">
      <button class="menu-btn" aria-label="menu" aria-expanded=${menu} onClick=${() => setMenu(!menu)}>☰</button>
      <strong class="brand">ganglion</strong>
      <span class="spacer"></span>
      <span class="who">${s.user} <span class="role">${s.role}</span></span>
      <button class="ghost" aria-label="switch theme" onClick=${() => setT(theme(t === 'dark' ? 'light' : 'dark'))}>${t === 'dark' ? '☀' : '☾'}</button>
      <button class="ghost" onClick=${() => logout()}>Sign out</button>
    </header>
    <nav class=${'side' + (menu ? ' open' : '')} aria-label="pages">
      ${visible.map(p => html`<a href=${'#/' + p.path} class=${p === page ? 'active' : ''} aria-current=${p === page ? 'page' : undefined}>${p.title}</a>`)}
      <a href="/api/docs" target="_blank" rel="noopener" title="the API explorer (Swagger UI over /openapi.json)">API ↗</a>
    </nav>
    <main class="content" id=${'page-' + page.path}><${View} args=${route.args} query=${route.query} /></main>
  </div>`;
}

function App() {
  const [s, setS] = useState(session());
  const [resuming, setResuming] = useState(true);
  const route = useRoute();
  useEffect(() => {
    const off = onSession(setS);
    resume().finally(() => setResuming(false));
    return off;
  }, []);
  const Account = ACCOUNT_PAGES[route.name];
  if (Account) return html`<${Account} query=${route.query} />`;
  if (resuming) return html`<main class="login"><p class="muted">Signing in…</p></main>`;
  return s.signedIn ? html`<${Shell} s=${s} />` : html`<${Login} />`;
}

theme();
const root = document.getElementById('app');
root.textContent = '';
render(html`<${App} />`, root);
