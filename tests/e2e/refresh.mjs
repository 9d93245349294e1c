// The access token is refreshed before it expires (the daemon gives 3 s tokens here): the console
// keeps working past several lifetimes without a 401, then Sign out returns to the sign-in form
// and the old session is gone.
import { open, signIn, env, check, scenario } from './lib.mjs';

scenario(async () => {
  const { page, finish } = await open();
  await signIn(page);
  for (let i = 0; i < 3; i++) {
    await page.waitForTimeout(2500);
    await page.getByRole('link', { name: i % 2 ? 'Overview' : 'Admin' }).click();
    await page.locator('main h1').first().waitFor();
    check(await page.getByRole('button', { name: 'Sign out' }).isVisible(), 'still signed in after ' + (i + 1) * 2.5 + ' s');
  }
  await page.getByRole('link', { name: 'Admin' }).click();
  await page.getByRole('cell', { name: 'admin', exact: true }).first().waitFor();
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByLabel('Username').waitFor();
  await finish();
});
