// One import for every page: Preact, its hooks and htm bound to Preact's h (no build step).
import { h, render, Fragment } from '../vendor/preact.mjs';
import { useState, useEffect, useRef, useMemo, useCallback } from '../vendor/hooks.mjs';
import htm from '../vendor/htm.mjs';

export const html = htm.bind(h);
export { h, render, Fragment, useState, useEffect, useRef, useMemo, useCallback };

// Formatting shared by the pages.
export function fmtTime(t) {
  if (t === undefined || t === null || t === '') return '';
  const d = typeof t === 'number' ? new Date(t > 1e12 ? t : t * 1000) : new Date(t);
  return isNaN(d) ? String(t) : d.toLocaleString();
}

export function fmtDuration(s) {
  if (s === undefined || s === null) return '';
  s = Math.floor(s);
  const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
  return d ? `${d}d ${h}h` : h ? `${h}h ${m}m` : m ? `${m}m ${s % 60}s` : `${s}s`;
}

export function fmtNum(n, digits = 2) {
  if (n === undefined || n === null || n === '') return '';
  if (typeof n !== 'number') return String(n);
  return Number.isInteger(n) ? String(n) : n.toFixed(digits);
}

// A value polled every `ms` while the page shows (a changed `ms` applies from the next poll;
// 0 polls once); `deps` restart it.
export function usePoll(fn, ms, deps = []) {
  const [state, setState] = useState({ data: null, error: null });
  const [tick, setTick] = useState(0);
  const every = useRef(ms);
  every.current = ms;
  useEffect(() => {
    let alive = true, timer = null;
    const run = async () => {
      try {
        const data = await fn();
        if (alive) setState({ data, error: null });
      } catch (e) {
        if (alive) setState(s => ({ data: s.data, error: e }));
      }
      if (alive && every.current) timer = setTimeout(run, every.current);
    };
    run();
    return () => { alive = false; clearTimeout(timer); };
  }, [...deps, tick]);
  return [state.data, state.error, () => setTick(t => t + 1)];
}

export function ErrorLine({ error }) {
  if (!error) return null;
  return html`<p class="error" role="alert">${error.message || String(error)}</p>`;
}

// A status word with its colour class (running, stopped, failed …).
export function Status({ value }) {
  return html`<span class=${'status st-' + String(value || 'unknown').replace(/[^a-z_-]/gi, '')}>${value}</span>`;
}
