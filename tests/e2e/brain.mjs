// A running brain's page: the burst counter and the map of areas keep updating.
import { open, signIn, env, shot, check, scenario } from './lib.mjs';

scenario(async () => {
  const { page, finish } = await open();
  await signIn(page);
  await page.goto(env.url + '/#/brains');
  await page.getByRole('link', { name: process.env.BRAIN_NAME }).click();
  const counter = page.locator('[data-burst-count]');
  await counter.waitFor();
  check(await page.locator('.area').count() > 0, 'the areas are drawn');
  const first = Number(await counter.innerText());
  // the page's CSP forbids eval, so poll from here rather than with waitForFunction
  const deadline = Date.now() + 10000;
  let now = first;
  while (now <= first + 5 && Date.now() < deadline) {
    await page.waitForTimeout(100);
    now = Number(await counter.innerText());
  }
  check(now > first + 5, `the burst counter moves (${first} → ${now})`);
  await shot(page, 'brain');
  await page.getByRole('button', { name: 'Stop' }).click();
  await page.getByRole('button', { name: 'Start' }).waitFor();
  await finish();
});
