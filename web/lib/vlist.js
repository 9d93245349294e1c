// A virtualised list: only the rows in view (plus a margin) are in the DOM, so 10 000 agents or
// anomalies scroll as smoothly as 10. Rows have one fixed height (the .vrow class).
import { html, useState, useRef, useEffect } from './ui.js';

export function VList({ items, rowHeight = 34, height = 480, row, label }) {
  const box = useRef(null);
  const [top, setTop] = useState(0);
  const [h, setH] = useState(height);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const ro = new ResizeObserver(() => setH(el.clientHeight || height));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);
  const first = Math.max(0, Math.floor(top / rowHeight) - 10);
  const last = Math.min(items.length, Math.ceil((top + h) / rowHeight) + 10);
  const rows = [];
  for (let i = first; i < last; i++) rows.push(row(items[i], i));
  // The spacer's height is a CSS custom property set through the CSSOM (no style attribute).
  const spacer = useRef(null);
  useEffect(() => {
    if (spacer.current) spacer.current.style.setProperty('--vh', `${items.length * rowHeight}px`);
    if (spacer.current) spacer.current.style.setProperty('--vtop', `${first * rowHeight}px`);
  });
  return html`<div class="vlist" ref=${box} role="table" aria-label=${label} aria-rowcount=${items.length}
      onScroll=${e => setTop(e.currentTarget.scrollTop)}>
    <div class="vspace" ref=${spacer}><div class="vrows">${rows}</div></div>
  </div>`;
}
