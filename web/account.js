// The account pages reachable without signing in: create an account (#/register), forgot or reset
// a password (#/reset, #/reset?token=… from the mail or an admin), confirm an e-mail address
// (#/verify?token=…). The mails link here through auth.console_url (docs/security.md).
import { html, useState, useEffect, ErrorLine } from './lib/ui.js';
import { get, post } from './lib/api.js';

let cached = null;
// What this server offers (GET /api/v1/auth/options), asked once per page load.
export function useOptions() {
  const [o, setO] = useState(cached);
  useEffect(() => {
    if (!cached) get('/api/v1/auth/options', { noLogout: true }).then(r => { cached = r; setO(r); }, () => {});
  }, []);
  return o;
}

function Frame({ title, children }) {
  return html`<main class="login"><div class="card account">
    <h1>${title}</h1>${children}
    <p class="muted"><a href="#/">Back to sign in</a></p></div></main>`;
}

// Runs a form's submission: busy while it runs, the error shown, `done` given the reply.
function useSubmit(fn) {
  const [state, setState] = useState({ busy: false, error: null, done: null });
  const submit = async (e) => {
    e.preventDefault();
    setState({ busy: true, error: null, done: null });
    try {
      const done = await fn(new FormData(e.target));
      setState({ busy: false, error: null, done: done == null ? true : done });
    } catch (x) {
      setState({ busy: false, error: x, done: null });
    }
  };
  return [state, submit];
}

function Register({ query }) {
  const o = useOptions();
  const [s, submit] = useSubmit(f => {
    const body = { username: f.get('username'), password: f.get('password') };
    if (f.get('email')) body.email = f.get('email');
    if (f.get('invite')) body.invite = f.get('invite').trim();
    return post('/api/v1/auth/register', body, { noLogout: true });
  });
  if (o && o.registration === 'off')
    return html`<${Frame} title="Create an account"><p>This server does not take registrations; ask an admin for an account.</p><//>`;
  if (s.done)
    return html`<${Frame} title="Create an account"><p role="status" class="done">${s.done.pending
      ? 'Your account is awaiting approval: an admin has to approve it before you can sign in.'
      : html`Account <strong>${s.done.username}</strong> created. You can sign in now.`}</p><//>`;
  return html`<${Frame} title="Create an account">
    <form onSubmit=${submit} aria-label="create an account">
      <label>Username <input name="username" autocomplete="username" required /></label>
      <label>Password <input name="password" type="password" autocomplete="new-password" required minlength=${o ? o.password_min : 1} /></label>
      <label>E-mail (optional) <input name="email" type="email" autocomplete="email" /></label>
      ${o && o.registration === 'invite' && html`<label>Invitation code <input name="invite" required value=${query.get('invite') || ''} autocomplete="off" /></label>`}
      ${o && o.registration === 'approval' && html`<p class="muted">An admin approves new accounts before they can sign in.</p>`}
      <button type="submit" disabled=${s.busy}>Create account</button>
      <${ErrorLine} error=${s.error} />
    </form><//>`;
}

function Reset({ query }) {
  const o = useOptions();
  const token = query.get('token') || '';
  const [req, ask] = useSubmit(f => post('/api/v1/auth/password-reset', { login: f.get('login') }, { noLogout: true }));
  const [conf, confirm] = useSubmit(f => {
    if (f.get('new_password') !== f.get('again')) throw new Error('the two passwords differ');
    return post('/api/v1/auth/password-reset/confirm', { token: f.get('token').trim(), new_password: f.get('new_password') }, { noLogout: true });
  });
  if (conf.done)
    return html`<${Frame} title="Reset your password"><p role="status" class="done">Your password is changed and your other sessions are signed out. You can sign in now.</p><//>`;
  return html`<${Frame} title="Reset your password">
    ${!token && o && o.password_reset_by_mail && html`<form onSubmit=${ask} aria-label="ask for a reset link">
      <label>Username or e-mail <input name="login" autocomplete="username" required /></label>
      <button type="submit" disabled=${req.busy}>Send me a link</button>
      ${req.done && html`<p role="status" class="done">If the account exists and has an e-mail address, a link is on its way.</p>`}
      <${ErrorLine} error=${req.error} /></form>`}
    <form onSubmit=${confirm} aria-label="set a new password">
      <label>Reset token <input name="token" value=${token} required autocomplete="off" placeholder="gpr_…" /></label>
      <label>New password <input name="new_password" type="password" autocomplete="new-password" required /></label>
      <label>New password again <input name="again" type="password" autocomplete="new-password" required /></label>
      <button type="submit" disabled=${conf.busy}>Set password</button>
      <${ErrorLine} error=${conf.error} /></form><//>`;
}

function Verify({ query }) {
  const token = query.get('token') || '';
  const [s, setS] = useState({ busy: !!token, done: null, error: token ? null : new Error('the link has no token') });
  useEffect(() => {
    if (!token) return;
    post('/api/v1/auth/email-verification/confirm', { token }, { noLogout: true })
      .then(done => setS({ busy: false, done, error: null }), error => setS({ busy: false, done: null, error }));
  }, [token]);
  return html`<${Frame} title="Confirm your e-mail address">
    ${s.busy && html`<p class="muted">Confirming…</p>`}
    ${s.done && html`<p role="status" class="done"><strong>${s.done.email}</strong> is confirmed for ${s.done.username}.</p>`}
    <${ErrorLine} error=${s.error} /><//>`;
}

// The routes (the first part of the hash) these pages answer, signed in or not.
export const ACCOUNT_PAGES = { register: Register, reset: Reset, verify: Verify };
