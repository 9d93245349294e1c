// Brains: each with its status, burst rate and counter; start/stop and the frequency; a live map
// of its cortical areas, each a tile coloured by the share of its neurons fired in recent bursts;
// a chosen area's fired neurons of the last bursts as points in an isometric box.
import { html, useState, useEffect, useRef, usePoll, fmtNum, ErrorLine, Status } from '../lib/ui.js';
import { get, post, api, can } from '../lib/api.js';
import { drawVoxels } from '../lib/voxels.js';

function BrainList() {
  const [d, error] = usePoll(() => get('/api/v1/brains'), 2000);
  return html`<h1>Brains</h1><${ErrorLine} error=${error} />
    <table class="grid"><thead><tr><th>Name</th><th>Status</th><th>Hz</th><th>Bursts</th><th>Areas</th><th>Neurons</th><th>Synapses</th></tr></thead>
    <tbody>${((d && d.brains) || []).map(b => html`<tr><td><a href=${'#/brains/' + encodeURIComponent(b.id)}>${b.name}</a></td><td><${Status} value=${b.status} /></td>
      <td>${fmtNum(b.frequency_hz)}</td><td>${b.burst_count}</td><td>${b.area_count}</td><td>${b.neuron_count}</td><td>${b.synapse_count}</td></tr>`)}</tbody></table>
    ${d && !d.brains.length && html`<p class="muted">No brains: POST /api/v1/brains or ganglion brain create.</p>`}`;
}

// The fraction of an area's neurons fired, mapped onto 6 heat steps (classes heat-0..heat-5).
function heat(fired, neurons) {
  if (!fired) return 0;
  const f = neurons ? fired / neurons : 1;
  return Math.min(5, 1 + Math.floor(f * 5));
}

const VOXEL_BURSTS = 8;

// The fired voxels of one area over the last bursts, polled while it shows (at most 4 096 per
// burst, the ledger's bound).
function VoxelView({ brain, area, dims, running }) {
  const canvas = useRef(null);
  const [d, error] = usePoll(() => get(`/api/v1/brains/${brain}/areas/${encodeURIComponent(area)}/activity?bursts=${VOXEL_BURSTS}`),
    running ? 400 : 2000, [brain, area]);
  const [drawn, setDrawn] = useState(0);
  useEffect(() => {
    if (!d || !canvas.current) return;
    const draw = () => setDrawn(drawVoxels(canvas.current, dims, d.bursts || []));
    draw();
    addEventListener('resize', draw);
    return () => removeEventListener('resize', draw);
  }, [d, dims.join()]);
  return html`<section class="card voxels"><h2>${area} <span class="muted">${dims.join(' × ')} voxels, last ${VOXEL_BURSTS} bursts</span></h2>
    <${ErrorLine} error=${error} />
    <canvas ref=${canvas} class="voxel-canvas" role="img" aria-label=${`fired neurons of ${area}`}
      data-points=${drawn} data-burst=${d ? d.burst_count : ''}></canvas></section>`;
}

function BrainPage({ id }) {
  const [picked, setPicked] = useState(null);
  const [err, setErr] = useState(null);
  const ref = encodeURIComponent(id);
  const [d, error, reload] = usePoll(async () => {
    const [b, areas, act] = await Promise.all([get(`/api/v1/brains/${ref}`), get(`/api/v1/brains/${ref}/areas`), get(`/api/v1/brains/${ref}/activity?bursts=8`)]);
    return { b, areas: areas.areas || [], act };
  }, 500, [id]);
  if (!d) return html`<h1>Brain</h1><${ErrorLine} error=${error} />`;
  const { b, areas, act } = d;
  const fired = {};
  for (const burst of act.bursts || []) for (const [k, v] of Object.entries(burst.areas || {})) fired[k] = (fired[k] || 0) + v;
  const nb = Math.max(1, (act.bursts || []).length);
  const run = (cmd) => post(`/api/v1/brains/${ref}/${cmd}`, {}).then(reload, setErr);
  const freq = (e) => {
    e.preventDefault();
    const hz = Number(new FormData(e.target).get('hz'));
    api('PUT', `/api/v1/brains/${ref}/frequency`, { frequency_hz: hz }).then(reload, setErr);
  };
  const areaId = (a) => a.cortical_id || a.id;
  const pickedArea = picked && areas.find(a => areaId(a) === picked);
  const neurons = (a) => { const dm = a.cortical_dimensions || a.dimensions || [1, 1, 1]; return dm.reduce((x, y) => x * y, 1) * (a.cortical_neuron_per_vox_count || 1); };
  return html`<p><a href="#/brains">← Brains</a></p>
    <h1>${b.name} <${Status} value=${b.status} /></h1>
    <div class="tiles small">
      <div class="tile"><div class="k">Bursts</div><div class="v" data-burst-count>${act.burst_count ?? b.burst_count}</div></div>
      <div class="tile"><div class="k">Frequency</div><div class="v">${fmtNum(b.frequency_hz)} Hz</div></div>
      <div class="tile"><div class="k">Overruns</div><div class="v">${b.overruns}</div></div>
      <div class="tile"><div class="k">Neurons</div><div class="v">${b.neuron_count}</div></div>
    </div>
    ${can('write') && html`<div class="actions">
      ${b.status !== 'running' && html`<button onClick=${() => run('start')}>Start</button>`}
      ${b.status === 'running' && html`<button onClick=${() => run('stop')}>Stop</button>`}
      ${b.status !== 'running' && html`<button onClick=${() => run('step')}>Step</button>`}
      <form class="inline" onSubmit=${freq}><input name="hz" type="number" step="any" min="0.01" max="1000" aria-label="frequency in Hz" placeholder=${fmtNum(b.frequency_hz)} size="6" /><button>Set Hz</button></form>
    </div>`}
    <${ErrorLine} error=${err || error} />
    <h2>Activity of the last ${nb} bursts</h2>
    <div class="area-map" aria-label="cortical areas">${areas.map(a => {
      const f = fired[areaId(a)] || 0;
      const pick = () => setPicked(areaId(a));
      return html`<div class=${'area heat-' + heat(f / nb, neurons(a)) + (picked === areaId(a) ? ' picked' : '')} title=${`${areaId(a)}: ${f} fired`}
        data-area=${areaId(a)} data-fired=${f} role="button" tabindex="0" aria-pressed=${picked === areaId(a)}
        onClick=${pick} onKeyDown=${e => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); pick(); } }}>
        <span class="area-name">${a.cortical_name || a.name || areaId(a)}</span><span class="area-n">${f}</span></div>`;
    })}</div>
    ${pickedArea ? html`<${VoxelView} brain=${ref} area=${picked} running=${b.status === 'running'}
        dims=${pickedArea.cortical_dimensions || pickedArea.dimensions || [1, 1, 1]} />`
      : html`<p class="muted">Choose an area to see its fired neurons in 3-D.</p>`}`;
}

function Brains({ args }) {
  return args[0] ? html`<${BrainPage} id=${args[0]} />` : html`<${BrainList} />`;
}

export default { path: 'brains', title: 'Brains', order: 60, view: Brains };
