// Guard: a spawn held for review is approved from the queue (the held request then goes through).
import { open, signIn, env, shot, scenario } from './lib.mjs';

scenario(async () => {
  const { page, finish } = await open();
  await signIn(page);
  await page.goto(env.url + '/#/guard');
  const held = page.locator('tr[data-review]').filter({ hasText: 'approved-one' });
  await held.waitFor();
  await held.getByRole('button', { name: 'Approve' }).click();
  await held.waitFor({ state: 'detached' });
  await page.getByText('Nothing held for review.').waitFor();
  await shot(page, 'guard-approved');
  await finish();
});
