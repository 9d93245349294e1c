// Colours from ANSI SGR sequences (ESC [ … m) as spans with classes; every other escape sequence
// is dropped. Returns an array of {text, cls} pieces.
const ESC = /\x1b\[([0-9;]*)([A-Za-z])/g;

export function ansiPieces(text) {
  const out = [];
  let fg = null, bold = false, last = 0, m;
  ESC.lastIndex = 0;
  const push = (t) => {
    if (!t) return;
    const cls = [fg !== null ? 'ansi-' + fg : '', bold ? 'ansi-bold' : ''].join(' ').trim();
    out.push({ text: t, cls });
  };
  while ((m = ESC.exec(text))) {
    push(text.slice(last, m.index));
    last = ESC.lastIndex;
    if (m[2] !== 'm') continue;
    for (const c of (m[1] || '0').split(';').map(Number)) {
      if (c === 0) { fg = null; bold = false; }
      else if (c === 1) bold = true;
      else if (c === 22) bold = false;
      else if (c === 39) fg = null;
      else if ((c >= 30 && c <= 37) || (c >= 90 && c <= 97)) fg = c;
    }
  }
  push(text.slice(last));
  return out;
}
