// Create an API key (its secret shown once, and it works), then revoke it (and it stops working).
import { open, signIn, env, shot, check, scenario } from './lib.mjs';

const me = (page, key) => page.evaluate(k => fetch('/api/v1/auth/me', { headers: { 'X-Api-Key': k } }).then(r => r.status), key);

scenario(async () => {
  const { page, finish } = await open({ allow: [/status of 401/] });
  await signIn(page);
  await page.goto(env.url + '/#/admin');
  await page.getByLabel('key name').fill('e2e-key');
  await page.getByLabel('key role').selectOption('viewer');
  await page.getByRole('button', { name: 'Create key' }).click();
  const secret = (await page.locator('[data-secret]').innerText()).trim();
  check(secret.startsWith('gk_'), 'the secret is shown: ' + secret.slice(0, 4));
  check(await me(page, secret) === 200, 'the new key signs in');
  await shot(page, 'admin-key');
  await page.getByRole('button', { name: 'Done' }).click();
  check(await page.locator('[data-secret]').count() === 0, 'the secret is gone once dismissed');
  await page.locator('tr[data-key="e2e-key"]').getByRole('button', { name: 'Revoke' }).click();
  await page.locator('tr[data-key="e2e-key"]').waitFor({ state: 'detached' });
  check(await me(page, secret) === 401, 'a revoked key is refused');
  await finish();
});
