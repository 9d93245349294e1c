// The console's one way to the daemon: fetch with the credential kept in memory only (an access
// token from /api/v1/auth/login, refreshed before it expires through the HttpOnly refresh cookie
// and its CSRF token, or an API key for headless use), problems turned into errors, and
// server-sent events read through fetch so they carry it too.
const listeners = new Set();
const auth = { token: null, key: null, exp: 0, user: null, role: null, timer: null };

export function session() {
  return { user: auth.user, role: auth.role, signedIn: !!(auth.token || auth.key) };
}

export function onSession(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function announce() {
  for (const fn of listeners) fn(session());
}

export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

function authHeaders() {
  if (auth.token) return { Authorization: 'Bearer ' + auth.token };
  if (auth.key) return { 'X-Api-Key': auth.key };
  return {};
}

// For the WebSocket's auth message, which carries the credential itself.
export function credential() {
  return { token: auth.token || auth.key };
}

export async function api(method, path, body, opts = {}) {
  const headers = { ...authHeaders(), Accept: 'application/json', ...(opts.headers || {}) };
  let payload;
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  const r = await fetch(path, { method, headers, body: payload, signal: opts.signal });
  if (r.status === 401 && (auth.token || auth.key) && !opts.noLogout) {
    clear();
  }
  const type = r.headers.get('Content-Type') || '';
  if (!r.ok) {
    let p = null;
    if (type.includes('json')) p = await r.json().catch(() => null);
    throw new ApiError(r.status, p);
  }
  if (r.status === 204) return null;
  if (opts.text || !type.includes('json')) return r.text();
  return r.json();
}

export const get = (path, opts) => api('GET', path, undefined, opts);
export const post = (path, body, opts) => api('POST', path, body === undefined ? {} : body, opts);
export const patch = (path, body) => api('PATCH', path, body);
export const del = (path) => api('DELETE', path);

function tokenClaims(t) {
  try {
    const b = t.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(b));
  } catch (e) {
    return {};
  }
}

function schedule() {
  clearTimeout(auth.timer);
  if (!auth.exp) return;
  // A minute before expiry, or at 80 % of a lifetime shorter than two minutes.
  const left = auth.exp * 1000 - Date.now();
  const wait = Math.max(1000, left > 120000 ? left - 60000 : left * 0.8);
  auth.timer = setTimeout(() => refreshNow().catch(clear), wait);
}

// The CSRF token the daemon set next to the refresh cookie (readable by scripts on purpose: it
// is what proves a refresh comes from this page, and a keyed hash of the refresh token).
function csrfCookie() {
  const m = document.cookie.match(/(?:^|;\s*)ganglion_csrf=([^;]+)/);
  return m ? decodeURIComponent(m[1]) : null;
}

async function refreshNow() {
  const csrf = csrfCookie();
  if (!csrf) throw new Error('no session');
  const r = await api('POST', '/api/v1/auth/refresh', {}, { noLogout: true, headers: { 'X-CSRF-Token': csrf } });
  adopt(r);
}

function adopt(r) {
  auth.token = r.access_token;
  const c = tokenClaims(auth.token);
  auth.exp = c.exp || 0;
  auth.user = (r.user && r.user.username) || c.name || c.sub || auth.user;
  auth.role = (r.user && r.user.role) || c.role || auth.role;
  schedule();
  announce();
}

// After a reload: the access token is gone with the page, the refresh cookie is not. Resolves
// either way; the session announces itself when the refresh worked.
export async function resume() {
  if (!csrfCookie()) return;
  await refreshNow().catch(() => {});
}

export async function login(username, password) {
  const r = await api('POST', '/api/v1/auth/login', { username, password, cookie: true }, { noLogout: true });
  auth.key = null;
  adopt(r);
}

export async function useKey(key) {
  auth.token = null;
  auth.key = key;
  try {
    const me = await api('GET', '/api/v1/auth/me', undefined, { noLogout: true });
    auth.user = me.username || me.name || (me.key && me.key.name) || 'api key';
    auth.role = me.role || (me.key && me.key.role) || null;
  } catch (e) {
    auth.key = null;
    throw e;
  }
  announce();
}

function clear() {
  clearTimeout(auth.timer);
  Object.assign(auth, { token: null, key: null, exp: 0, user: null, role: null });
  announce();
}

// Sign out revokes the session and clears the cookies; an access token that expired meanwhile
// (a laptop asleep) is renewed first, so the refresh cookie cannot outlive the click.
export async function logout() {
  if (auth.token) {
    const out = () => post('/api/v1/auth/logout', {}, { noLogout: true });
    await out().catch(e => (e.status === 401 && csrfCookie() ? refreshNow().then(out) : null)).catch(() => {});
  }
  clear();
}

// What a role may do (docs/security.md): actions a role may not use are not offered.
const RANK = { viewer: 1, operator: 2, admin: 3 };
export function can(what) {
  const r = RANK[auth.role] || 0;
  if (what === 'write') return r >= 2;
  if (what === 'admin') return r >= 3;
  return r >= 1 || auth.role === 'agent';
}

// Server-sent events of /api/v1/stream, read with fetch (EventSource cannot send the token);
// reconnects with Last-Event-ID. Returns a function that stops it.
export function stream(topics, onEvent, onOpen, onDown) {
  return sse('/api/v1/stream?topics=' + encodeURIComponent(topics), onEvent, onOpen, onDown);
}

// Any SSE endpoint (an agent's logs, a task's events) the same way. onOpen runs each time the
// stream is (re)connected, so a caller can fetch what it may have missed before; onDown each
// time it is lost (a caller polls meanwhile).
export function sse(url, onEvent, onOpen, onDown) {
  let stopped = false, last = null, ctrl = null;
  const run = async () => {
    while (!stopped) {
      ctrl = new AbortController();
      try {
        const h = { ...authHeaders(), Accept: 'text/event-stream' };
        if (last) h['Last-Event-ID'] = last;
        const r = await fetch(url, { headers: h, signal: ctrl.signal });
        if (!r.ok) throw new Error('stream ' + r.status);
        if (onOpen) onOpen();
        const reader = r.body.getReader();
        const dec = new TextDecoder();
        let buf = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += dec.decode(value, { stream: true });
          let i;
          while ((i = buf.indexOf('\n\n')) >= 0) {
            const frame = buf.slice(0, i);
            buf = buf.slice(i + 2);
            const ev = { id: null, event: 'message', data: '' };
            for (const line of frame.split('\n')) {
              if (line.startsWith(':')) continue;
              const c = line.indexOf(':');
              const k = c < 0 ? line : line.slice(0, c);
              const v = c < 0 ? '' : line.slice(c + 1).replace(/^ /, '');
              if (k === 'id') ev.id = v;
              else if (k === 'event') ev.event = v;
              else if (k === 'data') ev.data += (ev.data ? '\n' : '') + v;
            }
            if (ev.id) last = ev.id;
            if (!ev.data && ev.event === 'message') continue;
            let data = ev.data;
            try { data = JSON.parse(ev.data); } catch (e) { /* text event */ }
            onEvent(ev.event, data, ev.id);
          }
        }
      } catch (e) {
        if (stopped) return;
      }
      if (stopped) return;
      if (onDown) onDown();
      await new Promise(r => setTimeout(r, 1000));
    }
  };
  run();
  return () => { stopped = true; if (ctrl) ctrl.abort(); };
}
