// Overview and the agents list follow the daemon's events: a new agent appears and a stopped one
// changes its status without the list being fetched again; the overview's count follows a spawn;
// with the event stream refused, the list still updates by polling.
import { open, signIn, env, check, shot, scenario } from './lib.mjs';

async function call(method, path, body) {
  const r = await fetch(env.url + path, { method, headers: { Authorization: 'Bearer ' + process.env.GANGLION_TOKEN, 'Content-Type': 'application/json' }, body: body && JSON.stringify(body) });
  check(r.ok, `${method} ${path}: ${r.status}`);
  return r.status === 204 ? null : r.json();
}
const spawn = (name) => call('POST', '/api/v1/agents', { name, argv: ['sleep', '60'], labels: { e2e: 'live' } });

scenario(async () => {
  const { page, finish } = await open({ allow: [/ERR_FAILED/, /Failed to load resource/] });
  await signIn(page);
  await page.goto(env.url + '/#/agents');
  await page.locator('[data-live="on"]').waitFor();
  let lists = 0;
  page.on('request', r => { if (/\/api\/v1\/agents\?/.test(r.url())) lists++; });
  const a = await spawn('live-one');
  const row = page.getByRole('row').filter({ hasText: 'live-one' });
  await row.getByText('running').waitFor();
  lists = 0;
  await call('POST', `/api/v1/agents/${a.id}/stop`, {});
  await row.getByText(/terminated|completed/).waitFor();
  check(lists === 0, 'the stopped status came as an event, not a new fetch of the list (' + lists + ')');

  await page.getByRole('link', { name: 'Overview' }).click();
  await page.locator('[data-live="on"]').waitFor();
  const tile = page.locator('[data-tile="Agents"]');
  const before = await tile.innerText();
  await spawn('live-two');
  await page.locator('[data-tile="Agents"]', { hasNotText: before }).waitFor();
  await shot(page, 'overview-live');

  // the stream refused: the pages say so and poll instead
  await page.route('**/api/v1/stream**', r => r.abort());
  await page.goto(env.url + '/#/agents');
  await page.reload();
  await page.locator('[data-live="off"]').waitFor();
  await page.getByRole('row').filter({ hasText: 'live-two' }).waitFor();
  await spawn('live-three');
  await page.getByRole('row').filter({ hasText: 'live-three' }).waitFor();
  await finish();
});
