// A uPlot time series in a Preact component: made once per mount, its data replaced on change.
import { html, useRef, useEffect } from './ui.js';
import uPlot from '../vendor/uplot.mjs';

export function Chart({ title, data, series, height = 220, marks }) {
  const box = useRef(null);
  const plot = useRef(null);
  useEffect(() => {
    const width = Math.max(280, box.current.clientWidth || 600);
    const opts = {
      title, width, height,
      scales: { x: { time: false } },
      series: [{ label: 'x' }, ...series.map(s => ({ label: s.label, stroke: s.color, width: 1.5,
        points: { show: !!s.points, size: 7, fill: s.color } }))],
      axes: [{ stroke: 'currentColor' }, { stroke: 'currentColor' }],
    };
    plot.current = new uPlot(opts, data, box.current);
    const ro = new ResizeObserver(() => plot.current && plot.current.setSize({ width: Math.max(280, box.current.clientWidth), height }));
    ro.observe(box.current);
    return () => { ro.disconnect(); plot.current.destroy(); plot.current = null; };
  }, [title, series.length]);
  useEffect(() => { if (plot.current) plot.current.setData(data); }, [data]);
  return html`<div class="chart" ref=${box} aria-label=${title}></div>`;
}
