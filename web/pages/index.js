// The console's pages: each file exports {path, title, order (its place in the menu), needs (the
// role's power it takes: 'write', 'admin'), view}; a new page is one file here and one line below.
export { default as overview } from './overview.js';
export { default as agents } from './agents.js';
export { default as watch } from './watch.js';
export { default as tasks } from './tasks.js';
export { default as chat } from './chat.js';
export { default as brains } from './brains.js';
export { default as guard } from './guard.js';
export { default as alerts } from './alerts.js';
export { default as admin } from './admin.js';
