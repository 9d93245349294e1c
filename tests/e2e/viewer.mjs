// A viewer is not offered Stop (nor the admin page), and a stop forced past the console is refused.
import { open, signIn, env, check, scenario, shot } from './lib.mjs';

scenario(async () => {
  const { page, finish } = await open({ allow: [/status of 403/] });
  await signIn(page, process.env.VIEWER_USER, process.env.VIEWER_PASSWORD);
  const id = process.env.AGENT_ID;
  await page.goto(env.url + '/#/agents/' + id);
  await page.locator('h1 .status', { hasText: 'running' }).waitFor();
  check(await page.getByRole('button', { name: 'Stop' }).count() === 0, 'no Stop for a viewer');
  check(await page.getByRole('button', { name: 'Kill' }).count() === 0, 'no Kill for a viewer');
  check(await page.getByRole('link', { name: 'Admin' }).count() === 0, 'no Admin page for a viewer');
  await shot(page, 'viewer-agent');
  const status = await page.evaluate(async ({ id, user, password }) => {
    const t = await fetch('/api/v1/auth/login', { method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ username: user, password }) }).then(r => r.json());
    const r = await fetch(`/api/v1/agents/${id}/stop`, { method: 'POST',
      headers: { Authorization: 'Bearer ' + t.access_token, 'Content-Type': 'application/json' }, body: '{}' });
    return r.status;
  }, { id, user: process.env.VIEWER_USER, password: process.env.VIEWER_PASSWORD });
  check(status === 403, 'the forced stop is refused with 403, got ' + status);
  await page.waitForTimeout(200);
  await finish();
});
