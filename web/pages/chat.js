// Chat with an agent over the WebSocket (/api/v1/ws, docs/websocket.md): the credential goes in
// an auth message (again after each refresh), each answer streams in token by token.
import { html, useState, useEffect, useRef, usePoll, ErrorLine } from '../lib/ui.js';
import { get, credential, onSession } from '../lib/api.js';

function Chat({ args }) {
  const [agents] = usePoll(() => get('/api/v1/agents?ended=false&limit=1000'), 5000);
  const [agent, setAgent] = useState(args[0] || '');
  const [turns, setTurns] = useState([]);
  const [state, setState] = useState('connecting');
  const [err, setErr] = useState(null);
  const ws = useRef(null);
  const log = useRef(null);
  useEffect(() => {
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const s = new WebSocket(`${proto}//${location.host}/api/v1/ws`);
    ws.current = s;
    s.onopen = () => s.send(JSON.stringify({ type: 'auth', ...credential(), id: 1 }));
    s.onmessage = (m) => {
      let msg;
      try { msg = JSON.parse(m.data); } catch (e) { return; }
      if (msg.type === 'auth') setState(msg.status === 200 ? 'ready' : 'refused');
      else if (msg.type === 'stream_start') setTurns(t => [...t, { role: 'agent', text: '', live: true }]);
      else if (msg.type === 'stream_chunk') setTurns(t => t.map((x, i) => (i === t.length - 1 ? { ...x, text: x.text + msg.content } : x)));
      else if (msg.type === 'stream_end') setTurns(t => t.map((x, i) => (i === t.length - 1 ? { ...x, live: false } : x)));
      else if (msg.type === 'error') setErr(new Error((msg.body && msg.body.detail) || 'refused'));
    };
    s.onclose = () => setState('closed');
    // a refreshed access token replaces the connection's before the old one expires
    const off = onSession(() => {
      if (s.readyState === WebSocket.OPEN && credential().token) s.send(JSON.stringify({ type: 'auth', ...credential(), id: 2 }));
    });
    return () => { off(); s.close(); };
  }, []);
  useEffect(() => { if (log.current) log.current.scrollTop = log.current.scrollHeight; }, [turns]);
  const send = (e) => {
    e.preventDefault();
    const f = e.target;
    const text = f.message.value.trim();
    if (!text || !agent || state !== 'ready') return;
    setErr(null);
    setTurns(t => [...t, { role: 'me', text }]);
    ws.current.send(JSON.stringify({ type: 'chat', agent, message: text, id: Date.now() }));
    f.message.value = '';
  };
  return html`<h1>Chat</h1>
    <div class="toolbar"><label>Agent <select value=${agent} onChange=${e => setAgent(e.target.value)}>
      <option value="">choose…</option>${((agents && agents.agents) || []).map(a => html`<option value=${a.id}>${a.name}</option>`)}</select></label>
      <span class="muted" data-ws=${state}>${state}</span></div>
    <${ErrorLine} error=${err} />
    <div class="chat-log" ref=${log} aria-live="polite">${turns.map(t => html`<div class=${'turn ' + t.role + (t.live ? ' live' : '')}>${t.text}</div>`)}</div>
    <form class="chat-form" onSubmit=${send}><input name="message" aria-label="message" placeholder="Say something" autocomplete="off" /><button disabled=${state !== 'ready' || !agent}>Send</button></form>`;
}

export default { path: 'chat', title: 'Chat', order: 50, needs: 'write', view: Chat };
