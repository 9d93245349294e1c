// A running brain's page: the burst counter and the map of areas keep updating; a chosen area's
// fired neurons are drawn in the 3-D view, which follows the bursts.
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
  // the busiest area in the 3-D view: points drawn, redrawn as bursts go by
  const fired = await page.locator('[data-area]').evaluateAll(els => els.map(e => [e.dataset.area, Number(e.dataset.fired)]));
  const busiest = fired.sort((a, b) => b[1] - a[1])[0];
  check(busiest[1] > 0, 'an area fired: ' + JSON.stringify(fired));
  await page.locator(`[data-area="${busiest[0]}"]`).click();
  const canvas = page.getByRole('img', { name: 'fired neurons of ' + busiest[0] });
  await canvas.waitFor();
  const seen = new Set();
  const until = Date.now() + 10000;
  let points = 0;
  while (seen.size < 3 && Date.now() < until) {
    await page.waitForTimeout(100);
    seen.add(await canvas.getAttribute('data-burst'));
    points = Math.max(points, Number(await canvas.getAttribute('data-points')));
  }
  check(seen.size >= 3, 'the view follows the bursts: ' + [...seen]);
  check(points > 0, 'fired neurons are drawn as points');
  const inked = await canvas.evaluate(c => {
    const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 3; i < px.length; i += 4) if (px[i]) n++;
    return n;
  });
  check(inked > 100, 'the canvas has ink: ' + inked);
  await shot(page, 'brain');
  await page.getByRole('button', { name: 'Stop' }).click();
  await page.getByRole('button', { name: 'Start' }).waitFor();
  await finish();
});
