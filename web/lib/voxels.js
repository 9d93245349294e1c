// An area's fired neurons as points in an isometric box, drawn on a 2-D canvas by hand (a point
// plot, not a chart: no library needed). Newer bursts are drawn brighter and on top; points are
// painted back to front so nearer voxels cover farther ones.
const COS = Math.cos(Math.PI / 6), SIN = 0.5;

// dims [X, Y, Z]; bursts newest first, each {fired: [[x, y, z]]}. Colours come from the canvas's
// CSS (color for the points, border-color for the box) so both themes work.
export function drawVoxels(canvas, dims, bursts) {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth, h = canvas.clientHeight;
  if (canvas.width !== Math.round(w * dpr)) { canvas.width = Math.round(w * dpr); canvas.height = Math.round(h * dpr); }
  const g = canvas.getContext('2d');
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, w, h);
  const [X, Y, Z] = dims.map(d => Math.max(1, d));
  // projected extent of the box: x runs right-down, z left-down, y up
  const spanW = (X + Z) * COS, spanH = (X + Z) * SIN + Y;
  const s = Math.min((w - 16) / spanW, (h - 16) / spanH);
  const ox = (w - spanW * s) / 2 + Z * COS * s, oy = (h - spanH * s) / 2 + Y * s;
  const at = (x, y, z) => [ox + (x - z) * COS * s, oy + (x + z) * SIN * s - y * s];
  const css = getComputedStyle(canvas);
  g.strokeStyle = css.borderTopColor;
  g.lineWidth = 1;
  const corner = [[0, 0, 0], [X, 0, 0], [X, 0, Z], [0, 0, Z], [0, Y, 0], [X, Y, 0], [X, Y, Z], [0, Y, Z]];
  g.beginPath();
  for (const [a, b] of [[0, 1], [1, 2], [2, 3], [3, 0], [4, 5], [5, 6], [6, 7], [7, 4], [0, 4], [1, 5], [2, 6], [3, 7]]) {
    g.moveTo(...at(...corner[a]));
    g.lineTo(...at(...corner[b]));
  }
  g.stroke();
  const pts = [];
  bursts.forEach((b, age) => { for (const p of b.fired || []) pts.push([p[0] + 0.5, p[1] + 0.5, p[2] + 0.5, age]); });
  // back to front: farther (small x + z, low y) first; among equals, older first
  pts.sort((p, q) => (p[0] + p[2] + p[1]) - (q[0] + q[2] + q[1]) || q[3] - p[3]);
  const r = Math.max(1.5, Math.min(6, s * 0.45));
  g.fillStyle = css.color;
  for (const [x, y, z, age] of pts) {
    g.globalAlpha = Math.max(0.15, 1 - age / Math.max(1, bursts.length));
    const [px, py] = at(x, y, z);
    g.fillRect(px - r, py - r, 2 * r, 2 * r);
  }
  g.globalAlpha = 1;
  return pts.length;
}
