// Live data for the pages: the daemon's server-sent events (/api/v1/stream) where it publishes
// what a page shows, and polling as the fallback while the stream is down (docs/dashboard.md).
import { useState, useEffect, useRef, useCallback } from './ui.js';
import { stream } from './api.js';

// Follows `topics` (comma-separated patterns) while the page shows; onEvent(topic, data) for
// each event. Returns whether the stream is connected now.
export function useLive(topics, onEvent) {
  const [live, setLive] = useState(false);
  const fn = useRef(onEvent);
  fn.current = onEvent;
  useEffect(() => {
    const stop = stream(topics, (ev, data) => fn.current(ev, data), () => setLive(true), () => setLive(false));
    return () => { stop(); setLive(false); };
  }, [topics]);
  return live;
}

// fn at most once per `ms`, `ms` after the first call of a burst: a thousand status events in a
// second are one reload.
export function useCoalesce(fn, ms) {
  const r = useRef({ timer: null, fn });
  r.current.fn = fn;
  useEffect(() => () => clearTimeout(r.current.timer), []);
  return useCallback(() => {
    if (!r.current.timer) r.current.timer = setTimeout(() => { r.current.timer = null; r.current.fn(); }, ms);
  }, [ms]);
}
